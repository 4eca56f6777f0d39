"""The query planner's statistics, refreshed after a bulk load."""

from django.db import connection


def refresh_statistics() -> None:
    """ANALYZE every table: after a bulk load (the demo, an import) the planner would
    otherwise plan the dashboard's queries for the empty tables it last saw."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
