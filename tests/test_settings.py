"""Production settings, read in a fresh process as a server would read them."""

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from needlechart import settings as settings_module
from needlechart.settings import envbool, envint
from tests import factories

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
    assert result.stdout.split()[3:] == ["needlechart.db.postgresql", "clinic"], result.stderr


def test_without_database_url_sqlite_lives_in_the_data_directory(tmp_path):
    result = _python(PRINT, DEBUG="1", NEEDLECHART_DATA_DIR=str(tmp_path))
    assert result.stdout.split()[3:] == [
        "needlechart.db.sqlite3",
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


# --- values from the environment that cannot be read stop the app -------------------------

NEEDLECHART = Path(sys.executable).parent / "needlechart"
# Every boolean and number settings.py reads, so a test can start from none of them set.
READ = ("DEBUG", "SECURE_COOKIES", "SECURE_SSL_REDIRECT", "BEHIND_PROXY", "EMAIL_USE_TLS",
        "CONN_MAX_AGE", "AXES_FAILURE_LIMIT", "SESSION_COOKIE_AGE", "SECURE_HSTS_SECONDS",
        "TRUSTED_PROXY_COUNT", "EMAIL_PORT", "EMAIL_TIMEOUT", "PASSWORD_RESET_TIMEOUT",
        "PORTAL_INVITATION_HOURS", "DB_PREPARED_STATEMENTS", "DB_JIT_OFF")  # fmt: skip


def _settings(monkeypatch, tmp_path, **env: str) -> dict:
    """settings.py evaluated afresh with these variables, beside the running settings."""
    for name in READ:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEEDLECHART_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(settings_module.__file__)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), (" Yes ", True), ("ON", True),
     ("0", False), ("false", False), ("No", False), ("off", False)],
)  # fmt: skip
def test_a_yes_no_variable_reads_the_usual_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("SECURE_COOKIES", value)
    assert envbool("SECURE_COOKIES", not expected) is expected


def test_an_unset_or_empty_variable_keeps_its_default(monkeypatch):
    monkeypatch.delenv("BEHIND_PROXY", raising=False)
    assert envbool("BEHIND_PROXY", True) is True
    monkeypatch.setenv("BEHIND_PROXY", "")
    assert envbool("BEHIND_PROXY", False) is False
    monkeypatch.setenv("AXES_FAILURE_LIMIT", " ")
    assert envint("AXES_FAILURE_LIMIT", 5, minimum=1) == 5


@pytest.mark.parametrize("value", ["ture", "maybe", "2", "enabled", "y"])
def test_a_yes_no_variable_that_cannot_be_read_stops_the_app(monkeypatch, value):
    monkeypatch.setenv("SECURE_COOKIES", value)
    with pytest.raises(ImproperlyConfigured) as refused:
        envbool("SECURE_COOKIES", True)
    assert str(refused.value) == (
        f"SECURE_COOKIES={value!r} is not a yes/no value: use 1, true, yes or on to turn it "
        "on, 0, false, no or off to turn it off, or leave it unset for the default"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [("five", "a whole number of 1 or more"), ("4.5", "a whole number of 1 or more"),
     ("0", "a whole number of 1 or more"), ("-3", "a whole number of 1 or more")],
)  # fmt: skip
def test_a_number_that_cannot_be_read_or_is_out_of_bounds_stops_the_app(
    monkeypatch, value, message
):
    monkeypatch.setenv("AXES_FAILURE_LIMIT", value)
    with pytest.raises(ImproperlyConfigured) as refused:
        envint("AXES_FAILURE_LIMIT", 5, minimum=1)
    assert str(refused.value) == (
        f"AXES_FAILURE_LIMIT={value!r} is not {message}; leave it unset for the default (5)"
    )


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("DEBUG", "ture", "is not a yes/no value"),
        ("SECURE_COOKIES", "ture", "is not a yes/no value"),
        ("SECURE_SSL_REDIRECT", "yes please", "is not a yes/no value"),
        ("BEHIND_PROXY", "si", "is not a yes/no value"),
        ("EMAIL_USE_TLS", "tls", "is not a yes/no value"),
        ("AXES_FAILURE_LIMIT", "five", "is not a whole number of 1 or more"),
        ("PORTAL_INVITATION_HOURS", "-3", "is not a whole number from 1 to 8760"),
        ("PORTAL_INVITATION_HOURS", "100000", "is not a whole number from 1 to 8760"),
        ("EMAIL_PORT", "70000", "is not a whole number from 1 to 65535"),
        ("EMAIL_TIMEOUT", "0", "is not a whole number of 1 or more"),
        ("TRUSTED_PROXY_COUNT", "-1", "is not a whole number of 0 or more"),
        ("SECURE_HSTS_SECONDS", "1y", "is not a whole number of 0 or more"),
        ("SESSION_COOKIE_AGE", "0", "is not a whole number of 1 or more"),
        ("PASSWORD_RESET_TIMEOUT", "3 days", "is not a whole number of 1 or more"),
        ("CONN_MAX_AGE", "forever", "is not a whole number of 0 or more"),
        ("DB_PREPARED_STATEMENTS", "maybe", "is not a yes/no value"),
        ("DB_JIT_OFF", "perhaps", "is not a yes/no value"),
    ],
)
def test_every_setting_read_from_the_environment_refuses_nonsense(
    monkeypatch, tmp_path, name, value, accepted
):
    with pytest.raises(ImproperlyConfigured, match=f"^{name}={value!r} {accepted}"):
        _settings(monkeypatch, tmp_path, SECRET_KEY="s" * 50, **{name: value})


