"""Writes to patients and episodes; each writes its audit row in the same transaction."""

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import Clinic, Practitioner, User
from needlechart.audit import services as audit
from needlechart.audit.submissions import once
from needlechart.db import bulk
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.records import (
    apply_changes,
    audit_values,
    change_detail,
    lock,
    refuse_if_changed,
    unchanged_on_error,
)

DUPLICATE_MRN = "Another patient in this clinic already has this record number."


def _next_mrn(clinic: Clinic) -> str:
    """The clinic's next free generated record number, e.g. '000042', taken under a row lock."""
    locked = Clinic.objects.select_for_update().get(pk=clinic.pk)
    number = locked.next_mrn
    while Patient.objects.filter(clinic=locked, mrn=f"{number:06d}").exists():
        number += 1
    locked.next_mrn = number + 1
    locked.save(update_fields=["next_mrn"])
    return f"{number:06d}"


def _mrn_taken(patient: Patient) -> bool:
    taken = Patient.objects.filter(clinic_id=patient.clinic_id, mrn=patient.mrn)
    if patient.pk:
        taken = taken.exclude(pk=patient.pk)
    return taken.exists()


def _normal_mrn(mrn: str) -> str:
    # Record numbers are compared without regard to case: "ab12" is "AB12".
    return mrn.strip().upper()


def _save_patient(patient: Patient) -> None:
    """Validate the whole record, reporting every problem at once, and save it."""
    patient.mrn = _normal_mrn(patient.mrn)
    errors: dict[str, list[str]] = {}
    try:
        patient.full_clean(validate_constraints=False)
    except ValidationError as error:
        errors = error.message_dict
    if patient.mrn and _mrn_taken(patient):
        errors.setdefault("mrn", []).append(DUPLICATE_MRN)
    if errors:
        raise ValidationError(errors)
    try:
        # A savepoint, so a lost race on the record number leaves the transaction usable.
        with transaction.atomic():
            patient.save()
    except IntegrityError as error:
        raise ValidationError({"mrn": DUPLICATE_MRN}) from error


@transaction.atomic
def patient_create(
    *,
    actor: User,
    given_name: str,
    family_name: str,
    birth_date: dt.date,
    sex: str,
    mrn: str = "",
    phone: str = "",
    email: str = "",
    address: str = "",
    token: str = "",
) -> Patient:
    """Register a patient in the actor's clinic; an empty record number is generated. The
    form's `token` makes a double submit register one patient."""
    authorize(actor, roles=rules.STAFF_ROLES, what="register patients")
    return once(
        actor=actor, token=token, model=Patient,
        create=lambda: _patient_create(
            actor, given_name=given_name, family_name=family_name, birth_date=birth_date,
            sex=sex, mrn=mrn, phone=phone, email=email, address=address,
        ),
    )  # fmt: skip


def _patient_create(
    actor: User, *, given_name: str, family_name: str, birth_date: dt.date, sex: str,
    mrn: str, phone: str, email: str, address: str,
) -> Patient:  # fmt: skip
    clinic = actor.clinic
    patient = Patient(
        clinic=clinic,
        mrn=mrn or _next_mrn(clinic),
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        birth_date=birth_date,
        sex=sex,
        phone=phone.strip(),
        email=email.strip(),
        address=address.strip(),
    )
    _save_patient(patient)
    audit.record(actor=actor, action=audit.Action.CREATE, obj=patient)
    return patient


@transaction.atomic
def patient_update(
    *, actor: User, patient: Patient, was: str | None = None, **values: Any
) -> Patient:
    """Change a patient's details; on refusal the instance keeps its saved values. `was` is
    what the page showed: an edit made over someone else's newer one is refused."""
    authorize(actor, roles=rules.STAFF_ROLES, patient=patient, what="edit patients")
    with unchanged_on_error(patient):
        lock(patient)
        refuse_if_changed(patient, was, values)
    before = audit_values(patient, Patient.EDITABLE)
    if "mrn" in values:
        if not values["mrn"]:
            raise ValidationError({"mrn": "A registered patient keeps a record number."})
        values["mrn"] = _normal_mrn(values["mrn"])
    with unchanged_on_error(patient), transaction.atomic():
        changed = apply_changes(patient, Patient.EDITABLE, values)
        _save_patient(patient)
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            obj=patient,
            detail=change_detail(before, patient, changed),
        )
    return patient


