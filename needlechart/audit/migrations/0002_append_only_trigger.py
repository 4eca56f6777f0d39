"""Make audit rows append-only in the database itself, not only in the ORM.

UPDATE is refused on SQLite and PostgreSQL. DELETE is left to the ORM guard so that
test databases can be flushed and demo clinics rebuilt.
"""

from django.db import migrations

SQLITE_UP = ["""
CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE ON audit_auditevent
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;"""]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS audit_auditevent_no_update"]

POSTGRES_UP = [
    """CREATE FUNCTION audit_auditevent_refuse_update() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'audit events are append-only'; END;
    $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_refuse_update()""",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update ON audit_auditevent",
    "DROP FUNCTION IF EXISTS audit_auditevent_refuse_update()",
]


def _run(schema_editor, statements_by_vendor):
    for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement, params=None)


def forwards(apps, schema_editor):
    _run(schema_editor, {"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP})


def backwards(apps, schema_editor):
    _run(schema_editor, {"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN})


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
