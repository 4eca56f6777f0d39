"""Registering and editing patients and episodes. The namespace `patients` also holds the
pages that show them (`needlechart.pages.urls`), which adds these."""

from django.urls import path

from needlechart.patients import views

urlpatterns = [
    path("patients/new/", views.patient_create, name="create"),
    path("patients/<int:patient_id>/edit/", views.patient_edit, name="edit"),
    path("patients/<int:patient_id>/episodes/new/", views.episode_create, name="episode_create"),
    path("episodes/<int:episode_id>/edit/", views.episode_edit, name="episode_edit"),
]
