"""Time the busiest staff and patient portal pages against a large demo clinic.

    .venv/bin/python benchmarks/pages.py [--patients 10000] [--repeat 20]

Uses a throw-away SQLite database unless DATABASE_URL is set (then it must point to an
empty or demo-only database). Prints the median and worst time per page and the
number of queries each page made. Speed is measured here, never in the test suite.
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("NEEDLECHART_DATA_DIR", tempfile.mkdtemp(prefix="needlechart-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "needlechart.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.utils import timezone

    from needlechart.accounts.models import User
    from needlechart.charting.models import NeedlingSession
    from needlechart.demo.clinics import SHOWCASE_EMAIL
    from needlechart.patients.models import EpisodeOfCare, Patient
    from needlechart.portal import reminders

    call_command("migrate", verbosity=0)
    quiet = io.StringIO()
    call_command(
        "demo", "--patients", str(args.patients), "--seed", "1", stdout=quiet, stderr=quiet
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username="demo-admin"))
    patient_client = Client(HTTP_HOST="127.0.0.1")
    patient_client.force_login(User.objects.get(username=SHOWCASE_EMAIL))
    busiest = (
        Patient.objects.filter(clinic__users__username="demo-admin")
        .annotate(n=Count("episodes"))
        .order_by("-n")
        .first()
    )
    longest = (
        EpisodeOfCare.objects.filter(patient__clinic__users__username="demo-admin")
        .annotate(n=Count("sessions"))
        .order_by("-n")
        .first()
    )
    last_session = longest.sessions.order_by("-performed_at").first()
    assert isinstance(last_session, NeedlingSession)
    staff = {
        "home page": "/",
        "patient list": "/patients/",
        "my patients in care": "/patients/?mine=on&in_care=on",
        "patient list, last page": f"/patients/?page={args.patients // 25}",
        "search by name": "/patients/?name=smi",
        "search by record number": "/patients/?mrn=0042",
        "patient page": f"/patients/{busiest.pk}/",
        "audit trail": "/audit/",
        "practitioners": "/practitioners/",
        "episode, most sessions": f"/episodes/{longest.pk}/",
        "its last session": f"/sessions/{last_session.pk}/",
        "dashboard": "/dashboard/",
    }
    portal = {
        "portal home": "/portal/",
        "portal diary": "/portal/diary/",
        "portal progress": "/portal/progress/",
        "portal record (JSON)": "/portal/my-record.json",
    }
    print(f"{args.patients} patients, {args.repeat} requests per page ({connection.vendor})")
    pages = [(client, staff), (patient_client, portal)]
    for who, urls in pages:
        for name, url in urls.items():
            _time(name, lambda url=url, who=who: who.get(url), args.repeat, connection)
    # What `send-reminders` looks through on each run (every quarter of an hour).
    _time("reminders due", lambda: reminders.due_reminders(timezone.now()), args.repeat, connection)


def _time(name: str, call: Callable[[], Any], repeat: int, connection: Any) -> None:
    from django.test.utils import CaptureQueriesContext

    timings = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            result = call()
            timings.append(time.perf_counter() - start)
        status = getattr(result, "status_code", 200)
        assert status == 200, (name, status)
    print(
        f"  {name:<26} median {statistics.median(timings) * 1000:7.1f} ms"
        f"  worst {max(timings) * 1000:7.1f} ms  {len(queries.captured_queries)} queries"
    )


if __name__ == "__main__":
    main()
