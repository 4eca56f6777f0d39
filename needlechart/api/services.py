"""Making, revoking and checking API tokens; every change audited."""

import datetime as dt
import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import Role, User
from needlechart.api.models import SCOPES, SERVICE_SCOPES, SIGN, ApiToken
from needlechart.audit import services as audit

PREFIX = "nc_"
SERVICE_SIGNS_NOTHING = (
    f"A service account is not a person: it signs nothing (no {SIGN}), as a signature is a "
    "person's. Give it the read and write scopes it needs."
)
# Last use is written at most this often, so that reading through the API does not write
# the token's row on every request.
TOUCH = dt.timedelta(minutes=1)
LONGEST = dt.timedelta(days=366)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def token_create(
    *, actor: User, user: User, name: str, scopes: list[str], expires_on: dt.date
) -> tuple[ApiToken, str]:
    """A new token acting as `user` (staff of the actor's clinic); returns it and its secret,
    which is shown once and never stored."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="manage API tokens")
    errors = {}
    if user.clinic_id != actor.clinic_id or not user.is_active:
        errors["user"] = "Choose an active staff member of your clinic."
    if not scopes or set(scopes) - set(SCOPES):
        errors["scopes"] = "Choose at least one scope."
    elif user.role == Role.SERVICE and set(scopes) - set(SERVICE_SCOPES):
        errors["scopes"] = SERVICE_SIGNS_NOTHING
    today = timezone.localdate()
    if expires_on <= today or expires_on - today > LONGEST:
        errors["expires_on"] = "Choose a day after today and within a year."
    if not name.strip():
        errors["name"] = "Name the token after the system that will use it."
    if errors:
        raise ValidationError(errors)
    secret = PREFIX + secrets.token_urlsafe(32)
    zone = timezone.get_current_timezone()
    token = ApiToken.objects.create(
        clinic_id=actor.clinic_id, name=name.strip(), user=user, scopes=sorted(scopes),
        prefix=secret[:10], key_hash=_hash(secret), created_by=actor,
        expires_at=dt.datetime.combine(expires_on, dt.time.min, tzinfo=zone),
    )  # fmt: skip
    audit.record(actor=actor, action=audit.Action.CREATE, obj=token,
                 detail={"name": token.name, "acts_as": user.username, "scopes": token.scopes,
                         "expires_on": expires_on.isoformat()})  # fmt: skip
    return token, secret


@transaction.atomic
def token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    authorize(actor, roles=rules.ADMIN_ROLES, what="manage API tokens")
    if token.clinic_id != actor.clinic_id:
        raise ValidationError("No such token.")
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit.record(actor=actor, action=audit.Action.UPDATE, obj=locked,
                     detail={"revoked": True, "name": locked.name})  # fmt: skip
    return locked


def authenticate(secret: str) -> ApiToken | None:
    """The active token with this secret, its user active too; else None."""
    if not secret.startswith(PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user__clinic", "clinic")
        .filter(key_hash=_hash(secret), revoked_at=None, expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active or token.user.clinic_id != token.clinic_id:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOUCH:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


# --- service accounts ----------------------------------------------------------------------


def _service_username(clinic_id: int, name: str) -> str:
    """The name the audit trail shows for it, e.g. booking@service-3 (never used to sign in:
    the account has no password); numbered when an earlier account had it."""
    base = f"{slugify(name)[:60] or 'system'}@service-{clinic_id}"
    taken = set(User.objects.filter(username__startswith=base).values_list("username", flat=True))
    return next(u for n in range(1, len(taken) + 2) if (u := base if n == 1 else f"{base}-{n}")
                not in taken)  # fmt: skip


@transaction.atomic
def service_account_create(*, actor: User, name: str) -> User:
    """A service account of the actor's clinic: another system (booking, billing) that owns
    API tokens, is named in the audit trail as itself, and never signs in to the pages (no
    password, and the sign-in backend refuses it)."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="manage API tokens")
    name = name.strip() if isinstance(name, str) else ""
    if not name or "\x00" in name or len(name) > 150:
        raise ValidationError({"name": "Name the system, e.g. Booking (150 characters at most)."})
    if User.objects.filter(clinic_id=actor.clinic_id, role=Role.SERVICE, first_name=name,
                           is_active=True).exists():  # fmt: skip
        raise ValidationError({"name": "An active service account has this name already."})
    account = User(clinic_id=actor.clinic_id, role=Role.SERVICE, first_name=name,
                   username=_service_username(actor.clinic_id, name))  # fmt: skip
    account.set_unusable_password()
    account.full_clean(exclude=["password"])
    account.save()
    audit.record(actor=actor, action=audit.Action.CREATE, obj=account,
                 detail={"role": Role.SERVICE, "name": name})  # fmt: skip
    return account


@transaction.atomic
def service_account_deactivate(*, actor: User, account: User) -> User:
    """Deactivate a service account: its tokens are refused from the next request on, and
    revoked so the list says so."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="manage API tokens")
    if account.clinic_id != actor.clinic_id or account.role != Role.SERVICE:
        raise ValidationError("No such service account.")
    locked = User.objects.select_for_update(of=("self",)).get(pk=account.pk)
    if locked.is_active:
        locked.is_active = False
        locked.save(update_fields=["is_active"])
        revoked = ApiToken.objects.filter(user=locked, revoked_at=None).update(
            revoked_at=timezone.now()
        )
        audit.record(actor=actor, action=audit.Action.UPDATE, obj=locked,
                     detail={"deactivated": True, "tokens_revoked": revoked})  # fmt: skip
    return locked
