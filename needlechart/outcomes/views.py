"""Outcome pages: the treatment plan, measurements and discharge. The clinic dashboard,
which reads the portal too, is a page of `needlechart.pages`."""

import functools
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone

from needlechart.accounts import access
from needlechart.accounts.access import in_clinic
from needlechart.audit import services as audit
from needlechart.charting import services as chart_services
from needlechart.charting.views import episode_page, every_row
from needlechart.db.latest import latest
from needlechart.forms import posted, submit
from needlechart.outcomes import measurements as measures
from needlechart.outcomes import plots as plots_module
from needlechart.outcomes import selectors, services
from needlechart.outcomes.forms import (
    DischargeForm,
    GoalFormSet,
    MeasurementForm,
    PlanForm,
    TherapyFormSet,
)
from needlechart.outcomes.models import Discharge, Observation
from needlechart.outcomes.progress import Progress
from needlechart.patients import selectors as patient_selectors
from needlechart.patients.models import EpisodeOfCare

episode_scope = patient_selectors.episode_in_clinic


def observation_scope(user: Any, observation_id: int, **_: Any) -> bool:
    return in_clinic(user, Observation.objects, "episode__patient__clinic_id", observation_id)


def discharge_scope(user: Any, discharge_id: int, **_: Any) -> bool:
    return in_clinic(user, Discharge.objects, "episode__patient__clinic_id", discharge_id)


# --- progress on the episode page --------------------------------------------------------


@functools.lru_cache(maxsize=128)
def _drawn(inputs: selectors.ProgressInputs) -> tuple[Progress, tuple[str, ...]]:
    """The progress and its plots, kept by the data they are drawn from, as the progress
    alone is (`selectors.kept_progress`). Nothing here is changed afterwards."""
    current = selectors.kept_progress(inputs)
    return current, tuple(plots_module.progress_plots(current, inputs.condition))


def progress_context(episode: EpisodeOfCare) -> dict[str, Any]:
    """What the episode page shows of the plan and the progress, with its plots."""
    current, plots = _drawn(selectors.progress_inputs(episode))
    return {
        "progress": current,
        "plan_status": selectors.plan_status(episode, current),
        "plots": list(plots),
        "discharge": getattr(episode, "discharge", None),
    }


# --- plan --------------------------------------------------------------------------------


def _plan_initial(episode: EpisodeOfCare) -> tuple[dict, list[dict], list[dict]]:
    plan = episode.care_plans.prefetch_related("goals", "therapies").order_by("-version").first()
    if plan is None:
        review = timezone.localdate() + timezone.timedelta(days=28)
        top = {"planned_sessions": 4, "frequency": "weekly", "review_on": review, "based_on": 0}
        return top, [], []
    goals = [
        {"description": g.description, "code": g.code, "component": g.component,
         "target": g.target, "target_date": g.target_date}
        for g in plan.goals.all()
    ]  # fmt: skip
    therapies = [
        {"kind": t.kind, "provider": t.provider, "frequency": t.frequency, "note": t.note,
         "exercises": "\n".join(f"{e['name']}: {e['dose']}" for e in t.exercises)}
        for t in plan.therapies.all()
    ]  # fmt: skip
    top = {"planned_sessions": plan.planned_sessions, "frequency": plan.frequency,
           "review_on": max(plan.review_on, timezone.localdate()), "note": plan.note,
           "based_on": plan.version}  # fmt: skip
    return top, goals, therapies


