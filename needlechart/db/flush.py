"""What the database backends add to Django's: a flush (the test runner's, or `flush`) lifts
the guards that keep signed records, which would otherwise refuse to be emptied."""

from typing import Any

from needlechart.db import guards


class FlushLiftsGuards:
    connection: Any

    def execute_sql_flush(self, sql_list: list[str]) -> None:
        with guards.lifted(self.connection):
            super().execute_sql_flush(sql_list)  # type: ignore[misc]
