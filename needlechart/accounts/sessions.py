"""Sessions that end: after the idle period the clinic sets, and after 12 hours at most.

The session keeps when it was signed in and when it was last used. A request after the
idle period, or past the limit, signs the user out (audited as any sign-out, with the
reason) and sends them to the sign-in page, which brings them back to where they were.
The page counts down in the browser and warns before the end (needlechart.js); a page
whose form was left unsaved keeps its input in the browser across the sign-in.
"""

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import urlencode

SIGNED_IN_AT = "needlechart.signed_in_at"
# When the user last proved it was them: the sign-in, or a confirmation before signing.
CONFIRMED_AT = "needlechart.confirmed_at"
LAST_SEEN = "needlechart.last_seen"
# The session is written at most this often just to note activity, so that reading pages
# does not write the session on every request.
TOUCH_SECONDS = 60
DEFAULT_IDLE_MINUTES = 15


def clinic_of(user: Any) -> Any:
    if getattr(user, "is_patient", False):
        return user.portal_account.patient.clinic
    return getattr(user, "clinic", None)


def idle_seconds(user: Any) -> int:
    clinic = clinic_of(user)
    minutes = clinic.idle_minutes if clinic is not None else DEFAULT_IDLE_MINUTES
    return minutes * 60


@receiver(user_logged_in)
def stamp_sign_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from needlechart.accounts import two_factor

    now = int(time.time())
    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN_AT] = now
        request.session[LAST_SEEN] = now
        request.session[CONFIRMED_AT] = now
        # Whether a second factor is owed, known to every page without a query.
        request.session[two_factor.HAS_APP] = two_factor.app_of(user) is not None


def _expired(request: HttpRequest, now: int) -> str:
    """Why the session ends now, in words, or ''."""
    session = request.session
    started, last = session.get(SIGNED_IN_AT), session.get(LAST_SEEN)
    if started is None:  # a session from before these limits: they start now
        session[SIGNED_IN_AT] = session[LAST_SEEN] = now
        return ""
    if now - started > settings.SESSION_MAX_SECONDS:
        hours = settings.SESSION_MAX_SECONDS // 3600
        return f"You were signed out {hours} hours after signing in. Please sign in again."
    idle = idle_seconds(request.user)
    if last is not None and now - last > idle:
        return (
            f"You were signed out after {idle // 60} minutes without activity, to keep "
            "patient records private. Please sign in again."
        )
    return ""


class SessionTimeoutMiddleware:
    """Sign out a session idle for longer than its clinic allows, or older than the limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            now = int(time.time())
            reason = _expired(request, now)
            if reason:
                portal = getattr(user, "is_patient", False)
                request.signed_out_because = reason  # for the audit row (audit/signals.py)
                auth.logout(request)
                messages.info(request, reason, fail_silently=True)
                login = reverse("portal:login" if portal else "login")
                return redirect_to_login(request.get_full_path(), login)
            last = request.session.get(LAST_SEEN)
            if last is None or now - last >= TOUCH_SECONDS or now < last:
                request.session[LAST_SEEN] = now
        return self.get_response(request)


def confirm_minutes(user: Any) -> int:
    clinic = clinic_of(user)
    return clinic.sign_confirm_minutes if clinic is not None else 60


def needs_confirmation(request: HttpRequest) -> bool:
    """Whether signing a record now asks the user to prove it is them again."""
    session = request.session
    last = session.get(CONFIRMED_AT) or session.get(SIGNED_IN_AT)
    return last is None or int(time.time()) - last > confirm_minutes(request.user) * 60


def confirmed_recently(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For the views that sign a clinical record: when the sign-in (or the last confirmation)
    is older than the clinic allows, ask for the password again first and sign nothing; the
    user comes back to the page and signs again."""
    from functools import wraps

    from django.shortcuts import redirect
    from django.utils.http import url_has_allowed_host_and_scheme
    from django_htmx.http import HttpResponseClientRedirect

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST" and needs_confirmation(request):
            back = request.headers.get("HX-Current-URL") or request.META.get("HTTP_REFERER", "")
            if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
                back = reverse("home")
            url = f"{reverse('confirm_identity')}?{urlencode({'next': back})}"
            messages.info(request, "Confirm it is you, then sign again.", fail_silently=True)
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        return view(request, *args, **kwargs)

    return guarded
