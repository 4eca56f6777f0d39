"""Writes to the chart. Each validates the clinical rules, writes in one transaction and
records its audit row there. Signed records are refused here (and by the database)."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.models import Clinic, Practitioner, User
from needlechart.audit import services as audit
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AftercareIssue,
    Assessment,
    Consent,
    ConsentWithdrawal,
    CoTreatment,
    DocumentTemplate,
    Insertion,
    NeedleSize,
    NeedlingSession,
    PainMark,
    Screening,
    Technique,
    TriggerPointFinding,
)
from needlechart.outcomes.models import Observation, Timing
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.records import apply_changes, unchanged_on_error

SIGNED = "This record is signed and cannot be changed; add an addendum instead."
IN_ERROR = "This record was marked entered in error and cannot be changed."
# Needle sizes a new clinic starts with (diameter x length, mm); the clinic edits the list.
DEFAULT_NEEDLES = [
    ("0.16", 15), ("0.20", 30), ("0.25", 25), ("0.25", 40), ("0.30", 50), ("0.30", 60),
    ("0.30", 75),
]  # fmt: skip


# --- guards ------------------------------------------------------------------------------


def clean_text(value: object, field: str, *, max_length: int, required: bool = True) -> str:
    """Text as a service stores it: trimmed, no NUL character, within its length."""
    text = value.strip() if isinstance(value, str) else ""
    if "\x00" in text:
        raise ValidationError({field: "This text contains a character that cannot be stored."})
    if len(text) > max_length:
        raise ValidationError({field: f"Keep this to {max_length} characters or fewer."})
    if required and not text:
        raise ValidationError({field: "This field is required."})
    return text


def _require_role(actor: User, roles: frozenset, what: str) -> None:
    if not rules.has_role(actor, roles):
        raise ValidationError(f"Your role may not {what}.")


def _same_clinic(actor: User, patient: Patient) -> None:
    if actor.clinic_id != patient.clinic_id:
        raise ValidationError("This record is not in your clinic.")


def _practitioner_of(actor: User) -> Practitioner:
    practitioner = getattr(actor, "practitioner", None)
    if practitioner is None:
        raise ValidationError("Only staff with a practitioner profile can do this.")
    return practitioner


def entered_in_error(record: Assessment | NeedlingSession) -> bool:
    return record.addenda.filter(kind=Addendum.Kind.ENTERED_IN_ERROR).exists()


def _editable(record: Assessment | NeedlingSession) -> None:
    """Refuse changes to a signed record, or one entered in error."""
    if record.is_signed:
        raise ValidationError(SIGNED)
    if entered_in_error(record):
        raise ValidationError(IN_ERROR)


def _open_episode(episode: EpisodeOfCare) -> None:
    if episode.status == EpisodeOfCare.Status.FINISHED:
        raise ValidationError("This episode of care is discharged; it takes addenda only.")


# --- screening ---------------------------------------------------------------------------


def _factor_json(factor: knowledge.Factor) -> dict[str, Any]:
    """A factor as stored with the screening: every detail the engine parsed."""
    return factor.as_json()


def clean_factors(factors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Factors as the safety engine understands them, or a ValidationError saying why not."""
    from needlechart.knowledge.safety import parse_factors

    try:
        return [_factor_json(factor) for factor in parse_factors(factors)]
    except (knowledge.UnknownCode, knowledge.InvalidInput) as error:
        raise ValidationError(str(error)) from None


@transaction.atomic
def screening_record(
    *,
    actor: User,
    episode: EpisodeOfCare,
    factors: list[dict[str, Any]],
    note: str = "",
    source: str = Screening.Source.CLINICIAN,
) -> Screening:
    """Record the health questionnaire; the newest screening is the current one."""
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "record a screening")
    _same_clinic(actor, episode.patient)
    _open_episode(episode)
    screening = Screening.objects.create(
        episode=episode,
        factors=clean_factors(factors),
        note=note.strip(),
        source=source,
        recorded_by=actor,
    )
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=screening,
        patient=episode.patient,
        detail={"factors": [f["code"] for f in screening.factors]},
    )
    return screening


def current_screening(episode: EpisodeOfCare) -> Screening | None:
    return episode.screenings.order_by("-recorded_at", "-id").first()


