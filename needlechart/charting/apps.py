from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_guards(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    from needlechart.db import guards

    guards.ensure(connections[using])


def _start_catalogue(
    sender: type, instance: Any, created: bool, raw: bool = False, **_: Any
) -> None:
    from needlechart.charting.services.catalogue import catalogue_start

    if created and not raw:
        catalogue_start(instance)


class ChartingConfig(AppConfig):
    name = "needlechart.charting"
    label = "charting"
    verbose_name = "Charting"

    def ready(self) -> None:
        # After every migrate, whatever it changed, the read-only triggers are in place.
        post_migrate.connect(_ensure_guards, sender=self, dispatch_uid="needlechart-guards")
        # Clinics are created below charting (accounts); whatever creates one, its consent and
        # aftercare texts and needle catalogue exist from the start.
        from django.db.models.signals import post_save

        from needlechart.accounts.models import Clinic

        post_save.connect(_start_catalogue, sender=Clinic, dispatch_uid="needlechart-catalogue")
