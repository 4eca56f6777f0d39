"""The staff side of the portal: inviting patients, and reviewing what they report
(health answers, effects after a session, red-flag alerts)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from needlechart import knowledge, mail
from needlechart.accounts import access
from needlechart.accounts.limits import limited
from needlechart.charting.forms import ScreeningForm
from needlechart.forms import posted, refused, submit
from needlechart.outcomes.export import chart_text
from needlechart.patients import selectors as patient_selectors
from needlechart.patients.models import EpisodeOfCare
from needlechart.portal import alerts, privacy, selectors, services
from needlechart.portal.forms import EffectConfirmForm, ErasureForm, ReasonForm


@access.staff(patient_selectors.patient_in_clinic)
@access.post_only
@limited("portal-invitation", "20/h", key="user", what="sending portal invitations")
def invite_patient(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_selectors.patient_get(user=request.user, patient_id=patient_id)
    try:
        invitation, token = services.invitation_create(actor=request.user, patient=patient)
    except ValidationError as error:
        refused(request, error)
    else:
        if mail.after_commit(lambda: alerts.send_invitation(invitation, token)).failed:
            messages.error(request, "The invitation could not be emailed. Try again later.")
        else:
            messages.success(
                request,
                f"Invitation sent to {invitation.email}. The link works once, until "
                f"{invitation.expires_at:%Y-%m-%d %H:%M}.",
            )
    return redirect("patients:detail", patient_id=patient.pk)


class ConfirmForm(ScreeningForm):
    """The patient's answers, as the clinician records them after checking with them."""

    episode = forms.ModelChoiceField(queryset=EpisodeOfCare.objects.none(), empty_label=None)

    def __init__(self, *args, episodes, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["episode"].queryset = episodes
        self.order_fields(["episode"])


@access.clinical_write(selectors.questionnaire_in_clinic)
def questionnaire_review(request: HttpRequest, questionnaire_id: int) -> HttpResponse:
    answers = selectors.questionnaire_get(user=request.user, questionnaire_id=questionnaire_id)
    episodes = answers.patient.episodes.exclude(status=EpisodeOfCare.Status.FINISHED)
    form = ConfirmForm(
        posted(request),
        initial_factors=answers.factors,
        episodes=episodes,
        initial={"episode": answers.episode_id, "note": answers.note},
    )
    if request.method == "POST":
        confirmed = submit(
            form,
            lambda: services.questionnaire_confirm(
                actor=request.user,
                questionnaire=answers,
                episode=form.cleaned_data["episode"],
                factors=form.factors(),
                note=form.cleaned_data["note"],
            ),
        )
        if confirmed is not None:
            messages.success(request, "The patient's answers are recorded as the screening.")
            return redirect("patients:episode", episode_id=form.cleaned_data["episode"].pk)
    return render(
        request,
        "portal/staff/questionnaire_review.html",
        {
            "answers": answers,
            "patient": answers.patient,
            "form": form,
            "dismiss_form": ReasonForm(),
            "has_episode": episodes.exists(),
            "reported": [(knowledge.factor_rule(f["code"]), f) for f in answers.factors],
        },
    )


@access.clinical_write(selectors.questionnaire_in_clinic)
@access.post_only
def questionnaire_dismiss(request: HttpRequest, questionnaire_id: int) -> HttpResponse:
    answers = selectors.questionnaire_get(user=request.user, questionnaire_id=questionnaire_id)
    try:
        services.questionnaire_dismiss(
            actor=request.user, questionnaire=answers, reason=request.POST.get("reason", "")
        )
        messages.success(request, "The answers are marked as reviewed and not recorded.")
    except ValidationError as error:
        refused(request, error)
        return redirect("portal:questionnaire_review", questionnaire_id=answers.pk)
    return redirect("patients:detail", patient_id=answers.patient_id)


ONSET_BY_HOURS = {24: "within-24h"}


@access.clinical_write(selectors.effect_in_clinic)
def effect_confirm(request: HttpRequest, effect_id: int) -> HttpResponse:
    effect = selectors.effect_get(user=request.user, effect_id=effect_id)
    session = effect.session
    rows = list(session.insertions.all())
    muscles = [
        (f"{r.muscle}:{r.side}" if r.side else r.muscle, f"{r.get_muscle_display()} {r.side}")
        for r in rows
    ]
    form = EffectConfirmForm(
        posted(request),
        muscles=muscles,
        initial={
            "event_type": effect.event_type,
            "onset": ONSET_BY_HOURS.get(effect.check_in.hours, "later"),
            "severity": "severe" if effect.red_flag else "mild",
            "action_taken": "none",
            "outcome": "ongoing",
            "description": f"Reported by the patient: {effect.detail}",
        },
    )
    if request.method == "POST":
        event = submit(
            form,
            lambda: services.effect_confirm(actor=request.user, effect=effect, **form.cleaned_data),
        )
        if event is not None:
            messages.success(request, "Recorded as an adverse event of the session.")
            return redirect("charting:session", session_id=session.pk)
    return render(
        request,
        "portal/staff/effect_confirm.html",
        {"effect": effect, "session": session, "patient": session.episode.patient, "form": form},
    )


@access.clinical_write(selectors.effect_in_clinic)
@access.post_only
def effect_dismiss(request: HttpRequest, effect_id: int) -> HttpResponse:
    effect = selectors.effect_get(user=request.user, effect_id=effect_id)
    try:
        services.effect_dismiss(
            actor=request.user, effect=effect, reason=request.POST.get("reason", "")
        )
        messages.success(request, "The reported effect is dismissed.")
    except ValidationError as error:
        refused(request, error)
    return redirect("charting:session", session_id=effect.session_id)


@access.clinical_write(selectors.check_in_in_clinic)
@access.post_only
def alert_acknowledge(request: HttpRequest, check_in_id: int) -> HttpResponse:
    check_in = selectors.check_in_get(user=request.user, check_in_id=check_in_id)
    try:
        services.alert_acknowledge(actor=request.user, check_in=check_in)
        messages.success(request, "Alert acknowledged.")
    except ValidationError as error:
        refused(request, error)
    return redirect("charting:session", session_id=check_in.session_id)


# --- privacy requests ------------------------------------------------------------------------


@access.clinic_admin(patient_selectors.patient_in_clinic)
def privacy_requests(request: HttpRequest, patient_id: int) -> HttpResponse:
    """A patient's privacy requests: everything held, and erasing what is not part of the
    clinical record (portal/privacy.py)."""
    patient = patient_selectors.patient_get(user=request.user, patient_id=patient_id)
    held = privacy.held(actor=request.user, patient=patient)
    what = {
        "portal": privacy.PARTS["portal"] + ("" if held["portal"] else " (none)"),
        "contact": privacy.PARTS["contact"] + ("" if held["contact"] else " (none)"),
        "diary": privacy.PARTS["diary"] + f" ({held['diary']} entries)",
    }
    form = ErasureForm(posted(request), choices=list(what.items()))
    if request.method == "POST":
        done = submit(
            form,
            lambda: privacy.erase(
                actor=request.user, patient=patient, parts=form.cleaned_data["parts"],
                reason=form.cleaned_data["reason"],
            ),
        )  # fmt: skip
        if done is not None:
            messages.success(request, "Erased: " + ", ".join(done) + ". The clinical record stays.")
            return redirect("portal:privacy", patient_id=patient.pk)
    return render(
        request,
        "portal/staff/privacy.html",
        {"patient": patient, "held": held, "form": form},
        status=400 if form.is_bound and form.errors else 200,
    )


@access.clinic_admin(patient_selectors.patient_in_clinic)
def privacy_export(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_selectors.patient_get(user=request.user, patient_id=patient_id)
    document = privacy.everything(actor=request.user, patient=patient)
    response = HttpResponse(chart_text(document), content_type="application/json")
    response["Content-Disposition"] = (
        f'attachment; filename="patient-{patient.mrn}-everything.json"'
    )
    return response
