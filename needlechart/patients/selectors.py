"""Reads of patients and episodes: scoped to the user's clinic, and audited.

The patient list and the working day, which read charting and outcomes too, are pages:
`needlechart.pages.selectors`."""

from django.db.models import Case, QuerySet, Value, When
from django.http import Http404
from django.shortcuts import get_object_or_404

from needlechart.accounts import rules
from needlechart.accounts.access import in_clinic
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.db import latest as listing
from needlechart.db.latest import Latest, count_of, latest
from needlechart.db.prepared import prepared
from needlechart.patients.models import EpisodeOfCare, Patient

Status = EpisodeOfCare.Status
OPEN = (Status.ACTIVE, Status.ON_HOLD)


def patient_get_unaudited(*, user: User, patient_id: int) -> Patient:
    """The patient if they belong to the user's clinic, else 404; the caller audits the read."""
    if type(patient_id) is not int:
        return get_object_or_404(Patient, pk=patient_id, clinic_id=user.clinic_id)
    found = _patient_in(patient_id, user.clinic_id)
    if not found:
        raise Http404("No patient matches the given query.")
    return found[0]


@prepared
def _patient_in(patient_id: int, clinic_id: int) -> QuerySet:
    return Patient.objects.filter(pk=patient_id, clinic_id=clinic_id)


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


def patient_page_episodes(*, user: User, patient: Patient, every: bool = False) -> Latest | list:
    """The patient's episodes as the patient page lists them, for roles that may read
    clinical content (else none): those not finished first, as the next visit starts from
    them, then the newest; `db.latest.LISTED` of them unless `every`. Each shown is audited
    as listed."""
    if not rules.has_role(user, rules.CLINICAL_READ_ROLES):
        return []
    if every:
        shown = latest(_page_episodes(patient.pk), every=True)
    else:
        found = _latest_page_episodes(patient.pk, listed=listing.LISTED)
        shown = Latest(found, found[0].history_total if found else 0)
    for episode in shown.rows:
        episode.patient = patient  # as the patient's own related list would give them
    audit.record_each(actor=user, action=audit.Action.LIST, objects=shown.rows)
    return shown


def _page_episodes(patient_id: int) -> QuerySet:
    return (
        EpisodeOfCare.objects.filter(patient_id=patient_id)
        .select_related("care_manager__user")
        .order_by(
            Case(When(status=Status.FINISHED, then=Value(1)), default=Value(0)),
            "-period_start",
            "-id",
        )
    )


@prepared
def _latest_page_episodes(patient_id: int, *, listed: int) -> QuerySet:
    rows = _page_episodes(patient_id)
    return rows.annotate(history_total=count_of(rows))[:listed]


def episode_get(*, user: User, episode_id: int) -> EpisodeOfCare:
    """The episode if its patient belongs to the user's clinic (else 404), audited as viewed."""
    if type(episode_id) is not int:
        episode = get_object_or_404(_episodes_in(user.clinic_id), pk=episode_id)
    elif found := _episode_in(episode_id, user.clinic_id):
        episode = found[0]
    else:
        raise Http404("No episode of care matches the given query.")
    audit.record(actor=user, action=audit.Action.VIEW, obj=episode, patient=episode.patient)
    return episode


def _episodes_in(clinic_id: int) -> QuerySet:
    # With the clinic: the episode's progress reads its review interval.
    return EpisodeOfCare.objects.select_related("patient__clinic", "care_manager__user").filter(
        patient__clinic_id=clinic_id
    )


@prepared
def _episode_in(episode_id: int, clinic_id: int) -> QuerySet:
    return _episodes_in(clinic_id).filter(pk=episode_id)


def patient_in_clinic(user: User, patient_id: int) -> bool:
    return in_clinic(user, Patient.objects, "clinic_id", patient_id)


def episode_in_clinic(user: User, episode_id: int) -> bool:
    return in_clinic(user, EpisodeOfCare.objects, "patient__clinic_id", episode_id)
