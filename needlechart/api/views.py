"""The clinic admin's page of API tokens: make one (its secret shown once), see when each
was last used, revoke one at once."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from needlechart.accounts import access
from needlechart.accounts.models import Role, User
from needlechart.api import services
from needlechart.api.forms import ServiceAccountForm, TokenForm
from needlechart.api.models import ApiToken
from needlechart.forms import posted, submit


def token_in_clinic(user: User, token_id: int) -> bool:
    return access.in_clinic(user, ApiToken.objects, "clinic_id", token_id)


def _acts_as(request: HttpRequest) -> User | None:
    """The service account a token is being made for (`?acts_as=`): an active one of the
    clinic, else 404."""
    asked = request.GET.get("acts_as")
    if asked is None:
        return None
    if not asked.isdigit():
        raise Http404
    return get_object_or_404(User, pk=int(asked), clinic_id=request.user.clinic_id,
                             role=Role.SERVICE, is_active=True)  # fmt: skip


@access.clinic_admin()
def tokens(request: HttpRequest) -> HttpResponse:
    account = _acts_as(request)
    clinic_id = request.user.clinic_id
    form = TokenForm(posted(request), clinic_id=clinic_id, account=account)
    made = None
    if request.method == "POST":
        made = submit(form, lambda: services.token_create(actor=request.user, **form.cleaned_data))
        if made is not None:
            form = TokenForm(clinic_id=clinic_id, account=account)
    return _page(request, form=form, made=made, acts_as=account)


def service_account_in_clinic(user: User, account_id: int) -> bool:
    return access.in_clinic(user, User.objects.filter(role=Role.SERVICE), "clinic_id", account_id)


def _page(
    request: HttpRequest,
    *,
    form: TokenForm | None = None,
    account_form: ServiceAccountForm | None = None,
    made: object = None,
    acts_as: User | None = None,
) -> HttpResponse:
    clinic_id = request.user.clinic_id
    forms = [f for f in (form, account_form) if f is not None]
    context = {
        "form": form or TokenForm(clinic_id=clinic_id),
        "account_form": account_form or ServiceAccountForm(),
        "tokens": ApiToken.objects.filter(clinic_id=clinic_id).select_related("user"),
        "accounts": User.objects.filter(clinic_id=clinic_id, role=Role.SERVICE).order_by(
            "-is_active", "first_name", "id"
        ),
        "made": made,
        "acts_as": acts_as,
    }
    refused = any(f.is_bound and f.errors for f in forms)
    return render(request, "api/tokens.html", context, status=400 if refused else 200)


@access.clinic_admin()
@access.post_only
def service_account_create(request: HttpRequest) -> HttpResponse:
    form = ServiceAccountForm(request.POST)
    made = submit(
        form, lambda: services.service_account_create(actor=request.user, **form.cleaned_data)
    )
    if made is None:
        return _page(request, account_form=form)
    messages.success(request, f"Service account {made} made: make it a token below.")
    return redirect("api_tokens:list")


@access.clinic_admin(service_account_in_clinic)
@access.post_only
def service_account_deactivate(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(
        User, pk=account_id, clinic_id=request.user.clinic_id, role=Role.SERVICE
    )
    services.service_account_deactivate(actor=request.user, account=account)
    messages.success(request, f"{account} was deactivated: its tokens are refused from now on.")
    return redirect("api_tokens:list")


@access.clinic_admin(token_in_clinic)
@access.post_only
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, clinic_id=request.user.clinic_id)
    services.token_revoke(actor=request.user, token=token)
    messages.success(request, f"{token} was revoked: it is refused from now on.")
    return redirect("api_tokens:list")