def screen_plan(screening: Screening | None, items: list[dict[str, Any]]) -> knowledge.Screening:
    return knowledge.screen(screening.factors if screening else [], items)


# --- clinic documents and needles -----------------------------------------------------------


def current_template(*, clinic: Clinic, kind: str) -> DocumentTemplate:
    """The clinic's newest consent or aftercare text; the shipped default starts version 1."""
    template = (
        DocumentTemplate.objects.filter(clinic=clinic, kind=kind).order_by("-version").first()
    )
    if template is not None:
        return template
    default = knowledge.default_document(kind)
    with transaction.atomic():
        template, _ = DocumentTemplate.objects.get_or_create(
            clinic=clinic,
            kind=kind,
            version=1,
            defaults={"title": default.title, "body": default.body},
        )
    return template


@transaction.atomic
def template_new_version(*, actor: User, kind: str, title: str, body: str) -> DocumentTemplate:
    """A new version of the clinic's consent or aftercare text (old versions stay)."""
    _require_role(actor, rules.ADMIN_ROLES, "change the clinic's documents")
    current = current_template(clinic=actor.clinic, kind=kind)
    if current.title == title.strip() and current.body.strip() == body.strip():
        raise ValidationError({"body": "The text is the same as the current version."})
    template = DocumentTemplate(
        clinic=actor.clinic,
        kind=kind,
        version=current.version + 1,
        title=title.strip(),
        body=body.strip(),
        created_by=actor,
    )
    template.full_clean()
    template.save()
    audit.record(actor=actor, action=audit.Action.CREATE, obj=template, detail={"kind": kind})
    return template


def needle_sizes(clinic: Clinic) -> list[NeedleSize]:
    """The clinic's needle catalogue, started from common sizes the first time."""
    sizes = list(NeedleSize.objects.filter(clinic=clinic))
    if not sizes:
        NeedleSize.objects.bulk_create(
            [
                NeedleSize(clinic=clinic, diameter_mm=Decimal(d), length_mm=n)
                for d, n in DEFAULT_NEEDLES
            ],
            ignore_conflicts=True,
        )
        sizes = list(NeedleSize.objects.filter(clinic=clinic))
    return sizes


@transaction.atomic
def needle_size_add(*, actor: User, diameter_mm: Decimal, length_mm: int) -> NeedleSize:
    _require_role(actor, rules.ADMIN_ROLES, "change the needle catalogue")
    if not Decimal("0.10") <= diameter_mm <= Decimal("0.50"):
        raise ValidationError({"diameter_mm": "Needle diameters run from 0.10 to 0.50 mm."})
    if not 5 <= length_mm <= 150:
        raise ValidationError({"length_mm": "Needle lengths run from 5 to 150 mm."})
    needle_sizes(actor.clinic)
    size, created = NeedleSize.objects.get_or_create(
        clinic=actor.clinic, diameter_mm=diameter_mm, length_mm=length_mm
    )
    if not created and size.active:
        raise ValidationError({"length_mm": f"{size} is already in the catalogue."})
    size.active = True
    size.save(update_fields=["active"])
    audit.record(actor=actor, action=audit.Action.CREATE, obj=size)
    return size


@transaction.atomic
def needle_size_retire(*, actor: User, size: NeedleSize) -> None:
    """Stop offering a size; sessions that used it keep it."""
    _require_role(actor, rules.ADMIN_ROLES, "change the needle catalogue")
    size.active = False
    size.save(update_fields=["active"])
    audit.record(actor=actor, action=audit.Action.UPDATE, obj=size, detail={"active": False})


# --- consent -----------------------------------------------------------------------------


def consent_status(patient: Patient) -> tuple[Consent | None, str]:
    """The consent that covers needling today, or None with the reason why there is none."""
    consent = (
        patient.consents.select_related("template", "withdrawal")
        .order_by("-signed_at", "-id")
        .first()
    )
    if consent is None:
        return None, "No consent to dry needling has been signed."
    if hasattr(consent, "withdrawal"):
        return None, f"The patient withdrew consent on {consent.withdrawal.withdrawn_at:%Y-%m-%d}."
    current = current_template(clinic=patient.clinic, kind=DocumentTemplate.Kind.CONSENT)
    if consent.template_id != current.pk:
        return None, (
            f"The consent text changed to version {current.version}; the patient signed "
            f"version {consent.template.version} and needs to sign again."
        )
    return consent, ""


