"""Settings for the test suite: the production settings with test-only speed-ups."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
# The browser tests talk to the live server over plain HTTP.
os.environ.setdefault("SECURE_COOKIES", "0")
# Playwright's sync API runs an event loop in the test thread; the ORM calls in the
# same test are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from needlechart.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Rate-limit counts in memory, cleared before each test (tests/conftest.py), so that limits
# reached in one test do not carry into the next; the production cache is the database's.
CACHES = {**CACHES, "limits": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",  # noqa: F405
                                "LOCATION": "limits"}}  # fmt: skip

# Every prepared query is also built and compiled as usual, and must give the same SQL and
# parameters (needlechart/db/prepared.py).
PREPARED_QUERIES_CHECK = True
