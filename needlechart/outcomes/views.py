"""Outcome pages: the treatment plan, measurements, discharge and the clinic dashboard."""

import csv
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from needlechart.accounts import access
from needlechart.accounts.access import in_clinic
from needlechart.audit import services as audit
from needlechart.charting import services as chart_services
from needlechart.charting.views import _episode_page
from needlechart.forms import posted, submit
from needlechart.outcomes import dashboard, selectors, services
from needlechart.outcomes import plots as plots_module
from needlechart.outcomes.forms import (
    DashboardFilterForm,
    DischargeForm,
    GoalFormSet,
    MeasurementForm,
    PlanForm,
    TherapyFormSet,
)
from needlechart.outcomes.models import Discharge, Observation
from needlechart.patients import selectors as patient_selectors
from needlechart.patients.models import EpisodeOfCare
from needlechart.portal import selectors as portal_selectors

episode_scope = patient_selectors.episode_in_clinic


def observation_scope(user: Any, observation_id: int, **_: Any) -> bool:
    return in_clinic(user, Observation.objects, "episode__patient__clinic_id", observation_id)


def discharge_scope(user: Any, discharge_id: int, **_: Any) -> bool:
    return in_clinic(user, Discharge.objects, "episode__patient__clinic_id", discharge_id)


# --- progress on the episode page --------------------------------------------------------


def progress_context(episode: EpisodeOfCare) -> dict[str, Any]:
    """What the episode page shows of the plan and the progress, with its plots."""
    current = selectors.episode_progress(episode)
    plots = [plots_module.pain_plot(current.pain, current.sessions, episode.condition_code)]
    plots += [
        plots_module.measure_plot(series, episode.condition_code) for series, _ in current.measures
    ]
    return {
        "progress": current,
        "plan_status": selectors.plan_status(episode, current),
        "plots": [plot for plot in plots if plot],
        "discharge": getattr(episode, "discharge", None),
    }


# --- plan --------------------------------------------------------------------------------


