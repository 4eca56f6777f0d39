from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "needlechart.portal"
    label = "portal"
    verbose_name = "Patient portal"
