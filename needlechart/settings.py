"""Settings for needlechart, read from environment variables with safe defaults."""

import math
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def _any_of(words: tuple[str, ...]) -> str:
    return f"{', '.join(words[:-1])} or {words[-1]}"


def envbool(name: str, default: bool) -> bool:
    """A yes/no variable. Anything else stops the app: a typo must never silently turn a
    protection off."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a yes/no value: use {_any_of(TRUE)} to turn it on, "
        f"{_any_of(FALSE)} to turn it off, or leave it unset for the default"
    )


def envint(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """A whole-number variable within its bounds; anything else stops the app."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    low = minimum if minimum is not None else -math.inf
    high = maximum if maximum is not None else math.inf
    if number is None or not low <= number <= high:
        if minimum is not None and maximum is not None:
            accepted = f"a whole number from {minimum} to {maximum}"
        elif minimum is not None:
            accepted = f"a whole number of {minimum} or more"
        elif maximum is not None:
            accepted = f"a whole number of {maximum} or less"
        else:
            accepted = "a whole number"
        raise ImproperlyConfigured(
            f"{name}={value!r} is not {accepted}; leave it unset for the default ({default})"
        )
    return number


def envlist(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    return [item.strip() for item in value.split(",") if item.strip()] if value else default


DEBUG = envbool("DEBUG", False)

# A development key only with DEBUG on. In production an unset SECRET_KEY stays empty:
# commands that sign nothing (migrate, makemigrations) still run, while Django refuses
# anything that signs, and wsgi.py refuses to serve.
SECRET_KEY = os.environ.get("SECRET_KEY") or (
    "dev-only-insecure-key-do-not-use-in-production" if DEBUG else ""
)

# Keys retired by a rotation (docs/operations.md). SECRET_KEY_FALLBACKS keeps what they signed
# valid for a while (sessions, reset links); AUDIT_RETIRED_KEYS only lets the audit rows they
# sealed verify, and is what a rotation after a suspected leak uses.
SECRET_KEY_FALLBACKS = envlist("SECRET_KEY_FALLBACKS", [])
AUDIT_RETIRED_KEYS = envlist("AUDIT_RETIRED_KEYS", [])

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "django_ratelimit",
    "ninja",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_htmx",
    "needlechart.accounts",
    "needlechart.audit",
    "needlechart.patients",
    "needlechart.charting",
    "needlechart.outcomes",
    "needlechart.documents",
    "needlechart.reference",
    "needlechart.portal",
    "needlechart.api",
    "needlechart.fhir",
    # On top of every app above and imported by none: `needlechart demo`.
    "needlechart.demo",
]

MIDDLEWARE = [
    # Outermost: whatever answers beneath it under /fhir/ is turned into FHIR.
    "needlechart.fhir.middleware.FhirErrorsMiddleware",
    "needlechart.accounts.middleware.InPlaceSignInMiddleware",
    "needlechart.accounts.middleware.StoredHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "needlechart.accounts.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "needlechart.accounts.middleware.ResolvedUserMiddleware",
    "needlechart.accounts.middleware.NulRefusedMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "needlechart.accounts.middleware.PortalBoundaryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "needlechart.accounts.sessions.SessionTimeoutMiddleware",
    "needlechart.accounts.middleware.TwoFactorMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "needlechart.audit.middleware.AuditContextMiddleware",
    "needlechart.accounts.middleware.ClinicTimezoneMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "needlechart.urls"
# Django's form renderer, with select lists written in Python (needlechart/widgets.py).
FORM_RENDERER = "needlechart.widgets.FormRenderer"
# Apps above charting whose records join the patient's timeline (charting/selectors.py).
TIMELINE_PROVIDERS = ["needlechart.documents.timeline"]
WSGI_APPLICATION = "needlechart.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "needlechart" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "needlechart.accounts.context_processors.role",
            ],
            "builtins": ["needlechart.ui"],
        },
    },
]

DATA_DIR = Path(os.environ.get("NEEDLECHART_DATA_DIR", BASE_DIR / "var"))
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{DATA_DIR / 'needlechart.sqlite3'}",
        conn_max_age=envint("CONN_MAX_AGE", 0, minimum=0),
    )
}
DB_PREPARED_STATEMENTS = envbool("DB_PREPARED_STATEMENTS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_PREPARED_STATEMENTS:
    # Parameters bound by the server, and a statement run 5 times on a connection kept
    # between requests (CONN_MAX_AGE) prepared there: PostgreSQL then plans a page's 30-odd
    # queries once per connection, not on every request (about a fifth of a page's time).
    # Behind PgBouncer in transaction mode, which cannot keep prepared statements, set
    # DB_PREPARED_STATEMENTS=off (docs/deployment.md).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5
    )