def _plan_initial(episode: EpisodeOfCare) -> tuple[dict, list[dict], list[dict]]:
    plan = episode.care_plans.prefetch_related("goals", "therapies").order_by("-version").first()
    if plan is None:
        review = timezone.localdate() + timezone.timedelta(days=28)
        return {"planned_sessions": 4, "frequency": "weekly", "review_on": review}, [], []
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
           "review_on": max(plan.review_on, timezone.localdate()), "note": plan.note}  # fmt: skip
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
    history = list(episode.care_plans.select_related("created_by"))
    return _episode_page(
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


@access.clinical_read(episode_scope)
def measurements(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = patient_selectors.episode_get(user=request.user, episode_id=episode_id)
    form = MeasurementForm(posted(request))
    if request.method == "POST":
        recorded = submit(
            form,
            lambda: chart_services.observation_add(
                actor=request.user, episode=episode, **form.cleaned_data
            ),
        )
        if recorded is not None:
            messages.success(request, "Measurement recorded.")
            return redirect("outcomes:measurements", episode_id=episode.pk)
    rows = list(
        episode.observations.select_related("session", "assessment", "recorded_by").order_by(
            "-recorded_at", "-id"
        )
    )
    return _episode_page(
        request,
        "outcomes/measurements.html",
        episode,
        form=form,
        observations=rows,
        progress=selectors.episode_progress(episode),
    )


@access.clinical_write(observation_scope)
@require_POST
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
    return redirect("outcomes:measurements", episode_id=observation.episode_id)


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
    return _episode_page(
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
    return _episode_page(
        request,
        "charting/addendum_form.html",
        record.episode,
        form=form,
        record=record,
        cancel_url=back,
    )


# --- dashboard ---------------------------------------------------------------------------


def _dashboard_filters(
    request: HttpRequest,
) -> tuple[DashboardFilterForm, dashboard.Filters | None]:
    clinic = request.user.clinic
    form = DashboardFilterForm(request.GET or None, clinic=clinic)
    if not form.is_bound:
        return form, dashboard.Filters(clinic=clinic)
    if not form.is_valid():
        return form, None
    return form, dashboard.Filters(clinic=clinic, **form.cleaned_data)


def _filter_query(form: DashboardFilterForm) -> str:
    """The dashboard's own filters and nothing else, as a query string. Every link carries
    exactly these and adds what it means itself, so a link opens the same list whatever
    page it was followed from."""
    if not form.is_bound or not form.is_valid():
        return ""
    return urlencode([(name, form.data[name]) for name in form.fields if form.data.get(name)])


def _invalid(request: HttpRequest, form: DashboardFilterForm) -> HttpResponse:
    return render(request, "outcomes/dashboard.html", {"form": form, "figures": None}, status=400)


@access.clinical_write()
def dashboard_page(request: HttpRequest) -> HttpResponse:
    form, filters = _dashboard_filters(request)
    # What patients reported from the portal needs a clinician whatever the filters say.
    attention = portal_selectors.clinic_attention(request.user)
    if filters is None:
        return render(
            request,
            "outcomes/dashboard.html",
            {"form": form, "figures": None, "attention": attention},
            status=400,
        )
    figures = dashboard.figures(filters)
    # The review list names patients: record that they were listed.
    due = EpisodeOfCare.objects.filter(pk__in=[r["episode"] for r in figures["review_due"]])
    audit.record_each(actor=request.user, action=audit.Action.LIST, objects=list(due))
    query = _filter_query(form)
    return render(
        request,
        "outcomes/dashboard.html",
        {
            "form": form,
            "figures": figures,
            "query": query,
            "weeks_plot": _weeks_plot(figures),
            "attention": attention,
        },
    )


def _weeks_plot(figures: dict) -> str | None:
    from needlechart.outcomes.plots import sessions_plot

    return sessions_plot(figures["sessions_per_week"])


def _csv_table(name: str, f: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of one dashboard table."""
    if name == "responders":
        rows = [
            [code, r["display"], r["episodes"], r["responders"], r["rate"], *r["ci"]]
            for code, r in f["responders_by_condition"].items()
        ]
        return ["condition", "display", "episodes", "responders", "rate", "ci_low", "ci_high"], rows
    if name == "adverse-events":
        ours = f["adverse_events"]
        rows = [["this clinic", ours["minor_per_100"], *ours["minor_ci"], ours["major_per_100"],
                 *ours["major_ci"]]]  # fmt: skip
        for r in f["literature"].values():
            rows.append(
                [r["label"], r["minor_per_100"], *r["minor_ci"], r["major_per_100"], *r["major_ci"]]
            )
        header = ["source", "minor_per_100", "minor_ci_low", "minor_ci_high", "major_per_100",
                  "major_ci_low", "major_ci_high"]  # fmt: skip
        return header, rows
    if name == "muscles":
        rows = [
            [m["muscle"], m["name"], m["rows"], m["patients"]] for m in f["most_needled_muscles"]
        ]
        return ["muscle", "name", "rows", "patients"], rows
    if name == "sessions-per-week":
        return ["week", "sessions"], [[w["week"], w["sessions"]] for w in f["sessions_per_week"]]
    if name == "review-due":
        rows = [
            [r["mrn"], r["name"], r["condition"], r["sessions"], r["reason"]]
            for r in f["review_due"]
        ]
        return ["mrn", "name", "condition", "sessions", "reason"], rows
    raise Http404


CSV_TABLES = ("responders", "adverse-events", "muscles", "sessions-per-week", "review-due")


@access.clinical_write()
def dashboard_csv(request: HttpRequest, table: str) -> HttpResponse:
    if table not in CSV_TABLES:
        raise Http404
    form, filters = _dashboard_filters(request)
    if filters is None:
        return render(
            request, "outcomes/dashboard.html", {"form": form, "figures": None}, status=400
        )
    figures = dashboard.figures(filters)
    audit.record(
        actor=request.user, action=audit.Action.EXPORT, object_type="Dashboard",
        detail={"table": table, "filters": figures["filters"]},
    )  # fmt: skip
    header, rows = _csv_table(table, figures)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["'" + c if isinstance(c, str) and c[:1] in "=+-@" else c for c in row])
    return response


DRILLDOWNS = {
    "sessions": "Patients with a signed session in the period",
    "episodes": "Episodes with a signed session in the period",
    "active": "Active episodes with a signed session in the period",
    "evaluated": "Episodes whose pain could be compared with the baseline",
    "responders": "Episodes with an important improvement in pain",
    "adverse-events": "Episodes with an adverse event in the period",
    "muscle": "Patients needled in this muscle in the period",
    "review": "Episodes due for review",
}


@access.clinical_write()
def dashboard_patients(request: HttpRequest) -> HttpResponse:
    figure = request.GET.get("figure", "episodes")
    if figure not in DRILLDOWNS:
        raise Http404
    form, filters = _dashboard_filters(request)
    if filters is None:
        return render(
            request, "outcomes/dashboard.html", {"form": form, "figures": None}, status=400
        )
    rows = dashboard.drilldown(
        filters,
        figure,
        condition=request.GET.get("condition", ""),
        muscle=request.GET.get("muscle", ""),
        today=timezone.localdate(),
    )
    episodes = list(rows.select_related("patient", "care_manager__user")[:500])
    audit.record_each(actor=request.user, action=audit.Action.LIST, objects=episodes)
    return render(
        request,
        "outcomes/dashboard_patients.html",
        {"title": DRILLDOWNS[figure], "episodes": episodes, "query": _filter_query(form)},
    )
