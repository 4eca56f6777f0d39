"""The measurement forms of the assessment and session pages. A measure saves in place:
the answer is the part of that page it changed (the page's own code renders it)."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from needlechart.accounts import access
from needlechart.charting import session_views
from needlechart.charting import views as charting_views
from needlechart.charting.forms import ObservationForm
from needlechart.forms import record_id, refused
from needlechart.outcomes import measurements
from needlechart.outcomes import selectors as outcome_selectors
from needlechart.patients import selectors as patient_selectors

episode_scope = patient_selectors.episode_in_clinic

# --- measurements ------------------------------------------------------------------------


@access.clinical_read(episode_scope)
@access.post_only
def observation_add(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = patient_selectors.episode_get(user=request.user, episode_id=episode_id)
    form = ObservationForm(request.POST)
    # The record the measure belongs to, read before the form is checked, so that a refused
    # value is answered on that record's page (in place), not somewhere else.
    parent: dict[str, Any] = {}
    back = reverse("patients:episode", args=[episode.pk])
    for field, records, page in (
        ("assessment", episode.assessments, "charting:assessment"),
        ("session", episode.sessions, "charting:session"),
    ):
        raw = request.POST.get(field, "")
        if raw:
            pk = record_id(raw)
            parent[field] = records.filter(pk=pk).first() if pk is not None else None
            back = reverse(page, args=[raw]) if parent[field] else back
            break
    if None in parent.values():
        messages.error(request, "That record is not part of this episode.")
        return redirect(back)
    if form.is_valid():
        data = form.cleaned_data
        try:
            measurements.observation_add(
                actor=request.user,
                episode=episode,
                code=data["code"],
                value=data["value"],
                timing=data["timing"],
                component=data["component"],
                side=data["side"],
                **parent,
            )
        except ValidationError as error:
            # A service's reasons name the measure already: no field label in front.
            errors = {"": error.messages}
            return _measure_refused(request, parent, form, back, errors)
        return _measure_saved(request, parent, form, back)
    return _measure_refused(request, parent, form, back, form.errors)


def _measure_saved(request: HttpRequest, parent: dict, form: ObservationForm, back: str):
    slot = form.data.get("slot", "")
    if request.htmx and "session" in parent:
        return session_views.measure_parts(
            request, parent["session"], toast="Measurement saved.", cleared=slot
        )
    if request.htmx and "assessment" in parent:
        return charting_views.assessment_parts(
            request, parent["assessment"], toast="Measurement saved.", cleared=slot
        )
    messages.success(request, "Measurement recorded.")
    return redirect(back + (f"#{slot}" if slot else ""))


def _measure_refused(request: HttpRequest, parent: dict, form: Any, back: str, errors: dict):
    """A measurement refused: the reason next to its field in place, or as a message."""
    labels = {name: field.label for name, field in form.fields.items()}
    text = " ".join(
        f"{labels.get(field) or ''}: {' '.join(messages_)}".lstrip(": ")
        for field, messages_ in errors.items()
    )
    slot = form.data.get("slot", "")
    if request.htmx and "session" in parent:
        return session_views.measure_parts(
            request, parent["session"], status=400, toast=text, level="error",
            slot_error=(slot, text),
        )  # fmt: skip
    if request.htmx and "assessment" in parent:
        return charting_views.assessment_parts(
            request, parent["assessment"], status=400, toast=text, toast_level="error",
            slot_error=(slot, text),
        )  # fmt: skip
    messages.error(request, text)
    return redirect(back + (f"#{slot}" if slot else ""))


@access.clinical_read(outcome_selectors.observation_in_clinic)
@access.post_only
def observation_remove(request: HttpRequest, observation_id: int) -> HttpResponse:
    observation = outcome_selectors.observation_get(
        user=request.user, observation_id=observation_id
    )
    try:
        measurements.observation_remove(actor=request.user, observation=observation)
        done, level = "Measurement removed.", "success"
    except ValidationError as error:
        done, level = " ".join(error.messages), "error"
        if not request.htmx:
            refused(request, error)
    if request.htmx and observation.session_id:
        return session_views.measure_parts(
            request, observation.session, toast=done, level=level,
            status=200 if level == "success" else 400,
        )  # fmt: skip
    if request.htmx and observation.assessment_id:
        return charting_views.assessment_parts(
            request, observation.assessment, toast=done, toast_level=level,
            status=200 if level == "success" else 400,
        )  # fmt: skip
    if observation.session_id:
        return redirect("charting:session", session_id=observation.session_id)
    return redirect("charting:assessment", assessment_id=observation.assessment_id)
