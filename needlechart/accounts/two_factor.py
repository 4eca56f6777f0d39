"""Two-factor sign-in: a time-based code from an authenticator app (django-otp's TOTP
device), with one-time recovery codes kept as salted hashes.

A staff member whose clinic requires it (Clinic.two_factor) reaches no page until they have
set it up; anyone with a confirmed app must give its code after the password. A wrong code
counts toward the sign-in lockout like a wrong password. Only a clinic admin can reset it,
and every setup, reset and use of a recovery code is audited.
"""

import hashlib
import hmac
import secrets
from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from needlechart.accounts import rules
from needlechart.accounts.models import RecoveryCode, Role, TwoFactor, User
from needlechart.audit import services as audit

RECOVERY_CODES = 10
# Whether the signed-in user has a confirmed app, noted in the session at sign-in so that
# pages need no query to know it (middleware.TwoFactorMiddleware).
HAS_APP = "needlechart.two_factor"

REQUIRED_ROLES = {
    TwoFactor.NONE: set(),
    TwoFactor.ADMINS: {Role.CLINIC_ADMIN},
    TwoFactor.CLINICIANS: {Role.CLINIC_ADMIN, Role.PRACTITIONER, Role.ASSISTANT},
    TwoFactor.STAFF: set(Role),
}


def required(user: Any) -> bool:
    clinic = getattr(user, "clinic", None)
    return clinic is not None and user.role in REQUIRED_ROLES[TwoFactor(clinic.two_factor)]


def app_of(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_app(user: User) -> TOTPDevice:
    """The app being set up: made once and kept until confirmed, so that reloading the
    setup page does not change the code the user has just scanned."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def secret_of(device: TOTPDevice) -> str:
    """The key as an authenticator app takes it when typed: base32, in groups of four."""
    import base64

    text = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def _hash(code: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _normal(code: str) -> str:
    return "".join(c for c in code.upper() if c.isalnum())


def _new_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes, rows = [], []
    for _ in range(RECOVERY_CODES):
        code = secrets.token_hex(6).upper()  # 48 random bits
        salt = secrets.token_hex(8)
        rows.append(RecoveryCode(user=user, code_hash=f"{salt}${_hash(code, salt)}"))
        codes.append(f"{code[:4]}-{code[4:8]}-{code[8:]}")
    RecoveryCode.objects.bulk_create(rows)
    return codes


def app_code_ok(user: User, code: str) -> bool:
    """Whether `code` is the user's app's current code (used up by it)."""
    device = app_of(user)
    return device is not None and device.verify_token(_normal(code))


def failed(request: HttpRequest, user: User) -> None:
    _counts_as_failure(request, user)


def _counts_as_failure(request: HttpRequest, user: User) -> None:
    """A wrong code counts toward the lockout like a wrong password (django-axes)."""
    user_login_failed.send(
        sender=__name__, credentials={"username": user.get_username()}, request=request
    )


def locked(request: HttpRequest, user: User) -> bool:
    from axes.handlers.proxy import AxesProxyHandler

    return AxesProxyHandler.is_locked(request, {"username": user.get_username()})


@transaction.atomic
def setup_confirm(*, request: HttpRequest, code: str) -> list[str]:
    """Confirm the app being set up with a code it shows; returns the new recovery codes,
    to be shown once."""
    user = request.user
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None:
        raise ValidationError({"code": "Open the setup page again to get a new code to scan."})
    if not device.verify_token(_normal(code)):
        _counts_as_failure(request, user)
        raise ValidationError(
            {"code": "That code is not the one the app shows now. Check the app and try again."}
        )
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save()
    codes = _new_codes(user)
    otp_login(request, device)
    request.session[HAS_APP] = True
    audit.record(actor=user, action=audit.Action.UPDATE, obj=user,
                 detail={"two_factor": "set up", "recovery_codes": RECOVERY_CODES})  # fmt: skip
    return codes


def verify(*, request: HttpRequest, code: str) -> bool:
    """Check the code after the password: the app's current code, or an unused recovery
    code (used up by it). A wrong one counts toward the lockout."""
    user = request.user
    device = app_of(user)
    if device is None:
        return False
    wanted = _normal(code)
    # Six digits are the app's; a recovery code is longer, and trying it on the app would
    # count against the app's own throttle.
    if len(wanted) <= device.digits and device.verify_token(wanted):
        otp_login(request, device)
        return True
    with transaction.atomic():
        for row in RecoveryCode.objects.select_for_update().filter(user=user, used_at=None):
            salt, digest = row.code_hash.split("$", 1)
            if hmac.compare_digest(_hash(wanted, salt), digest):
                row.used_at = timezone.now()
                row.save(update_fields=["used_at"])
                otp_login(request, device)
                left = RecoveryCode.objects.filter(user=user, used_at=None).count()
                detail = {"two_factor": "recovery code used", "codes_left": left}
                audit.record(actor=user, action=audit.Action.UPDATE, obj=user, detail=detail)
                return True
    _counts_as_failure(request, user)
    return False


@transaction.atomic
def reset(*, actor: User, staff: User) -> None:
    """Remove a staff member's app and recovery codes (a lost phone): they set it up again
    at their next sign-in. Clinic admins only, for their own clinic."""
    if not rules.has_role(actor, rules.ADMIN_ROLES) or staff.clinic_id != actor.clinic_id:
        raise PermissionDenied("Only a clinic admin can reset two-factor sign-in.")
    removed = TOTPDevice.objects.filter(user=staff).delete()[0]
    RecoveryCode.objects.filter(user=staff).delete()
    audit.record(actor=actor, action=audit.Action.UPDATE, obj=staff,
                 detail={"two_factor": "reset", "apps_removed": removed})  # fmt: skip
