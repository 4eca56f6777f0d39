import time

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from needlechart import mail
from needlechart.accounts import access, selectors, services, sessions, two_factor
from needlechart.accounts.emails import send_set_password_email
from needlechart.accounts.forms import (
    CodeForm,
    ConfirmForm,
    CredentialForm,
    StaffCreateForm,
    StaffUpdateForm,
)
from needlechart.accounts.limits import limited
from needlechart.audit import services as audit
from needlechart.forms import posted, submit

NOT_SENT = "the email with the set-password link could not be sent. Try again later."


@access.staff()
def practitioner_list(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    rows = selectors.practitioner_list(user=request.user, on=today)
    return render(request, "accounts/practitioner_list.html", {"rows": rows, "today": today})


@access.clinic_admin()
def staff_list(request: HttpRequest) -> HttpResponse:
    staff = selectors.staff_list(user=request.user)
    with_app = selectors.staff_with_two_factor(user=request.user)
    return render(request, "accounts/staff_list.html", {"staff": staff, "with_app": with_app})


@access.clinic_admin()
@limited("staff-email", "20/h", key="user", what="sending set-password links")
def staff_create(request: HttpRequest) -> HttpResponse:
    form = StaffCreateForm(posted(request))
    if request.method == "POST":
        user = submit(form, lambda: services.staff_create(actor=request.user, **form.cleaned_data))
        if user is not None:
            sent = mail.after_commit(lambda: send_set_password_email(user=user, request=request))
            if sent.failed:
                messages.error(request, f"{user} was added, but {NOT_SENT}")
            else:
                messages.success(request, f"{user} was added and emailed a link to set a password.")
            return redirect("accounts:staff")
    return render(
        request,
        "form_page.html",
        {"form": form, "title": "Add staff member", "cancel_url": reverse("accounts:staff")},
    )


@access.clinic_admin(selectors.staff_in_clinic)
def staff_edit(request: HttpRequest, staff_id: int) -> HttpResponse:
    staff = selectors.staff_get(user=request.user, staff_id=staff_id)
    practitioner = getattr(staff, "practitioner", None)
    initial = {
        "first_name": staff.first_name,
        "last_name": staff.last_name,
        "email": staff.email,
        "role": staff.role,
        "is_active": staff.is_active,
        "profession": practitioner.profession if practitioner else "",
        "registration_number": practitioner.registration_number if practitioner else "",
        "registration_body": practitioner.registration_body if practitioner else "",
    }
    form = StaffUpdateForm(posted(request), initial=initial)
    if request.method == "POST":
        saved = submit(
            form,
            lambda: services.staff_update(actor=request.user, staff=staff, **form.cleaned_data),
        )
        if saved is not None:
            messages.success(request, f"{saved} was updated.")
            return redirect("accounts:staff")
    return render(
        request,
        "form_page.html",
        {"form": form, "title": f"Edit {staff}", "cancel_url": reverse("accounts:staff")},
    )


@access.clinic_admin(selectors.staff_in_clinic)
@access.post_only
@limited("staff-email", "20/h", key="user", what="sending set-password links")
def staff_send_link(request: HttpRequest, staff_id: int) -> HttpResponse:
    staff = selectors.staff_get(user=request.user, staff_id=staff_id)
    if not staff.is_active or not staff.email:
        messages.error(request, f"{staff} needs to be active and have an email address.")
    elif mail.after_commit(lambda: send_set_password_email(user=staff, request=request)).failed:
        messages.error(request, NOT_SENT)
    else:
        messages.success(request, f"A set-password link was emailed to {staff.email}.")
    return redirect("accounts:staff")


@access.clinic_admin(selectors.practitioner_in_clinic)
def credential_create(request: HttpRequest, practitioner_id: int) -> HttpResponse:
    practitioner = selectors.practitioner_get(user=request.user, practitioner_id=practitioner_id)
    form = CredentialForm(posted(request))
    if request.method == "POST":
        credential = submit(
            form,
            lambda: services.credential_create(
                actor=request.user,
                practitioner=practitioner,
                today=timezone.localdate(),
                **form.cleaned_data,
            ),
        )
        if credential is not None:
            messages.success(request, f"Credential recorded for {practitioner}.")
            return redirect("accounts:practitioners")
    return render(
        request,
        "form_page.html",
        {
            "form": form,
            "title": f"Add a credential for {practitioner}",
            "cancel_url": reverse("accounts:practitioners"),
        },
    )


@access.clinic_admin(selectors.credential_in_clinic)
def credential_edit(request: HttpRequest, credential_id: int) -> HttpResponse:
    credential = selectors.credential_get(user=request.user, credential_id=credential_id)
    form = CredentialForm(posted(request), instance=credential)
    if request.method == "POST":
        saved = submit(
            form,
            lambda: services.credential_update(
                actor=request.user,
                credential=credential,
                today=timezone.localdate(),
                **form.cleaned_data,
            ),
        )
        if saved is not None:
            messages.success(request, "Credential updated.")
            return redirect("accounts:practitioners")
    return render(
        request,
        "form_page.html",
        {
            "form": form,
            "title": f"Edit credential of {credential.practitioner}",
            "cancel_url": reverse("accounts:practitioners"),
        },
    )


@require_POST
def session_keepalive(request: HttpRequest) -> HttpResponse:
    """ "Stay signed in" on the idle warning (needlechart.js): counts as activity. Staff and
    patients each reach it on their own side (urls.py, portal/urls.py)."""
    request.session[sessions.LAST_SEEN] = int(time.time())
    return HttpResponse(status=204)


# --- two-factor sign-in ----------------------------------------------------------------------


def _side(request: HttpRequest) -> dict[str, str]:
    """Staff and patients each set up and give codes on their own side: the same pages,
    under /accounts/ or /portal/."""
    if getattr(request.user, "is_patient", False):
        return {"prefix": "portal:", "base": "portal/base.html", "home": "portal:home",
                "logout": "portal:logout"}  # fmt: skip
    return {"prefix": "", "base": "base.html", "home": "home", "logout": "logout"}


def _next(request: HttpRequest) -> str:
    """Where to go once the second factor is done: the page asked for, if it is ours."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return wanted if safe else reverse(_side(request)["home"])


def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: scan the QR code (or type the key), give a code it shows,
    get the recovery codes once. Someone who has an app already must give its code first,
    so a stolen password cannot replace it."""
    user, side = request.user, _side(request)
    if request.session.get(two_factor.HAS_APP) and not user.is_verified():
        verify, setup = reverse(side["prefix"] + "two_factor_verify"), request.path
        return redirect(f"{verify}?next={setup}")
    device = two_factor.pending_app(user)
    form = CodeForm(posted(request))
    if request.method == "POST":
        codes = submit(
            form, lambda: two_factor.setup_confirm(request=request, code=form.cleaned_data["code"])
        )
        if codes is not None:
            return render(
                request,
                "accounts/two_factor_codes.html",
                {"codes": codes, "next": _next(request), "side": side},
            )
    import segno  # only this page draws a QR code

    return render(
        request,
        "accounts/two_factor_setup.html",
        {
            "form": form,
            "qr": segno.make(device.config_url, error="m").svg_data_uri(scale=4, border=2),
            "secret": two_factor.secret_of(device),
            "required": two_factor.required(user),
            "next": _next(request),
            "side": side,
        },
        status=400 if form.is_bound and form.errors else 200,
    )


def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in, for anyone with an app: its code or a recovery code."""
    user = request.user
    login = "portal:login" if getattr(user, "is_patient", False) else "login"
    if request.method == "POST" and two_factor.locked(request, user):
        return _locked_out(request, login)
    if request.session.get(two_factor.HAS_APP) and not user.is_verified():
        # A clinic admin may have reset it since the sign-in: then there is no code to ask.
        request.session[two_factor.HAS_APP] = two_factor.app_of(user) is not None
    if user.is_verified() or not request.session.get(two_factor.HAS_APP):
        return redirect(_next(request))
    form = CodeForm(posted(request))
    form.fields["code"].label = "Code from your authenticator app, or a recovery code"
    if request.method == "POST" and form.is_valid():
        if two_factor.verify(request=request, code=form.cleaned_data["code"]):
            return redirect(_next(request))
        if two_factor.locked(request, user):
            return _locked_out(request, login)
        form.add_error("code", "That code did not match. Check your app and try again.")
    return render(
        request,
        "accounts/two_factor_verify.html",
        {"form": form, "next": _next(request), "side": _side(request)},
        status=400 if form.is_bound and form.errors else 200,
    )


def _locked_out(request: HttpRequest, login: str) -> HttpResponse:
    logout(request)
    messages.error(request, "Too many wrong codes: the account is locked for an hour.")
    return redirect(login)


@access.clinic_admin(selectors.staff_in_clinic)
@access.post_only
def staff_two_factor_reset(request: HttpRequest, staff_id: int) -> HttpResponse:
    staff = selectors.staff_get(user=request.user, staff_id=staff_id)
    if staff.pk == request.user.pk:
        raise Http404  # an admin's own reset goes through another admin
    two_factor.reset(actor=request.user, staff=staff)
    messages.success(
        request, f"Two-factor sign-in of {staff} was reset: they set it up at their next sign-in."
    )
    return redirect("accounts:staff")


class SignInView(auth_views.LoginView):
    """Django's sign-in page, saying when demo clinics (which require no second factor) are
    here."""

    def get_context_data(self, **kwargs: object) -> dict:
        from needlechart.accounts.models import Clinic

        context = super().get_context_data(**kwargs)
        context["demo_clinic"] = Clinic.objects.filter(is_demo=True).exists()
        return context


def confirm_identity(request: HttpRequest) -> HttpResponse:
    """The password again (or an authenticator code) before signing a clinical record, when
    the sign-in is older than the clinic allows (sessions.confirmed_recently). A wrong one
    counts toward the lockout like a wrong password."""
    user = request.user
    has_app = bool(request.session.get(two_factor.HAS_APP))
    form = ConfirmForm(posted(request))
    if has_app:
        form.fields["secret"].label = "Password, or a code from your authenticator app"
    if request.method == "POST" and form.is_valid():
        secret = form.cleaned_data["secret"]
        if not two_factor.locked(request, user) and (
            user.check_password(secret) or (has_app and two_factor.app_code_ok(user, secret))
        ):
            request.session[sessions.CONFIRMED_AT] = int(time.time())
            audit.record(actor=user, action=audit.Action.LOGIN, detail={"confirmed": "to sign"})
            return redirect(_next(request))
        two_factor.failed(request, user)
        if two_factor.locked(request, user):
            logout(request)
            return redirect("login")
        form.add_error("secret", "That did not match. Try again.")
    return render(
        request,
        "accounts/confirm_identity.html",
        {
            "form": form,
            "next": _next(request),
            "side": _side(request),
            "has_app": has_app,
            "minutes": sessions.confirm_minutes(user),
        },
        status=400 if form.is_bound and form.errors else 200,
    )
