"""Writes for outcomes: plan versions, measurements entered in error, discharge."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.charting.models import NeedlingSession
from needlechart.charting.services.common import clean_text, refuse_if_discharged
from needlechart.db import bulk
from needlechart.outcomes import selectors
from needlechart.outcomes.measurements import local_day, refuse_after_discharge
from needlechart.outcomes.models import (
    CarePlan,
    Discharge,
    Observation,
    PlanGoal,
    PlanTherapy,
)
from needlechart.patients.models import EpisodeOfCare
from needlechart.records import STALE, lock


def _check_goal(goal: dict[str, Any], index: int) -> dict[str, Any]:
    """The goal as stored, or the reason it is refused; a movement given in words is stored
    by its code."""
    try:
        instrument = knowledge.instrument(goal["code"])
    except knowledge.UnknownCode as error:
        raise ValidationError({"goals": f"Goal {index}: {error}"}) from None
    if not instrument.holds(goal["target"]):
        scale = f"{instrument.name} runs from {instrument.scale}."
        raise ValidationError({"goals": f"Goal {index}: {scale}"})
    if goal["code"] == "rom":
        try:
            movement = knowledge.rom_movement_lookup(goal.get("component") or "")
        except knowledge.UnknownCode:
            raise ValidationError({"goals": f"Goal {index}: choose the movement."}) from None
        return {**goal, "component": movement.code}
    if goal["code"] == "psfs-activity" and not goal.get("component"):
        raise ValidationError({"goals": f"Goal {index}: name the activity."})
    return goal


def _check_plan(
    *,
    review_on: dt.date,
    goals: list[dict[str, Any]],
    therapies: list[dict[str, Any]],
    today: dt.date,
) -> list[dict[str, Any]]:
    """A plan made on `today`: its review still to come, goals tied to measures, therapies of
    a known kind. Returns the goals as stored."""
    errors: dict[str, str] = {}
    if review_on < today:
        errors["review_on"] = "The review date cannot be in the past."
    if not goals:
        errors["goals"] = "Give at least one goal tied to a measure."
    if errors:
        raise ValidationError(errors)
    goals = [_check_goal(goal, index) for index, goal in enumerate(goals, start=1)]
    for index, therapy in enumerate(therapies, start=1):
        if therapy["kind"] not in PlanTherapy.Kind.values:
            raise ValidationError({"therapies": f"Therapy {index}: unknown kind."})
        if therapy["kind"] == PlanTherapy.Kind.HOME_EXERCISE and not therapy.get("exercises"):
            raise ValidationError({"therapies": f"Therapy {index}: list the exercises and doses."})
    return goals


@transaction.atomic
def plan_create(
    *,
    actor: User,
    episode: EpisodeOfCare,
    planned_sessions: int,
    frequency: str,
    review_on: dt.date,
    note: str = "",
    goals: list[dict[str, Any]],
    therapies: list[dict[str, Any]],
    based_on: int | None = None,
) -> CarePlan:
    """A new version of the episode's treatment plan (earlier versions stay as they were).
    `based_on` is the version the page showed (0 for none): a plan saved meanwhile by
    someone else is not silently replaced."""
    authorize(
        actor, roles=rules.CLINICAL_WRITE_ROLES, patient=episode.patient, what="plan treatment"
    )
    refuse_if_discharged(episode)
    lock(episode)  # two saves of the plan at once are taken one after the other
    if based_on is not None:
        latest = episode.care_plans.order_by("-version").first()
        if (latest.version if latest else 0) != based_on:
            raise ValidationError(
                f"{STALE}: the plan is now version {latest.version}, saved by "
                f"{latest.created_by} at {timezone.localtime(latest.created_at):%H:%M}. Nothing "
                "of yours was saved: reload to see it, then make your change again."
            )
    goals = _check_plan(
        review_on=review_on, goals=goals, therapies=therapies, today=timezone.localdate()
    )
    latest = episode.care_plans.order_by("-version").first()
    plan = CarePlan(
        episode=episode,
        version=(latest.version + 1) if latest else 1,
        planned_sessions=planned_sessions,
        frequency=frequency,
        review_on=review_on,
        note=note.strip(),
        created_by=actor,
    )
    plan.full_clean()
    plan.save()
    PlanGoal.objects.bulk_create(
        PlanGoal(
            plan=plan,
            description=g["description"].strip(),
            code=g["code"],
            component=(g.get("component") or "").strip(),
            target=Decimal(str(g["target"])),
            target_date=g["target_date"],
        )
        for g in goals
    )
    PlanTherapy.objects.bulk_create(
        PlanTherapy(
            plan=plan,
            kind=t["kind"],
            provider=t["provider"].strip(),
            frequency=t["frequency"].strip(),
            exercises=t.get("exercises") or [],
            note=(t.get("note") or "").strip(),
        )
        for t in therapies
    )
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=plan,
        patient=episode.patient,
        detail={"version": plan.version, "goals": len(goals), "therapies": len(therapies)},
    )
    return plan


@transaction.atomic
def observation_enter_in_error(*, actor: User, observation: Observation, reason: str) -> None:
    """Mark a measurement recorded by mistake; it stays visible, out of the figures."""
    authorize(
        actor,
        roles=rules.CLINICAL_WRITE_ROLES,
        patient=observation.episode.patient,
        what="correct measurements",
    )
    parent = observation.session or observation.assessment
    if parent is not None and parent.is_signed:
        raise ValidationError("This measurement is part of a signed record; add an addendum.")
    if not (reason if isinstance(reason, str) else "").strip():
        raise ValidationError({"reason": "Say why the measurement was entered in error."})
    if observation.entered_in_error_reason:
        raise ValidationError("This measurement is already marked entered in error.")
    observation.entered_in_error_reason = clean_text(reason, "reason", max_length=300)
    observation.save(update_fields=["entered_in_error_reason"])
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        obj=observation,
        patient=observation.episode.patient,
        detail={"entered_in_error": True},
    )


ALREADY_DISCHARGED = "This episode is already discharged."


def _drafts(episodes: list[EpisodeOfCare]) -> set[int]:
    """The episodes with a draft session left (not signed, not entered in error)."""
    drafts = NeedlingSession.objects.filter(episode__in=episodes, signed_at__isnull=True).exclude(
        addenda__kind="entered-in-error"
    )
    return set(drafts.values_list("episode_id", flat=True))


def _check_discharge(
    episode: EpisodeOfCare, reason: str, summary: str, drafts: set[int] | None = None
) -> str:
    """An episode is discharged with a reason and a summary (returned as stored), when no
    draft session is left (`drafts`: the episodes that have one, when already read)."""
    if reason not in Discharge.Reason.values:
        raise ValidationError({"reason": "Choose the reason for discharge."})
    if not (summary if isinstance(summary, str) else "").strip():
        raise ValidationError({"summary": "Write the discharge summary."})
    summary = clean_text(summary, "summary", max_length=5000)
    if episode.pk in (drafts if drafts is not None else _drafts([episode])):
        raise ValidationError("Sign the draft sessions, or mark them entered in error, first.")
    return summary


@transaction.atomic
def discharge(*, actor: User, episode: EpisodeOfCare, reason: str, summary: str) -> Discharge:
    """Discharge the episode with a summary; from then on it takes addenda only."""
    authorize(actor, roles=rules.SIGNING_ROLES, patient=episode.patient, what="discharge patients")
    # The episode's row lock makes a second discharge at the same moment (another tab, a
    # retried request) wait for the first and then find it, rather than fail on the unique
    # index with a server error.
    EpisodeOfCare.objects.select_for_update().filter(pk=episode.pk).first()
    if Discharge.objects.filter(episode=episode).exists():
        raise ValidationError(ALREADY_DISCHARGED)
    summary = _check_discharge(episode, reason, summary)
    record = Discharge.objects.create(
        episode=episode,
        reason=reason,
        summary=summary,
        snapshot=selectors.discharge_snapshot(episode),
        discharged_by=actor,
    )
    episode.status = EpisodeOfCare.Status.FINISHED
    episode.period_end = timezone.localdate()
    episode.save(update_fields=["status", "period_end", "updated_at"])
    audit.record(
        actor=actor, action=audit.Action.CREATE, obj=record, patient=episode.patient,
        detail={"reason": reason},
    )  # fmt: skip
    return record


# --- records made elsewhere ----------------------------------------------------------------


@transaction.atomic
def plans_import(
    *,
    actor: User,
    plans: list[CarePlan],
    goals: list[PlanGoal],
    therapies: list[PlanTherapy],
    source: str,
) -> list[CarePlan]:
    """Treatment plans made elsewhere, each version as it was made (`goals` and `therapies`
    name their plan): checked as `plan_create` checks a plan on the day it was made, by a
    clinician of the clinic while the episode was open, numbered 1, 2 ... per episode after
    any version already there. Audited."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="import records")
    goals_of: dict[int, list[PlanGoal]] = {}
    for goal in goals:
        goals_of.setdefault(id(goal.plan), []).append(goal)
    therapies_of: dict[int, list[PlanTherapy]] = {}
    for therapy in therapies:
        therapies_of.setdefault(id(therapy.plan), []).append(therapy)
    # The newest version already stored of each episode's plan, read for all at once.
    latest: dict[int, int] = {plan.episode.pk: 0 for plan in plans}
    latest |= dict(
        CarePlan.objects.filter(episode__in=list(latest))
        .order_by()
        .values("episode_id")
        .annotate(newest=Max("version"))
        .values_list("episode_id", "newest")
    )
    for plan in plans:
        episode = plan.episode
        if plan.version != latest[episode.pk] + 1:
            raise ValidationError(
                f"The next plan of this episode is version {latest[episode.pk] + 1}."
            )
        latest[episode.pk] = plan.version
        if episode.patient.clinic_id != actor.clinic_id:
            raise ValidationError("This patient is not in your clinic.")
        authorize(
            plan.created_by,
            roles=rules.CLINICAL_WRITE_ROLES,
            patient=episode.patient,
            what="plan treatment",
        )
        refuse_after_discharge(episode, plan.created_at)
        mine = goals_of.get(id(plan), [])
        stored = _check_plan(
            review_on=plan.review_on,
            goals=[
                {"description": g.description, "code": g.code, "component": g.component,
                 "target": g.target, "target_date": g.target_date}
                for g in mine
            ],
            therapies=[
                {"kind": t.kind, "exercises": t.exercises} for t in therapies_of.get(id(plan), [])
            ],
            today=local_day(plan.created_at, episode),
        )  # fmt: skip
        for goal, values in zip(mine, stored, strict=True):
            goal.description, goal.component = goal.description.strip(), values["component"]
        plan.note = plan.note.strip()
        plan.full_clean(
            exclude=["episode", "created_by"], validate_unique=False, validate_constraints=False
        )
    bulk.insert(CarePlan, plans)
    bulk.insert(PlanGoal, goals)
    bulk.insert(PlanTherapy, therapies)
    audit.record_each(
        actor=actor, action=audit.Action.CREATE, objects=plans, detail={"imported": source}
    )
    return plans


