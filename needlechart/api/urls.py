from django.urls import path

from needlechart.api import views

app_name = "api_tokens"
urlpatterns = [
    path("clinic/api-tokens/", views.tokens, name="list"),
    path("clinic/api-tokens/<int:token_id>/revoke/", views.token_revoke, name="revoke"),
    path("clinic/service-accounts/", views.service_account_create, name="service_create"),
    path(
        "clinic/service-accounts/<int:account_id>/deactivate/",
        views.service_account_deactivate,
        name="service_deactivate",
    ),
]
