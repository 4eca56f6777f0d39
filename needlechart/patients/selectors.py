"""Reads of patients and episodes: scoped to the user's clinic, and audited.

The patient list and the working day, which read charting and outcomes too, are pages:
`needlechart.pages.selectors`."""

from django.shortcuts import get_object_or_404

from needlechart.accounts import rules
from needlechart.accounts.access import in_clinic
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.patients.models import EpisodeOfCare, Patient

Status = EpisodeOfCare.Status
OPEN = (Status.ACTIVE, Status.ON_HOLD)


def patient_get_unaudited(*, user: User, patient_id: int) -> Patient:
    """The patient if they belong to the user's clinic, else 404; the caller audits the read."""
    return get_object_or_404(Patient, pk=patient_id, clinic_id=user.clinic_id)


def patient_get(*, user: User, patient_id: int) -> Patient:
    """The patient if they belong to the user's clinic (else 404), audited as viewed."""
    patient = patient_get_unaudited(user=user, patient_id=patient_id)
    audit.record(actor=user, action=audit.Action.VIEW, obj=patient)
    return patient


def patient_episodes(*, user: User, patient: Patient) -> list[EpisodeOfCare]:
    """The patient's episodes for roles that may read clinical content, else none.

    Each episode shown is audited as listed: its condition is clinical content.
    """
    if not rules.has_role(user, rules.CLINICAL_READ_ROLES):
        return []
    episodes = list(
        patient.episodes.select_related("care_manager__user").order_by("-period_start", "-id")
    )
    audit.record_each(actor=user, action=audit.Action.LIST, objects=episodes)
    return episodes


def episode_get(*, user: User, episode_id: int) -> EpisodeOfCare:
    """The episode if its patient belongs to the user's clinic (else 404), audited as viewed."""
    episode = get_object_or_404(
        EpisodeOfCare.objects.select_related("patient", "care_manager__user"),
        pk=episode_id,
        patient__clinic_id=user.clinic_id,
    )
    audit.record(actor=user, action=audit.Action.VIEW, obj=episode, patient=episode.patient)
    return episode


def patient_in_clinic(user: User, patient_id: int) -> bool:
    return in_clinic(user, Patient.objects, "clinic_id", patient_id)


def episode_in_clinic(user: User, episode_id: int) -> bool:
    return in_clinic(user, EpisodeOfCare.objects, "patient__clinic_id", episode_id)