def test_unset_variables_keep_the_defaults_the_readme_documents(monkeypatch, tmp_path):
    production = _settings(monkeypatch, tmp_path, SECRET_KEY="s" * 50)
    assert production["DEBUG"] is False
    assert production["SESSION_COOKIE_SECURE"] is production["SECURE_SSL_REDIRECT"] is True
    assert "SECURE_PROXY_SSL_HEADER" not in production
    assert production["SECURE_HSTS_SECONDS"] == 31536000
    assert production["AXES_FAILURE_LIMIT"] == 5
    assert production["TRUSTED_PROXY_COUNT"] == 0
    assert production["PORTAL_INVITATION_HOURS"] == 72
    # Mail leaves over TLS on the submission port unless turned off on purpose.
    assert production["EMAIL_PORT"] == 587 and production["EMAIL_USE_TLS"] is True
    assert production["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["script-src"] == ["'self'"]
    assert production["EMAIL_TIMEOUT"] == 30
    development = _settings(monkeypatch, tmp_path, DEBUG="1")
    assert development["SESSION_COOKIE_SECURE"] is False
    assert development["SECURE_HSTS_SECONDS"] == 0


def test_needlechart_check_stops_in_one_line_naming_a_setting_it_cannot_read(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in UNSET + READ}
    env.update(DEBUG="1", NEEDLECHART_DATA_DIR=str(tmp_path), SECURE_COOKIES="ture")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [str(NEEDLECHART), "check"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "ImproperlyConfigured: SECURE_COOKIES='ture' is not a yes/no value: use 1, true, yes "
        "or on to turn it on, 0, false, no or off to turn it off, or leave it unset for the "
        "default"
    ]
    fixed = subprocess.run(
        [str(NEEDLECHART), "check"],
        env={**env, "SECURE_COOKIES": "true"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert fixed.returncode == 0, fixed.stderr


# The security headers of the app as production runs it (its settings read from the same
# environment a production server has), on the sign-in page and a signed-in page.
SECURITY_SETTINGS = (
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SECURE_REFERRER_POLICY",
    "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE", "CONTENT_SECURITY_POLICY",
    "PERMISSIONS_POLICY", "X_FRAME_OPTIONS", "SECURE_CONTENT_TYPE_NOSNIFF",
)  # fmt: skip


def test_a_production_configured_app_sends_the_headers_a_security_review_expects(
    world, monkeypatch, tmp_path, settings
):
    production = _settings(monkeypatch, tmp_path, SECRET_KEY="s" * 50)
    for name in SECURITY_SETTINGS:
        setattr(settings, name, production[name])
    client = Client()
    assert client.get(reverse("login")).status_code == 301  # plain HTTP goes to HTTPS
    page = client.get(reverse("login"), secure=True)
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert "camera=()" in page.headers["Permissions-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    signed_in = client.post(
        reverse("login"), {"username": "paula", "password": factories.PASSWORD}, secure=True
    )
    cookie = signed_in.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"
    assert client.cookies[settings.CSRF_COOKIE_NAME]["secure"]
    home = client.get(reverse("home"), secure=True)
    assert home.status_code == 200 and "Content-Security-Policy" in home.headers
    # No page of the app carries an inline script or handler the policy would block.
    assert "<script>" not in home.content.decode() and "onclick=" not in home.content.decode()


def test_no_template_carries_inline_script_style_or_handlers_the_policy_blocks():
    import re

    templates = Path(settings_module.BASE_DIR) / "needlechart" / "templates"
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=|\sstyle=|<style")
    found = [
        f"{path.relative_to(templates)}: {match.group(0).strip()}"
        for path in sorted(templates.rglob("*.html"))
        for match in inline.finditer(path.read_text())
    ]
    assert found == []


@pytest.mark.parametrize(("value", "prepared"), [("", True), ("off", False)])
def test_postgresql_binds_and_prepares_statements_unless_turned_off(
    monkeypatch, tmp_path, value, prepared
):
    """A page's queries are planned once per kept connection; a pooler in transaction mode
    (PgBouncer) cannot keep prepared statements, so they can be turned off."""
    found = _settings(monkeypatch, tmp_path, SECRET_KEY="s" * 50,
                      DATABASE_URL="postgres://app@db.example.org:5432/needlechart",
                      DB_PREPARED_STATEMENTS=value)  # fmt: skip
    options = found["DATABASES"]["default"].get("OPTIONS", {})
    expected = {"server_side_binding": True, "prepare_threshold": 5} if prepared else {}
    assert {
        k: options[k] for k in ("server_side_binding", "prepare_threshold") if k in options
    } == expected
    monkeypatch.delenv("DATABASE_URL")
    sqlite = _settings(monkeypatch, tmp_path, SECRET_KEY="s" * 50)
    assert "server_side_binding" not in sqlite["DATABASES"]["default"]["OPTIONS"]


@pytest.mark.parametrize(("value", "jit_off"), [("", True), ("off", False)])
def test_postgresql_connections_start_with_jit_off_unless_turned_off(
    monkeypatch, tmp_path, value, jit_off
):
    """A page's queries are not compiled to machine code; behind a pooler that refuses
    startup options (PgBouncer) the option can be left to postgresql.conf. Options given in
    the database's address are kept beside it."""
    # Starting from none in the environment: a developer's shell may set it.
    monkeypatch.delenv("PGOPTIONS", raising=False)
    found = _settings(monkeypatch, tmp_path, SECRET_KEY="s" * 50,
                      DATABASE_URL="postgres://app@db.example.org:5432/needlechart",
                      DB_JIT_OFF=value)  # fmt: skip
    assert found["DATABASES"]["default"]["OPTIONS"].get("options") == (
        "-c jit=off" if jit_off else None
    )
    kept = _settings(monkeypatch, tmp_path, SECRET_KEY="s" * 50, DB_JIT_OFF=value,
                     DATABASE_URL="postgres://app@db.example.org:5432/needlechart"
                                  "?options=-c%20statement_timeout%3D5000")  # fmt: skip
    assert kept["DATABASES"]["default"]["OPTIONS"]["options"] == (
        "-c statement_timeout=5000 -c jit=off" if jit_off else "-c statement_timeout=5000"
    )
    # PGOPTIONS, which libpq reads only where no option is passed, is kept as well.
    monkeypatch.setenv("PGOPTIONS", "-c search_path=clinic")
    with_env = _settings(monkeypatch, tmp_path, SECRET_KEY="s" * 50, DB_JIT_OFF=value,
                         DATABASE_URL="postgres://app@db.example.org:5432/needlechart")  # fmt: skip
    assert with_env["DATABASES"]["default"]["OPTIONS"].get("options") == (
        "-c search_path=clinic -c jit=off" if jit_off else None
    )
    monkeypatch.delenv("DATABASE_URL")
    sqlite = _settings(monkeypatch, tmp_path, SECRET_KEY="s" * 50)
    assert "options" not in sqlite["DATABASES"]["default"]["OPTIONS"]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_the_apps_postgresql_connection_has_jit_off(db):
    # Asked of the connection, not only of the server's configuration.
    assert "-c jit=off" in connection.settings_dict["OPTIONS"]["options"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
