from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from needlechart.accounts import views as account_views
from needlechart.accounts.forms import SignInForm, StaffPasswordResetForm
from needlechart.accounts.limits import reset_limits
from needlechart.api.api import urls as api_urls


@login_not_required
def favicon(request: HttpRequest) -> HttpResponse:
    # Resolved per request: the static manifest names the file only once collected.
    return redirect(static("needlechart/favicon.svg"))


urlpatterns = [
    path("api/", api_urls()),
    path("", include("needlechart.api.urls")),
    path("fhir/", include("needlechart.fhir.urls")),
    # Browsers ask for /favicon.ico on pages that name no icon (a JSON file, say).
    path("favicon.ico", favicon),
    path(
        "accounts/login/",
        account_views.SignInView.as_view(authentication_form=SignInForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/session/keepalive/", account_views.session_keepalive, name="session_keepalive"),
    path("accounts/two-factor/", account_views.two_factor_setup, name="two_factor_setup"),
    path("accounts/confirm/", account_views.confirm_identity, name="confirm_identity"),
    path("accounts/two-factor/verify/", account_views.two_factor_verify, name="two_factor_verify"),
    path(
        "accounts/password-reset/",
        reset_limits(
            auth_views.PasswordResetView.as_view(
                email_template_name="registration/password_reset_email.txt",
                form_class=StaffPasswordResetForm,
            )
        ),
        name="password_reset",
    ),
    path(
        "accounts/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include("needlechart.pages.urls")),
    path("", include("needlechart.accounts.urls")),
    path("", include("needlechart.reference.urls")),
    path("", include("needlechart.charting.urls")),
    path("", include("needlechart.portal.urls")),
    path("", include("needlechart.documents.urls")),
]