@transaction.atomic
def consent_sign(
    *,
    actor: User,
    patient: Patient,
    template: DocumentTemplate,
    signed_name: str,
    confirmed: bool,
) -> Consent:
    """The patient signs the current consent text; the signed-in clinician witnesses."""
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "witness a consent")
    _same_clinic(actor, patient)
    return consent_record(
        actor=actor,
        patient=patient,
        template=template,
        signed_name=signed_name,
        confirmed=confirmed,
        channel=Consent.Channel.CLINIC,
    )


def consent_record(
    *,
    actor: User,
    patient: Patient,
    template: DocumentTemplate,
    signed_name: str,
    confirmed: bool,
    channel: str,
) -> Consent:
    """Store a signature on the current consent text, after the caller checked who signs:
    a clinician witnessing in the clinic, or the patient in the portal."""
    errors = {}
    if not confirmed:
        errors["confirmed"] = "The patient must confirm they have read and agree to the text."
    if len((signed_name if isinstance(signed_name, str) else "").strip()) < 2:
        errors["signed_name"] = "The patient types their full name to sign."
    current = current_template(clinic=patient.clinic, kind=DocumentTemplate.Kind.CONSENT)
    if template.pk != current.pk:
        errors["template"] = (
            "The consent text has changed since this page was opened; read it again."
        )
    if errors:
        raise ValidationError(errors)
    consent = Consent.objects.create(
        patient=patient,
        template=template,
        signed_name=clean_text(signed_name, "signed_name", max_length=200),
        channel=channel,
        witnessed_by=actor if channel == Consent.Channel.CLINIC else None,
        practitioner_training=training_statement(
            patient=patient, witness=actor if channel == Consent.Channel.CLINIC else None
        ),
    )
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=consent,
        patient=patient,
        detail={"template_version": template.version, "channel": channel},
    )
    return consent


def training_statement(*, patient: Patient, witness: User | None = None) -> str:
    """Where the clinic states it on the consent: the dry-needling training of who will
    needle (the witnessing practitioner, else the practitioners in charge of the patient's
    open episodes), from their current credentials. Empty when the clinic does not."""
    if not patient.clinic.consent_states_training:
        return ""
    if witness is not None and getattr(witness, "practitioner", None) is not None:
        practitioners = [witness.practitioner]
    else:
        practitioners = [
            e.care_manager
            for e in patient.episodes.exclude(status=EpisodeOfCare.Status.FINISHED)
            .select_related("care_manager__user")
            .order_by("pk")
            if e.care_manager is not None
        ]
    today = timezone.localdate()
    lines = []
    for practitioner in dict.fromkeys(practitioners):
        current = [
            c for c in practitioner.credentials.order_by("-completed_on")
            if rules.credential_is_current(c, today)
        ]  # fmt: skip
        name = practitioner.user.get_full_name() or practitioner.user.get_username()
        if not current:
            lines.append(f"{name}: no current dry-needling credential is recorded.")
            continue
        c = current[0]
        where = f"; it meets the requirements of {c.jurisdiction}" if c.jurisdiction else ""
        lines.append(
            f"{name} ({practitioner.get_profession_display()}) completed {c.course} with "
            f"{c.provider} ({c.hours:g} hours of training) on {c.completed_on:%Y-%m-%d}{where}."
        )
    return "\n".join(lines)


@transaction.atomic
def consent_withdraw(*, actor: User, consent: Consent, reason: str) -> ConsentWithdrawal:
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "record a withdrawal of consent")
    _same_clinic(actor, consent.patient)
    if not (reason if isinstance(reason, str) else "").strip():
        raise ValidationError({"reason": "Record why, or in the patient's words."})
    reason = clean_text(reason, "reason", max_length=1000)
    # Locked, so two clicks on "withdraw" give one withdrawal and one clear refusal.
    Consent.objects.select_for_update().filter(pk=consent.pk).first()
    if ConsentWithdrawal.objects.filter(consent=consent).exists():
        raise ValidationError("This consent is already withdrawn.")
    withdrawal = ConsentWithdrawal.objects.create(consent=consent, reason=reason, recorded_by=actor)
    audit.record(actor=actor, action=audit.Action.UPDATE, obj=consent, detail={"withdrawn": True})
    return withdrawal


