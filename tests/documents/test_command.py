"""`needlechart document KIND ID -o FILE`: the PDF written, or one line and an exit code."""

import contextlib
import io

import pytest
from django.db import connections
from django.utils import timezone

from needlechart import cli
from needlechart.audit.models import AuditEvent
from needlechart.documents import render
from tests.documents import pdf
from tests.test_startup import _loaded


@pytest.fixture(autouse=True)
def connection_kept(monkeypatch):
    """A command run as from the shell closes the database connections when it ends; the
    test's own connection (its transaction, on PostgreSQL) must outlive it."""
    monkeypatch.setattr(connections, "close_all", lambda: None)


def run(command: str, *argv: str) -> tuple[str, str, int]:
    """`needlechart COMMAND ARGV...` as from the shell: its output, errors and exit code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(["needlechart", command, *argv])
            code = 0
        except SystemExit as exit:
            code = exit.code or 0
    return out.getvalue(), err.getvalue(), code


def _run(*argv: str) -> tuple[str, str, int]:
    return run("document", *argv)


def test_the_command_writes_the_same_pdf_the_pages_issue(signed, tmp_path):
    target = tmp_path / "note.pdf"
    out, err, code = _run("session-note", str(signed.session.pk), "-o", str(target))
    assert (code, err) == (0, "")
    written = target.read_bytes()
    assert "Signed by Paula Physio" in pdf.text(written)
    made = render.render("session-note", signed.session, as_of=signed.session.signed_at)
    assert made.pdf == written and made.sha256 in out
    row = AuditEvent.objects.filter(action="export", object_type="Encounter").get()
    assert row.user is None and row.detail["document"] == "session-note"


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["letter", "1", "-o", "{tmp}/x.pdf"], 2, "invalid choice: 'letter'"),
        (["record", "0", "-o", "{tmp}/x.pdf"], 2, "must be a record id"),
        (["record", "99999", "-o", "{tmp}/x.pdf"], 2, "no patient has id 99999"),
        (["session-note", "{draft}", "-o", "{tmp}/x.pdf"], 2, "sign the session first"),
        (["record", "{patient}", "-o", "{tmp}/absent/x.pdf"], 1, "no such folder"),
        (["record", "{patient}", "-o", "{tmp}"], 1, "it is a folder"),
        (["record", "{patient}"], 2, "the following arguments are required: -o/--output"),
    ],
)
def test_a_bad_kind_id_or_path_is_one_line_and_an_exit_code(signed, tmp_path, argv, code, says):
    values = {"tmp": tmp_path, "draft": signed.draft.pk, "patient": signed.patient.pk}
    out, err, exit_code = _run(*[a.format(**values) for a in argv])
    assert exit_code == code, err
    assert out == "" and err.count("\n") == 1 and says in err
    assert not list(tmp_path.glob("**/*.pdf"))


def test_starting_the_command_does_not_load_the_pdf_renderer():
    assert "weasyprint" not in _loaded("document", "--help")
    assert "weasyprint" not in _loaded("chart", "--help")


def test_the_command_writes_an_assessment_report_or_says_why_not(assessed, tmp_path):
    target = tmp_path / "assessment.pdf"
    out, err, code = _run("assessment-report", str(assessed.assessment.pk), "-o", str(target))
    assert (code, err) == (0, "")
    assert "Back of the thigh" in pdf.text(target.read_bytes())
    made = render.render("assessment-report", assessed.assessment, as_of=timezone.now())
    assert made.pdf == target.read_bytes() and made.sha256 in out
    for pk, says in ((assessed.draft_assessment.pk, "sign the assessment first"),
                     (99999, "no assessment has id 99999")):  # fmt: skip
        out, err, code = _run("assessment-report", str(pk), "-o", str(tmp_path / "x.pdf"))
        assert (code, out) == (2, "") and err.count("\n") == 1 and says in err
    assert not (tmp_path / "x.pdf").exists()
