"""API tokens for the FHIR tests, made by clinic A's admin."""

import datetime as dt
from typing import Any

from django.utils import timezone

from needlechart.api import services


def token(world: Any, scopes: list[str], user: Any = None, name: str = "Registry") -> str:
    """A token's secret, acting as `user` (clinic A's practitioner unless named)."""
    _, secret = services.token_create(
        actor=world.admin, user=user or world.practitioner, name=name, scopes=scopes,
        expires_on=timezone.localdate() + dt.timedelta(days=30),
    )  # fmt: skip
    return secret
