"""The plan, measurements and discharge. The namespace `outcomes` also holds the clinic
dashboard (`needlechart.pages.urls`), which adds these."""

from django.urls import path

from needlechart.outcomes import measure_views, views

urlpatterns = [
    path(
        "episodes/<int:episode_id>/observations/",
        measure_views.observation_add,
        name="observation_add",
    ),
    path(
        "observations/<int:observation_id>/remove/",
        measure_views.observation_remove,
        name="observation_remove",
    ),
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
]
