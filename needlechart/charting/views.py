"""The charting pages. Thin: they pick the record (scoped and audited by the selectors),
call one service, and show its refusal next to the fields it concerns."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from needlechart import knowledge
from needlechart.accounts import access, rules
from needlechart.accounts import services as account_services
from needlechart.charting import selectors, services
from needlechart.charting.forms import (
    AddendumForm,
    AdverseEventForm,
    ClinicForm,
    ConsentSignForm,
    FindingForm,
    InsertionForm,
    NeedleForm,
    NoteForm,
    ObservationForm,
    PainMarkForm,
    ReasonForm,
    ScreeningForm,
    SessionDetailsForm,
    SessionStartForm,
    TemplateForm,
    TimelineFilterForm,
)
from needlechart.charting.models import (
    Assessment,
    DocumentTemplate,
    NeedleSize,
    NeedlingSession,
)
from needlechart.forms import posted, refused, submit
from needlechart.patients import selectors as patient_selectors
from needlechart.patients.models import EpisodeOfCare
from needlechart.portal import selectors as portal_selectors

episode_scope = patient_selectors.episode_in_clinic
patient_scope = patient_selectors.patient_in_clinic


def _episode_page(
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
    """A redirect with the reason when the record is signed or entered in error, else None."""
    if record.is_signed or selectors.is_in_error(record):
        messages.error(request, services.SIGNED if record.is_signed else services.IN_ERROR)
        return redirect(url)
    return None


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
    form = ScreeningForm(
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
            return redirect(_next(request, reverse("patients:episode", args=[episode.pk])))
    history = list(episode.screenings.select_related("recorded_by"))
    return _episode_page(
        request,
        "charting/screening.html",
        episode,
        form=form,
        history=history,
        from_patient=portal_selectors.pending_questionnaires(episode.patient),
    )


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
            ),
        )
        if signed is not None:
            messages.success(request, "Consent signed and witnessed.")
            return redirect(_next(request, reverse("patients:detail", args=[patient.pk])))
    current, problem = services.consent_status(patient)
    history = list(patient.consents.select_related("template", "witnessed_by", "withdrawal"))
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
        },
    )


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
@require_POST
def assessment_new(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = patient_selectors.episode_get(user=request.user, episode_id=episode_id)
    kind = request.POST.get("kind", Assessment.Kind.INITIAL)
    if kind not in Assessment.Kind.values:
        kind = Assessment.Kind.INITIAL
    try:
        assessment = services.assessment_start(actor=request.user, episode=episode, kind=kind)
    except ValidationError as error:
        refused(request, error)
        return redirect("patients:episode", episode_id=episode.pk)
    return redirect("charting:assessment", assessment_id=assessment.pk)


def _assessment_page(
    request: HttpRequest, assessment: Assessment, status: int = 200, **forms: Any
) -> HttpResponse:
    marks = {m.region: m for m in assessment.pain_marks.all()}
    ranking = knowledge.rank_muscles({r: m.intensity or 0.5 for r, m in marks.items()}, top=12)
    from needlechart.reference.chart import chart

    shades = {region: f"is-pain-{(m.intensity + 1) // 2}" for region, m in marks.items()}
    forms.setdefault("pain_form", PainMarkForm())
    forms.setdefault("finding_form", FindingForm())
    forms.setdefault("note_form", NoteForm(initial={"note": assessment.note}))
    forms.setdefault("observation_form", ObservationForm())
    return _episode_page(
        request,
        "charting/assessment.html",
        assessment.episode,
        status=status,
        assessment=assessment,
        chart=chart(shades, interactive=True),
        marks=[(knowledge.region(r).display, m) for r, m in marks.items()],
        candidates=[c.as_json() for c in ranking],
        editable=not assessment.is_signed and not selectors.is_in_error(assessment),
        in_error=selectors.is_in_error(assessment),
        rom_movements=knowledge.rom_movements(),
        **forms,
    )


@access.clinical_read(selectors.assessment_in_clinic)
def assessment(request: HttpRequest, assessment_id: int) -> HttpResponse:
    record = selectors.assessment_get(user=request.user, assessment_id=assessment_id)
    return _assessment_page(request, record)


def _assessment_action(
    request: HttpRequest, assessment_id: int, form_name: str, form: Any, call: Any, done: str
) -> HttpResponse:
    record = selectors.assessment_get(user=request.user, assessment_id=assessment_id)
    locked = _locked(request, record, reverse("charting:assessment", args=[record.pk]))
    if locked:
        return locked
    if submit(form, lambda: call(record)) is None:
        return _assessment_page(request, record, status=400, **{form_name: form})
    messages.success(request, done)
    return redirect("charting:assessment", assessment_id=record.pk)


@access.clinical_write(selectors.assessment_in_clinic)
@require_POST
def assessment_pain(request: HttpRequest, assessment_id: int) -> HttpResponse:
    if request.POST.get("remove"):
        record = selectors.assessment_get(user=request.user, assessment_id=assessment_id)
        try:
            services.pain_mark_remove(
                actor=request.user, assessment=record, region=request.POST["remove"]
            )
        except ValidationError as error:
            refused(request, error)
        return redirect("charting:assessment", assessment_id=assessment_id)
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
    )


@access.clinical_write(selectors.assessment_in_clinic)
@require_POST
def assessment_finding(request: HttpRequest, assessment_id: int) -> HttpResponse:
    form = FindingForm(request.POST)
    return _assessment_action(
        request,
        assessment_id,
        "finding_form",
        form,
        lambda record: services.finding_add(
            actor=request.user, assessment=record, **form.cleaned_data
        ),
        "Trigger-point finding recorded.",
    )


@access.clinical_write(selectors.finding_in_clinic)
@require_POST
def finding_remove(request: HttpRequest, finding_id: int) -> HttpResponse:
    finding = selectors.finding_get(user=request.user, finding_id=finding_id)
    try:
        services.finding_remove(actor=request.user, finding=finding)
    except ValidationError as error:
        refused(request, error)
    return redirect("charting:assessment", assessment_id=finding.assessment_id)


@access.clinical_write(selectors.assessment_in_clinic)
@require_POST
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
    )


@access.clinical_write(selectors.assessment_in_clinic)
@require_POST
def assessment_sign(request: HttpRequest, assessment_id: int) -> HttpResponse:
    record = selectors.assessment_get(user=request.user, assessment_id=assessment_id)
    try:
        services.assessment_sign(actor=request.user, assessment=record)
    except ValidationError as error:
        refused(request, error)
        return redirect("charting:assessment", assessment_id=record.pk)
    messages.success(request, "Assessment signed. It can now only be added to with addenda.")
    return redirect("charting:assessment", assessment_id=record.pk)


# --- measurements ------------------------------------------------------------------------


@access.clinical_read(episode_scope)
@require_POST
def observation_add(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = patient_selectors.episode_get(user=request.user, episode_id=episode_id)
    form = ObservationForm(request.POST)
    back = reverse("patients:episode", args=[episode.pk])
    if form.is_valid():
        data = form.cleaned_data
        parent: dict[str, Any] = {}
        if data["assessment"]:
            parent["assessment"] = episode.assessments.filter(pk=data["assessment"]).first()
            back = reverse("charting:assessment", args=[data["assessment"]])
        elif data["session"]:
            parent["session"] = episode.sessions.filter(pk=data["session"]).first()
            back = reverse("charting:session", args=[data["session"]])
        if None in parent.values():
            messages.error(request, "That record is not part of this episode.")
            return redirect(back)
        try:
            services.observation_add(
                actor=request.user,
                episode=episode,
                code=data["code"],
                value=data["value"],
                timing=data["timing"],
                component=data["component"],
                side=data["side"],
                **parent,
            )
            messages.success(request, "Measurement recorded.")
        except ValidationError as error:
            refused(request, error)
    else:
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label or field}: {' '.join(errors)}")
    return redirect(back)


@access.clinical_read(selectors.observation_in_clinic)
@require_POST
def observation_remove(request: HttpRequest, observation_id: int) -> HttpResponse:
    observation = selectors.observation_get(user=request.user, observation_id=observation_id)
    try:
        services.observation_remove(actor=request.user, observation=observation)
    except ValidationError as error:
        refused(request, error)
    if observation.session_id:
        return redirect("charting:session", session_id=observation.session_id)
    return redirect("charting:assessment", assessment_id=observation.assessment_id)


# --- needling session --------------------------------------------------------------------


@access.role_required(rules.NEEDLING_ROLES, episode_scope)
def session_new(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = patient_selectors.episode_get(user=request.user, episode_id=episode_id)
    form = SessionStartForm(posted(request))
    if request.method == "POST":
        started = submit(
            form,
            lambda: services.session_start(
                actor=request.user, episode=episode, **form.cleaned_data
            ),
        )
        if started is not None:
            session, skipped = started
            for note in skipped:
                messages.warning(request, f"Not copied: {note}")
            return redirect("charting:session", session_id=session.pk)
    last_exists = episode.sessions.filter(signed_at__isnull=False).exists()
    return _episode_page(
        request, "charting/session_new.html", episode, form=form, last_exists=last_exists
    )


def _session_page(
    request: HttpRequest, session: NeedlingSession, status: int = 200, **forms: Any
) -> HttpResponse:
    clinic = session.episode.patient.clinic
    services.needle_sizes(clinic)
    rows = list(session.insertions.all())
    in_error = selectors.is_in_error(session)
    editable = not session.is_signed and not in_error
    forms.setdefault("row_form", InsertionForm(clinic=clinic))
    forms.setdefault(
        "details_form",
        SessionDetailsForm(instance=session, initial={"co_treatments": session.co_treatments}),
    )
    forms.setdefault("observation_form", ObservationForm())
    observations = list(session.observations.all())
    cpt = session.cpt_code if session.is_signed else knowledge.suggest_cpt([r.muscle for r in rows])
    qualified = rules.is_qualified_to_needle(
        session.practitioner, on=timezone.localdate(session.performed_at)
    )
    safety = selectors.safety(session.episode)
    if editable and rows:
        # A draft is re-screened on every view: a screening updated since a row was added
        # shows here at once, not only when the session is signed.
        live = services.screen_plan(safety.screening, [services.plan_item(r) for r in rows])
        for r, item in zip(rows, live.items, strict=True):
            r.safety_verdict = item.verdict
            r.safety_reasons = [x.as_json() for x in item.reasons if x.verdict != "allowed"]
    return _episode_page(
        request,
        "charting/session.html",
        session.episode,
        status=status,
        safety=safety,
        session=session,
        rows=rows,
        cpt=cpt,
        editable=editable,
        in_error=in_error,
        sign_problems=services.sign_problems(request.user, session) if editable else [],
        nprs={o.timing: o for o in observations if o.code == "nprs"},
        observations=observations,
        rom_movements=knowledge.rom_movements(),
        total_needles=sum(r.needles for r in rows),
        qualified=qualified,
        reports=portal_selectors.session_reports(session),
        **forms,
    )


@access.clinical_read(selectors.session_in_clinic)
def session(request: HttpRequest, session_id: int) -> HttpResponse:
    record = selectors.session_get(user=request.user, session_id=session_id)
    return _session_page(request, record)


@access.role_required(rules.NEEDLING_ROLES, selectors.session_in_clinic)
@require_POST
def session_row(request: HttpRequest, session_id: int) -> HttpResponse:
    record = selectors.session_get(user=request.user, session_id=session_id)
    locked = _locked(request, record, reverse("charting:session", args=[record.pk]))
    if locked:
        return locked
    form = InsertionForm(request.POST, clinic=record.episode.patient.clinic)
    added = submit(
        form,
        lambda: services.insertion_add(actor=request.user, session=record, **form.cleaned_data),
    )
    if added is None:
        return _session_page(request, record, status=400, row_form=form)
    if added.safety_verdict == "caution":
        messages.warning(
            request, f"{added.get_muscle_display()} added with a caution: see the row."
        )
    else:
        messages.success(request, f"{added.get_muscle_display()} added.")
    return redirect("charting:session", session_id=record.pk)


@access.role_required(rules.NEEDLING_ROLES, selectors.insertion_in_clinic)
@require_POST
def session_row_remove(request: HttpRequest, insertion_id: int) -> HttpResponse:
    insertion = selectors.insertion_get(user=request.user, insertion_id=insertion_id)
    try:
        services.insertion_remove(actor=request.user, insertion=insertion)
    except ValidationError as error:
        refused(request, error)
    return redirect("charting:session", session_id=insertion.session_id)


@access.role_required(rules.NEEDLING_ROLES, selectors.session_in_clinic)
@require_POST
def session_details(request: HttpRequest, session_id: int) -> HttpResponse:
    record = selectors.session_get(user=request.user, session_id=session_id)
    locked = _locked(request, record, reverse("charting:session", args=[record.pk]))
    if locked:
        return locked
    form = SessionDetailsForm(request.POST, instance=record)
    saved = submit(
        form,
        lambda: services.session_update(actor=request.user, session=record, **form.cleaned_data),
    )
    if saved is None:
        return _session_page(request, record, status=400, details_form=form)
    messages.success(request, "Session details saved.")
    return redirect("charting:session", session_id=record.pk)


@access.role_required(rules.NEEDLING_ROLES, selectors.session_in_clinic)
@require_POST
def session_sign(request: HttpRequest, session_id: int) -> HttpResponse:
    record = selectors.session_get(user=request.user, session_id=session_id)
    try:
        services.session_sign(actor=request.user, session=record)
    except ValidationError as error:
        messages.error(request, "The session was not signed:")
        refused(request, error)
        return redirect("charting:session", session_id=record.pk)
    messages.success(request, f"Session signed (CPT {record.cpt_code}).")
    return redirect("charting:session", session_id=record.pk)


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
    return _episode_page(
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
    form = AdverseEventForm(posted(request), instance=event, session=event.session)
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
    return _episode_page(
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
@require_POST
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
            messages.success(request, "Aftercare marked as given to the patient.")
        except ValidationError as error:
            refused(request, error)
        return redirect("charting:aftercare", session_id=record.pk)
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
    return _episode_page(
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
    patient = patient_selectors.patient_get(user=request.user, patient_id=patient_id)
    form = TimelineFilterForm(request.GET or None)
    form.is_valid()
    # An invalid filter is reported and ignored; the valid ones still apply.
    filters = form.cleaned_data if form.is_bound else {}
    entries = selectors.timeline(
        user=request.user,
        patient=patient,
        kind=filters.get("kind", ""),
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
    )
    return render(
        request,
        "charting/timeline.html",
        {"patient": patient, "form": form, "entries": entries, "today": timezone.localdate()},
        status=200 if not form.is_bound or form.is_valid() else 400,
    )


# --- clinic settings ---------------------------------------------------------------------


@access.clinic_admin()
def clinic_settings(request: HttpRequest) -> HttpResponse:
    clinic = request.user.clinic
    form = ClinicForm(
        posted(request),
        initial={k: getattr(clinic, k) for k in account_services.CLINIC_EDITABLE},
    )
    if request.method == "POST":
        saved = submit(
            form, lambda: account_services.clinic_update(actor=request.user, **form.cleaned_data)
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
        {"form": form, "documents": documents, "needles": services.needle_sizes(clinic)},
    )


@access.clinic_admin()
def clinic_document(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in DocumentTemplate.Kind.values:
        raise Http404
    current = services.current_template(clinic=request.user.clinic, kind=kind)
    form = TemplateForm(
        posted(request),
        initial={"title": current.title, "body": current.body},
    )
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
        },
    )


@access.clinic_admin()
def clinic_needles(request: HttpRequest) -> HttpResponse:
    form = NeedleForm(posted(request))
    if request.method == "POST":
        if request.POST.get("retire"):
            retire = request.POST["retire"]
            size = NeedleSize.objects.filter(
                clinic=request.user.clinic, pk=int(retire) if retire.isdigit() else 0
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
