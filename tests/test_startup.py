"""The command line starts at once: each command imports what it needs and nothing else.

Imports are what a start-up costs, so the tests look at the modules a command leaves loaded
in a fresh interpreter (times are measured in benchmarks/, never here)."""

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from unittest import mock

import pytest
from django.core.management import ManagementUtility, load_command_class

from needlechart import cli
from needlechart.cli import KNOWLEDGE_COMMANDS
from needlechart.reference.cli import COMMANDS

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
    [
        ["regions"],
        ["muscles", "--json"],
        ["referral", "temple-left"],
        ["referral", "nose-left"],  # refused: the error is printed without Django too
        ["screen", "--help"],
        ["screen", "--factors", "absent.json"],
        # A screen that answers: the factors and the plan read, the verdict printed.
        ["screen", "--factors", "{factors}", "--plan", "{plan}", "--json"],
        ["regions", "--no-such-option"],
    ],
)
def test_a_knowledge_command_loads_neither_the_web_stack_nor_the_models(argv, tmp_path):
    assert argv[0] in KNOWLEDGE_COMMANDS
    files = {"factors": {"factors": [{"code": "lymphedema", "limb": "arm", "side": "left"}]},
             "plan": {"items": [{"muscle": "infraspinatus", "side": "left",
                                 "technique": "dry-needling"}]}}  # fmt: skip
    for name, content in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
    argv = [arg.format(**{n: tmp_path / f"{n}.json" for n in files}) for arg in argv]
    loaded = _loaded(*argv)
    # Nor the plotting and PDF libraries the pages and documents draw with.
    heavy = {"matplotlib", "weasyprint", "PIL", "needlechart.outcomes.svg"}
    assert {m.split(".")[0] for m in loaded} & heavy == set()
    assert heavy & loaded == set()
    assert {"django.db.models", "django.urls", "django.template", "django.http"} & loaded == set()
    assert _app_modules(loaded) == set()
    # Nor Django's management package, which alone takes longer than the answer: it brings
    # the settings, the database layer and asyncio.
    assert {"django.core.management", "django.conf", "django.db", "asyncio"} & loaded == set()


def test_the_command_line_runs_each_knowledge_command_that_django_runs():
    assert set(KNOWLEDGE_COMMANDS) == set(COMMANDS)
    for name in KNOWLEDGE_COMMANDS:
        command = load_command_class("needlechart.reference", name)
        assert command.knowledge is COMMANDS[name]


