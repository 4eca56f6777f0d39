from django.urls import path

from needlechart.patients import views

app_name = "patients"
urlpatterns = [
    path("patients/", views.patient_list, name="list"),
    path("patients/new/", views.patient_create, name="create"),
    path("patients/<int:patient_id>/", views.patient_detail, name="detail"),
    path("patients/<int:patient_id>/edit/", views.patient_edit, name="edit"),
    path("patients/<int:patient_id>/episodes/new/", views.episode_create, name="episode_create"),
    path("episodes/<int:episode_id>/", views.episode_detail, name="episode"),
    path("episodes/<int:episode_id>/edit/", views.episode_edit, name="episode_edit"),
]
