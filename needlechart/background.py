"""Work a page starts and a thread of the same process finishes, once the page's
transaction has committed: the FHIR bulk export (fhir/jobs.py) and the whole record's PDF
(documents/jobs.py).

needlechart has no message broker, and a job row picked up by a command would need a second
process (a timer or a service) kept running beside the web server on every installation; a
thread needs nothing more, under gunicorn's workers as under `runserver` and in the tests.
What a thread cannot survive, a restart of its process, the job's row shows: a running job
not touched for a while (`stale`) is reported failed, to be asked for again.
"""

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.utils import timezone


def start(name: str, run: Callable[[Any], None], job_id: Any) -> None:
    """`run(job_id)` in a thread of its own (a daemon: it does not hold the process up)."""
    threading.Thread(target=_in_thread, args=(run, job_id), name=name, daemon=True).start()


def _in_thread(run: Callable[[Any], None], job_id: Any) -> None:
    try:
        run(job_id)
    finally:
        # The thread's own database connection, which nothing else would close.
        connection.close()


def stale(updated_at: dt.datetime, after: dt.timedelta, *, now: dt.datetime | None = None) -> bool:
    """Whether a running job last touched at `updated_at` was stopped with its process."""
    return (now or timezone.now()) - updated_at > after
