from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "needlechart.demo"
    label = "demo"
    verbose_name = "Demo clinics"
