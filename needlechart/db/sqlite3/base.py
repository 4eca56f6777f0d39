"""Django's SQLite backend, with a flush that lifts the record guards (db/flush.py)."""

from django.db.backends.sqlite3 import base

from needlechart.db.flush import FlushLiftsGuards


class DatabaseOperations(FlushLiftsGuards, base.DatabaseOperations):
    pass


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
