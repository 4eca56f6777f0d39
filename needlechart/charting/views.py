"""The charting pages. Thin: they pick the record (scoped and audited by the selectors),
call one service, and show its refusal next to the fields it concerns."""

import base64
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from needlechart import knowledge
from needlechart.accounts import access, rules
from needlechart.accounts import services as account_services
from needlechart.accounts.sessions import confirmed_recently
from needlechart.charting import selectors, services, session_views
from needlechart.charting.forms import (
    AddendumForm,
    AdverseEventForm,
    ClinicForm,
    ClinicianScreeningForm,
    ConsentSignForm,
    FindingForm,
    NeedleForm,
    NoteForm,
    PainMarkForm,
    ReasonForm,
    TemplateForm,
    TimelineFilterForm,
)
from needlechart.charting.models import (
    Assessment,
    DocumentTemplate,
    NeedleSize,
    NeedlingSession,
)
from needlechart.db.latest import latest, page_number
from needlechart.forms import posted, record_id, refused, submit
from needlechart.patients import selectors as patient_selectors
from needlechart.patients.models import EpisodeOfCare

episode_scope = patient_selectors.episode_in_clinic
patient_scope = patient_selectors.patient_in_clinic


def episode_page(
    request: HttpRequest, template: str, episode: EpisodeOfCare, status: int = 200, **context: Any
) -> HttpResponse:
    """Every page of an episode shows the patient, and the safety banner."""
    context.update(
        episode=episode,
        patient=episode.patient,
        safety=context.get("safety") or selectors.safety(episode),
        can_write=rules.has_role(request.user, rules.CLINICAL_WRITE_ROLES),
        can_needle=rules.has_role(request.user, rules.NEEDLING_ROLES),
    )
    return render(request, template, context, status=status)


def _locked(request: HttpRequest, record: Assessment | NeedlingSession, url: str) -> Any:
    """The answer when the record is signed or entered in error (a stale tab), else None:
    in place with htmx, else a redirect with the reason."""
    if not record.is_signed and not selectors.is_in_error(record):
        return None
    reason = services.SIGNED if record.is_signed else services.IN_ERROR
    if request.htmx:
        toast = render_to_string(
            "includes/toast.html", {"toast": reason, "toast_level": "error"}, request
        )
        return HttpResponse(toast, status=409)
    messages.error(request, reason)
    return redirect(url)


def every_row(request: HttpRequest) -> bool:
    """Whether the reader asked for every row of a page's history (includes/earlier.html)."""
    return request.GET.get("history") == "all"


def _next(request: HttpRequest, default: str) -> str:
    """Where to go after a form: `?next=` only when it is a path on this site."""
    target = request.GET.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


# --- screening ---------------------------------------------------------------------------


