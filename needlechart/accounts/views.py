import time

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from needlechart import mail
from needlechart.accounts import access, selectors, services, sessions
from needlechart.accounts.emails import send_set_password_email
from needlechart.accounts.forms import CredentialForm, StaffCreateForm, StaffUpdateForm
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
    return render(request, "accounts/staff_list.html", {"staff": staff})


@access.clinic_admin()
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
