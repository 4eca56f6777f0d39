from django.urls import path

from needlechart.accounts import views

app_name = "accounts"
urlpatterns = [
    path("practitioners/", views.practitioner_list, name="practitioners"),
    path(
        "practitioners/<int:practitioner_id>/credentials/new/",
        views.credential_create,
        name="credential_create",
    ),
    path("credentials/<int:credential_id>/edit/", views.credential_edit, name="credential_edit"),
    path("staff/", views.staff_list, name="staff"),
    path("staff/new/", views.staff_create, name="staff_create"),
    path("staff/<int:staff_id>/edit/", views.staff_edit, name="staff_edit"),
    path("staff/<int:staff_id>/send-link/", views.staff_send_link, name="staff_send_link"),
    path(
        "staff/<int:staff_id>/two-factor/reset/",
        views.staff_two_factor_reset,
        name="staff_two_factor_reset",
    ),
]
