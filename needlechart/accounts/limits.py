"""Rate limits on the forms that send email or try a password: answered with a clear page and
`429 Too Many Requests`, with `Retry-After` (django-ratelimit).

The counts live in the database cache (settings.CACHES["limits"]), shared by every gunicorn
worker. django-ratelimit prefers a cache with atomic increments (memcached, Redis); on the
database two requests at the same instant may both be counted as one, so a limit can let
one or two more through under a race: acceptable for slowing down a sender, and it needs
no other server.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.decorators import ratelimit

from needlechart.audit.middleware import request_client_address

View = Callable[..., HttpResponse]


def client_ip(request: HttpRequest) -> str:
    """The address limits count by: the audit trail's (X-Forwarded-For behind the configured
    proxies only); settings.RATELIMIT_IP_META_KEY names this function."""
    return request_client_address(request) or "0.0.0.0"  # noqa: S104 - a key, not a bind


# The window of each rate, in seconds, for Retry-After.
WINDOWS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def limited(group: str, rate: str, key: str = "ip", what: str = "this") -> Callable[[View], View]:
    """Limit the POSTs of a view to `rate` (e.g. "5/h") per `key` (an address, a user, a
    posted field); past it, a 429 page that says when to try again."""
    window = WINDOWS[rate.rsplit("/", 1)[1][-1]]

    def decorator(view: View) -> View:
        @wraps(view)
        def answer(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if getattr(request, "limited", False):
                minutes = max(1, window // 60)
                wait = f"{minutes} minute{'s' if minutes > 1 else ''}"
                message = (
                    f"Too many tries at {what} in a short time. Nothing was sent or changed; "
                    f"please wait {wait} and try again."
                )
                response = render(request, "429.html", {"message": message}, status=429)
                response["Retry-After"] = str(window)
                return response
            return view(request, *args, **kwargs)

        return ratelimit(group=group, key=key, rate=rate, method="POST", block=False)(answer)

    return decorator


def reset_limits(view: View) -> View:
    """A password-reset form: a few emails per address, and fewer per email address asked
    about, so that no one floods a mailbox or probes the list of accounts at speed."""
    per_address = limited("password-reset", "5/h", what="resetting a password")
    per_mailbox = limited("password-reset-email", "3/h", key="post:email",
                          what="resetting a password")  # fmt: skip
    return per_address(per_mailbox(view))
