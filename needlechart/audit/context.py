"""The client address of the request being served, for audit rows written deep in services.

Services take the acting user explicitly but not the HTTP request, so the same service
serves the web, the command line and the API; the address travels in a context variable.
"""

from contextvars import ContextVar

client_address: ContextVar[str | None] = ContextVar("client_address", default=None)

# The API token a request came with, by name, so that every audit row of an API call says
# which system made it (needlechart/api/auth.py).
api_token: ContextVar[str | None] = ContextVar("api_token", default=None)
