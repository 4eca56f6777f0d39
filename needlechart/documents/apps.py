from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "needlechart.documents"
    label = "documents"
    verbose_name = "Documents"
