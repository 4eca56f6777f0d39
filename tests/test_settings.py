"""Production settings, read in a fresh process as a server would read them."""

import os
import subprocess
import sys

from django.core.management import call_command

PRINT = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
    "s.DATABASES['default']['ENGINE'], s.DATABASES['default'].get('NAME'))"
)


# Variables the test run sets for itself that a production server would not have.
UNSET = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "SECURE_COOKIES", "DJANGO_ALLOW_ASYNC_UNSAFE")


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in UNSET}
    clean.update(DJANGO_SETTINGS_MODULE="needlechart.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=False
    )


def test_production_marks_session_and_csrf_cookies_secure(tmp_path):
    result = _python(PRINT, SECRET_KEY="s" * 50, NEEDLECHART_DATA_DIR=str(tmp_path))
    assert result.stdout.split()[:3] == ["True", "True", "True"], result.stderr


def test_local_development_serves_plain_http(tmp_path):
    result = _python(PRINT, DEBUG="1", NEEDLECHART_DATA_DIR=str(tmp_path))
    assert result.stdout.split()[:3] == ["False", "False", "False"], result.stderr


def test_production_refuses_to_serve_without_a_secret_key(tmp_path):
    result = _python("import needlechart.wsgi", NEEDLECHART_DATA_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "The SECRET_KEY setting must not be empty." in result.stderr


def test_database_url_selects_postgresql(tmp_path):
    result = _python(PRINT, DEBUG="1", DATABASE_URL="postgres://postgres@127.0.0.1:5432/clinic")
    assert result.stdout.split()[3:] == ["django.db.backends.postgresql", "clinic"], result.stderr


def test_without_database_url_sqlite_lives_in_the_data_directory(tmp_path):
    result = _python(PRINT, DEBUG="1", NEEDLECHART_DATA_DIR=str(tmp_path))
    assert result.stdout.split()[3:] == [
        "django.db.backends.sqlite3",
        str(tmp_path / "needlechart.sqlite3"),
    ]


def test_the_deployment_checklist_passes_in_production(tmp_path):
    result = _python(
        "import sys; from django.core.management import execute_from_command_line as run; "
        "run(['needlechart', 'check', '--deploy', '--fail-level', 'WARNING'])",
        SECRET_KEY="a-long-random-production-secret-" + "x" * 40,
        NEEDLECHART_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr


def test_models_and_migrations_agree(db):
    # Raises SystemExit(1) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
