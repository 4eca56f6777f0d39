import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import LazyObject, empty


class ClinicTimezoneMiddleware:
    """Show dates and times in the clinic's own time zone; storage stays UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        clinic = getattr(user, "clinic", None) if user and user.is_authenticated else None
        if clinic is None and user is not None and getattr(user, "is_patient", False):
            clinic = user.portal_account.patient.clinic
        if clinic is not None:
            timezone.activate(zoneinfo.ZoneInfo(clinic.timezone))
        else:
            timezone.deactivate()
        return self.get_response(request)


def leave_clinic_time_zone(**kwargs: object) -> None:
    """Once an answer is sent (a streamed one included), the thread is back in the default
    zone: what it runs next outside a request (a command, a background job, a test) does
    not take the last clinic's day for today (request_finished, accounts/apps.py)."""
    timezone.deactivate()


class PermissionsPolicyMiddleware:
    """Turn off the browser features no page uses (camera, microphone, location ...), so
    that injected content could not ask for them either. Django sets the other headers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


class StoredHeadersMiddleware:
    """Make the request headers that get stored (by django-axes) storable.

    PostgreSQL text cannot hold NUL characters; a User-Agent carrying one would turn a
    sign-in attempt into a server error.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        agent = request.META.get("HTTP_USER_AGENT")
        if agent and "\x00" in agent:
            request.META["HTTP_USER_AGENT"] = agent.replace("\x00", "")
        return self.get_response(request)


NUL_REFUSED = (
    "The request held a NUL character, which no field accepts. Nothing was saved; go back, "
    "remove it and try again."
)


class NulRefusedMiddleware:
    """Answer a request whose address or form holds a NUL character with a clear 400.

    No field takes one, and PostgreSQL text cannot hold one: a filter or a choice carrying
    it used to reach the database and end in a server error there (SQLite took it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The API takes JSON and refuses a NUL in it by field itself; reading its body as a
        # form here would leave the API nothing to read (and a body sent as a form, a 500).
        form = request.method == "POST" and not request.path_info.startswith("/api/")
        for data in (request.GET, *([request.POST] if form else [])):
            for key, values in data.lists():
                if "\x00" in key or any("\x00" in value for value in values):
                    return render(request, "400.html", {"message": NUL_REFUSED}, status=400)
        return self.get_response(request)


class ResolvedUserMiddleware:
    """Hand the views and templates the signed-in user itself, not the lazy wrappers around it.

    Django's authentication and django-otp each wrap `request.user` in a lazy object, one
    inside the other, so every attribute read went through both (a page reads the user a
    few hundred times: its clinic, role, practitioner, permissions). Every page needs the
    user anyway (the sign-in requirement reads it next), so it is loaded here once, the
    second factor's state included, and the wrappers dropped."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        while isinstance(user, LazyObject):
            if user._wrapped is empty:
                user._setup()
            user = user._wrapped
        request.user = user
        return self.get_response(request)


# Pages of the portal that anyone may open: signing in, accepting an invitation, resetting
# a forgotten password. Everything else under /portal/ is for patients only.
PORTAL_PUBLIC = ("/portal/login/", "/portal/invite/", "/portal/password-reset/", "/portal/reset/")


class PortalBoundaryMiddleware:
    """Keep patients and staff on their own side. A patient's sign-in reaches only /portal/;
    a staff sign-in gets no portal page. Either way the other side answers 404, so a
    patient learns nothing about the staff pages, not even that an id exists."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            in_portal = request.path.startswith("/portal/")
            if user.is_patient and not in_portal:
                if request.path == "/":
                    return redirect("portal:home")
                raise Http404
            if not user.is_patient and in_portal and not request.path.startswith(PORTAL_PUBLIC):
                raise Http404
        return self.get_response(request)


class InPlaceSignInMiddleware:
    """A change saved in place after the sign-in expired is sent to the sign-in page as a
    whole page: htmx would otherwise follow the redirect and drop (or swap in) the form."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.headers.get("HX-Request") == "true" and response.status_code == 302:
            user = getattr(request, "user", None)
            if user is None or not user.is_authenticated:
                answer = HttpResponse(status=204)
                answer["HX-Redirect"] = response["Location"]
                return answer
        return response


# Pages a signed-in staff member reaches before the second factor: the two-factor pages
# themselves, signing out, and what every page loads.
BEFORE_SECOND_FACTOR = (
    "/accounts/two-factor/", "/accounts/logout/", "/accounts/session/keepalive/", "/static/",
    "/favicon.ico", "/portal/two-factor/", "/portal/logout/", "/portal/session/keepalive/",
)  # fmt: skip


class TwoFactorMiddleware:
    """Staff with an authenticator app give its code after the password; staff whose clinic
    requires one set it up first. Until then every other page sends them there."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from needlechart.accounts import two_factor

        user = request.user
        if (
            user.is_authenticated
            and not request.path.startswith(BEFORE_SECOND_FACTOR)
            and not user.is_verified()
        ):
            side = "portal:" if getattr(user, "is_patient", False) else ""
            if two_factor.HAS_APP not in request.session:  # a session from before
                request.session[two_factor.HAS_APP] = two_factor.app_of(user) is not None
            if request.session[two_factor.HAS_APP]:
                verify = reverse(side + "two_factor_verify")
                return redirect_to_login(request.get_full_path(), verify)
            if two_factor.required(user):
                return redirect_to_login(request.get_full_path(), reverse("two_factor_setup"))
        return self.get_response(request)
