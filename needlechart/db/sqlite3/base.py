"""Django's SQLite backend, with a flush that lifts the record guards (db/flush.py), and
each statement's placeholders rewritten once per process rather than at every run."""

import functools

from django.db.backends.sqlite3 import base

from needlechart.db.flush import FlushLiftsGuards

# Statements longer than this (a bulk insert of many rows) are rewritten at each run, as
# Django does. A page's longest statement (a session with its episode, patient and
# practitioners) is about 7,000 characters; the statements kept hold at most about 10 MB.
KEPT_UP_TO = 20_000


class DatabaseOperations(FlushLiftsGuards, base.DatabaseOperations):
    pass


@functools.lru_cache(maxsize=256)
def _qmark(query: str) -> str:
    return base.FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")


class CursorWrapper(base.SQLiteCursorWrapper):
    """Django writes placeholders as `%s` and sqlite3 reads `?`: the regular expression
    that rewrites them costs as much as running a page's statement of a hundred columns (a
    session with its episode, patient and practitioners), and a page runs the same twenty
    statements at every view."""

    def convert_query(self, query: str, *, param_names: list[str] | None = None) -> str:
        if param_names is None and len(query) <= KEPT_UP_TO:
            return _qmark(query)
        return super().convert_query(query, param_names=param_names)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def create_cursor(self, name: str | None = None) -> CursorWrapper:
        return self.connection.cursor(factory=CursorWrapper)
