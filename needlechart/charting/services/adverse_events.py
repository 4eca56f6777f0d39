"""Adverse events during or after a session, followed up without rewriting what happened."""

import copy
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.charting.models import (
    FOLLOW_UP_FIELDS,
    AdverseEvent,
    AdverseEventFollowUp,
    NeedlingSession,
)
from needlechart.charting.services.common import (
    IN_ERROR,
    clean_text,
    entered_in_error,
)
from needlechart.records import (
    apply_changes,
    audit_values,
    change_detail,
    lock,
    refuse_if_changed,
    unchanged_on_error,
)

AE_FIELDS = (
    "event_type", "onset", "severity", "duration_value", "duration_unit", "action_taken",
    "outcome", "muscles", "description",
)  # fmt: skip


# What a follow-up records; what happened (type, onset, muscles) is corrected by marking the
# event entered in error and recording it again.
AE_FOLLOW_UP = FOLLOW_UP_FIELDS


def _check_event(session: NeedlingSession, event: AdverseEvent) -> None:
    needled = {f"{r.muscle}:{r.side}" for r in session.insertions.all()}
    unknown = [m for m in event.muscles if m not in needled]
    if unknown:
        raise ValidationError({"muscles": "Choose muscles needled in this session."})
    if (event.duration_value is None) != (not event.duration_unit):
        raise ValidationError({"duration_value": "Give the duration with its unit, or neither."})
    if event.onset == AdverseEvent.Onset.DURING and event.recorded_at < session.performed_at:
        raise ValidationError({"onset": "An event during the session cannot predate it."})


@transaction.atomic
def adverse_event_record(*, actor: User, session: NeedlingSession, **values: Any) -> AdverseEvent:
    """Record an adverse event during or after a session (also after it is signed)."""
    authorize(
        actor,
        roles=rules.CLINICAL_WRITE_ROLES,
        patient=session.episode.patient,
        what="record adverse events",
    )
    if entered_in_error(session):
        raise ValidationError(IN_ERROR)
    event = AdverseEvent(session=session, recorded_by=actor)
    apply_changes(event, AE_FIELDS, values)
    _check_event(session, event)
    event.full_clean()
    event.save()
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=event,
        patient=session.episode.patient,
        detail={"type": event.event_type, "severity": event.severity},
    )
    return event


@transaction.atomic
def adverse_event_update(
    *, actor: User, event: AdverseEvent, was: str | None = None, **values: Any
) -> AdverseEvent:
    """Follow an event up (severity, outcome, duration, action): a new follow-up record, so
    what was recorded before is never overwritten. One entered in error stays as it is."""
    authorize(
        actor,
        roles=rules.CLINICAL_WRITE_ROLES,
        patient=event.session.episode.patient,
        what="update adverse events",
    )
    with unchanged_on_error(event):
        # The event's row lock: two follow-ups of one event at once are taken in turn.
        lock(event)
        now = _now(event)
        refuse_if_changed(now, was, values)
    if event.entered_in_error:
        raise ValidationError(IN_ERROR)
    fixed = [
        f
        for f in AE_FIELDS
        if f not in AE_FOLLOW_UP and f in values and values[f] != getattr(event, f)
    ]
    if fixed:
        raise ValidationError(
            {fixed[0]: "What happened is kept as recorded; to correct it, mark the event entered "
             "in error and record it again."}
        )  # fmt: skip
    before = audit_values(now, AE_FOLLOW_UP)
    changed = apply_changes(
        now, AE_FOLLOW_UP, {k: v for k, v in values.items() if k in AE_FOLLOW_UP}
    )
    if not changed:
        return now
    _check_event(event.session, now)
    follow_up = AdverseEventFollowUp(
        event=event, recorded_by=actor, **{name: getattr(now, name) for name in AE_FOLLOW_UP}
    )
    follow_up.full_clean()
    follow_up.save()
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=follow_up,
        patient=event.session.episode.patient,
        # The values as they were, so the record of the event keeps its history.
        detail=change_detail(before, follow_up, changed),
    )
    return _now(event)


def _now(event: AdverseEvent) -> AdverseEvent:
    """The event as it stands, read afresh (an unsaved copy when it has follow-ups)."""
    for cached in ("latest_follow_up", "now"):
        event.__dict__.pop(cached, None)
    if hasattr(event, "_prefetched_objects_cache"):
        event._prefetched_objects_cache.pop("follow_ups", None)
    # A copy either way: a refused follow-up leaves the event as it was.
    return copy.copy(event.now)


@transaction.atomic
def adverse_event_enter_in_error(*, actor: User, event: AdverseEvent, reason: str) -> AdverseEvent:
    authorize(
        actor,
        roles=rules.CLINICAL_WRITE_ROLES,
        patient=event.session.episode.patient,
        what="mark adverse events entered in error",
    )
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": "Say why the event was entered in error."})
    reason = clean_text(reason, "reason", max_length=300)
    if event.entered_in_error:
        raise ValidationError(IN_ERROR)
    event.entered_in_error_reason = reason
    event.save(update_fields=["entered_in_error_reason", "updated_at"])
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        obj=event,
        patient=event.session.episode.patient,
        detail={"entered_in_error": True},
    )
    return event
