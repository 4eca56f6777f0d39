"""Reads of issued documents: scoped to the user's clinic (404 otherwise) or, in the portal,
to the signed-in patient, and audited."""

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from needlechart.accounts import rules
from needlechart.accounts.access import in_clinic
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.charting.models import Consent
from needlechart.db.latest import LISTED as HISTORY_LISTED
from needlechart.db.latest import Latest, count_of
from needlechart.db.prepared import prepared
from needlechart.documents import jobs, notices
from needlechart.documents.models import (
    Document,
    DocumentDelivery,
    DocumentJob,
    Kind,
    Letter,
    LetterAddendum,
    Recipient,
)
from needlechart.patients.models import EpisodeOfCare, Patient

# A list shows what was issued, not the PDF itself: the bytes are read on download only.
LISTED = ("id", "patient_id", "episode_id", "kind", "title", "size", "sha256", "addressee",
          "issued_at", "issued_by_id", "source_type", "source_id")  # fmt: skip


# Documents a page lists, the newest first: a patient treated for years has a report every
# few sessions and a letter at each discharge, and the patient's page (and the portal's list)
# would otherwise grow, and audit a row, with every one of them.
DOCUMENTS_PAGE = 20


def _listed(documents: QuerySet[Document]) -> QuerySet[Document]:
    return documents.only(*LISTED).select_related("issued_by")


def _page(documents: QuerySet[Document], number: object) -> Page:
    """One page of `documents`, its number read as Paginator.get_page reads it: a number
    past either end gives the last page, anything but a number the first."""
    return Paginator(documents, DOCUMENTS_PAGE).get_page(number)


def patient_documents(*, user: User, patient: Patient, page: object = 1) -> Page | list:
    """A page of the patient's issued documents for roles that read clinical content (else
    none), each audited as listed, with their deliveries and, for clinicians, who each may
    be sent to (`send_to`: pairs of recipient and address). Four queries, however many
    documents."""
    if not rules.has_role(user, rules.CLINICAL_READ_ROLES) or patient.clinic_id != user.clinic_id:
        return []
    shown = _page(
        _listed(Document.objects.filter(patient=patient))
        .select_related("episode")
        .only(*LISTED, "episode__referral_email", "episode__referral_detail")
        .prefetch_related(Prefetch("deliveries", DocumentDelivery.objects.order_by("id"))),
        page,
    )
    documents = list(shown)
    may_send = rules.has_role(user, rules.CLINICAL_WRITE_ROLES)
    portal = notices.portal_address(patient) if may_send and documents else ""
    for document in documents:
        document.send_to = []
        if not may_send:
            continue
        referrer = document.episode.referral_email if document.episode else ""
        if referrer:
            document.send_to.append((Recipient.REFERRER, referrer))
        if portal:
            document.send_to.append((Recipient.PATIENT, portal))
    audit.record_each(actor=user, action=audit.Action.LIST, objects=documents)
    return shown


def record_job(*, user: User, patient: Patient) -> DocumentJob | None:
    """The patient's latest whole-record job, for the clinicians who start them, while it is
    being prepared or after it failed (`shown_state`, `reason`); once done, its document is
    in the list instead. One query."""
    if not rules.has_role(user, rules.CLINICAL_WRITE_ROLES) or patient.clinic_id != user.clinic_id:
        return None
    found = _latest_record_job(patient.pk, Kind.RECORD.value)
    job = found[0] if found else None
    if job is None or jobs.state(job) == DocumentJob.Status.DONE:
        return None
    job.shown_state, job.reason = jobs.state(job), jobs.reason(job)
    return job


@prepared
def _latest_record_job(patient_id: int, kind: str) -> QuerySet:
    return DocumentJob.objects.filter(patient_id=patient_id, kind=kind).order_by(
        "-created_at", "-id"
    )[:1]


def document_for_sending(*, user: User, document_id: int) -> Document:
    """The document to email, if its patient is of the user's clinic (else 404). Not audited
    as read: the delivery it makes is audited with its recipient."""
    return get_object_or_404(
        Document.objects.select_related("patient", "episode"),
        pk=document_id,
        patient__clinic_id=user.clinic_id,
    )


def document_get(*, user: User, document_id: int) -> Document:
    """The document, PDF and all, if its patient is of the user's clinic (else 404);
    audited as read."""
    document = get_object_or_404(
        Document.objects.select_related("patient"),
        pk=document_id,
        patient__clinic_id=user.clinic_id,
    )
    audit.record(actor=user, action=audit.Action.VIEW, obj=document, patient=document.patient)
    return document


