"""The clinic admin's page of API tokens: make one (its secret shown once), see when each
was last used, revoke one at once."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from needlechart.accounts import access
from needlechart.accounts.models import User
from needlechart.api import services
from needlechart.api.forms import TokenForm
from needlechart.api.models import ApiToken
from needlechart.forms import posted, submit


def token_in_clinic(user: User, token_id: int) -> bool:
    return access.in_clinic(user, ApiToken.objects, "clinic_id", token_id)


@access.clinic_admin()
def tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(posted(request), clinic_id=request.user.clinic_id)
    made = None
    if request.method == "POST":
        made = submit(form, lambda: services.token_create(actor=request.user, **form.cleaned_data))
        if made is not None:
            form = TokenForm(clinic_id=request.user.clinic_id)
    listed = ApiToken.objects.filter(clinic_id=request.user.clinic_id).select_related("user")
    return render(
        request,
        "api/tokens.html",
        {"form": form, "tokens": listed, "made": made},
        status=400 if form.is_bound and form.errors else 200,
    )


@access.clinic_admin(token_in_clinic)
@access.post_only
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, clinic_id=request.user.clinic_id)
    services.token_revoke(actor=request.user, token=token)
    messages.success(request, f"{token} was revoked: it is refused from now on.")
    return redirect("api_tokens:list")
