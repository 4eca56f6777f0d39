from django.urls import path

from needlechart.audit import views

app_name = "audit"
urlpatterns = [
    path("audit/", views.audit_list, name="list"),
    path("audit/export.csv", views.audit_export, name="export"),
    path("patients/<int:patient_id>/audit/", views.patient_audit, name="patient"),
]
