"""The application's PostgreSQL role: it reads and writes rows and owns nothing, so it can
neither drop nor disable the guards that keep signed records (db/guards.py), nor truncate a
table, nor change or remove an audit row. Migrations run as the tables' owner, a role kept
apart (docs/deployment.md)."""

from typing import Any

from psycopg import sql


class RoleRefused(Exception):
    """The role cannot serve as the application's: the reason, in one line."""


def grants(app_role: str) -> list[sql.Composed]:
    """What the application's role may do, granted by the owner (the role running them)."""
    role = sql.Identifier(app_role)
    return [
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC").format(),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(
            role
        ),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(role),
        # The audit trail is read and appended to, never changed: refused by privilege as
        # well as by its triggers.
        sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON audit_auditevent FROM {}").format(role),
        # Tables that later migrations add, created by the owner running this.
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(role),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}"
        ).format(role),
    ]


def grant(connection: Any, app_role: str) -> None:
    """Give `app_role` the application's privileges, refusing a role that could lift the
    guards: a superuser, the role running this, or one that owns a table."""
    if connection.vendor != "postgresql":
        raise RoleRefused("database roles are PostgreSQL's; SQLite has none")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolname = current_user FROM pg_roles WHERE rolname = %s", [app_role]
        )
        found = cursor.fetchone()
        if found is None:
            raise RoleRefused(
                f"no role {app_role!r}: create it first (CREATE ROLE {app_role} LOGIN PASSWORD ...)"
            )
        superuser, is_owner = found
        if superuser or is_owner:
            raise RoleRefused(
                f"{app_role!r} is a superuser or the role running this; the application's role "
                "must be neither, or it could lift the guards"
            )
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = %s",
            [app_role],
        )
        if cursor.fetchone()[0]:
            raise RoleRefused(f"{app_role!r} owns tables; migrate as another role")
        raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
        for statement in grants(app_role):
            raw.execute(statement)