# --- assessment --------------------------------------------------------------------------


@transaction.atomic
def assessment_start(
    *, actor: User, episode: EpisodeOfCare, kind: str = Assessment.Kind.INITIAL
) -> Assessment:
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "assess patients")
    _same_clinic(actor, episode.patient)
    _open_episode(episode)
    assessment = Assessment.objects.create(
        episode=episode, practitioner=_practitioner_of(actor), kind=kind, created_by=actor
    )
    audit.record(actor=actor, action=audit.Action.CREATE, obj=assessment, patient=episode.patient)
    return assessment


def _assessment_write(actor: User, assessment: Assessment) -> None:
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "change an assessment")
    _same_clinic(actor, assessment.episode.patient)
    _lock(assessment)
    _editable(assessment)


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
    with unchanged_on_error(assessment):
        changed = apply_changes(assessment, ("note",), {"note": note})
        assessment.save()
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        obj=assessment,
        patient=assessment.episode.patient,
        detail={"changed": changed},
    )
    return assessment


@transaction.atomic
def assessment_sign(*, actor: User, assessment: Assessment) -> Assessment:
    """The assessing practitioner signs; the assessment is read-only from then on."""
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


# --- measurements ------------------------------------------------------------------------


@transaction.atomic
def observation_add(
    *,
    actor: User,
    episode: EpisodeOfCare,
    code: str,
    value: Decimal,
    timing: str,
    component: str = "",
    side: str = "",
    assessment: Assessment | None = None,
    session: NeedlingSession | None = None,
) -> Observation:
    """Record a measurement; assistants may record them on draft records."""
    _require_role(actor, rules.CLINICAL_READ_ROLES, "record measurements")
    _same_clinic(actor, episode.patient)
    _open_episode(episode)
    for record in (assessment, session):
        if record is not None:
            if record.episode_id != episode.pk:
                raise ValidationError("The measurement belongs to another episode.")
            _lock(record)
            _editable(record)
    try:
        instrument = knowledge.instrument(code)
    except knowledge.UnknownCode as error:
        raise ValidationError({"code": str(error)}) from None
    if not instrument.minimum <= float(value) <= instrument.maximum:
        scale = f"{instrument.minimum:g} to {instrument.maximum:g}"
        raise ValidationError({"value": f"{instrument.name} runs from {scale}."})
    component = component.strip()
    if code == "rom":
        component = _rom_code(component)
    if code in ("psfs-activity", "mmt", "ppt") and not component:
        raise ValidationError({"component": "Name the activity, muscle or site measured."})
    if timing not in Timing.values:
        raise ValidationError({"timing": "Choose when the measurement was taken."})
    if assessment is not None or session is not None:
        # One value per measure and moment of a draft record: measuring again corrects it.
        same = Observation.objects.filter(
            episode=episode, assessment=assessment, session=session, code=code,
            component=component, side=side, timing=timing,
        ).first()  # fmt: skip
        if same is not None:
            before = same.value
            same.value = value
            same.full_clean()
            same.save(update_fields=["value"])
            audit.record(
                actor=actor,
                action=audit.Action.UPDATE,
                obj=same,
                patient=episode.patient,
                detail={"changed": ["value"], "before": {"value": str(before)},
                        "after": {"value": str(same.value)}},
            )  # fmt: skip
            return same
    observation = Observation.objects.create(
        episode=episode,
        assessment=assessment,
        session=session,
        code=code,
        component=component,
        side=side,
        timing=timing,
        value=value,
        recorded_by=actor,
    )
    audit.record(actor=actor, action=audit.Action.CREATE, obj=observation, patient=episode.patient)
    return observation


def _rom_code(text: str) -> str:
    """The movement's code from what the clinician chose: its name in words, or its code."""
    try:
        return knowledge.rom_movement_lookup(text).code
    except knowledge.UnknownCode:
        raise ValidationError(
            {"component": "Choose the movement measured from the list."}
        ) from None


@transaction.atomic
def observation_remove(*, actor: User, observation: Observation) -> None:
    _require_role(actor, rules.CLINICAL_READ_ROLES, "remove measurements")
    _same_clinic(actor, observation.episode.patient)
    parent = observation.assessment or observation.session
    if parent is None:
        raise ValidationError("Only measurements of a draft assessment or session can be removed.")
    _editable(parent)
    audit.record(
        actor=actor,
        action=audit.Action.DELETE,
        obj=observation,
        patient=observation.episode.patient,
    )
    observation.delete()


