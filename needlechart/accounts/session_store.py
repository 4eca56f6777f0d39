"""Sessions kept in the database, as Django keeps them, each read by a query compiled once.

Every signed-in request reads its session first. Django's database store builds and
compiles that query anew each time, which costs more than running it (db/prepared.py): the
session is read here by its key alone, and its expiry compared as Django's query compares
it, so an expired session reads as no session, as before."""

from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.contrib.sessions.models import Session
from django.db.models import QuerySet
from django.utils import timezone

from needlechart.db.prepared import prepared


@prepared
def _session(session_key: str) -> QuerySet:
    return Session.objects.filter(session_key=session_key)


class SessionStore(DatabaseStore):
    def _get_session_from_db(self) -> Any:
        key = self.session_key
        found = _session(key) if type(key) is str else []
        if found and found[0].expire_date > timezone.now():
            return found[0]
        self._session_key = None
        return None