@access.clinical_write(episode_scope)
def screening(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = patient_selectors.episode_get(user=request.user, episode_id=episode_id)
    current = services.current_screening(episode)
    form = ClinicianScreeningForm(
        posted(request),
        initial_factors=current.factors if current else [],
    )
    if request.method == "POST":
        recorded = submit(
            form,
            lambda: services.screening_record(
                actor=request.user,
                episode=episode,
                factors=form.factors(),
                note=form.cleaned_data["note"],
            ),
        )
        if recorded is not None:
            messages.success(request, "Health screening recorded.")
            return redirect(_next(request, _after_screening(episode)))
    history = latest(episode.screenings.select_related("recorded_by"), every=every_row(request))
    return episode_page(
        request,
        "charting/screening.html",
        episode,
        form=form,
        history=history,
    )


def _after_screening(episode: EpisodeOfCare) -> str:
    """The next step of a first visit: the consent if it is not current, else the episode."""
    episode_url = reverse("patients:episode", args=[episode.pk])
    consent, _ = services.consent_status(episode.patient)
    if consent is None and episode.status != EpisodeOfCare.Status.FINISHED:
        return f"{reverse('charting:consent', args=[episode.patient_id])}?next={episode_url}"
    return episode_url


# --- consent -----------------------------------------------------------------------------


@access.clinical_write(patient_scope)
def consent(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_selectors.patient_get(user=request.user, patient_id=patient_id)
    template = services.current_template(clinic=patient.clinic, kind=DocumentTemplate.Kind.CONSENT)
    form = ConsentSignForm(posted(request), initial={"template": template.pk})
    if request.method == "POST":
        signed = submit(
            form,
            lambda: services.consent_sign(
                actor=request.user,
                patient=patient,
                template=template
                if form.cleaned_data["template"] == template.pk
                else DocumentTemplate(pk=form.cleaned_data["template"]),
                signed_name=form.cleaned_data["signed_name"],
                confirmed=form.cleaned_data["confirmed"],
                token=request.POST.get("form_token", ""),
            ),
        )
        if signed is not None:
            messages.success(request, "Consent signed and witnessed.")
            return redirect(_next(request, _after_consent(patient)))
    current, problem = services.consent_status(patient)
    history = latest(
        patient.consents.select_related("template", "witnessed_by", "withdrawal"),
        every=every_row(request),
    )
    return render(
        request,
        "charting/consent.html",
        {
            "patient": patient,
            "template": template,
            "form": form,
            "current": current,
            "problem": problem,
            "history": history,
            "training": services.training_statement(patient=patient, witness=request.user),
        },
    )


def _after_consent(patient: Any) -> str:
    """Back to the episode being treated (the patient's page when there are several)."""
    active = list(
        patient.episodes.filter(status=EpisodeOfCare.Status.ACTIVE).values_list("pk", flat=True)[:2]
    )
    if len(active) == 1:
        return reverse("patients:episode", args=[active[0]])
    return reverse("patients:detail", args=[patient.pk])


@access.clinical_write(selectors.consent_in_clinic)
def consent_withdraw(request: HttpRequest, consent_id: int) -> HttpResponse:
    consent = selectors.consent_get(user=request.user, consent_id=consent_id)
    form = ReasonForm(posted(request))
    if request.method == "POST":
        done = submit(
            form,
            lambda: services.consent_withdraw(
                actor=request.user, consent=consent, reason=form.cleaned_data["reason"]
            ),
        )
        if done is not None:
            messages.success(request, "The withdrawal of consent is recorded.")
            return redirect("charting:consent", patient_id=consent.patient_id)
    return render(
        request,
        "form_page.html",
        {
            "form": form,
            "patient": consent.patient,
            "title": "Record withdrawal of consent",
            "cancel_url": reverse("charting:consent", args=[consent.patient_id]),
        },
    )


# --- assessment --------------------------------------------------------------------------


@access.clinical_write(episode_scope)
@access.post_only
def assessment_new(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = patient_selectors.episode_get(user=request.user, episode_id=episode_id)
    kind = request.POST.get("kind", Assessment.Kind.INITIAL)
    if kind not in Assessment.Kind.values:
        kind = Assessment.Kind.INITIAL
    try:
        assessment = services.assessment_start(
            actor=request.user, episode=episode, kind=kind, token=request.POST.get("form_token", "")
        )
    except ValidationError as error:
        refused(request, error)
        return redirect("patients:episode", episode_id=episode.pk)
    return redirect("charting:assessment", assessment_id=assessment.pk)


def _assessment_context(request: HttpRequest, assessment: Assessment, **forms: Any) -> dict:
    """Everything the assessment page and its parts show."""
    from needlechart.reference.chart import chart, pain_shades

    marks = {m.region: m for m in assessment.pain_marks.all()}
    ranking = knowledge.rank_muscles({r: m.intensity or 0.5 for r, m in marks.items()}, top=12)
    shades = pain_shades({region: m.intensity for region, m in marks.items()})
    examine = {k: request.GET[k] for k in ("muscle", "side") if request.GET.get(k)}
    forms.setdefault("pain_form", PainMarkForm())
    forms.setdefault("finding_form", FindingForm(initial=examine or None))
    forms.setdefault("note_form", NoteForm(initial={"note": assessment.note}))
    in_error = selectors.is_in_error(assessment)
    return {
        "episode": assessment.episode,
        "patient": assessment.episode.patient,
        "assessment": assessment,
        "chart": chart(shades, interactive=True),
        "marks": [(knowledge.region(r).display, m) for r, m in marks.items()],
        "candidates": [c.as_json() for c in ranking],
        "editable": not assessment.is_signed and not in_error,
        "in_error": in_error,
        "examining": bool(examine),
        "observations": list(assessment.observations.all()),
        "can_write": rules.has_role(request.user, rules.CLINICAL_WRITE_ROLES),
        **forms,
    }


def assessment_parts(
    request: HttpRequest,
    assessment: Assessment,
    *,
    parts: tuple[str, ...] = ("observations",),
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    """After a change on a draft assessment: the parts it touched, swapped in place."""
    record = selectors.assessment_reload(assessment)
    forms = {k: extra.pop(k) for k in list(extra) if k.endswith("_form")}
    context = _assessment_context(request, record, **forms)
    context.update(extra, parts=parts)
    return render(request, "charting/_assessment_parts.html", context, status=status)


def _assessment_page(
    request: HttpRequest, assessment: Assessment, status: int = 200, **forms: Any
) -> HttpResponse:
    context = _assessment_context(request, assessment, **forms)
    del context["episode"], context["patient"]  # the episode page adds them
    return episode_page(
        request, "charting/assessment.html", assessment.episode, status=status, **context
    )


@access.clinical_read(selectors.assessment_in_clinic)
def assessment(request: HttpRequest, assessment_id: int) -> HttpResponse:
    record = selectors.assessment_get(user=request.user, assessment_id=assessment_id)
    return _assessment_page(request, record)


def _assessment_action(
    request: HttpRequest,
    assessment_id: int,
    form_name: str,
    form: Any,
    call: Any,
    done: str,
    part: str,
) -> HttpResponse:
    record = selectors.assessment_get(user=request.user, assessment_id=assessment_id)
    locked = _locked(request, record, reverse("charting:assessment", args=[record.pk]))
    if locked:
        return locked
    if submit(form, lambda: call(record)) is None:
        if request.htmx:
            reasons = " ".join(
                f"{form.fields[field].label if field in form.fields else ''}: {error}".lstrip(": ")
                for field, errors in form.errors.items()
                for error in errors
            )
            return assessment_parts(
                request, record, parts=(part,), status=400, toast=reasons,
                toast_level="error", **{form_name: form},
            )  # fmt: skip
        return _assessment_page(request, record, status=400, **{form_name: form})
    if request.htmx:
        return assessment_parts(request, record, parts=(part,), toast=done)
    messages.success(request, done)
    return redirect(reverse("charting:assessment", args=[record.pk]) + f"#{part}")


@access.clinical_write(selectors.assessment_in_clinic)
@access.post_only
def assessment_pain(request: HttpRequest, assessment_id: int) -> HttpResponse:
    if request.POST.get("remove"):
        record = selectors.assessment_get(user=request.user, assessment_id=assessment_id)
        try:
            services.pain_mark_remove(
                actor=request.user, assessment=record, region=request.POST["remove"]
            )
            done, level = "Pain mark removed.", "success"
        except ValidationError as error:
            done, level = " ".join(error.messages), "error"
            if not request.htmx:
                refused(request, error)
        if request.htmx:
            return assessment_parts(
                request, record, parts=("pain",), toast=done, toast_level=level,
                status=200 if level == "success" else 400,
            )  # fmt: skip
        return redirect(reverse("charting:assessment", args=[assessment_id]) + "#pain")
    form = PainMarkForm(request.POST)
    return _assessment_action(
        request,
        assessment_id,
        "pain_form",
        form,
        lambda record: services.pain_mark_set(
            actor=request.user, assessment=record, **form.cleaned_data
        ),
        "Pain marked.",
        "pain",
    )


ACTIVE_TRIGGER_POINT = {"taut_band": True, "hypersensitive_spot": True, "recognised": True}


@access.clinical_write(selectors.assessment_in_clinic)
@access.post_only
def assessment_finding(request: HttpRequest, assessment_id: int) -> HttpResponse:
    data = request.POST.copy()
    if data.get("preset") == "active":
        # "Add as an active trigger point": the clinician states the essential criteria
        # (taut band, tender spot, referred pain) and that the pain is their own.
        for field in ACTIVE_TRIGGER_POINT:
            data[field] = "on"
        data["referred_sensation"] = data.get("referred_sensation") or "pain"
    form = FindingForm(data)
    return _assessment_action(
        request,
        assessment_id,
        "finding_form",
        form,
        lambda record: services.finding_add(
            actor=request.user, assessment=record, **form.cleaned_data
        ),
        "Trigger-point finding recorded.",
        "findings",
    )


@access.clinical_write(selectors.finding_in_clinic)
@access.post_only
def finding_remove(request: HttpRequest, finding_id: int) -> HttpResponse:
    finding = selectors.finding_get(user=request.user, finding_id=finding_id)
    try:
        services.finding_remove(actor=request.user, finding=finding)
        done, level = "Finding removed.", "success"
    except ValidationError as error:
        done, level = " ".join(error.messages), "error"
        if not request.htmx:
            refused(request, error)
    if request.htmx:
        return assessment_parts(
            request, finding.assessment, parts=("findings",), toast=done, toast_level=level,
            status=200 if level == "success" else 400,
        )  # fmt: skip
    return redirect(reverse("charting:assessment", args=[finding.assessment_id]) + "#findings")


@access.clinical_write(selectors.assessment_in_clinic)
@access.post_only
def assessment_note(request: HttpRequest, assessment_id: int) -> HttpResponse:
    form = NoteForm(request.POST)
    return _assessment_action(
        request,
        assessment_id,
        "note_form",
        form,
        lambda record: services.assessment_update(
            actor=request.user, assessment=record, note=form.cleaned_data["note"]
        ),
        "Note saved.",
        "note",
    )


@access.clinical_write(selectors.assessment_in_clinic)
@access.post_only
@confirmed_recently
def assessment_sign(request: HttpRequest, assessment_id: int) -> HttpResponse:
    record = selectors.assessment_get(user=request.user, assessment_id=assessment_id)
    try:
        services.assessment_sign(actor=request.user, assessment=record)
    except ValidationError as error:
        refused(request, error)
        return redirect("charting:assessment", assessment_id=record.pk)
    messages.success(request, "Assessment signed. It can now only be added to with addenda.")
    return redirect("patients:episode", episode_id=record.episode_id)


# --- adverse events, aftercare, addenda --------------------------------------------------


@access.clinical_write(selectors.session_in_clinic)
def adverse_event_new(request: HttpRequest, session_id: int) -> HttpResponse:
    record = selectors.session_get(user=request.user, session_id=session_id)
    form = AdverseEventForm(posted(request), session=record)
    if request.method == "POST":
        event = submit(
            form,
            lambda: services.adverse_event_record(
                actor=request.user, session=record, **form.cleaned_data
            ),
        )
        if event is not None:
            messages.success(request, "Adverse event recorded.")
            return redirect("charting:session", session_id=record.pk)
    return episode_page(
        request,
        "charting/adverse_event_form.html",
        record.episode,
        form=form,
        session=record,
        title="Record an adverse event",
    )


@access.clinical_read_write(selectors.adverse_event_in_clinic)
def adverse_event_edit(request: HttpRequest, event_id: int) -> HttpResponse:
    event = selectors.adverse_event_get(user=request.user, event_id=event_id)
    writable = rules.has_role(request.user, rules.CLINICAL_WRITE_ROLES)
    # The form shows the event as it stands: its latest follow-up's values.
    form = AdverseEventForm(posted(request), instance=event.now, session=event.session)
    if request.method == "POST":
        saved = submit(
            form,
            lambda: services.adverse_event_update(
                actor=request.user, event=event, **form.cleaned_data
            ),
        )
        if saved is not None:
            messages.success(request, "Adverse event updated.")
            return redirect("charting:session", session_id=event.session_id)
    return episode_page(
        request,
        "charting/adverse_event_form.html",
        event.session.episode,
        form=form,
        session=event.session,
        event=event,
        error_form=ReasonForm(),
        title="Adverse event",
        writable=writable and not event.entered_in_error,
    )


@access.clinical_write(selectors.adverse_event_in_clinic)
@access.post_only
def adverse_event_error(request: HttpRequest, event_id: int) -> HttpResponse:
    event = selectors.adverse_event_get(user=request.user, event_id=event_id)
    try:
        services.adverse_event_enter_in_error(
            actor=request.user, event=event, reason=request.POST.get("reason", "")
        )
        messages.success(request, "The adverse event is marked entered in error.")
    except ValidationError as error:
        refused(request, error)
    return redirect("charting:session", session_id=event.session_id)


@access.clinical_read_write(selectors.session_in_clinic)
def aftercare(request: HttpRequest, session_id: int) -> HttpResponse:
    record = selectors.session_get(user=request.user, session_id=session_id)
    if request.method == "POST":
        try:
            services.aftercare_issue(actor=request.user, session=record)
            done, level = "Aftercare recorded as given to the patient.", "success"
        except ValidationError as error:
            done, level = " ".join(error.messages), "error"
        if request.htmx:
            return session_views.aftercare_parts(
                request, record, toast=done, level=level, status=200 if level == "success" else 400
            )
        (messages.success if level == "success" else messages.error)(request, done)
        return redirect(_next(request, reverse("charting:aftercare", args=[record.pk])))
    template = services.current_template(
        clinic=record.episode.patient.clinic, kind=DocumentTemplate.Kind.AFTERCARE
    )
    return render(
        request,
        "charting/aftercare.html",
        {
            "session": record,
            "patient": record.episode.patient,
            "clinic": record.episode.patient.clinic,
            "template": template,
            "muscles": [
                f"{r.get_muscle_display()} ({r.side})" if r.side else r.get_muscle_display()
                for r in record.insertions.all()
            ],
            "issues": list(record.aftercare_issues.all()),
            "can_write": rules.has_role(request.user, rules.CLINICAL_WRITE_ROLES),
        },
    )


def _addendum(
    request: HttpRequest, record: Assessment | NeedlingSession, back: str
) -> HttpResponse:
    form = AddendumForm(posted(request))
    if request.method == "POST":
        added = submit(
            form,
            lambda: services.addendum_add(actor=request.user, record=record, **form.cleaned_data),
        )
        if added is not None:
            messages.success(request, f"{added.get_kind_display()} recorded.")
            return redirect(back)
    return episode_page(
        request,
        "charting/addendum_form.html",
        record.episode,
        form=form,
        record=record,
        cancel_url=back,
    )


@access.clinical_write(selectors.session_in_clinic)
def session_addendum(request: HttpRequest, session_id: int) -> HttpResponse:
    record = selectors.session_get(user=request.user, session_id=session_id)
    return _addendum(request, record, reverse("charting:session", args=[record.pk]))


@access.clinical_write(selectors.assessment_in_clinic)
def assessment_addendum(request: HttpRequest, assessment_id: int) -> HttpResponse:
    record = selectors.assessment_get(user=request.user, assessment_id=assessment_id)
    return _addendum(request, record, reverse("charting:assessment", args=[record.pk]))


# --- timeline ----------------------------------------------------------------------------


@access.clinical_read(patient_scope)
def timeline(request: HttpRequest, patient_id: int) -> HttpResponse:
    # Audited with the timeline, below.
    patient = patient_selectors.patient_get_unaudited(user=request.user, patient_id=patient_id)
    form = TimelineFilterForm(request.GET or None)
    form.is_valid()
    # An invalid filter is reported and ignored; the valid ones still apply.
    filters = form.cleaned_data if form.is_bound else {}
    page = selectors.timeline(
        user=request.user,
        patient=patient,
        kind=filters.get("kind", ""),
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
        page=page_number(request.GET.get("page")),
        with_patient=True,
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "charting/timeline.html",
        {
            "patient": patient,
            "form": form,
            "page": page,
            "entries": page.entries,
            "query": query.urlencode(),
            "today": timezone.localdate(),
        },
        status=200 if not form.is_bound or form.is_valid() else 400,
    )


# --- clinic settings ---------------------------------------------------------------------


@access.clinic_admin()
def clinic_settings(request: HttpRequest) -> HttpResponse:
    clinic = request.user.clinic
    form = ClinicForm(
        posted(request),
        request.FILES if request.method == "POST" else None,
        initial={k: getattr(clinic, k) for k in account_services.CLINIC_EDITABLE},
    )
    if request.method == "POST":
        saved = submit(
            form,
            lambda: account_services.clinic_update(
                actor=request.user, **form.logo_values(), **form.cleaned_data
            ),
        )
        if saved is not None:
            messages.success(request, "Clinic details saved.")
            return redirect("charting:clinic")
    documents = [
        services.current_template(clinic=clinic, kind=kind) for kind in DocumentTemplate.Kind
    ]
    return render(
        request,
        "charting/clinic.html",
        {
            "form": form,
            "documents": documents,
            "needles": services.needle_sizes(clinic),
            "logo": _logo_uri(clinic),
        },
    )


def _logo_uri(clinic: Any) -> str:
    """The letterhead's logo as the page shows it (inline: it is at most 256 KB), or ""."""
    if not clinic.logo_type:
        return ""
    return f"data:{clinic.logo_type};base64,{base64.b64encode(bytes(clinic.logo)).decode()}"


@access.clinic_admin()
def clinic_document(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in DocumentTemplate.Kind.values:
        raise Http404
    current = services.current_template(clinic=request.user.clinic, kind=kind)
    # A newer edition of needlechart's default text is offered as the start of the next version.
    shipped = knowledge.default_document(kind)
    differs = (current.title, current.body.strip()) != (shipped.title, shipped.body.strip())
    from_shipped = request.method == "GET" and request.GET.get("start") == "shipped"
    start = shipped if from_shipped else current
    form = TemplateForm(posted(request), initial={"title": start.title, "body": start.body})
    if request.method == "POST":
        created = submit(
            form,
            lambda: services.template_new_version(
                actor=request.user, kind=kind, **form.cleaned_data
            ),
        )
        if created is not None:
            note = (
                " Patients sign the new consent before their next needling."
                if kind == "consent"
                else ""
            )
            messages.success(request, f"Version {created.version} saved.{note}")
            return redirect("charting:clinic")
    versions = DocumentTemplate.objects.filter(clinic=request.user.clinic, kind=kind)
    return render(
        request,
        "charting/clinic_document.html",
        {
            "form": form,
            "current": current,
            "versions": versions,
            "kind": DocumentTemplate.Kind(kind),
            "shipped_edition": knowledge.default_documents_edition() if differs else None,
            "from_shipped": from_shipped,
        },
    )


@access.clinic_admin()
def clinic_needles(request: HttpRequest) -> HttpResponse:
    form = NeedleForm(posted(request))
    if request.method == "POST":
        if request.POST.get("retire"):
            retire = request.POST["retire"]
            size = NeedleSize.objects.filter(
                clinic=request.user.clinic, pk=record_id(retire) or 0
            ).first()
            if size is None:
                raise Http404
            services.needle_size_retire(actor=request.user, size=size)
            messages.success(request, f"{size} is no longer offered.")
            return redirect("charting:clinic_needles")
        added = submit(
            form, lambda: services.needle_size_add(actor=request.user, **form.cleaned_data)
        )
        if added is not None:
            messages.success(request, f"{added} added.")
            return redirect("charting:clinic_needles")
    return render(
        request,
        "charting/clinic_needles.html",
        {"form": form, "needles": services.needle_sizes(request.user.clinic)},
    )