def _close_or_reopen(episode: EpisodeOfCare) -> None:
    if episode.status == EpisodeOfCare.Status.FINISHED:
        episode.period_end = episode.period_end or timezone.localdate()
    else:
        episode.period_end = None


def _check_condition(code: str, day: dt.date) -> None:
    try:
        entry = knowledge.condition(code)
    except knowledge.UnknownCode:
        raise ValidationError(
            {"condition_code": f"{code} is not an ICD-10-CM code in the needlechart catalogue."}
        ) from None
    if not entry.valid_on(day):
        raise ValidationError(
            {"condition_code": f"{code} is not a valid ICD-10-CM code on {day:%Y-%m-%d}."}
        )


def _check_care_manager(care_manager: Practitioner, patient: Patient) -> None:
    user = care_manager.user
    if user.clinic_id != patient.clinic_id or not user.is_active:
        raise ValidationError({"care_manager": "Choose an active practitioner of this clinic."})


@transaction.atomic
def episode_create(
    *,
    actor: User,
    patient: Patient,
    condition_code: str,
    referral_source: str,
    care_manager: Practitioner,
    body_area: str = "",
    onset_date: dt.date | None = None,
    referral_detail: str = "",
    referral_email: str = "",
    status: str = EpisodeOfCare.Status.ACTIVE,
    period_start: dt.date | None = None,
) -> EpisodeOfCare:
    """Open an episode of care for one complaint of a patient of the actor's clinic; the body
    area defaults to the condition's."""
    authorize(
        actor, roles=rules.CLINICAL_WRITE_ROLES, patient=patient, what="open episodes of care"
    )
    if patient.clinic_id != actor.clinic_id:
        raise ValidationError("This patient is not in your clinic.")
    period_start = period_start or timezone.localdate()
    _check_condition(condition_code, period_start)
    body_area = body_area or knowledge.condition(condition_code).body_area or ""
    _check_care_manager(care_manager, patient)
    episode = EpisodeOfCare(
        patient=patient,
        condition_code=condition_code,
        body_area=body_area,
        onset_date=onset_date,
        referral_source=referral_source,
        referral_detail=referral_detail.strip(),
        referral_email=referral_email.strip(),
        status=status,
        care_manager=care_manager,
        period_start=period_start,
    )
    _close_or_reopen(episode)
    episode.full_clean()
    episode.save()
    audit.record(actor=actor, action=audit.Action.CREATE, obj=episode, patient=patient)
    return episode


@transaction.atomic
def episode_update(
    *, actor: User, episode: EpisodeOfCare, was: str | None = None, **values: Any
) -> EpisodeOfCare:
    """Change an episode; on refusal the instance keeps its saved values. `was` is what the
    page showed: an edit made over someone else's newer one is refused."""
    authorize(
        actor,
        roles=rules.CLINICAL_WRITE_ROLES,
        patient=episode.patient,
        what="change episodes of care",
    )
    with unchanged_on_error(episode):
        lock(episode)
        refuse_if_changed(episode, was, values)
    before = audit_values(episode, EpisodeOfCare.EDITABLE)
    if hasattr(episode, "discharge"):
        raise ValidationError("This episode is discharged and read-only; add an addendum.")
    if "care_manager" in values and values["care_manager"].pk != episode.care_manager_id:
        _check_care_manager(values["care_manager"], episode.patient)
    with unchanged_on_error(episode), transaction.atomic():
        changed = apply_changes(episode, EpisodeOfCare.EDITABLE, values)
        if "condition_code" in changed or "period_start" in changed:
            _check_condition(episode.condition_code, episode.period_start)
        _close_or_reopen(episode)
        episode.full_clean()
        episode.save()
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            obj=episode,
            patient=episode.patient,
            detail=change_detail(before, episode, changed),
        )
    return episode