# --- needling session --------------------------------------------------------------------


def _muscle(slug: str) -> knowledge.schema.MuscleEntry:
    try:
        return knowledge.muscle(slug)
    except knowledge.UnknownCode as error:
        raise ValidationError({"muscle": str(error)}) from None


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
    if insertion.depth not in Insertion.Depth.values:
        errors["depth"] = "Choose the depth: superficial or deep."
    if insertion.technique not in Technique.values:
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
    if insertion.tolerance and insertion.tolerance not in Insertion.Tolerance.values:
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


def _lock(record: Assessment | NeedlingSession) -> None:
    """Take the record's row lock and reload its state, so two requests at once (a double
    click on "Sign") see each other's writes instead of racing. Callers are atomic: the
    lock lasts until their transaction ends. Every column is reloaded: the page saves one
    part at a time, and a save must not write back another part's older value."""
    locked = type(record).objects.select_for_update().get(pk=record.pk)
    for field in record._meta.concrete_fields:
        setattr(record, field.attname, getattr(locked, field.attname))


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
    _require_role(actor, rules.NEEDLING_ROLES, "chart needling")
    _same_clinic(actor, session.episode.patient)
    _lock(session)
    _editable(session)
    _check_needler(actor, session)


def _consent_after(consent: Consent, performed_at: dt.datetime) -> str:
    """Why the consent came too late for a session at `performed_at`, or "". Session times
    are entered to the minute, so a consent signed within that minute counts as before."""
    if consent.signed_at.replace(second=0, microsecond=0) <= performed_at:
        return ""
    return (
        f"The consent was signed ({timezone.localtime(consent.signed_at):%Y-%m-%d %H:%M}) "
        "after the session began: needling needs consent first."
    )


@transaction.atomic
def session_start(
    *,
    actor: User,
    episode: EpisodeOfCare,
    screening_status: str,
    clean_technique: bool = False,
    performed_at: dt.datetime | None = None,
    from_last: bool = False,
    consent_confirmed: bool = False,
) -> tuple[NeedlingSession, list[str]]:
    """Open a draft session after re-confirming the screening; optionally copy the last
    session's rows. Returns the session and the rows that could not be copied, and why."""
    _require_role(actor, rules.NEEDLING_ROLES, "chart needling")
    _same_clinic(actor, episode.patient)
    _open_episode(episode)
    screening = current_screening(episode)
    if screening is None:
        raise ValidationError("Record the health screening before the first session.")
    if screening_status not in NeedlingSession.ScreeningStatus.values:
        raise ValidationError(
            {"screening_status": "Confirm whether the health screening is unchanged."}
        )
    performed_at = performed_at or timezone.now()
    if performed_at > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError({"performed_at": "A session cannot be in the future."})
    if screening_status == NeedlingSession.ScreeningStatus.CHANGED and (
        timezone.localdate(screening.recorded_at) < timezone.localdate(performed_at)
    ):
        raise ValidationError(
            {"screening_status": "The health has changed: update the screening first."}
        )
    consent, why = consent_status(episode.patient)
    if consent is None:
        raise ValidationError(f"No needling without a current consent: {why}")
    if _consent_after(consent, performed_at):
        raise ValidationError({"performed_at": _consent_after(consent, performed_at)})
    practitioner = _practitioner_of(actor)
    if not rules.is_qualified_to_needle(practitioner, on=timezone.localdate(performed_at)):
        raise ValidationError(
            "You are not qualified to needle on the session date: the dry-needling "
            "credential is missing or has lapsed."
        )
    session = NeedlingSession.objects.create(
        episode=episode,
        practitioner=practitioner,
        performed_at=performed_at,
        screening=screening,
        screening_status=screening_status,
        clean_technique=clean_technique,
        consent_confirmed=consent_confirmed,
        created_by=actor,
    )
    audit.record(actor=actor, action=audit.Action.CREATE, obj=session, patient=episode.patient)
    skipped = _copy_last_rows(actor, session) if from_last else []
    return session, skipped