@transaction.atomic
def discharges_import(*, actor: User, discharges: list[Discharge], source: str) -> list[Discharge]:
    """Discharges made elsewhere, each at its own time: checked as `discharge` checks them (a
    reason, a summary, no draft session left), by a clinician of the clinic, each with the
    snapshot of its episode taken as of the discharge; the episode is finished that day.
    Audited."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="import records")
    ids = [record.episode.pk for record in discharges]
    if len(set(ids)) != len(ids) or Discharge.objects.filter(episode__in=ids).exists():
        raise ValidationError(ALREADY_DISCHARGED)
    finished = []
    episodes = [record.episode for record in discharges]
    # Read for all the episodes at once: what `discharge` reads one episode at a time.
    drafts = _drafts(episodes)
    snapshots = selectors.discharge_snapshots(episodes)
    for record in discharges:
        episode = record.episode
        if episode.patient.clinic_id != actor.clinic_id:
            raise ValidationError("This patient is not in your clinic.")
        authorize(
            record.discharged_by,
            roles=rules.CLINICAL_WRITE_ROLES,
            patient=episode.patient,
            what="discharge patients",
        )
        record.summary = _check_discharge(episode, record.reason, record.summary, drafts)
        record.snapshot = snapshots[episode.pk] | {
            "taken_at": record.discharged_at.astimezone(dt.UTC).isoformat()
        }
        day = local_day(record.discharged_at, episode)
        if (episode.status, episode.period_end) != (EpisodeOfCare.Status.FINISHED, day):
            episode.status, episode.period_end = EpisodeOfCare.Status.FINISHED, day
            finished.append(episode)
    bulk.update(EpisodeOfCare, finished, ["status", "period_end", "updated_at"])
    bulk.insert(Discharge, discharges)
    audit.record_each(
        actor=actor, action=audit.Action.CREATE, objects=discharges, detail={"imported": source}
    )
    return discharges
