"""Writes to clinics, staff and credentials; each writes its audit row in the same transaction."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from needlechart.accounts.models import (
    Clinic,
    DryNeedlingCredential,
    Practitioner,
    Profession,
    Role,
    User,
)
from needlechart.audit import services as audit
from needlechart.records import apply_changes, unchanged_on_error


@transaction.atomic
def clinic_create(
    *,
    name: str,
    timezone: str,
    admin_username: str,
    admin_email: str,
    admin_first_name: str = "",
    admin_last_name: str = "",
    is_demo: bool = False,
) -> tuple[Clinic, User]:
    """A new clinic with its first clinic admin, who has no password until one is set."""
    clinic = Clinic(name=name, timezone=timezone, is_demo=is_demo)
    clinic.full_clean()
    clinic.save()
    admin = _user_create(
        clinic=clinic,
        username=admin_username,
        email=admin_email,
        first_name=admin_first_name,
        last_name=admin_last_name,
        role=Role.CLINIC_ADMIN,
    )
    audit.record(actor=None, action=audit.Action.CREATE, obj=clinic, clinic=clinic)
    audit.record(actor=None, action=audit.Action.CREATE, obj=admin, clinic=clinic)
    return clinic, admin


def _user_create(
    *, clinic: Clinic, username: str, email: str, first_name: str, last_name: str, role: Role
) -> User:
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "This username is already taken."})
    user = User(
        clinic=clinic,
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        role=role,
    )
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    return user


def _check_profile(*, role: str, profession: str | None) -> None:
    if role == Role.PRACTITIONER and not profession:
        raise ValidationError({"profession": "A practitioner needs a profession."})


PROFILE_STAYS = "This person's practitioner profile stays on record; keep a profession."
PROFILE_STAYS = "This person's practitioner profile stays on record; keep a profession."
PRACTITIONER_EDITABLE = ("profession", "registration_number", "registration_body")


def _practitioner_save(
    *,
    user: User,
    profession: str | None,
    registration_number: str,
    registration_body: str,
) -> list[str]:
    """Create or update the user's practitioner profile; return the fields that changed."""
    existing = getattr(user, "practitioner", None)
    if not profession:
        if existing is not None:
            # Credentials and episodes refer to the profile, so it stays on record.
            raise ValidationError({"profession": PROFILE_STAYS})
        return []
    practitioner = existing or Practitioner(user=user)
    changed = apply_changes(
        practitioner,
        PRACTITIONER_EDITABLE,
        {
            "profession": Profession(profession),
            "registration_number": registration_number,
            "registration_body": registration_body,
        },
    )
    practitioner.full_clean()
    practitioner.save()
    return changed


@transaction.atomic
def staff_create(
    *,
    actor: User,
    username: str,
    email: str,
    first_name: str,
    last_name: str,
    role: str,
    profession: str | None = None,
    registration_number: str = "",
    registration_body: str = "",
) -> User:
    """A staff account in the actor's clinic, without a password until its owner sets one."""
    _check_profile(role=role, profession=profession)
    user = _user_create(
        clinic=actor.clinic,
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        role=Role(role),
    )
    _practitioner_save(
        user=user,
        profession=profession,
        registration_number=registration_number,
        registration_body=registration_body,
    )
    audit.record(actor=actor, action=audit.Action.CREATE, obj=user, detail={"role": role})
    return user


USER_EDITABLE = ("email", "first_name", "last_name", "role", "is_active")


def staff_update(
    *,
    actor: User,
    staff: User,
    email: str,
    first_name: str,
    last_name: str,
    role: str,
    is_active: bool,
    profession: str | None = None,
    registration_number: str = "",
    registration_body: str = "",
) -> User:
    _check_profile(role=role, profession=profession)
    if staff.pk == actor.pk and (role != Role.CLINIC_ADMIN or not is_active):
        raise ValidationError(
            {"role": "You cannot remove your own admin role or deactivate yourself."}
        )
    values = {"email": email, "first_name": first_name, "last_name": last_name}
    with unchanged_on_error(staff), transaction.atomic():
        changed = apply_changes(
            staff, USER_EDITABLE, {**values, "role": role, "is_active": is_active}
        )
        staff.full_clean(exclude=["password"])
        staff.save()
        changed += _practitioner_save(
            user=staff,
            profession=profession,
            registration_number=registration_number,
            registration_body=registration_body,
        )
        audit.record(
            actor=actor, action=audit.Action.UPDATE, obj=staff, detail={"changed": changed}
        )
    return staff


def _credential_save(credential: DryNeedlingCredential, today: dt.date) -> None:
    if credential.completed_on and credential.completed_on > today:
        raise ValidationError({"completed_on": "The completion date cannot be in the future."})
    credential.full_clean()
    credential.save()


@transaction.atomic
def credential_create(
    *,
    actor: User,
    practitioner: Practitioner,
    course: str,
    provider: str,
    hours: Decimal,
    completed_on: dt.date,
    expires_on: dt.date | None,
    evidence_note: str = "",
    jurisdiction: str = "",
    today: dt.date,
) -> DryNeedlingCredential:
    credential = DryNeedlingCredential(practitioner=practitioner, recorded_by=actor)
    apply_changes(
        credential,
        DryNeedlingCredential.EDITABLE,
        {
            "course": course,
            "provider": provider,
            "hours": hours,
            "completed_on": completed_on,
            "expires_on": expires_on,
            "evidence_note": evidence_note,
            "jurisdiction": jurisdiction,
        },
    )
    _credential_save(credential, today)
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=credential,
        detail={"practitioner": practitioner.pk},
    )
    return credential


def credential_update(
    *, actor: User, credential: DryNeedlingCredential, today: dt.date, **values: Any
) -> DryNeedlingCredential:
    with unchanged_on_error(credential), transaction.atomic():
        changed = apply_changes(credential, DryNeedlingCredential.EDITABLE, values)
        _credential_save(credential, today)
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            obj=credential,
            detail={"practitioner": credential.practitioner_id, "changed": changed},
        )
    return credential


CLINIC_EDITABLE = (
    "name", "phone", "email", "address", "review_after_sessions", "consent_states_training",
)  # fmt: skip


def clinic_update(*, actor: User, **values: Any) -> Clinic:
    """The clinic's name and contact details (shown to patients on aftercare sheets)."""
    if actor.role != Role.CLINIC_ADMIN or actor.clinic is None:
        raise ValidationError("Only a clinic admin can change the clinic's details.")
    clinic = actor.clinic
    with unchanged_on_error(clinic), transaction.atomic():
        changed = apply_changes(clinic, CLINIC_EDITABLE, values)
        clinic.full_clean()
        clinic.save()
        audit.record(
            actor=actor, action=audit.Action.UPDATE, obj=clinic, detail={"changed": changed}
        )
    return clinic