def _copy_last_rows(actor: User, session: NeedlingSession) -> list[str]:
    last = (
        NeedlingSession.objects.filter(episode=session.episode, signed_at__isnull=False)
        .exclude(pk=session.pk)
        .exclude(addenda__kind=Addendum.Kind.ENTERED_IN_ERROR)
        .order_by("-performed_at", "-id")
        .first()
    )
    if last is None:
        return ["There is no earlier signed session to start from."]
    for field in SESSION_CARRIED:
        setattr(session, field, getattr(last, field))
    session.save(update_fields=list(SESSION_CARRIED))
    skipped = []
    for row in last.insertions.select_related("needle_size"):
        copy = Insertion(session=session)
        for field in INSERTION_FIELDS:
            setattr(copy, field, getattr(row, field))
        # Today's findings are today's: they start empty and signing asks for them.
        copy.twitch_responses, copy.familiar_pain, copy.tolerance = None, None, ""
        copy.ultrasound_depth_mm = None  # measured again each time
        if not copy.needle_size.active:
            skipped.append(f"{row.get_muscle_display()}: needle {row.needle_size} is retired.")
            continue
        try:
            _store_verdict(copy, _check_insertion(session, copy))
        except ValidationError as error:
            skipped.append(f"{row.get_muscle_display()}: {' '.join(error.messages)}")
            continue
        copy.save()
        audit.record(
            actor=actor, action=audit.Action.CREATE, obj=copy, patient=session.episode.patient
        )
    _follow_and_audit(actor, session)
    return skipped


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


def _audit_values(record: Any, fields: list[str]) -> dict[str, Any]:
    """Field values as the audit trail keeps them: plain JSON, related records by id."""
    values = {}
    for field in fields:
        value = getattr(record, f"{field}_id", None) if field == "needle_size" else None
        if value is None:
            value = getattr(record, field)
        values[field] = value if isinstance(value, bool | int | str | list | None) else str(value)
    return values


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
def insertion_update(*, actor: User, insertion: Insertion, **values: Any) -> Insertion:
    """Edit a draft row in place: any of its fields, or only today's findings."""
    session = insertion.session
    _session_write(actor, session)
    row = _current_row(session, insertion)
    before = _audit_values(row, list(INSERTION_FIELDS))
    changed = apply_changes(row, INSERTION_FIELDS, values)
    _drop_unused_settings(row)
    entry = _check_row_values(session, row)
    if {"muscle", "side", "technique", "lead_to_muscle", "lead_to_side"} & set(changed):
        # The verdict depends on where and how the row needles, not on today's findings.
        _store_verdict(row, _screen_row(session, row, entry))
    row.full_clean()
    row.save()
    followed = _follow_needle_count(session)
    after = _audit_values(row, changed)
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


SESSION_FIELDS = (
    "performed_at", "screening_status", "clean_technique", "needles_opened", "needles_removed",
    "co_treatments", "co_treatment_note", "note", "consent_confirmed", "patient_position",
    "gloves", "antisepsis", "guide_tube", "needle_brand", "needle_lot", "sharps_disposed",
    "haemostasis", "soreness_after", "stim_device",
)  # fmt: skip
# What a session started from the last one carries over: how the clinic works, not findings.
SESSION_CARRIED = (
    "patient_position", "gloves", "antisepsis", "guide_tube", "needle_brand", "needle_lot",
    "stim_device",
)  # fmt: skip


@transaction.atomic
def session_update(*, actor: User, session: NeedlingSession, **values: Any) -> NeedlingSession:
    _session_write(actor, session)
    unknown = set(values.get("co_treatments") or []) - set(CoTreatment.values)
    if unknown:
        raise ValidationError({"co_treatments": f"Unknown co-treatment: {sorted(unknown)[0]}"})
    before = _audit_values(session, [f for f in SESSION_FIELDS if f in values])
    with unchanged_on_error(session), transaction.atomic():
        changed = apply_changes(session, SESSION_FIELDS, values)
        if "needles_opened" in values:
            # A number that differs from the rows is the clinician's own count, and stays;
            # clearing it, or typing the rows' total, lets it follow the rows again.
            rows_total = sum(r.needles for r in Insertion.objects.filter(session=session))
            session.needles_opened_by_hand = values["needles_opened"] not in (None, rows_total)
            if values["needles_opened"] is None:
                session.needles_opened = rows_total or None
        session.full_clean()
        session.save()
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            obj=session,
            patient=session.episode.patient,
            detail={
                "changed": changed,
                "before": {f: before[f] for f in changed},
                "after": _audit_values(session, changed),
            },
        )
    return session


