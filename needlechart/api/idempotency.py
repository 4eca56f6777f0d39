"""`Idempotency-Key` on the API's writes: a client that retries a POST or PATCH (a timeout,
a lost answer) with the same key gets the first answer back, and nothing is written twice.

Keys belong to the token that sent them and are kept for a day (KEY_LIFETIME); the answer
is kept in the same `Submission` table, behind the same unique index, as the pages' guard
against a double submit (`needlechart.audit.submissions`)."""

import contextlib
import functools
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from needlechart.api import services
from needlechart.audit.submissions import KeyReused, answer_once

HEADER = "Idempotency-Key"
METHODS = ("POST", "PATCH")
# Visible ASCII, as a UUID or any client's own request id.
KEY = re.compile(r"^[!-~]{1,255}$")
KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}

View = Callable[..., HttpResponse]


def _fingerprint(request: HttpRequest) -> str:
    """The request as a retry repeats it: method, path and body (JSON compared by value, so
    that a client re-encoding the same body in another key order is the same request)."""
    body = request.body
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(f"{request.method} {request.get_full_path()}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _error(status: int, detail: str, errors: dict[str, list[str]] | None = None) -> HttpResponse:
    body = json.dumps({"detail": detail, "errors": errors or {}})
    return HttpResponse(body, status=status, content_type="application/json; charset=utf-8")


def idempotent(view: View) -> View:
    """Wrap one of the API's URL views: a POST or PATCH sent with a key by a valid token is
    answered once per key. Without a key, or without a valid token (the view then answers
    401), the view runs as it is."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = request.headers.get(HEADER)
        if request.method not in METHODS or key is None:
            return view(request, *args, **kwargs)
        if not KEY.match(key):
            return _error(422, "The request is not in the form this operation takes.",
                          {HEADER: ["Send 1 to 255 visible ASCII characters."]})  # fmt: skip
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        token = services.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            return view(request, *args, **kwargs)
        answered: list[HttpResponse] = []

        def answer() -> tuple[int, str]:
            answered.append(view(request, *args, **kwargs))
            return answered[0].status_code, answered[0].content.decode()

        scoped = hashlib.sha256(f"api:{token.pk}:{key}".encode()).hexdigest()
        try:
            status, body, replayed = answer_once(
                user_id=token.user_id, token=scoped, fingerprint=_fingerprint(request),
                answer=answer,
            )  # fmt: skip
        except KeyReused:
            return _error(409, f"This {HEADER} was already used for a different request; "
                          "send a new key for a new request.")  # fmt: skip
        if not replayed:
            return answered[0]
        response = HttpResponse(body, status=status, content_type="application/json; charset=utf-8")
        response["Idempotent-Replayed"] = "true"
        return response

    return wrapped


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Name the header, and the 409 of a reused key, on every POST and PATCH of the schema."""
    for operations in schema["paths"].values():
        for method, operation in operations.items():
            if method.upper() not in METHODS:
                continue
            operation.setdefault("parameters", []).append({
                "in": "header", "name": HEADER, "required": False, "schema": KEY_SCHEMA,
                "description": "Any unique string per request (a UUID): a retry with the same "
                "key and body gets the first answer back, with `Idempotent-Replayed: true`, "
                "and writes nothing. Kept 24 hours.",
            })  # fmt: skip
            refused = dict(operation["responses"][400], description="Conflict")
            operation["responses"]["409"] = refused
    return schema
