from django.urls import path

from needlechart.outcomes import views

app_name = "outcomes"
urlpatterns = [
    path("episodes/<int:episode_id>/plan/", views.plan, name="plan"),
    path("episodes/<int:episode_id>/measurements/", views.measurements, name="measurements"),
    path(
        "measurements/<int:observation_id>/entered-in-error/",
        views.measurement_error,
        name="measurement_error",
    ),
    path("episodes/<int:episode_id>/discharge/", views.discharge, name="discharge"),
    path(
        "discharges/<int:discharge_id>/addenda/new/",
        views.discharge_addendum,
        name="discharge_addendum",
    ),
    path("dashboard/", views.dashboard_page, name="dashboard"),
    path("dashboard/patients/", views.dashboard_patients, name="dashboard_patients"),
    path("dashboard/<slug:table>.csv", views.dashboard_csv, name="dashboard_csv"),
]