class _Terminal(io.StringIO):
    """A captured stream that says whether it is a terminal (where errors are coloured)."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _outcome(run, argv: list[str], stdin: str, tty: bool) -> tuple[str, str, int]:
    """What a user sees: standard output, standard error and the exit code."""
    out, err = _Terminal(tty), _Terminal(tty)
    with (
        mock.patch.object(sys, "stdin", io.StringIO(stdin)),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            run(["needlechart", *argv])
            code = 0
        except SystemExit as exit:
            code = exit.code or 0
    return out.getvalue(), err.getvalue(), code


FACTORS = json.dumps({"factors": [{"code": "anticoagulant", "drug": "apixaban"}]})


# A success and refusals of each command: by the command (exit 2: refused input; 1: a
# file it cannot read) and by argparse (one usage line, exit 2); help and version.
CASES = [
    (["regions"], "", 0),
    (["regions", "--top", "3"], "", 2),
    (["muscles", "--json"], "", 0),
    (["muscles", "upper-trapezius"], "", 2),
    (["referral", "temple-left", "calf-right:4", "--top", "3"], "", 0),
    (["referral", "temple-left", "nose-left", "--json"], "", 2),
    (["referral", "temple-left:loud", "--no-color"], "", 2),
    (["referral"], "", 2),
    (["referral", "--help"], "", 0),
    (["screen", "--factors", "-"], FACTORS, 0),
    (["screen", "--factors", "-", "--json", "-v", "0"], '{"factors": [{"code": "gout"}]}', 2),
    (["screen", "--factors", "absent.json"], "", 1),
    (["screen", "--factors", "-", "--plan", "-"], "", 1),
    (["screen", "--help"], "", 0),
    (["regions", "--no-color", "--force-color"], "", 1),
    (["muscles", "--verbosity", "4"], "", 2),
    (["regions", "--skip-checks"], "", 2),  # Django offers it only to commands with checks
    (["muscles", "--version"], "", 0),
]


@pytest.mark.parametrize("tty", [False, True], ids=["piped", "terminal"])
@pytest.mark.parametrize(
    ("argv", "stdin", "code"), CASES, ids=[" ".join(argv) for argv, _, _ in CASES]
)
def test_the_command_line_prints_what_django_prints_for_a_knowledge_command(argv, stdin, code, tty):
    """The same output, error line (coloured on a terminal as Django colours it) and exit
    code whether the command runs on its own or as a Django management command."""
    django_path = _outcome(lambda args: ManagementUtility(args).execute(), argv, stdin, tty)
    fast_path = _outcome(cli.main, argv, stdin, tty)
    assert fast_path == django_path
    out, err, exit_code = fast_path
    assert exit_code == code
    if code:
        assert out == "" and re.sub(r"\x1b\[[0-9;]*m", "", err).count("\n") == 1
        coloured = tty and err.startswith("\x1b[") and "CommandError: " in err
        plain = "--no-color" in argv and "--force-color" not in argv
        assert coloured == (tty and not plain and "CommandError: " in err)
    else:
        assert out and err == ""


def test_the_help_lists_the_commands_without_the_pages_or_the_clinical_data():
    loaded = _loaded("--help")
    assert "pydantic" not in loaded  # the knowledge data is read when first used
    assert {
        m for m in loaded if m.startswith("needlechart") and m.endswith(("views", ".plots"))
    } == set()


RUN = "import sys; from needlechart import cli; cli.main(['needlechart', *sys.argv[1:]])"


@pytest.mark.parametrize("argv", [["--help"], ["help"], []])
def test_the_help_lists_every_command_as_django_would_without_setting_django_up(argv):
    from django.core.management import ManagementUtility

    loaded = _loaded(*argv)
    assert {"django.db", "django.core.management", "django.apps.registry"} & loaded == set()
    assert _app_modules(loaded) == set()
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "needlechart.settings"}
    shown = subprocess.run(
        [sys.executable, "-c", RUN, *argv],
        capture_output=True, text=True, env=env, check=True,
    ).stdout  # fmt: skip
    # Django's own listing, made the slow way in this (set up) process: the same lines.
    assert shown.strip("\n") == ManagementUtility(["needlechart"]).main_help_text().strip("\n")
    assert "    chart" in shown and "    referral" in shown and "    migrate" in shown


@pytest.mark.parametrize(
    "argv",
    [
        ["muscles"],  # a knowledge command, without Django
        ["--help"],  # the command list, without Django either
        ["diffsettings", "--all"],  # a Django command
    ],
)
def test_a_reader_that_stops_reading_ends_the_command_without_a_traceback(argv):
    """`needlechart muscles | head -1`: once the reader has gone, writing fails; the command
    stops with exit status 1 and says nothing (a traceback here would read as a fault)."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "needlechart.settings"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from needlechart import cli; cli.main()", *argv],
            stdout=write, stderr=subprocess.PIPE, text=True, env=env, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""


def test_a_broken_pipe_other_than_the_reader_s_is_reported_as_before(monkeypatch):
    """Only stdout's reader going away ends a command quietly: a pipe that breaks inside the
    command (a mail server's connection) is a fault, and is raised as it was."""

    def broken(argv):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_run", broken)
    read, write = os.pipe()
    try:
        with (
            open(write, "w", closefd=False) as healthy,
            contextlib.redirect_stdout(healthy),
            pytest.raises(BrokenPipeError),
        ):
            cli.main(["needlechart", "send-reminders"])
    finally:
        os.close(read)
        os.close(write)
