from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "needlechart.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from needlechart.audit import signals  # noqa: F401 - connects login/logout auditing
