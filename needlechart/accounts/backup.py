"""Backups that restore: one file holding the database and a manifest of what it held.

The file is a tar archive of `manifest.json` (when, which database, the rows of every table,
each audit chain's length and last seal) and the database itself: SQLite's own online
backup of its file, or PostgreSQL's `pg_dump --format=custom`. Restoring goes into an empty
database only, and is checked before it is reported done: every table holds the rows the
manifest names, and every audit chain verifies.

Django's `dumpdata`/`loaddata` cannot serve: loading rows one model at a time adds rows under
signed records, which the guards refuse (db/guards.py). SQLite's backup copies the file as
it is; pg_restore loads the data before it creates the triggers.
"""

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import connection, transaction

from needlechart.db.statistics import refresh_statistics

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}


class BackupError(Exception):
    """Why a backup or a restore could not be made, in one line."""


def _tables() -> list[str]:
    tables = []
    for model in apps.get_models():
        table = model._meta.db_table
        if model._meta.managed and not model._meta.proxy and table not in tables:
            tables.append(table)
    return tables


def _counts(cursor: Any = None) -> dict[str, int]:
    """Rows per table, read through `cursor` (a DB-API cursor on a copy) or the connection."""
    if cursor is None:
        with connection.cursor() as ours:
            return _counts(ours)
    counts = {}
    for table in _tables():
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 - names from the models
        counts[table] = cursor.fetchone()[0]
    return counts


def _chains(cursor: Any = None) -> dict[str, list]:
    """Each audit chain's head: its length and last seal."""
    if cursor is None:
        with connection.cursor() as ours:
            return _chains(ours)
    cursor.execute("SELECT chain, sequence, last_hash FROM audit_auditchain ORDER BY chain")
    return {str(chain): [sequence, last] for chain, sequence, last in cursor.fetchall()}


def _postgres_environment() -> dict[str, str]:
    """libpq's variables for the configured database, so that no password is on a command line."""
    settings = connection.settings_dict
    env = dict(os.environ)
    for name, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER"),
                      ("PGPASSWORD", "PASSWORD"), ("PGDATABASE", "NAME")):  # fmt: skip
        if settings.get(key):
            env[name] = str(settings[key])
    return env


def _run(command: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL's client tools)") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise BackupError(f"{command[0]} failed: {first}")


def backup(path: Path) -> dict[str, Any]:
    """Write the backup of the configured database to `path`; return its manifest."""
    vendor = connection.vendor
    if vendor not in DATABASE:
        raise BackupError(f"backups of {vendor} databases are not supported")
    if path.exists() and path.is_dir():
        raise BackupError(f"{path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise BackupError(f"no folder {path.parent}")
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / DATABASE[vendor]
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "made_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "database": vendor,
        }
        # The manifest and the copy describe one moment: on SQLite the manifest is read from
        # the copy itself; on PostgreSQL pg_dump reads the snapshot the counts were taken in.
        if connection.in_atomic_block:
            # SQLite's backup would wait for our own write transaction to end; PostgreSQL's
            # snapshot must be the first thing its transaction does.
            raise BackupError("a backup cannot be made inside a transaction")
        if vendor == "sqlite":
            import sqlite3

            connection.ensure_connection()
            target = sqlite3.connect(copy)
            try:
                connection.connection.backup(target)
                cursor = target.cursor()
                manifest.update(tables=_counts(cursor), audit_chains=_chains(cursor))
            finally:
                target.close()
        else:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot = cursor.fetchone()[0]
                manifest.update(tables=_counts(cursor), audit_chains=_chains(cursor))
                _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                      f"--snapshot={snapshot}", f"--file={copy}"],
                     _postgres_environment())  # fmt: skip
        partial = path.with_name(path.name + ".partial")
        with tarfile.open(partial, "w") as archive:
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            archive.add(copy, arcname=DATABASE[vendor])
        # Renamed when complete, so that a backup cut short never passes for a whole one.
        partial.replace(path)
    return manifest


def _read(path: Path, scratch: Path) -> tuple[dict[str, Any], Path]:
    if not path.is_file():
        raise BackupError(f"no backup file {path}")
    try:
        with tarfile.open(path, "r") as archive:
            manifest = json.load(archive.extractfile(MANIFEST))  # type: ignore[arg-type]
            if manifest.get("format") != FORMAT:
                raise BackupError(f"{path} is a backup of another format")
            name = DATABASE[manifest["database"]]
            archive.extract(name, scratch, filter="data")
    except (tarfile.TarError, KeyError, ValueError, TypeError):
        raise BackupError(f"{path} is not a needlechart backup") from None
    return manifest, scratch / name


def _empty() -> bool:
    tables = connection.introspection.table_names()
    if "accounts_clinic" not in tables:
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM accounts_clinic")
        return cursor.fetchone()[0] == 0


def restore(path: Path) -> dict[str, Any]:
    """Restore the backup at `path` into the configured database, which must be empty, and
    check it: the same rows in every table, every audit chain intact. Returns the manifest."""
    vendor = connection.vendor
    with tempfile.TemporaryDirectory() as scratch:
        manifest, copy = _read(path, Path(scratch))
        if manifest["database"] != vendor:
            raise BackupError(
                f"{path} is a backup of a {manifest['database']} database; this one is {vendor}"
            )
        if not _empty():
            raise BackupError("the database holds clinics already; restore into an empty one")
        if vendor == "sqlite":
            name = Path(connection.settings_dict["NAME"])
            connection.close()
            for suffix in ("-wal", "-shm"):
                Path(f"{name}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(copy, name)
        else:
            # An empty database: migrated (empty tables) or not at all.
            with connection.cursor() as cursor:
                cursor.execute("DROP SCHEMA public CASCADE")
                cursor.execute("CREATE SCHEMA public")
            connection.close()
            _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
                  "--single-transaction", f"--dbname={connection.settings_dict['NAME']}",
                  str(copy)], _postgres_environment())  # fmt: skip
            # pg_restore loads the rows without the planner's statistics (SQLite's copy
            # carries its own): the restored clinic's pages would be planned for empty
            # tables until a server's autovacuum got to them, or never where it is off.
            refresh_statistics()
    problems = check(manifest)
    if problems:
        raise BackupError("the restored database does not match its backup: " + "; ".join(problems))
    return manifest


def check(manifest: dict[str, Any]) -> list[str]:
    """What differs between the database and the manifest of its backup."""
    from needlechart.audit import chain

    problems = []
    counts = _counts()
    for table, rows in sorted(manifest["tables"].items()):
        if counts.get(table) != rows:
            problems.append(f"{table} holds {counts.get(table)} rows, the backup {rows}")
    if _chains() != manifest["audit_chains"]:
        problems.append("the audit chains' heads differ from the backup's")
    for number in chain.chains():
        verdict = chain.verify(number, keep=False)
        if not verdict.intact:
            problems.append(f"audit chain {number}: {verdict.problem}")
    return problems
