"""The patient's pages. Each reads through the selectors, which scope every lookup to the
signed-in patient (404 otherwise) and audit it, and writes through one service."""

import datetime as dt
import functools
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import views as account_views
from needlechart.accounts.limits import limited, reset_limits
from needlechart.audit import services as audit
from needlechart.charting import services as charting
from needlechart.charting.models import DocumentTemplate
from needlechart.documents import selectors as document_selectors
from needlechart.documents.views import pdf_response
from needlechart.forms import add_service_error, posted, submit
from needlechart.outcomes.export import chart_text, patient_chart, with_chart
from needlechart.outcomes.plots import own_pain_plot
from needlechart.patients.models import Patient
from needlechart.portal import schedule, selectors, services
from needlechart.portal.forms import (
    AccountOpenForm,
    CheckInForm,
    ConsentForm,
    DiaryForm,
    HealthQuestionsForm,
    PortalPasswordResetForm,
    PortalSignInForm,
    ReviewForm,
)

LOGIN = "portal:login"


def patient_page(view: Any) -> Any:
    """A page for a signed-in patient; others are sent to the portal sign-in."""
    return login_required(view, login_url=LOGIN)


# --- signing in ------------------------------------------------------------------------------

sign_in = limited("portal-sign-in", "10/m", what="signing in")(
    auth_views.LoginView.as_view(
        template_name="portal/login.html",
        authentication_form=PortalSignInForm,
        next_page=reverse_lazy("portal:home"),
        redirect_authenticated_user=False,
    )
)
sign_out = patient_page(auth_views.LogoutView.as_view(next_page=reverse_lazy(LOGIN)))
session_keepalive = patient_page(account_views.session_keepalive)
two_factor_setup = patient_page(account_views.two_factor_setup)
two_factor_verify = patient_page(account_views.two_factor_verify)
password_reset = reset_limits(
    auth_views.PasswordResetView.as_view(
        template_name="portal/password_reset_form.html",
        email_template_name="portal/email/password_reset.txt",
        subject_template_name="portal/email/password_reset_subject.txt",
        form_class=PortalPasswordResetForm,
        success_url=reverse_lazy("portal:password_reset_done"),
    )
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="portal/password_reset_done.html"
)
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="portal/password_reset_confirm.html",
    success_url=reverse_lazy("portal:password_reset_complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="portal/password_reset_complete.html"
)


