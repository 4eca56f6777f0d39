from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "needlechart.api"
    label = "api"
    verbose_name = "REST API"
