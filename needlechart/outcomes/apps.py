from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "needlechart.outcomes"
    label = "outcomes"
    verbose_name = "Outcomes"