def sign_problems(actor: User, session: NeedlingSession) -> list[str]:
    """Everything that stops this user signing this session now; empty when it may be signed."""
    problems = []
    practitioner = getattr(actor, "practitioner", None)
    if session.practitioner.user_id != actor.pk:
        problems.append("Only the practitioner who needled can sign the session.")
    elif practitioner is None or not rules.is_qualified_to_needle(
        practitioner, on=timezone.localdate(session.performed_at)
    ):
        problems.append(
            "You are not qualified to needle on the session date: the dry-needling "
            "credential is missing or has lapsed."
        )
    consent, why = consent_status(session.episode.patient)
    if consent is None:
        problems.append(f"No current consent: {why}")
    elif _consent_after(consent, session.performed_at):
        problems.append(_consent_after(consent, session.performed_at))
    screening = current_screening(session.episode)
    if screening is None or not session.screening_status:
        problems.append("Re-confirm the health screening for this session.")
    if not session.clean_technique:
        problems.append("Confirm clean technique in the pre-needling checklist.")
    if not session.consent_confirmed:
        problems.append("Confirm the patient agreed to needling at this session.")
    rows = list(session.insertions.select_related("needle_size"))
    if not rows:
        problems.append("Record at least one needled muscle.")
    if session.needles_opened is None or session.needles_removed is None:
        problems.append("Record the needles opened and the needles removed and disposed of.")
    elif session.needles_opened != session.needles_removed:
        problems.append(
            f"Needle count does not match: {session.needles_opened} opened, "
            f"{session.needles_removed} removed and disposed of."
        )
    elif not session.sharps_disposed:
        problems.append("Confirm the needles went into a sharps container.")
    elif session.needles_opened < sum(row.needles for row in rows):
        problems.append(
            f"Fewer needles opened ({session.needles_opened}) than recorded in the rows "
            f"({sum(row.needles for row in rows)})."
        )
    for row in rows:
        if not row.findings_recorded:
            problems.append(
                f"{row.get_muscle_display()}{f' ({row.side})' if row.side else ''}: record "
                "today's findings (twitch responses, familiar pain, tolerance)."
            )
    if rows:
        result = screen_plan(screening, [plan_item(r) for r in rows])
        for row, item in zip(rows, result.items, strict=True):
            if item.verdict == "contraindicated":
                problems.append(
                    f"{row.get_muscle_display()} {row.side}: contraindicated by the current "
                    "screening; remove the row."
                )
    return problems


@transaction.atomic
def session_sign(
    *, actor: User, session: NeedlingSession, aftercare_given: bool = False
) -> NeedlingSession:
    """Sign a session: every safety rule must hold, and the CPT code is fixed. With
    `aftercare_given`, the clinic's aftercare advice is recorded as given in the same step."""
    _session_write(actor, session)
    problems = sign_problems(actor, session)
    if problems:
        raise ValidationError(problems)
    rows = list(session.insertions.select_related("needle_size"))
    result = screen_plan(current_screening(session.episode), [plan_item(r) for r in rows])
    for row, item in zip(rows, result.items, strict=True):
        # The note keeps the verdict of the screening it is signed under.
        _store_verdict(row, knowledge.Screening(result.patient, (item,)))
        row.save(update_fields=["safety_verdict", "safety_reasons"])
    session.cpt_code = knowledge.suggest_cpt([r.muscle for r in rows]) or ""
    session.consent, _ = consent_status(session.episode.patient)
    session.screening = current_screening(session.episode)
    session.signed_at, session.signed_by = timezone.now(), actor
    session.save()
    audit.record(
        actor=actor,
        action=audit.Action.SIGN,
        obj=session,
        patient=session.episode.patient,
        detail={"cpt": session.cpt_code},
    )
    if aftercare_given and not _aftercare_given(session):
        aftercare_issue(actor=actor, session=session)
    return session


# --- after the session -------------------------------------------------------------------


