"""The body-chart assessment: pain marks, trigger-point findings, its note and signing."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.audit.submissions import once
from needlechart.charting.models import (
    Assessment,
    PainMark,
    TriggerPointFinding,
)
from needlechart.charting.services.common import (
    _muscle,
    _practitioner_of,
    clean_text,
    refuse_if_discharged,
    refuse_if_signed,
)
from needlechart.patients.models import EpisodeOfCare
from needlechart.records import apply_changes, audit_values, change_detail, lock, unchanged_on_error


@transaction.atomic
def assessment_start(
    *, actor: User, episode: EpisodeOfCare, kind: str = Assessment.Kind.INITIAL, token: str = ""
) -> Assessment:
    """Open a draft assessment; the form's `token` makes a double click open one."""
    # An assessment is opened in the examining practitioner's name: a person's act, never a
    # service account's (it may still add marks and findings to a practitioner's draft).
    authorize(actor, roles=rules.NEEDLING_ROLES, patient=episode.patient, what="assess patients")
    refuse_if_discharged(episode)
    if kind not in Assessment.Kind.values:
        raise ValidationError({"kind": f"One of: {', '.join(Assessment.Kind.values)}."})

    def create() -> Assessment:
        assessment = Assessment.objects.create(
            episode=episode, practitioner=_practitioner_of(actor), kind=kind, created_by=actor
        )
        audit.record(
            actor=actor, action=audit.Action.CREATE, obj=assessment, patient=episode.patient
        )
        return assessment

    return once(actor=actor, token=token, model=Assessment, create=create)


def _assessment_write(actor: User, assessment: Assessment) -> None:
    authorize(
        actor,
        roles=rules.CLINICAL_WRITE_ROLES,
        patient=assessment.episode.patient,
        what="change an assessment",
    )
    lock(assessment)
    refuse_if_signed(assessment)


def _known_region(region: str) -> None:
    try:
        knowledge.region(region)
    except knowledge.UnknownCode as error:
        raise ValidationError({"region": str(error)}) from None


@transaction.atomic
def pain_mark_set(
    *, actor: User, assessment: Assessment, region: str, intensity: int, quality: str
) -> PainMark:
    """Mark (or re-mark) pain in one region of the chart."""
    _assessment_write(actor, assessment)
    _known_region(region)
    if not 0 <= intensity <= 10:
        raise ValidationError({"intensity": "Pain intensity runs from 0 to 10."})
    mark, created = PainMark.objects.update_or_create(
        assessment=assessment, region=region, defaults={"intensity": intensity, "quality": quality}
    )
    mark.full_clean()
    audit.record(
        actor=actor,
        action=audit.Action.CREATE if created else audit.Action.UPDATE,
        obj=mark,
        patient=assessment.episode.patient,
    )
    return mark


@transaction.atomic
def pain_mark_remove(*, actor: User, assessment: Assessment, region: str) -> None:
    _assessment_write(actor, assessment)
    _known_region(region)
    mark = assessment.pain_marks.filter(region=region).first()
    if mark is None:
        raise ValidationError({"region": "This region is not marked."})
    audit.record(
        actor=actor, action=audit.Action.DELETE, obj=mark, patient=assessment.episode.patient
    )
    mark.delete()


FINDING_FIELDS = (
    "muscle", "side", "location", "taut_band", "hypersensitive_spot", "referred_sensation",
    "referred_regions", "recognised", "jump_sign", "twitch_response", "pressure_pain_threshold",
)  # fmt: skip


@transaction.atomic
def finding_add(*, actor: User, assessment: Assessment, **values: Any) -> TriggerPointFinding:
    _assessment_write(actor, assessment)
    entry = _muscle(values.get("muscle", ""))
    if entry.sided and values.get("side") not in ("left", "right"):
        raise ValidationError({"side": "Choose the side for this muscle."})
    regions = values.get("referred_regions") or []
    for region_id in regions:
        try:
            knowledge.region(region_id)
        except knowledge.UnknownCode as error:
            raise ValidationError({"referred_regions": str(error)}) from None
    if regions and not values.get("referred_sensation"):
        raise ValidationError({"referred_sensation": "Say what the referred sensation felt like."})
    finding = TriggerPointFinding(assessment=assessment)
    apply_changes(finding, FINDING_FIELDS, values)
    finding.full_clean()
    finding.save()
    audit.record(
        actor=actor, action=audit.Action.CREATE, obj=finding, patient=assessment.episode.patient
    )
    return finding


@transaction.atomic
def finding_remove(*, actor: User, finding: TriggerPointFinding) -> None:
    _assessment_write(actor, finding.assessment)
    audit.record(
        actor=actor,
        action=audit.Action.DELETE,
        obj=finding,
        patient=finding.assessment.episode.patient,
    )
    finding.delete()


@transaction.atomic
def assessment_update(*, actor: User, assessment: Assessment, note: str) -> Assessment:
    _assessment_write(actor, assessment)
    note = clean_text(note, "note", max_length=20000, required=False)
    before = audit_values(assessment, ["note"])
    with unchanged_on_error(assessment):
        changed = apply_changes(assessment, ("note",), {"note": note})
        assessment.save()
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        obj=assessment,
        patient=assessment.episode.patient,
        detail=change_detail(before, assessment, changed),
    )
    return assessment


@transaction.atomic
def assessment_sign(*, actor: User, assessment: Assessment) -> Assessment:
    """The assessing practitioner signs; the assessment is read-only from then on."""
    authorize(actor, roles=rules.SIGNING_ROLES, patient=assessment.episode.patient,
              what="sign an assessment")  # fmt: skip
    _assessment_write(actor, assessment)
    if assessment.practitioner.user_id != actor.pk:
        raise ValidationError("Only the practitioner who made the assessment can sign it.")
    if not assessment.pain_marks.exists() and not assessment.findings.exists():
        raise ValidationError("Mark at least one painful region or trigger-point finding first.")
    assessment.signed_at, assessment.signed_by = timezone.now(), actor
    assessment.save(update_fields=["signed_at", "signed_by"])
    audit.record(
        actor=actor, action=audit.Action.SIGN, obj=assessment, patient=assessment.episode.patient
    )
    return assessment
