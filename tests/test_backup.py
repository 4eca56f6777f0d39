"""Backups that restore: a backup restored into an empty database gives the same charts
(`needlechart chart --all --json`), the same rows in every table, and audit chains that
verify. On SQLite and PostgreSQL."""

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from needlechart.accounts import backup
from tests import charts

NEEDLECHART = Path(sys.executable).parent / "needlechart"


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(NEEDLECHART), *args], env=env, capture_output=True, text=True, check=False
    )


def _charts_here() -> list[dict]:
    out = io.StringIO()
    call_command("chart", "--all", "--json", stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _environment(tmp_path: Path, database_url: str | None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(DEBUG="1", NEEDLECHART_DATA_DIR=str(tmp_path / "restored"))
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _charted(world) -> None:
    charts.build(world.practitioner, world.episode_a, signed=True)
    charts.discharged(world.practitioner, world.clinic_a)
    charts.build(world.other_practitioner, world.episode_b, signed=True)


def _restore_and_compare(tmp_path: Path, env: dict[str, str]) -> None:
    made = tmp_path / "clinic.backup"
    manifest = backup.backup(made)
    assert manifest["tables"]["charting_needlingsession"] >= 3
    expected = _charts_here()
    restored = _run(env, "restore", str(made))
    assert restored.returncode == 0, restored.stderr
    assert "every audit chain verifies" in restored.stdout
    charted = _run(env, "chart", "--all", "--json")
    assert charted.returncode == 0, charted.stderr
    assert [json.loads(line) for line in charted.stdout.splitlines()] == expected
    verified = _run(env, "audit-verify")
    assert verified.returncode == 0, verified.stderr
    # A second restore over the restored clinic is refused: restores go into empty databases.
    again = _run(env, "restore", str(made))
    assert again.returncode == 1 and "empty" in again.stderr


@pytest.mark.skipif("connection.vendor != 'sqlite'")
@pytest.mark.django_db(transaction=True)
def test_a_sqlite_backup_restores_the_same_charts_and_chains(tmp_path, request):
    world = request.getfixturevalue("world")
    _charted(world)
    _restore_and_compare(tmp_path, _environment(tmp_path, None))


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_a_postgresql_backup_restores_the_same_charts_and_chains(tmp_path, request):
    world = request.getfixturevalue("world")
    _charted(world)
    name = f"{connection.settings_dict['NAME']}_restored"
    admin = {**connection.get_connection_params(), "dbname": "postgres"}
    admin.pop("cursor_factory", None)
    with psycopg.connect(**admin, autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}"')
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        parts = urlsplit(os.environ["DATABASE_URL"])
        url = urlunsplit(parts._replace(path=f"/{name}"))
        _restore_and_compare(tmp_path, _environment(tmp_path, url))
        # The restored tables carry the planner's statistics, as a bulk load leaves them.
        with psycopg.connect(**{**admin, "dbname": name}) as restored:
            unanalysed = restored.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname IN "
                "('charting_needlingsession', 'outcomes_observation', 'audit_auditevent') "
                "AND NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = 'public' "
                "AND s.tablename = c.relname)"
            ).fetchall()
        assert unanalysed == []
    finally:
        with psycopg.connect(**admin, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_file_that_is_not_a_backup_is_refused_in_one_line(db, tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a backup")
    for args, reason in [
        ((str(bogus),), "is not a needlechart backup"),
        ((str(tmp_path / "missing.backup"),), "no backup file"),
    ]:
        with pytest.raises(CommandError, match=reason) as refused:
            call_command("restore", *args)
        assert "\n" not in str(refused.value)
    with pytest.raises(CommandError, match="inside a transaction"):
        call_command("backup", str(tmp_path / "x.backup"))
    with pytest.raises(CommandError, match="no folder"):
        call_command("backup", str(tmp_path / "no" / "such" / "folder" / "x.backup"))


@pytest.mark.django_db(transaction=True)
def test_restoring_over_a_clinic_is_refused(tmp_path, request):
    request.getfixturevalue("world")
    made = tmp_path / "clinic.backup"
    backup.backup(made)
    with pytest.raises(CommandError, match="restore into an empty one"):
        call_command("restore", str(made))
    with tarfile.open(made) as archive:
        assert {"manifest.json"} < set(archive.getnames())
