from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_guards(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    from needlechart.db import guards

    guards.ensure(connections[using])


class ChartingConfig(AppConfig):
    name = "needlechart.charting"
    label = "charting"
    verbose_name = "Charting"

    def ready(self) -> None:
        # After every migrate, whatever it changed, the read-only triggers are in place.
        post_migrate.connect(_ensure_guards, sender=self, dispatch_uid="needlechart-guards")