# --- records made elsewhere ------------------------------------------------------------------

# Record numbers per query when checking that imported ones are free.
MRN_BATCH = 500


@transaction.atomic
def patients_import(*, actor: User, patients: list[Patient], source: str) -> list[Patient]:
    """Register patients made elsewhere (an earlier system's, the demo's) in the actor's
    clinic in one go: each is validated as `patient_create` validates it, keeps its record
    number, which must be free, and gets its audit row. The clinic's generated numbers go on
    after the highest number imported."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="import records")
    clinic = actor.clinic
    numbers: set[str] = set()
    for patient in patients:
        if patient.clinic_id != clinic.pk:
            raise ValidationError("This patient is not in your clinic.")
        for field in ("given_name", "family_name", "phone", "email", "address"):
            setattr(patient, field, getattr(patient, field).strip())
        patient.mrn = _normal_mrn(patient.mrn)
        if not patient.mrn:
            raise ValidationError({"mrn": "An imported patient keeps their record number."})
        patient.full_clean(exclude=["clinic"], validate_unique=False, validate_constraints=False)
        if patient.mrn in numbers:
            raise ValidationError({"mrn": f"{patient.mrn}: {DUPLICATE_MRN}"})
        numbers.add(patient.mrn)
    ordered = sorted(numbers)
    for start in range(0, len(ordered), MRN_BATCH):
        taken = Patient.objects.filter(clinic=clinic, mrn__in=ordered[start : start + MRN_BATCH])
        if taken.exists():
            raise ValidationError({"mrn": f"{taken.first().mrn}: {DUPLICATE_MRN}"})
    bulk.insert(Patient, patients)
    highest = max((int(mrn) for mrn in numbers if mrn.isascii() and mrn.isdigit()), default=0)
    locked = Clinic.objects.select_for_update().get(pk=clinic.pk)
    if highest >= locked.next_mrn:
        locked.next_mrn = clinic.next_mrn = highest + 1
        locked.save(update_fields=["next_mrn"])
    audit.record_each(
        actor=actor, action=audit.Action.CREATE, objects=patients, detail={"imported": source}
    )
    return patients


@transaction.atomic
def episodes_import(
    *, actor: User, episodes: list[EpisodeOfCare], source: str
) -> list[EpisodeOfCare]:
    """Episodes of care made elsewhere, each with its own status and dates, checked as
    `episode_create` checks them (a condition code valid on the first day, an active
    practitioner of the clinic in charge) and audited. A finished episode keeps the day it
    ended; an open one has none."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="import records")
    for episode in episodes:
        patient = episode.patient
        if patient.clinic_id != actor.clinic_id:
            raise ValidationError("This patient is not in your clinic.")
        _check_condition(episode.condition_code, episode.period_start)
        episode.body_area = (
            episode.body_area or knowledge.condition(episode.condition_code).body_area or ""
        )
        _check_care_manager(episode.care_manager, patient)
        finished = episode.status == EpisodeOfCare.Status.FINISHED
        if finished != (episode.period_end is not None):
            raise ValidationError(
                {"period_end": "A finished episode has the day it ended; an open one has none."}
            )
        episode.referral_detail = episode.referral_detail.strip()
        episode.full_clean(
            exclude=["patient", "care_manager", "condition_code"],  # the code is checked above
            validate_unique=False,
            validate_constraints=False,
        )
    bulk.insert(EpisodeOfCare, episodes)
    audit.record_each(
        actor=actor, action=audit.Action.CREATE, objects=episodes, detail={"imported": source}
    )
    return episodes
