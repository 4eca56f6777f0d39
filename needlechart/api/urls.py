from django.urls import path

from needlechart.api import views

app_name = "api_tokens"
urlpatterns = [
    path("clinic/api-tokens/", views.tokens, name="list"),
    path("clinic/api-tokens/<int:token_id>/revoke/", views.token_revoke, name="revoke"),
]
