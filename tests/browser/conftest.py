"""Playwright driving Debian's Chromium against the live test server."""

import os
import shutil
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.servers.basehttp import WSGIServer
from django.test.testcases import LiveServerThread
from playwright.sync_api import Browser, Page, sync_playwright

# Playwright's own browser download does not work here; the system Chromium does.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in str(item.path):
            item.add_marker(pytest.mark.browser)


class OneRequestAtATime(WSGIServer):
    """The live server without a thread per request (Django then closes each connection)."""

    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def _serial_live_server_on_sqlite() -> Iterator[None]:
    """On SQLite the test database is in memory, and the live server's threads share its
    one connection, which is not made for two threads at once: with two requests in flight
    (a field saved while the next is sent) a saved pain score was lost at random. There the
    server answers one request at a time; on PostgreSQL each thread has its own connection."""
    from django.db import connection

    threaded = LiveServerThread.server_class
    if connection.vendor == "sqlite":
        LiveServerThread.server_class = OneRequestAtATime
    yield
    LiveServerThread.server_class = threaded


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}; `make test` installs it.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    # Tablet width: the narrowest layout the staff pages are made for.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 820, "height": 1000})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


_AXE = Axe()


def axe_violations(page: Page) -> list[str]:
    """axe-core's accessibility violations on the page as it stands, one line each."""
    results = _AXE.run(page)
    return [
        f"{v['id']}: {v['help']} at {', '.join(str(n['target']) for n in v['nodes'])}"
        for v in results.response["violations"]
    ]
