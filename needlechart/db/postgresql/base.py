"""Django's PostgreSQL backend, with a flush that lifts the record guards (db/flush.py)."""

from django.db.backends.postgresql import base

from needlechart.db.flush import FlushLiftsGuards


class DatabaseOperations(FlushLiftsGuards, base.DatabaseOperations):
    pass


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
