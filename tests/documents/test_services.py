"""Issuing a document: kept as issued with its checksum, audited, once per form, and never
changed or removed afterwards, whatever the path (SQLite and PostgreSQL)."""

import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from needlechart.audit.models import AuditEvent
from needlechart.documents import render, services
from needlechart.documents.models import Document
from tests.documents import pdf


def test_an_issued_document_keeps_its_pdf_checksum_source_and_issuer(signed):
    actor = signed.world.practitioner
    document = services.document_issue(
        actor=actor, kind="progress-report", record=signed.episode, addressee="Dr Byrne"
    )
    stored = Document.objects.get(pk=document.pk)
    content = bytes(stored.content)
    assert hashlib.sha256(content).hexdigest() == stored.sha256 and stored.size == len(content)
    assert (stored.patient, stored.episode, stored.issued_by) == (
        signed.patient, signed.episode, actor
    )  # fmt: skip
    assert (stored.source_type, stored.source_id) == ("EpisodeOfCare", signed.episode.pk)
    assert stored.render_version == render.RENDER_VERSION and stored.addressee == "Dr Byrne"
    assert "Progress report" in pdf.text(content)
    # Rendered again as of its issue, the same record gives the same file.
    again = render.render("progress-report", signed.episode, as_of=stored.issued_at)
    assert again.sha256 == stored.sha256
    row = AuditEvent.objects.filter(object_type="DocumentReference").get()
    assert (row.action, row.object_id, row.patient_id) == ("create", str(stored.pk),
                                                           signed.patient.pk)  # fmt: skip
    assert row.detail["sha256"] == stored.sha256 and row.detail["addressee"] == "Dr Byrne"


def test_a_double_click_issues_one_document(signed):
    actor = signed.world.practitioner
    token = "a" * 24
    first = services.document_issue(
        actor=actor, kind="session-note", record=signed.session, token=token
    )
    second = services.document_issue(
        actor=actor, kind="session-note", record=signed.session, token=token
    )
    assert first.pk == second.pk and Document.objects.count() == 1


def test_a_draft_session_is_refused_and_nothing_is_kept(signed):
    with pytest.raises(ValidationError, match="sign the session first"):
        services.document_issue(
            actor=signed.world.practitioner, kind="session-note", record=signed.draft
        )
    assert not Document.objects.exists()


@pytest.mark.parametrize("role", ["assistant", "front_desk", "other_practitioner", "patient"])
def test_only_clinicians_of_the_patients_clinic_issue_documents(signed, role):
    w = signed.world
    actor = {"assistant": w.assistant, "front_desk": w.front_desk,
             "other_practitioner": w.other_practitioner, "patient": w.patient_user}[role]  # fmt: skip
    with pytest.raises(ValidationError):
        services.document_issue(actor=actor, kind="session-note", record=signed.session)
    assert not Document.objects.exists()


def _refused(statement: str, *params: object) -> None:
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_the_database_refuses_to_change_or_remove_an_issued_document(signed):
    document = services.document_issue(
        actor=signed.world.practitioner, kind="session-note", record=signed.session
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        Document.objects.filter(pk=document.pk).update(title="Rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        Document.objects.filter(pk=document.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        rows = Document._base_manager.filter(pk=document.pk)
        rows._raw_delete(rows.db)
    _refused(
        "UPDATE documents_document SET content = %s WHERE id = %s", b"%PDF forged", document.pk
    )
    _refused("UPDATE documents_document SET sha256 = '' WHERE id = %s", document.pk)
    _refused("DELETE FROM documents_document WHERE id = %s", document.pk)
    if connection.vendor == "postgresql":
        _refused("TRUNCATE documents_document CASCADE")
    stored = Document.objects.get(pk=document.pk)
    assert bytes(stored.content) == bytes(document.content) and stored.title == document.title


def test_the_pdf_is_made_before_the_transaction_so_other_writers_do_not_wait(
    transactional_db, signed, monkeypatch
):
    # Laying out a long record takes seconds: a write transaction open all that while would
    # hold every other writer (on SQLite, every page's audit row) until it ends.
    made = render.render
    during: list[bool] = []

    def spy(*args, **kwargs):
        during.append(connection.in_atomic_block)
        return made(*args, **kwargs)

    monkeypatch.setattr(render, "render", spy)
    document = services.document_issue(
        actor=signed.world.practitioner, kind="session-note", record=signed.session
    )
    assert during == [False]
    assert Document.objects.filter(pk=document.pk).exists()
    assert AuditEvent.objects.filter(object_type="DocumentReference", action="create").exists()
