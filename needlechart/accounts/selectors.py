"""Reads of staff and practitioners, always scoped to the acting user's clinic."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from needlechart.accounts import rules
from needlechart.accounts.access import in_clinic
from needlechart.accounts.models import DryNeedlingCredential, Practitioner, Role, User


@dataclass(frozen=True)
class PractitionerRow:
    practitioner: Practitioner
    qualification: rules.Qualification
    days_left: int | None


def practitioner_list(*, user: User, on: dt.date) -> list[PractitionerRow]:
    """Every practitioner of the clinic with their qualification on `on`, in two queries."""
    practitioners = (
        Practitioner.objects.filter(user__clinic_id=user.clinic_id)
        .select_related("user")
        .prefetch_related("credentials")
        .order_by("user__last_name", "user__first_name", "id")
    )
    rows = []
    for practitioner in practitioners:
        qualification = rules.needling_status(practitioner, on)
        rows.append(PractitionerRow(practitioner, qualification, qualification.days_left(on)))
    return rows


def practitioner_get(*, user: User, practitioner_id: int) -> Practitioner:
    return get_object_or_404(
        Practitioner.objects.select_related("user"),
        pk=practitioner_id,
        user__clinic_id=user.clinic_id,
    )


def practitioner_choices(*, user: User, keep_id: int | None = None) -> QuerySet[Practitioner]:
    """Active practitioners of the clinic who may be put in charge of an episode.

    `keep_id` keeps the current choice of a record selectable after its owner left.
    """
    eligible = Q(user__is_active=True, user__role__in=rules.NEEDLING_ROLES)
    if keep_id is not None:
        eligible |= Q(pk=keep_id)
    return (
        Practitioner.objects.filter(eligible, user__clinic_id=user.clinic_id)
        .select_related("user")
        .order_by("user__last_name", "user__first_name")
    )


def credential_get(*, user: User, credential_id: int) -> DryNeedlingCredential:
    return get_object_or_404(
        DryNeedlingCredential.objects.select_related("practitioner__user"),
        pk=credential_id,
        practitioner__user__clinic_id=user.clinic_id,
    )


# People: a service account is managed on the API tokens page, never as staff (no password
# link, no role change).
PEOPLE = User.objects.exclude(role=Role.SERVICE)


def staff_list(*, user: User) -> QuerySet[User]:
    return (
        PEOPLE.filter(clinic_id=user.clinic_id)
        .select_related("practitioner")
        .order_by("-is_active", "last_name", "first_name", "username")
    )


def staff_with_two_factor(*, user: User) -> set[int]:
    """The staff of the user's clinic who have a confirmed authenticator app."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return set(
        TOTPDevice.objects.filter(user__clinic_id=user.clinic_id, confirmed=True).values_list(
            "user_id", flat=True
        )
    )


def staff_get(*, user: User, staff_id: int) -> User:
    return get_object_or_404(
        PEOPLE.select_related("practitioner"), pk=staff_id, clinic_id=user.clinic_id
    )


def practitioner_in_clinic(user: User, practitioner_id: int) -> bool:
    return in_clinic(user, Practitioner.objects, "user__clinic_id", practitioner_id)


def credential_in_clinic(user: User, credential_id: int) -> bool:
    return in_clinic(
        user, DryNeedlingCredential.objects, "practitioner__user__clinic_id", credential_id
    )


def staff_in_clinic(user: User, staff_id: int) -> bool:
    return in_clinic(user, PEOPLE, "clinic_id", staff_id)
