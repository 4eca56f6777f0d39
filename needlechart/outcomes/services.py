"""Writes for outcomes: plan versions, measurements entered in error, discharge."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.charting.services import _open_episode, _require_role, _same_clinic, clean_text
from needlechart.outcomes import selectors
from needlechart.outcomes.models import CarePlan, Discharge, Observation, PlanGoal, PlanTherapy
from needlechart.patients.models import EpisodeOfCare


def _check_goal(goal: dict[str, Any], index: int) -> dict[str, Any]:
    """The goal as stored, or the reason it is refused; a movement given in words is stored
    by its code."""
    try:
        instrument = knowledge.instrument(goal["code"])
    except knowledge.UnknownCode as error:
        raise ValidationError({"goals": f"Goal {index}: {error}"}) from None
    if not instrument.minimum <= float(goal["target"]) <= instrument.maximum:
        raise ValidationError(
            {"goals": f"Goal {index}: {instrument.name} runs from {instrument.minimum:g} to "
             f"{instrument.maximum:g}."}
        )  # fmt: skip
    if goal["code"] == "rom":
        try:
            movement = knowledge.rom_movement_lookup(goal.get("component") or "")
        except knowledge.UnknownCode:
            raise ValidationError({"goals": f"Goal {index}: choose the movement."}) from None
        return {**goal, "component": movement.code}
    if goal["code"] == "psfs-activity" and not goal.get("component"):
        raise ValidationError({"goals": f"Goal {index}: name the activity."})
    return goal


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
) -> CarePlan:
    """A new version of the episode's treatment plan (earlier versions stay as they were)."""
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "plan treatment")
    _same_clinic(actor, episode.patient)
    _open_episode(episode)
    errors: dict[str, str] = {}
    if review_on < timezone.localdate():
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
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "correct measurements")
    _same_clinic(actor, observation.episode.patient)
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


@transaction.atomic
def discharge(*, actor: User, episode: EpisodeOfCare, reason: str, summary: str) -> Discharge:
    """Discharge the episode with a summary; from then on it takes addenda only."""
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "discharge patients")
    _same_clinic(actor, episode.patient)
    if hasattr(episode, "discharge"):
        raise ValidationError("This episode is already discharged.")
    if reason not in Discharge.Reason.values:
        raise ValidationError({"reason": "Choose the reason for discharge."})
    if not (summary if isinstance(summary, str) else "").strip():
        raise ValidationError({"summary": "Write the discharge summary."})
    summary = clean_text(summary, "summary", max_length=5000)
    drafts = episode.sessions.filter(signed_at__isnull=True).exclude(
        addenda__kind="entered-in-error"
    )
    if drafts.exists():
        raise ValidationError("Sign the draft sessions, or mark them entered in error, first.")
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
