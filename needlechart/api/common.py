"""What every part of the API shares: the error body, the statuses each operation documents
and the check of a token's scope and its staff member's role."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Schema

from needlechart.accounts import rules
from needlechart.api.models import ApiToken


class Error(Schema):
    detail: str
    errors: dict[str, list[str]] = {}


PAGE = 50
ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 422: Error, 429: Error}


def need(request: HttpRequest, scope: str, roles: frozenset[str] | None = None) -> None:
    """The token holds `scope`, and its staff member one of `roles` (when given)."""
    token: ApiToken = request.auth  # type: ignore[attr-defined]
    if scope not in token.scopes:
        raise PermissionDenied(f"This token lacks the {scope} scope.")
    if roles is not None and not rules.has_role(token.user, roles):
        raise PermissionDenied(f"{token.user.get_role_display()} staff may not do this.")