AE_FIELDS = (
    "event_type", "onset", "severity", "duration_value", "duration_unit", "action_taken",
    "outcome", "muscles", "description",
)  # fmt: skip
# What a follow-up may change; what happened (type, onset, muscles) is corrected by marking
# the event entered in error and recording it again.
AE_FOLLOW_UP = (
    "severity",
    "duration_value",
    "duration_unit",
    "action_taken",
    "outcome",
    "description",
)


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
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "record adverse events")
    _same_clinic(actor, session.episode.patient)
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


def adverse_event_update(*, actor: User, event: AdverseEvent, **values: Any) -> AdverseEvent:
    """Follow an event up (outcome, duration, action); one entered in error stays as it is."""
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "update adverse events")
    _same_clinic(actor, event.session.episode.patient)
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
    before = {f: getattr(event, f) for f in AE_FOLLOW_UP}
    with unchanged_on_error(event), transaction.atomic():
        changed = apply_changes(
            event, AE_FOLLOW_UP, {k: v for k, v in values.items() if k in AE_FOLLOW_UP}
        )
        _check_event(event.session, event)
        event.full_clean()
        event.save()
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            obj=event,
            patient=event.session.episode.patient,
            # The values as they were, so the record of the event keeps its history.
            detail={"changed": changed, "before": {f: before[f] for f in changed}},
        )
    return event


@transaction.atomic
def adverse_event_enter_in_error(*, actor: User, event: AdverseEvent, reason: str) -> AdverseEvent:
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "mark adverse events entered in error")
    _same_clinic(actor, event.session.episode.patient)
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


@transaction.atomic
def aftercare_issue(*, actor: User, session: NeedlingSession) -> AftercareIssue:
    """Record that the clinic's current aftercare advice was given for this session."""
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "issue aftercare")
    _same_clinic(actor, session.episode.patient)
    if entered_in_error(session):
        raise ValidationError(IN_ERROR)
    if not session.insertions.exists():
        raise ValidationError("Record the needled muscles before issuing aftercare.")
    # Locked, so a double click records the advice once and answers the second press.
    NeedlingSession.objects.select_for_update().filter(pk=session.pk).first()
    template = current_template(clinic=actor.clinic, kind=DocumentTemplate.Kind.AFTERCARE)
    given = _aftercare_given(session, template)
    if given is not None:
        raise ValidationError(
            f"Aftercare was already recorded as given "
            f"({timezone.localtime(given.issued_at):%Y-%m-%d %H:%M}); nothing new is recorded."
        )
    issue = AftercareIssue.objects.create(session=session, template=template, issued_by=actor)
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=issue,
        patient=session.episode.patient,
        detail={"template_version": template.version},
    )
    return issue


def _aftercare_given(
    session: NeedlingSession, template: DocumentTemplate | None = None
) -> AftercareIssue | None:
    """The record of this aftercare text (any version when None) given for the session."""
    issues = AftercareIssue.objects.filter(session=session)
    if template is not None:
        issues = issues.filter(template=template)
    return issues.order_by("issued_at").first()


@transaction.atomic
def addendum_add(
    *,
    actor: User,
    record: Any,
    reason: str,
    text: str = "",
    kind: str = Addendum.Kind.ADDENDUM,
) -> Addendum:
    """Add a correction to a signed record, or mark any record entered in error."""
    _require_role(actor, rules.CLINICAL_WRITE_ROLES, "add addenda")
    _same_clinic(actor, record.episode.patient)
    if hasattr(record, "addenda") and not hasattr(record, "is_signed"):
        # A discharge summary is signed when written; it takes addenda only.
        if kind != Addendum.Kind.ADDENDUM:
            raise ValidationError("A discharge summary takes addenda, not entered in error.")
    elif entered_in_error(record):
        raise ValidationError(IN_ERROR)
    elif kind == Addendum.Kind.ADDENDUM and not record.is_signed:
        raise ValidationError("A draft can still be edited; addenda are for signed records.")
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for the addendum."})
    if kind == Addendum.Kind.ADDENDUM and not text.strip():
        raise ValidationError({"text": "Write the addendum."})
    field = {Assessment: "assessment", NeedlingSession: "session"}.get(type(record), "discharge")
    addendum = Addendum.objects.create(
        **{field: record}, kind=kind, reason=reason.strip(), text=text.strip(), author=actor
    )
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=addendum,
        patient=record.episode.patient,
        detail={"kind": kind, "on": f"{type(record).FHIR_TYPE}/{record.pk}"},
    )
    return addendum
