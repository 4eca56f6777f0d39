"""The rows of a needling session: each muscle and side, checked against the screening."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.charting.models import (
    Insertion,
    NeedlingSession,
    Technique,
)
from needlechart.charting.services.common import (
    _muscle,
    refuse_if_signed,
)
from needlechart.charting.services.consent import consent_status
from needlechart.charting.services.screening import current_screening, screen_plan
from needlechart.records import apply_changes, audit_values, lock, refuse_if_changed

# Plausible upper limits for a needling row; beyond them a value is a typing error.
LIMITS = [
    ("needles", 50, "needles"),
    ("depth_mm", 150, "mm"),
    ("retention_minutes", 60, "minutes"),
    ("frequency_hz", 200, "Hz"),
    ("intensity_ma", 50, "mA"),
    ("twitch_responses", 100, "twitch responses"),
    ("ultrasound_depth_mm", 150, "mm"),
    ("pulse_width_us", 1000, "µs"),
    ("stimulation_minutes", 60, "minutes"),
]


# The choices a row's values are checked against, made once: an import checks 100,000 rows.
DEPTHS = frozenset(Insertion.Depth.values)
TECHNIQUES = frozenset(Technique.values)
TOLERANCES = frozenset(Insertion.Tolerance.values)


FINDING_FIELDS_OF_ROW = ("twitch_responses", "familiar_pain", "tolerance")


INSERTION_FIELDS = (
    "muscle", "side", "needles", "needle_size", "depth", "depth_mm", "technique",
    "retention_minutes", "frequency_hz", "intensity_ma", "twitch_responses", "familiar_pain",
    "tolerance", "angle", "direction", "approach", "ultrasound_guided", "ultrasound_depth_mm",
    "lead_to_muscle", "lead_to_side", "waveform", "pulse_width_us", "stimulation_minutes",
)  # fmt: skip


STIMULATION_FIELDS = (
    "frequency_hz", "intensity_ma", "lead_to_muscle", "lead_to_side", "waveform",
    "pulse_width_us", "stimulation_minutes",
)  # fmt: skip


def _check_insertion(session: NeedlingSession, insertion: Insertion) -> knowledge.Screening:
    """Validate a row and screen it; a contraindicated row is refused with its reasons."""
    entry = _check_row_values(session, insertion)
    return _screen_row(session, insertion, entry)


def _check_row_values(session: NeedlingSession, insertion: Insertion) -> Any:
    """The row's values are complete and plausible; returns the muscle's catalogue entry."""
    entry = _muscle(insertion.muscle)
    errors: dict[str, str] = {}
    if insertion.depth not in DEPTHS:
        errors["depth"] = "Choose the depth: superficial or deep."
    if insertion.technique not in TECHNIQUES:
        errors["technique"] = "Choose the technique."
    if entry.sided and insertion.side not in ("left", "right"):
        errors["side"] = "Choose the side for this muscle."
    if insertion.needle_size_id is None:
        errors["needle_size"] = "Choose the needle size."
    elif insertion.needle_size.clinic_id != session.episode.patient.clinic_id:
        errors["needle_size"] = "Choose a needle from the clinic's catalogue."
    if insertion.technique == Technique.STATIC and not insertion.retention_minutes:
        errors["retention_minutes"] = "Give the retention time for static needling."
    for field, highest, unit in LIMITS:
        value = getattr(insertion, field)
        if value is not None and value > highest:
            errors[field] = f"At most {highest} {unit}."
    if insertion.technique == Technique.ELECTRICAL:
        if not insertion.frequency_hz:
            errors["frequency_hz"] = "Give the stimulation frequency."
        if not insertion.intensity_ma:
            errors["intensity_ma"] = "Give the stimulation intensity."
        # The current runs between the paired needles: its path is checked for safety.
        if not insertion.lead_to_muscle:
            errors["lead_to_muscle"] = "Name the muscle of the paired needle (the lead path)."
        else:
            try:
                paired = knowledge.muscle(insertion.lead_to_muscle)
            except knowledge.UnknownCode as error:
                errors["lead_to_muscle"] = str(error)
            else:
                if paired.sided and insertion.lead_to_side not in ("left", "right"):
                    errors["lead_to_side"] = "Choose the side of the paired needle."
    if insertion.tolerance and insertion.tolerance not in TOLERANCES:
        errors["tolerance"] = "Choose good, fair or poor."
    if errors:
        raise ValidationError(errors)
    return entry


def _screen_row(session: NeedlingSession, insertion: Insertion, entry: Any) -> knowledge.Screening:
    result = screen_plan(current_screening(session.episode), [plan_item(insertion)])
    item = result.items[0]
    if item.verdict == "contraindicated":
        refused = [r.text for r in item.reasons if r.verdict == "contraindicated"]
        raise ValidationError({"muscle": f"Contraindicated: {' '.join(refused)}"})
    return result


def plan_item(insertion: Insertion) -> dict[str, Any]:
    """An insertion as the safety engine reads a plan item."""
    item: dict[str, Any] = {
        "muscle": insertion.muscle,
        "side": insertion.side or None,
        "technique": insertion.engine_technique,
    }
    if insertion.technique == Technique.ELECTRICAL and insertion.lead_to_muscle:
        # The paired needle: the engine checks the current's path between the two.
        item["lead_to"] = {
            "muscle": insertion.lead_to_muscle,
            "side": insertion.lead_to_side or None,
        }
    return item


def _store_verdict(insertion: Insertion, result: knowledge.Screening) -> None:
    item = result.items[0]
    insertion.safety_verdict = item.verdict
    insertion.safety_reasons = [r.as_json() for r in item.reasons if r.verdict != "allowed"]


def _check_needler(actor: User, session: NeedlingSession) -> None:
    """Only the practitioner who needles charts the rows, and only while qualified."""
    if session.practitioner.user_id != actor.pk:
        raise ValidationError("Only the practitioner who needled charts this session.")
    day = timezone.localdate(session.performed_at)
    if not rules.is_qualified_to_needle(session.practitioner, on=day):
        raise ValidationError(
            "You are not qualified to needle on the session date: the dry-needling "
            "credential is missing or has lapsed."
        )


def _session_write(actor: User, session: NeedlingSession) -> None:
    authorize(
        actor, roles=rules.NEEDLING_ROLES, patient=session.episode.patient, what="chart needling"
    )
    lock(session)
    refuse_if_signed(session)
    _check_needler(actor, session)


def _follow_and_audit(actor: User, session: NeedlingSession) -> None:
    """After rows were copied or removed: the needle count follows, in an audit row of its own."""
    followed = _follow_needle_count(session)
    if followed:
        audit.record(
            actor=actor, action=audit.Action.UPDATE, obj=session,
            patient=session.episode.patient, detail={"changed": ["needles_opened"], **followed},
        )  # fmt: skip


def _follow_needle_count(session: NeedlingSession) -> dict[str, Any]:
    """Keep "needles opened" equal to the rows' needles until the clinician types a number;
    returns the change, for the audit row of the write that caused it."""
    if session.needles_opened_by_hand:
        return {}
    total = sum(r.needles for r in Insertion.objects.filter(session=session))
    opened = total or None
    if session.needles_opened == opened:
        return {}
    before, session.needles_opened = session.needles_opened, opened
    session.save(update_fields=["needles_opened"])
    return {"needles_opened": {"before": before, "after": opened}}


@transaction.atomic
def insertion_add(*, actor: User, session: NeedlingSession, **values: Any) -> Insertion:
    _session_write(actor, session)
    consent, why = consent_status(session.episode.patient)
    if consent is None:
        raise ValidationError(f"No needling without a current consent: {why}")
    insertion = Insertion(session=session)
    apply_changes(insertion, INSERTION_FIELDS, values)
    _drop_unused_settings(insertion)
    _store_verdict(insertion, _check_insertion(session, insertion))
    insertion.full_clean()
    insertion.save()
    followed = _follow_needle_count(session)
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=insertion,
        patient=session.episode.patient,
        detail={"session": followed} if followed else None,
    )
    return insertion


def _drop_unused_settings(insertion: Insertion) -> None:
    """Settings of another technique are not kept (a retention time on pistoning, say)."""
    if insertion.technique != Technique.STATIC:
        insertion.retention_minutes = None
    if insertion.technique != Technique.ELECTRICAL:
        for field in STIMULATION_FIELDS:
            setattr(insertion, field, "" if field in ("lead_to_muscle", "lead_to_side",
                                                      "waveform") else None)  # fmt: skip
    if not insertion.ultrasound_guided:
        insertion.ultrasound_depth_mm = None


ROW_GONE = "This muscle row is no longer in the session: it was removed, perhaps in another tab."


def _current_row(session: NeedlingSession, insertion: Insertion) -> Insertion:
    """The row as stored now, under the session's lock; refused if another tab removed it."""
    current = (
        Insertion.objects.select_related("needle_size")
        .filter(pk=insertion.pk, session=session)
        .first()
    )
    if current is None:
        raise ValidationError(ROW_GONE)
    return current


