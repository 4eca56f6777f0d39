"""The command line starts at once: each command imports what it needs and nothing else.

Imports are what a start-up costs, so the tests look at the modules a command leaves loaded
in a fresh interpreter (times are measured in benchmarks/, never here)."""

import json
import os
import subprocess
import sys

import pytest

from needlechart.cli import KNOWLEDGE_COMMANDS

PROBE = """
import contextlib, io, json, sys
from needlechart import cli
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        cli.main(["needlechart", *sys.argv[1:]])
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(*argv: str) -> set[str]:
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "needlechart.settings"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def _app_modules(loaded: set[str]) -> set[str]:
    apps = ("accounts", "audit", "patients", "charting", "outcomes", "portal", "pages", "demo")
    return {m for m in loaded if m.split(".")[:2] in [["needlechart", a] for a in apps]}


@pytest.mark.parametrize(
    "argv",
    [["regions"], ["muscles", "--json"], ["referral", "temple-left"], ["screen", "--help"]],
)
def test_a_knowledge_command_loads_neither_the_web_stack_nor_the_models(argv):
    assert argv[0] in KNOWLEDGE_COMMANDS
    loaded = _loaded(*argv)
    assert {"django.db.models", "django.urls", "django.template", "django.http"} & loaded == set()
    assert _app_modules(loaded) == set()


def test_the_help_lists_the_commands_without_the_pages_or_the_clinical_data():
    loaded = _loaded("--help")
    assert "pydantic" not in loaded  # the knowledge data is read when first used
    assert {
        m for m in loaded if m.startswith("needlechart") and m.endswith(("views", ".plots"))
    } == set()
