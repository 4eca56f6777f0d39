from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from needlechart.audit import services as audit


@receiver(user_logged_in)
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit.record(actor=user, action=audit.Action.LOGIN)


@receiver(user_logged_out)
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        # A session that ended by itself says why (accounts/sessions.py).
        reason = getattr(request, "signed_out_because", "")
        detail = {"reason": "session ended: " + reason.split(".")[0]} if reason else None
        audit.record(actor=user, action=audit.Action.LOGOUT, detail=detail)