def own_documents(*, user: User, page: object = 1) -> Page:
    """A page of the signed-in patient's own documents in the portal, the newest first, each
    audited as listed."""
    patient = _own_patient(user)
    shown = _page(_listed(Document.objects.filter(patient=patient)), page)
    audit.record_each(actor=user, action=audit.Action.LIST, objects=list(shown))
    return shown


def own_document_get(*, user: User, document_id: int) -> Document:
    """One of the signed-in patient's own documents (another's is a 404), audited as read."""
    patient = _own_patient(user)
    document = get_object_or_404(Document, pk=document_id, patient=patient)
    audit.record(actor=user, action=audit.Action.VIEW, obj=document, patient=patient)
    return document


def _own_patient(user: User) -> Patient:
    account = getattr(user, "portal_account", None)
    if account is None:
        raise Http404
    return account.patient


def document_in_clinic(user: User, document_id: int, **_: Any) -> bool:
    return in_clinic(user, Document.objects, "patient__clinic_id", document_id)


def issuable_consents(*, user: User, patient: Patient) -> list[Consent]:
    """The patient's latest signed consent, for the clinicians who may issue a copy of it."""
    if not rules.has_role(user, rules.CLINICAL_WRITE_ROLES):
        return []
    return _latest_consent_of(patient.pk)


@prepared
def _latest_consent_of(patient_id: int) -> QuerySet:
    return Consent.objects.filter(patient_id=patient_id).order_by("-signed_at", "-id")[:1]


def letter_in_clinic(user: User, letter_id: int, **_: Any) -> bool:
    return in_clinic(user, Letter.objects, "episode__patient__clinic_id", letter_id)


def letter_get(*, user: User, letter_id: int) -> Letter:
    """The letter, if its patient is of the user's clinic (else 404); audited as read."""
    letter = get_object_or_404(
        Letter.objects.select_related(
            "episode__patient", "template", "document", "created_by"
        ).prefetch_related(Prefetch("addenda", LetterAddendum.objects.select_related("author"))),
        pk=letter_id,
        episode__patient__clinic_id=user.clinic_id,
    )
    audit.record(actor=user, action=audit.Action.VIEW, obj=letter, patient=letter.episode.patient)
    return letter


def letter_documents(*, user: User, letter: Letter) -> list[Document]:
    """The documents a letter was issued as (first, then each time it was issued again),
    newest first, each with its emails, and each audited as listed. Three queries, however
    many documents and emails."""
    if letter.signed_at is None:
        return []
    documents = list(
        _listed(Document.objects.filter(Q(from_letter=letter) | Q(pk=letter.document_id)))
        .prefetch_related(Prefetch("deliveries", DocumentDelivery.objects.order_by("id")))
    )  # fmt: skip
    audit.record_each(actor=user, action=audit.Action.LIST, objects=documents)
    return documents


# The letters the episode page lists, as many as its other histories (db/latest.py).
LETTERS_LISTED = HISTORY_LISTED


def episode_letters(*, user: User, episode: EpisodeOfCare, every: bool = False) -> Latest:
    """The episode's newest letters, drafts and signed, with how many there are (one query),
    or all of them when `every`; for the roles that read clinical content. Shown on the
    episode page under its one `view EpisodeOfCare` row, as its sessions and assessments
    are: a course with a letter after every few sessions would otherwise list them all on
    each view of the page."""
    if not rules.has_role(user, rules.CLINICAL_READ_ROLES):
        return Latest([], 0)
    if every:
        found = _letters_of(episode.pk)
        return Latest(found, len(found))
    found = _latest_letters_of(episode.pk, listed=LETTERS_LISTED)
    return Latest(found, found[0].history_total if found else 0)


def _letters(episode_id: int) -> QuerySet:
    return (
        Letter.objects.filter(episode_id=episode_id)
        .select_related("created_by")
        .defer("body", "opening", "closing")
    )


@prepared
def _letters_of(episode_id: int) -> QuerySet:
    return _letters(episode_id)


@prepared
def _latest_letters_of(episode_id: int, *, listed: int) -> QuerySet:
    rows = _letters(episode_id)
    return rows.annotate(history_total=count_of(rows))[:listed]