@access.clinical_write(episode_scope)
def plan(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = patient_selectors.episode_get(user=request.user, episode_id=episode_id)
    top, goals, therapies = _plan_initial(episode)
    data = posted(request)
    form = PlanForm(data, initial=top)
    goal_forms = GoalFormSet(data, initial=goals, prefix="goal")
    therapy_forms = TherapyFormSet(data, initial=therapies, prefix="therapy")
    if request.method == "POST" and goal_forms.is_valid() and therapy_forms.is_valid():
        created = submit(
            form,
            lambda: services.plan_create(
                actor=request.user,
                episode=episode,
                goals=[f.goal for f in goal_forms if f.goal],
                therapies=[f.therapy for f in therapy_forms if f.therapy],
                **form.cleaned_data,
            ),
        )
        if created is not None:
            messages.success(request, f"Treatment plan saved (version {created.version}).")
            return redirect("patients:episode", episode_id=episode.pk)
    elif request.method == "POST":
        form.is_valid()
    history = latest(episode.care_plans.select_related("created_by"), every=every_row(request))
    return episode_page(
        request,
        "outcomes/plan.html",
        episode,
        status=400 if request.method == "POST" else 200,
        form=form,
        goal_forms=goal_forms,
        therapy_forms=therapy_forms,
        history=history,
    )


# --- measurements ------------------------------------------------------------------------

# The measurements listed a page, newest first.
MEASUREMENTS_PAGE = 50


@access.clinical_read(episode_scope)
def measurements(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = patient_selectors.episode_get(user=request.user, episode_id=episode_id)
    form = MeasurementForm(posted(request))
    if request.method == "POST":
        recorded = submit(
            form,
            lambda: measures.observation_add(
                actor=request.user, episode=episode, **form.cleaned_data
            ),
        )
        if recorded is not None:
            messages.success(request, "Measurement recorded.")
            return redirect("outcomes:measurements", episode_id=episode.pk)
    # A page of the newest measurements: a long course has three a session, and the page
    # would grow with it (1,500 rows at 500 sessions).
    rows = episode.observations.select_related("recorded_by").order_by("-recorded_at", "-id")
    return episode_page(
        request,
        "outcomes/measurements.html",
        episode,
        form=form,
        page=Paginator(rows, MEASUREMENTS_PAGE).get_page(request.GET.get("page")),
        progress=selectors.episode_progress(episode),
    )


@access.clinical_write(observation_scope)
@access.post_only
def measurement_error(request: HttpRequest, observation_id: int) -> HttpResponse:
    observation = get_object_or_404(
        Observation.objects.select_related("episode__patient", "session", "assessment"),
        pk=observation_id,
        episode__patient__clinic_id=request.user.clinic_id,
    )
    try:
        services.observation_enter_in_error(
            actor=request.user, observation=observation, reason=request.POST.get("reason", "")
        )
        messages.success(request, "The measurement is marked entered in error.")
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    back = reverse("outcomes:measurements", args=[observation.episode_id])
    page = request.POST.get("page", "")
    # Back to the page of the list the measurement was marked on.
    return redirect(f"{back}?page={page}" if page.isascii() and page.isdigit() else back)


# --- discharge ---------------------------------------------------------------------------


@access.clinical_write(episode_scope)
def discharge(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = patient_selectors.episode_get(user=request.user, episode_id=episode_id)
    existing = getattr(episode, "discharge", None)
    form = DischargeForm(posted(request))
    if request.method == "POST" and existing is None:
        done = submit(
            form,
            lambda: services.discharge(actor=request.user, episode=episode, **form.cleaned_data),
        )
        if done is not None:
            messages.success(request, "Episode discharged. It now takes addenda only.")
            return redirect("outcomes:discharge", episode_id=episode.pk)
    snapshot = existing.snapshot if existing else selectors.discharge_snapshot(episode)
    return episode_page(
        request,
        "outcomes/discharge.html",
        episode,
        form=form,
        discharge=existing,
        snapshot=snapshot,
        addenda=list(existing.addenda.select_related("author")) if existing else [],
    )


@access.clinical_write(discharge_scope)
def discharge_addendum(request: HttpRequest, discharge_id: int) -> HttpResponse:
    record = get_object_or_404(
        Discharge.objects.select_related("episode__patient"),
        pk=discharge_id,
        episode__patient__clinic_id=request.user.clinic_id,
    )
    audit.record(
        actor=request.user, action=audit.Action.VIEW, obj=record, patient=record.episode.patient
    )
    from needlechart.charting.forms import AddendumForm

    form = AddendumForm(posted(request))
    form.fields["kind"].choices = form.fields["kind"].choices[:1]
    back = reverse("outcomes:discharge", args=[record.episode_id])
    if request.method == "POST":
        added = submit(
            form,
            lambda: chart_services.addendum_add(
                actor=request.user, record=record, reason=form.cleaned_data["reason"],
                text=form.cleaned_data["text"],
            ),
        )  # fmt: skip
        if added is not None:
            messages.success(request, "Addendum recorded.")
            return redirect(back)
    return episode_page(
        request,
        "charting/addendum_form.html",
        record.episode,
        form=form,
        record=record,
        cancel_url=back,
    )
