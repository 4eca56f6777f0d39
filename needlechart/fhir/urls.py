from django.urls import path

from needlechart.fhir import export_views, import_views, views

app_name = "fhir"
urlpatterns = [
    path("", import_views.transaction, name="transaction"),
    path("metadata", views.metadata, name="metadata"),
    path("$export", export_views.export_system, name="export"),
    path("$export-status/<uuid:job_id>", export_views.export_status, name="export_status"),
    path(
        "$export-status/<uuid:job_id>/<str:resource_type>.ndjson",
        export_views.export_file,
        name="export_file",
    ),
    path("CodeSystem", views.code_systems, name="code_systems"),
    path("CodeSystem/<str:definition_id>", views.code_system, name="code_system"),
    path("Questionnaire", views.questionnaires_found, name="questionnaires"),
    path("Questionnaire/<str:definition_id>", views.questionnaire, name="questionnaire"),
    path("Patient/$export", export_views.export_patients, name="export_patients"),
    path("Patient/<str:resource_id>/$everything", views.everything, name="everything"),
    path("Group/<str:group_id>/$export", export_views.export_group, name="export_group"),
    path("<str:resource_type>", views.search, name="search"),
    path("<str:resource_type>/<str:resource_id>", views.read, name="read"),
]