@transaction.atomic
def insertion_update(
    *, actor: User, insertion: Insertion, was: str | None = None, **values: Any
) -> Insertion:
    """Edit a draft row in place: any of its fields, or only today's findings."""
    session = insertion.session
    _session_write(actor, session)
    row = _current_row(session, insertion)
    refuse_if_changed(row, was, values)
    before = audit_values(row, list(INSERTION_FIELDS))
    changed = apply_changes(row, INSERTION_FIELDS, values)
    _drop_unused_settings(row)
    entry = _check_row_values(session, row)
    if {"muscle", "side", "technique", "lead_to_muscle", "lead_to_side"} & set(changed):
        # The verdict depends on where and how the row needles, not on today's findings.
        _store_verdict(row, _screen_row(session, row, entry))
    row.full_clean()
    row.save()
    followed = _follow_needle_count(session)
    after = audit_values(row, changed)
    detail = {"changed": changed, "before": {f: before[f] for f in changed}, "after": after}
    if followed:
        detail["session"] = followed
    audit.record(
        actor=actor, action=audit.Action.UPDATE, obj=row, patient=session.episode.patient,
        detail=detail,
    )  # fmt: skip
    return row


@transaction.atomic
def insertion_remove(*, actor: User, insertion: Insertion) -> None:
    session = insertion.session
    _session_write(actor, session)
    row = _current_row(session, insertion)
    audit.record(
        actor=actor,
        action=audit.Action.DELETE,
        obj=row,
        patient=session.episode.patient,
        detail={"muscle": row.muscle, "side": row.side, "needles": row.needles},
    )
    row.delete()
    _follow_and_audit(actor, session)
