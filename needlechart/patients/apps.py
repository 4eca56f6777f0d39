from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "needlechart.patients"
    label = "patients"
    verbose_name = "Patients and episodes of care"
