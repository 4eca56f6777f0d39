"""Making, revoking and checking API tokens; every change audited."""

import datetime as dt
import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.api.models import SCOPES, ApiToken
from needlechart.audit import services as audit

PREFIX = "nc_"
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
