"""The composed pages joined to the namespaces of the apps they show: `patients` and
`outcomes` take their own addresses from their apps and the pages' from here; the audit
trail pages are all here."""

from django.urls import include, path

from needlechart.outcomes import urls as outcomes_urls
from needlechart.pages import audit_views, dashboard_views, views
from needlechart.patients import urls as patients_urls

patients = [
    path("patients/", views.patient_list, name="list"),
    path("patients/<int:patient_id>/", views.patient_detail, name="detail"),
    path("episodes/<int:episode_id>/", views.episode_detail, name="episode"),
    *patients_urls.urlpatterns,
]
outcomes = [
    *outcomes_urls.urlpatterns,
    path("dashboard/", dashboard_views.dashboard_page, name="dashboard"),
    path("dashboard/patients/", dashboard_views.dashboard_patients, name="dashboard_patients"),
    path("dashboard/<slug:table>.csv", dashboard_views.dashboard_csv, name="dashboard_csv"),
]
trail = [
    path("audit/", audit_views.audit_list, name="list"),
    path("audit/export.csv", audit_views.audit_export, name="export"),
    path("patients/<int:patient_id>/audit/", audit_views.patient_audit, name="patient"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("", include((patients, "patients"))),
    path("", include((outcomes, "outcomes"))),
    path("", include((trail, "audit"))),
]
