from django.urls import path

from needlechart.fhir import views

app_name = "fhir"
urlpatterns = [
    path("metadata", views.metadata, name="metadata"),
    path("CodeSystem", views.code_systems, name="code_systems"),
    path("CodeSystem/<str:code_system_id>", views.code_system, name="code_system"),
    path("Patient/<str:resource_id>/$everything", views.everything, name="everything"),
    path("<str:resource_type>", views.search, name="search"),
    path("<str:resource_type>/<str:resource_id>", views.read, name="read"),
]
