"""Issuing a document from a session, episode or patient page, and downloading it."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from needlechart.accounts import access, rules
from needlechart.documents import jobs, letters, selectors, services
from needlechart.documents import render as documents
from needlechart.documents.forms import LetterAddendumForm, LetterForm, WordingForm
from needlechart.documents.models import Document, Kind, Letter, LetterTemplate
from needlechart.forms import posted, refused, submit
from needlechart.patients import selectors as patient_selectors
from needlechart.patients.models import Patient


def _source(patient: Patient, kind: str, record_id: str) -> models.Model:
    """The record a document of `kind` is asked of, if it is this patient's (else 404)."""
    model = documents.SOURCES.get(kind)
    if model is None or not (record_id.isascii() and record_id.isdigit()):
        raise Http404
    path = {
        "Patient": "id",
        "NeedlingSession": "episode__patient",
        "Assessment": "episode__patient",
        "Consent": "patient",
        "EpisodeOfCare": "patient",
        "Discharge": "episode__patient",
    }[model.__name__]
    record = model.objects.filter(pk=int(record_id), **{path: patient.pk}).first()
    if record is None:
        raise Http404
    return record


def _back(request: HttpRequest, patient_id: int, fragment: str = "") -> str:
    """Where the form was sent from (a page of this site), else the patient page."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("patients:detail", args=[patient_id]) + fragment


@access.clinical_write(patient_selectors.patient_in_clinic)
@access.post_only
def issue(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_selectors.patient_get(user=request.user, patient_id=patient_id)
    kind = request.POST.get("kind", "")
    record = _source(patient, kind, request.POST.get("record", ""))
    notify = request.POST.get("notify") == "on"
    referrer = request.POST.get("referrer") == "on"
    if kind == Kind.RECORD:
        return _record_job(request, patient, notify=notify)
    try:
        document = services.document_issue(
            actor=request.user,
            kind=kind,
            record=record,
            addressee=request.POST.get("addressee", ""),
            notify_patient=notify,
            send_to_referrer=referrer,
            token=request.POST.get("form_token", ""),
        )
    except ValidationError as error:
        refused(request, error)
    else:
        told = notify and " The patient is told by email that it waits in their portal."
        sent = referrer and " It is emailed to the referrer; see its standing in the list."
        messages.success(
            request,
            f"{document.title} issued; it is listed on the patient's page.{told or ''}{sent or ''}",
        )
    return redirect(_back(request, patient.pk))


def _record_job(request: HttpRequest, patient: Patient, *, notify: bool) -> HttpResponse:
    """The whole record is laid out in the background (documents/jobs.py)."""
    try:
        jobs.record_job_start(
            actor=request.user, patient=patient, notify_patient=notify,
            token=request.POST.get("form_token", ""),
        )  # fmt: skip
    except ValidationError as error:
        refused(request, error)
    else:
        messages.success(
            request,
            "The whole record is being prepared; it is listed here once issued. Reload the page "
            "to see it.",
        )
    return redirect(reverse("patients:detail", args=[patient.pk]) + "#documents")


@access.clinical_write(selectors.document_in_clinic)
@access.post_only
def send(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_for_sending(user=request.user, document_id=document_id)
    try:
        delivery = services.document_send(
            actor=request.user,
            document=document,
            recipient=request.POST.get("recipient", ""),
            token=request.POST.get("form_token", ""),
        )
    except ValidationError as error:
        refused(request, error)
    else:
        # The service has committed and made its first try by now.
        delivery.refresh_from_db()
        if delivery.status == delivery.Status.SENT:
            messages.success(request, f"{document.title} sent to {delivery.address}.")
        else:
            messages.warning(
                request,
                f"{document.title} is not sent to {delivery.address} yet "
                f"({delivery.last_error or 'waiting'}); it will be tried again.",
            )
    # Back to the page of the list it was sent from (`next`), not the list's first page.
    return redirect(_back(request, document.patient_id, "#documents"))


def pdf_response(document: Document) -> HttpResponse:
    """The PDF as a download, named for what it is."""
    response = HttpResponse(bytes(document.content), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    response["Content-Length"] = str(document.size)
    return response


@access.clinical_read(selectors.document_in_clinic)
def download(request: HttpRequest, document_id: int) -> HttpResponse:
    return pdf_response(selectors.document_get(user=request.user, document_id=document_id))


# --- letters -------------------------------------------------------------------------------


@access.clinical_write(patient_selectors.episode_in_clinic)
@access.post_only
def letter_new(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = patient_selectors.episode_get(user=request.user, episode_id=episode_id)
    try:
        letter = letters.letter_start(
            actor=request.user, episode=episode, kind=request.POST.get("kind", ""),
            token=request.POST.get("form_token", ""),
        )  # fmt: skip
    except ValidationError as error:
        refused(request, error)
        return redirect("patients:episode", episode.pk)
    return redirect("documents:letter", letter.pk)


@access.clinical_read_write(selectors.letter_in_clinic)
def letter(request: HttpRequest, letter_id: int) -> HttpResponse:
    """A draft letter is edited here; a signed one is read here, with its addenda and the
    emails of the documents it was issued as."""
    letter = selectors.letter_get(user=request.user, letter_id=letter_id)
    form = LetterForm(posted(request), instance=None, initial=_letter_values(letter))
    if request.method == "POST":
        saved = submit(
            form,
            lambda: letters.letter_update(actor=request.user, letter=letter, **form.cleaned_data),
        )
        if saved is not None:
            messages.success(request, "Letter saved.")
            return redirect("documents:letter", letter.pk)
    return _letter_page(request, letter, form=form)


def _letter_page(
    request: HttpRequest,
    letter: Letter,
    *,
    form: LetterForm | None = None,
    addendum_form: LetterAddendumForm | None = None,
) -> HttpResponse:
    can_write = rules.has_role(request.user, rules.CLINICAL_WRITE_ROLES)
    return render(
        request,
        "documents/letter.html",
        {
            "letter": letter,
            "form": form or LetterForm(initial=_letter_values(letter)),
            "addendum_form": addendum_form or LetterAddendumForm(),
            "patient": letter.episode.patient,
            "can_write": can_write and letter.signed_at is None,
            "can_add": can_write and letter.signed_at is not None,
            "documents": selectors.letter_documents(user=request.user, letter=letter),
        },
    )


def _letter_values(letter: Letter) -> dict[str, str]:
    return {name: getattr(letter, name) for name in Letter.EDITABLE}


@access.clinical_write(selectors.letter_in_clinic)
@access.post_only
def letter_issue(request: HttpRequest, letter_id: int) -> HttpResponse:
    return _issued(
        request, letter_id, letters.letter_issue,
        "Letter signed and issued; it is listed on the patient's page.",
    )  # fmt: skip


@access.clinical_write(selectors.letter_in_clinic)
@access.post_only
def letter_reissue(request: HttpRequest, letter_id: int) -> HttpResponse:
    return _issued(
        request, letter_id, letters.letter_reissue,
        "Letter issued again with its addenda; the earlier PDF stays as it was.",
    )  # fmt: skip


def _issued(request: HttpRequest, letter_id: int, issue: Any, done: str) -> HttpResponse:
    """Issue the letter (first, or again) as the form asks, and go back to it."""
    letter = selectors.letter_get(user=request.user, letter_id=letter_id)
    try:
        issue(
            actor=request.user, letter=letter,
            send_to_referrer=request.POST.get("referrer") == "on",
            notify_patient=request.POST.get("notify") == "on",
            token=request.POST.get("form_token", ""),
        )  # fmt: skip
    except ValidationError as error:
        refused(request, error)
    else:
        messages.success(request, done)
    return redirect("documents:letter", letter.pk)


@access.clinical_write(selectors.letter_in_clinic)
@access.post_only
def letter_addendum(request: HttpRequest, letter_id: int) -> HttpResponse:
    letter = selectors.letter_get(user=request.user, letter_id=letter_id)
    form = LetterAddendumForm(request.POST)
    added = submit(
        form,
        lambda: letters.letter_addendum_add(
            actor=request.user, letter=letter, token=request.POST.get("form_token", ""),
            **form.cleaned_data,
        ),
    )  # fmt: skip
    if added is None:
        return _letter_page(request, letter, addendum_form=form)
    messages.success(
        request,
        "Addendum added. The letter stays as signed; issue it again to print the addendum.",
    )
    return redirect("documents:letter", letter.pk)


@access.clinic_admin()
def wording(request: HttpRequest, kind: str) -> HttpResponse:
    """The clinic's wording for one kind of letter: each save is a new version."""
    if kind not in letters.DEFAULTS:
        raise Http404
    current = letters.current_wording(clinic=request.user.clinic, kind=kind)
    form = WordingForm(
        posted(request), initial={name: getattr(current, name) for name in letters.FIELDS}
    )
    if request.method == "POST":
        created = submit(
            form,
            lambda: letters.wording_new_version(actor=request.user, kind=kind, **form.cleaned_data),
        )
        if created is not None:
            messages.success(request, f"Version {created.version} saved.")
            return redirect("documents:wording", kind)
    versions = LetterTemplate.objects.filter(clinic=request.user.clinic, kind=kind)
    return render(
        request,
        "documents/wording.html",
        {"form": form, "current": current, "versions": versions, "kind": Kind(kind)},
    )
