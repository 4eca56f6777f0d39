"""Writes to clinics, staff and credentials; each writes its audit row in the same transaction."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Q

from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import (
    Clinic,
    DryNeedlingCredential,
    Practitioner,
    Profession,
    Role,
    TwoFactor,
    User,
)
from needlechart.audit import services as audit
from needlechart.db import guards
from needlechart.records import (
    apply_changes,
    audit_values,
    change_detail,
    lock,
    refuse_if_changed,
    unchanged_on_error,
)


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
    # A real clinic requires two-factor sign-in from the start (the model's default); demo
    # clinics do not, so that the printed demo logins work.
    clinic = Clinic(name=name, timezone=timezone, is_demo=is_demo)
    if is_demo:
        clinic.two_factor = TwoFactor.NONE
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
    if role == Role.SERVICE:
        raise ValidationError({"role": "Service accounts are made on the API tokens page."})
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
) -> dict[str, Any]:
    """Create or update the user's practitioner profile; return the change's audit detail
    (the fields that changed, with their old and new values)."""
    existing = getattr(user, "practitioner", None)
    if not profession:
        if existing is not None:
            # Credentials and episodes refer to the profile, so it stays on record.
            raise ValidationError({"profession": PROFILE_STAYS})
        return change_detail({}, user, [])
    practitioner = existing or Practitioner(user=user)
    before = audit_values(practitioner, PRACTITIONER_EDITABLE)
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
    return change_detail(before, practitioner, changed)


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
    authorize(actor, roles=rules.ADMIN_ROLES, what="manage staff")
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


@transaction.atomic
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
    authorize(actor, roles=rules.ADMIN_ROLES, clinic=staff.clinic, what="manage staff")
    if staff.role == Role.SERVICE:
        raise ValidationError("A service account is managed on the API tokens page.")
    if staff.pk == actor.pk and (role != Role.CLINIC_ADMIN or not is_active):
        raise ValidationError(
            {"role": "You cannot remove your own admin role or deactivate yourself."}
        )
    values = {"email": email, "first_name": first_name, "last_name": last_name}
    before = audit_values(staff, USER_EDITABLE)
    with unchanged_on_error(staff), transaction.atomic():
        changed = apply_changes(
            staff, USER_EDITABLE, {**values, "role": role, "is_active": is_active}
        )
        detail = change_detail(before, staff, changed)
        staff.full_clean(exclude=["password"])
        staff.save()
        profile = _practitioner_save(
            user=staff,
            profession=profession,
            registration_number=registration_number,
            registration_body=registration_body,
        )
        # One row for the person: their account's and their practitioner profile's changes.
        for key in ("changed", "before", "after"):
            detail[key] = (
                detail[key] + profile[key] if key == "changed" else {**detail[key], **profile[key]}
            )
        audit.record(actor=actor, action=audit.Action.UPDATE, obj=staff, detail=detail)
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
    authorize(
        actor, roles=rules.ADMIN_ROLES, clinic=practitioner.user.clinic, what="record credentials"
    )
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


@transaction.atomic
def credential_update(
    *,
    actor: User,
    credential: DryNeedlingCredential,
    today: dt.date,
    was: str | None = None,
    **values: Any,
) -> DryNeedlingCredential:
    authorize(
        actor,
        roles=rules.ADMIN_ROLES,
        clinic=credential.practitioner.user.clinic,
        what="record credentials",
    )
    with unchanged_on_error(credential), transaction.atomic():
        lock(credential)
        refuse_if_changed(credential, was, values)
        before = audit_values(credential, DryNeedlingCredential.EDITABLE)
        changed = apply_changes(credential, DryNeedlingCredential.EDITABLE, values)
        _credential_save(credential, today)
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            obj=credential,
            detail={
                "practitioner": credential.practitioner_id,
                **change_detail(before, credential, changed),
            },
        )
    return credential


CLINIC_EDITABLE = (
    "name", "phone", "email", "address", "review_after_sessions", "consent_states_training",
    "idle_minutes", "sign_confirm_minutes", "two_factor", "retention_years",
)  # fmt: skip


@transaction.atomic
def clinic_update(
    *, actor: User, logo: bytes | None = None, remove_logo: bool = False, **values: Any
) -> Clinic:
    """The clinic's name and contact details (shown to patients on aftercare sheets) and
    the letterhead's logo: a new `logo` replaces it, `remove_logo` takes it off."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="change the clinic's details")
    if actor.role != Role.CLINIC_ADMIN or actor.clinic is None:
        raise ValidationError("Only a clinic admin can change the clinic's details.")
    clinic = actor.clinic
    logo_type = logo_kind(logo) if logo else ""
    before = audit_values(clinic, CLINIC_EDITABLE)
    with unchanged_on_error(clinic), transaction.atomic():
        changed = apply_changes(clinic, CLINIC_EDITABLE, values)
        detail = change_detail(before, clinic, changed)
        if logo or (remove_logo and clinic.logo_type):
            clinic.logo, clinic.logo_type = (logo, logo_type) if logo else (b"", "")
            detail["logo"] = f"{logo_type}, {len(logo)} bytes" if logo else "removed"
        clinic.full_clean()
        clinic.save()
        audit.record(actor=actor, action=audit.Action.UPDATE, obj=clinic, detail=detail)
    return clinic


