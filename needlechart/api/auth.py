"""Bearer tokens for /api/: the request then acts as the token's staff member."""

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja.throttling import AuthRateThrottle

from needlechart.api import services
from needlechart.api.models import ApiToken
from needlechart.audit.context import api_token


class TokenAuth(HttpBearer):
    """`Authorization: Bearer nc_...`; a missing, unknown, revoked or expired token is 401."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = services.authenticate(token)
        if found is None:
            return None
        request.user = found.user
        api_token.set(found.name)
        return found


class TokenThrottle(AuthRateThrottle):
    """Requests per token, in the cache every worker shares (settings.CACHES["limits"])."""

    def __init__(self, rate: str) -> None:
        from django.core.cache import caches

        super().__init__(rate)
        self.cache = caches["limits"]

    def get_cache_key(self, request: Any) -> str:
        auth = getattr(request, "auth", None)
        ident = f"token-{auth.pk}" if isinstance(auth, ApiToken) else self.get_ident(request)
        return self.cache_format % {"scope": "api", "ident": ident}
