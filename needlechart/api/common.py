"""What every part of the API shares: the error body, the statuses each operation documents
and the check of a token's scope and its staff member's role."""

import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from ninja import Schema
from ninja.parser import Parser

from needlechart.accounts import rules
from needlechart.accounts.models import Role
from needlechart.api.models import SIGN, ApiToken


class Error(Schema):
    detail: str
    errors: dict[str, list[str]] = {}


PAGE = 50
ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 422: Error, 429: Error}


SERVICE_REFUSED = (
    "A service account may not do this: examining, needling, signing, addenda and a "
    "discharge summary are a person's, in their own name."
)


def need(request: HttpRequest, scope: str, roles: frozenset[str] | None = None) -> None:
    """The token holds `scope`, and its staff member one of `roles` (when given). Signing
    takes a role that signs as well, whatever the token holds."""
    token: ApiToken = request.auth  # type: ignore[attr-defined]
    if scope not in token.scopes:
        raise PermissionDenied(f"This token lacks the {scope} scope.")
    if scope == SIGN:
        roles = rules.SIGNING_ROLES
    if roles is not None and not rules.has_role(token.user, roles):
        if token.user.role == Role.SERVICE:
            raise PermissionDenied(SERVICE_REFUSED)
        raise PermissionDenied(f"{token.user.get_role_display()} staff may not do this.")


NUL = "This text contains a character that cannot be stored."


def _nul_in(value: Any, path: str) -> str | None:
    """The path of the first text holding a NUL character, which no database column takes."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(
        value, list) else ()  # fmt: skip
    for key, item in items:
        found = _nul_in(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


class BodyParser(Parser):
    """JSON bodies, refusing a NUL character in any text by field (a 400, not a server error
    from the database)."""

    def parse_body(self, request: HttpRequest) -> Any:
        body = json.loads(request.body)
        where = _nul_in(body, "")
        if where is not None:
            raise ValidationError({where or "body": NUL})
        return body
