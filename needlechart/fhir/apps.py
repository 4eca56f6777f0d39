from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "needlechart.fhir"
    label = "fhir"
    verbose_name = "FHIR R4"