# Open without signing in: the invitation link itself is the proof.
@login_not_required
def invite(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.invitation_for(token)
    except ValidationError as error:
        # 410 Gone: the link existed (or never did) and cannot be used; say why.
        return render(
            request, "portal/invite_invalid.html", {"reason": error.messages[0]}, status=410
        )
    form = AccountOpenForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            account = services.account_open(token=token, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            login(request, account.user, backend="needlechart.accounts.backends.PeopleBackend")
            messages.success(request, "Welcome. Your portal account is ready.")
            return redirect("portal:home")
    return render(
        request,
        "portal/invite.html",
        {"form": form, "patient": invitation.patient, "clinic": invitation.patient.clinic,
         "email": invitation.email},
    )  # fmt: skip


# --- home and learning ---------------------------------------------------------------------


@patient_page
def home(request: HttpRequest) -> HttpResponse:
    data = selectors.home(user=request.user)
    return render(request, "portal/home.html", {"home": data, "now": timezone.now()})


@patient_page
def learn(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/learn.html", {"pages": knowledge.education_pages()})


@patient_page
def learn_page(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        page = knowledge.education_page(slug)
    except knowledge.UnknownCode:
        raise Http404 from None
    sources = knowledge.portal_sources()
    cited = [sources[key].short or sources[key].citation for key in page.sources if key in sources]
    return render(request, "portal/learn_page.html", {"article": page, "cited": cited})


# --- before the first visit ------------------------------------------------------------------


@patient_page
def questionnaire(request: HttpRequest) -> HttpResponse:
    patient = selectors.own_patient(request.user)
    latest = patient.health_questionnaires.order_by("-submitted_at", "-id").first()
    form = HealthQuestionsForm(posted(request), initial_factors=latest.factors if latest else [])
    if request.method == "POST":
        answers = submit(
            form,
            lambda: services.questionnaire_submit(
                actor=request.user, factors=form.factors(), note=form.cleaned_data["note"]
            ),
        )
        if answers is not None:
            messages.success(
                request,
                "Thank you. Your answers will be checked with you before any needling.",
            )
            return redirect("portal:home")
    audit.record(
        actor=request.user, action=audit.Action.VIEW, object_type="HealthQuestions",
        patient=patient,
    )  # fmt: skip
    return render(request, "portal/questionnaire.html", {"form": form, "latest": latest})


@patient_page
def consent(request: HttpRequest) -> HttpResponse:
    patient = selectors.own_patient(request.user)
    template = charting.current_template(clinic=patient.clinic, kind=DocumentTemplate.Kind.CONSENT)
    current, problem = charting.consent_status(patient)
    form = ConsentForm(posted(request), initial={"template": template.pk})
    if request.method == "POST":
        signed = submit(
            form,
            lambda: services.consent_sign(
                actor=request.user,
                template=template
                if form.cleaned_data["template"] == template.pk
                else DocumentTemplate(pk=form.cleaned_data["template"]),
                signed_name=form.cleaned_data["signed_name"],
                confirmed=form.cleaned_data["confirmed"],
                token=request.POST.get("form_token", ""),
            ),
        )
        if signed is not None:
            messages.success(request, "Thank you. Your consent is recorded.")
            return redirect("portal:home")
    audit.record(
        actor=request.user, action=audit.Action.VIEW, object_type="Consent", patient=patient
    )
    return render(
        request,
        "portal/consent.html",
        {
            "form": form,
            "template": template,
            "current": current,
            "problem": problem,
            "training": charting.training_statement(patient=patient),
        },
    )


# --- after a session -------------------------------------------------------------------------


def _aftercare(session: Any) -> Any:
    issued = list(session.aftercare_issues.all())
    if issued:
        return issued[-1].template
    return charting.current_template(
        clinic=session.episode.patient.clinic, kind=DocumentTemplate.Kind.AFTERCARE
    )


@patient_page
def session(request: HttpRequest, session_id: int) -> HttpResponse:
    record = selectors.own_session(user=request.user, session_id=session_id)
    now = timezone.now()
    slots = schedule.slots(record, now)
    return render(
        request,
        "portal/session.html",
        {
            "session": record,
            "clinic": record.episode.patient.clinic,
            "aftercare": _aftercare(record),
            "muscles": [
                f"{r.get_muscle_display()} ({r.side})" if r.side else r.get_muscle_display()
                for r in record.insertions.all()
            ],
            "slots": [(s, s.state(now)) for s in slots],
            # Urgent advice stays at the top until the clinic has acknowledged the alert.
            "flagged": [s.answered for s in slots if s.answered and s.answered.alert_open],
            "seen": [
                s.answered
                for s in slots
                if s.answered and s.answered.red_flags and not s.answered.alert_open
            ],
            "urgent_advice": knowledge.urgent_advice(),
            "symptom_labels": {s.code: s.label for s in knowledge.symptoms()},
        },
    )


@patient_page
def check_in(request: HttpRequest, session_id: int, hours: int) -> HttpResponse:
    now = timezone.now()
    slot = selectors.own_slot(user=request.user, session_id=session_id, hours=hours, now=now)
    form = CheckInForm(posted(request))
    if request.method == "POST":
        answered = submit(
            form,
            lambda: services.checkin_answer(
                actor=request.user, session=slot.session, hours=hours, now=now,
                **form.cleaned_data,
            ),
        )  # fmt: skip
        if answered is not None:
            if answered.red_flags:
                return redirect("portal:session", session_id=session_id)
            messages.success(request, "Thank you. Your answers have been sent to the clinic.")
            return redirect("portal:home")
    return render(
        request,
        "portal/check_in.html",
        {"slot": slot, "state": slot.state(now), "form": form, "session": slot.session},
        status=400 if form.errors else 200,
    )


# --- between sessions ------------------------------------------------------------------------


@patient_page
def diary(request: HttpRequest) -> HttpResponse:
    form = DiaryForm(posted(request))
    if request.method == "POST":
        added = submit(
            form,
            lambda: services.diary_add(
                actor=request.user, token=request.POST.get("form_token", ""), **form.cleaned_data
            ),
        )
        if added is not None:
            messages.success(request, "Added to your pain diary.")
            return redirect("portal:diary")
    entries = selectors.own_diary(user=request.user)
    return render(request, "portal/diary.html", {"form": form, "entries": entries})


def _baseline_activities(patient: Patient) -> list[str]:
    episode = services.active_episode(patient)
    if episode is None:
        return []
    names = (
        episode.observations.filter(code="psfs-activity", entered_in_error_reason="")
        .exclude(timing="home")
        .order_by("recorded_at", "id")
        .values_list("component", flat=True)
    )
    return list(dict.fromkeys(names))[:5]


@patient_page
def review(request: HttpRequest) -> HttpResponse:
    patient = selectors.own_patient(request.user)
    form = ReviewForm(posted(request), activities=_baseline_activities(patient))
    if request.method == "POST":
        recorded = submit(
            form,
            lambda: services.review_submit(
                actor=request.user, activities=form.ratings(), groc=form.cleaned_data["groc"]
            ),
        )
        if recorded is not None:
            messages.success(request, "Thank you. Your practitioner will go through this with you.")
            return redirect("portal:home")
    audit.record(
        actor=request.user, action=audit.Action.VIEW, object_type="ReviewQuestions",
        patient=patient,
    )  # fmt: skip
    return render(request, "portal/review.html", {"form": form})


# The pain ratings listed under the patient's chart, newest first.
PROGRESS_LISTED = 20


@functools.lru_cache(maxsize=128)
def _own_plot(points: tuple[tuple[dt.datetime, float, str], ...]) -> str | None:
    """The patient's chart, kept by the points it draws, as the episode page keeps its
    plots (outcomes/views.py `_drawn`): a diary of a rating a day is drawn again only when a
    rating is added or changed, not at every view."""
    return own_pain_plot(points)


@patient_page
def progress(request: HttpRequest) -> HttpResponse:
    patient = selectors.own_patient(request.user)
    points, episode = selectors.own_pain_points(patient)
    plan = episode.care_plans.order_by("-version").first() if episode else None
    audit.record(
        actor=request.user, action=audit.Action.VIEW, object_type="Progress", patient=patient
    )
    # The chart draws every rating; the table lists the newest, so that a long course
    # keeps the page short on a phone, and all of them when asked (the chart's text).
    listed = None if request.GET.get("all") == "1" else PROGRESS_LISTED
    latest = points[::-1][:listed]
    return render(
        request,
        "portal/progress.html",
        {
            "plot": _own_plot(tuple(points)),
            "latest": latest,
            "earlier": len(points) - len(latest),
            "episode": episode,
            "plan": plan,
        },
    )


# --- right of access ------------------------------------------------------------------------


def _own_chart(request: HttpRequest, how: str) -> tuple[Patient, dict[str, Any]]:
    patient = selectors.own_patient(request.user)
    loaded = with_chart(Patient.objects.filter(pk=patient.pk)).get()
    audit.record(actor=request.user, action=audit.Action.EXPORT, obj=patient, detail={"via": how})
    return patient, patient_chart(loaded)


@patient_page
def record(request: HttpRequest) -> HttpResponse:
    patient, chart = _own_chart(request, "portal-summary")
    return render(request, "portal/record.html", {"patient": patient, "chart": chart})


@patient_page
def record_json(request: HttpRequest) -> HttpResponse:
    patient, chart = _own_chart(request, "portal-json")
    response = HttpResponse(chart_text(chart), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="my-record-{patient.mrn}.json"'
    return response


# --- documents the clinic issued ---------------------------------------------------------


@patient_page
def documents(request: HttpRequest) -> HttpResponse:
    page = document_selectors.own_documents(user=request.user, page=request.GET.get("page"))
    return render(request, "portal/documents.html", {"documents": page, "page": page})


@patient_page
def document(request: HttpRequest, document_id: int) -> HttpResponse:
    return pdf_response(
        document_selectors.own_document_get(user=request.user, document_id=document_id)
    )