# The logo is printed a few centimetres wide: a larger file is a photograph, not a logo.
LOGO_MAX_BYTES = 256 * 1024
LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def logo_kind(content: bytes) -> str:
    """The logo's media type, read from its first bytes (not its name), or the refusal."""
    if len(content) > LOGO_MAX_BYTES:
        raise ValidationError(
            {"logo": f"The logo is {len(content) // 1024} KB; it may be at most "
                     f"{LOGO_MAX_BYTES // 1024} KB."}
        )  # fmt: skip
    for magic, media_type in LOGO_TYPES.items():
        if content.startswith(magic):
            return media_type
    raise ValidationError({"logo": "The logo must be a PNG or JPEG image."})


# --- demo clinics ------------------------------------------------------------------------------

# Rows per DELETE, within SQLite's limit on query parameters.
DELETE_BATCH = 500


@transaction.atomic
def demo_clinics_remove() -> int:
    """Remove every clinic marked `is_demo` and everything that belongs to it; returns how
    many clinics went. `needlechart demo` calls it to rebuild its clinics.

    This is the one place that deletes clinical records and audit rows, which the rest of
    the application never does, and it may because demo clinics hold generated data only:
    no patient's record, rebuilt at will (README). A row belongs to a demo clinic when one
    of its foreign keys leads to a row that does (a session through its episode, a patient
    through the clinic), or when a demo row owns it one-to-one (a patient's portal sign-in,
    which has no clinic of its own). Every row that points at a removed row is therefore
    removed too, and nothing of another clinic is touched: a row that names a clinic not
    marked as demo stops the removal. Rows go by id, children first, without being loaded
    one by one: a demo can hold hundreds of thousands.
    """
    clinics = set(Clinic.objects.filter(is_demo=True).values_list("pk", flat=True))
    if not clinics:
        return 0
    owned = _rows_of(clinics)
    # Signed records and audit rows refuse DELETE in the database: the guards are lifted for
    # this transaction, which takes the tables' owner (the migration role in production).
    with guards.lifted(connection):
        for model in reversed(_parents_first()):
            ids = sorted(owned.get(model, ()))
            for start in range(0, len(ids), DELETE_BATCH):
                rows = model._base_manager.filter(pk__in=ids[start : start + DELETE_BATCH])
                rows._raw_delete(rows.db)
        # Their audit chains go with their rows: numbered by clinic, not linked by a key.
        from needlechart.audit.models import AuditChain, AuditVerification

        for model in (AuditChain, AuditVerification):
            chains = model._base_manager.filter(chain__in=clinics)
            chains._raw_delete(chains.db)
    return len(clinics)


def _links(model: type[models.Model]) -> list[models.Field]:
    """The foreign and one-to-one keys of `model` to other models."""
    return [
        field
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model is not model
    ]


def _parents_first() -> list[type[models.Model]]:
    """Every model (many-to-many tables too), each after the models its keys point at."""
    ordered: list[type[models.Model]] = []
    seen: set[type[models.Model]] = set()

    def visit(model: type[models.Model]) -> None:
        if model in seen:
            return
        seen.add(model)
        for field in _links(model):
            visit(field.related_model)
        ordered.append(model)

    for model in apps.get_models(include_auto_created=True):
        visit(model)
    return ordered


def _rows_of(clinics: set[int]) -> dict[type[models.Model], set]:
    """The ids of every row that belongs to `clinics`, by model (see demo_clinics_remove)."""
    owned: dict[type[models.Model], set] = {Clinic: set(clinics)}
    grew: set[type[models.Model]] = {Clinic}
    while grew:
        before = {model: len(ids) for model, ids in owned.items()}
        for model in _parents_first():
            links = _links(model)
            if model is Clinic or not any(f.related_model in grew for f in links):
                continue
            size = len(owned.get(model, ()))
            mine = owned.setdefault(model, set())
            columns = [field.attname for field in links]
            for pk, *keys in model._base_manager.values_list("pk", *columns).iterator():
                pairs = list(zip(links, keys, strict=True))
                if pk not in mine and not any(
                    key in owned.get(field.related_model, ()) for field, key in pairs
                ):
                    continue
                mine.add(pk)
                for field, key in pairs:
                    if field.related_model is Clinic and key is not None and key not in clinics:
                        raise ValidationError(
                            f"A {model._meta.verbose_name} of a demo clinic names clinic "
                            f"{key}, which is not a demo clinic: nothing was removed."
                        )
                    if field.one_to_one and key is not None:
                        # What a demo row owns one-to-one is the demo's too.
                        owned.setdefault(field.related_model, set()).add(key)
            if len(mine) != size:
                grew.add(model)  # models further on that point here look again
        grew = {model for model, ids in owned.items() if len(ids) != before.get(model, 0)}
    return owned


@transaction.atomic
def demo_passwords_set(*, users: list[User], password: str) -> None:
    """Give demo accounts the password the README publishes, hashed once (hashing is slow on
    purpose, and a demo has hundreds of patients' sign-ins). Refuses any account that is
    not a demo clinic's: its staff, or the portal sign-in of one of its patients."""
    ids = [user.pk for user in users]
    demo = User.objects.filter(
        Q(clinic__is_demo=True) | Q(portal_account__patient__clinic__is_demo=True)
    )
    encoded = make_password(password)
    for start in range(0, len(ids), DELETE_BATCH):
        batch = ids[start : start + DELETE_BATCH]
        if demo.filter(pk__in=batch).count() != len(set(batch)):
            raise ValidationError("Only the accounts of demo clinics take the demo password.")
        User.objects.filter(pk__in=batch).update(password=encoded)
    for user in users:
        user.password = encoded
