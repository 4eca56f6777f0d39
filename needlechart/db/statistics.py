"""The query planner's statistics, refreshed after a bulk load."""

from django.db import connection


def refresh_statistics(*tables: str) -> None:
    """ANALYZE every table (or those named): after a bulk load (the demo, an import) the
    planner would otherwise plan the dashboard's queries for the empty tables it last saw."""
    with connection.cursor() as cursor:
        if not tables:
            cursor.execute("ANALYZE")
        for table in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