DB_JIT_OFF = envbool("DB_JIT_OFF", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_JIT_OFF:
    # PostgreSQL compiles a query whose estimated cost passes a threshold to machine code,
    # which pays back on queries that run for seconds. A page's queries run for
    # milliseconds, and a list over a large clinic passes the threshold: the home page at
    # 20,000 patients spent about 35 of its 180 ms compiling. The dashboard's figures are no
    # faster with it. Set at connection, as a startup option: behind PgBouncer, which
    # refuses options it does not track, set DB_JIT_OFF=off and `jit = off` in
    # postgresql.conf or for the app's role (docs/deployment.md). Options given in PGOPTIONS
    # or DATABASE_URL are kept: libpq reads PGOPTIONS only where no option is passed.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    given = (os.environ.get("PGOPTIONS", ""), options.get("options", ""), "-c jit=off")
    options["options"] = " ".join(part.strip() for part in given if part.strip())
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # WAL lets the development server read while the demo loader writes. A page cache of
    # 64 MB per connection (SQLite's default is 2 MB) keeps a large clinic's dashboard reads
    # in memory: at 20,000 patients it cut the figures by a fifth.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
        "PRAGMA journal_mode=WAL; PRAGMA cache_size=-65536;"
    )
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
# Django's backends, with a flush that lifts the record guards (needlechart/db/flush.py).
DATABASES["default"]["ENGINE"] = {
    "django.db.backends.sqlite3": "needlechart.db.sqlite3",
    "django.db.backends.postgresql": "needlechart.db.postgresql",
}.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])

# FHIR Questionnaire JSON files of the instruments a clinic holds a licence for.
QUESTIONNAIRES_DIR = (
    Path(os.environ["QUESTIONNAIRES_DIR"]) if os.environ.get("QUESTIONNAIRES_DIR") else None
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "needlechart.accounts.backends.PeopleBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "needlechart.accounts.passwords.NamesValidator"},
]
LOGIN_URL = "login"
# The name authenticator apps show beside the account (django-otp).
OTP_TOTP_ISSUER = "needlechart"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lock out after repeated failures (django-axes), counted per account whatever the address
# (so a second address gets no fresh guesses) and per address whatever the account (so one
# address cannot try a password on every account). A clinic admin or an operator lifts a
# lockout early with `needlechart axes_reset_username USER` or `axes_reset_ip ADDRESS`.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Failures count for the cool-off period even after a right password: otherwise someone
# who knows the password could sign in between guesses at the second factor for ever.
AXES_RESET_ON_SUCCESS = False

# The database's sessions, each read by a query compiled once (accounts/session_store.py).
SESSION_ENGINE = "needlechart.accounts.session_store"
# A session ends 12 hours after its sign-in at most, and sooner after the idle period its
# clinic sets (accounts/sessions.py).
SESSION_MAX_SECONDS = 12 * 3600
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", SESSION_MAX_SECONDS, minimum=1)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Rate limits on forms that send email or try a password (accounts/limits.py), counted in a
# cache every worker shares: the database's (`needlechart createcachetable` makes its table).
# django-ratelimit warns that a database cache has no atomic increment: under a race a limit
# may let one or two more requests through, which is acceptable here (accounts/limits.py).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "limits": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "needlechart_limits",
    },
}
RATELIMIT_USE_CACHE = "limits"
# Requests per API token (api/auth.py); past it, 429 with Retry-After.
API_RATE = os.environ.get("API_RATE", "600/m")
RATELIMIT_IP_META_KEY = "needlechart.accounts.limits.client_ip"
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# Production (DEBUG off) serves over HTTPS only; cookies never travel in clear text.
SECURE = envbool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", SECURE)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000 if SECURE else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts, styles and fonts from the app's own static files only: no inline script or style
# and no other origin, so injected markup cannot run (django-csp). Plots are inline SVG.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Browser features no page uses, turned off (needlechart/accounts/middleware.py).
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), midi=(), magnetometer=(), "
    "gyroscope=(), accelerometer=()"
)
if envbool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Number of trusted reverse proxies in front of the app; the audit trail takes the
# client address from X-Forwarded-For only when this is set.
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0, minimum=0)

LANGUAGE_CODE = "en"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
# The app speaks English only. Without translation machinery every `{% url %}`, date and
# number on a page skips a per-request language lookup (a fifth of a page's CPU time); the
# pages are the same byte for byte, as Django's English formats are its defaults.
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "needlechart" / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
# Mail leaves over TLS (STARTTLS on the submission port) unless turned off on purpose:
# password-reset and invitation links must not cross the network in clear text.
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", not DEBUG)
EMAIL_PORT = envint("EMAIL_PORT", 587 if EMAIL_USE_TLS else 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
# Seconds to wait for the mail server: one that does not answer fails the send (and
# `send-reminders` says so) instead of holding a request or the command for ever.
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "needlechart <noreply@localhost>")
PASSWORD_RESET_TIMEOUT = envint("PASSWORD_RESET_TIMEOUT", 72 * 3600, minimum=1)
# Where the app is reached, for links in emails sent outside a request (reminders, alerts).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# A portal invitation link works once, for this many hours.
# Hours a finished FHIR $export keeps its files; then the job and its files are removed, at
# the next kick-off or by `needlechart fhir-export --clean` (docs/fhir.md).
FHIR_EXPORT_HOURS = envint("FHIR_EXPORT_HOURS", 24, minimum=1, maximum=24 * 365)
PORTAL_INVITATION_HOURS = envint("PORTAL_INVITATION_HOURS", 72, minimum=1, maximum=24 * 365)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
        "axes": {"handlers": ["console"], "level": "WARNING"},
    },
}
