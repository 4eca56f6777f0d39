"""`Idempotency-Key` on the API's writes: a client that retries a POST or PATCH (a timeout,
a lost answer) with the same key gets the first answer back, and nothing is written twice.

Keys belong to the token that sent them and are kept for a day (KEY_LIFETIME); the answer
is kept in the same `Submission` table, behind the same unique index, as the pages' guard
against a double submit (`needlechart.audit.submissions`). `guard` is the same for FHIR's
writes (needlechart.fhir.idempotency), which answer in their own form."""

import contextlib
import functools
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from needlechart.api import services
from needlechart.audit.submissions import Answer, KeyReused, answer_once

HEADER = "Idempotency-Key"
METHODS = ("POST", "PATCH")
# Visible ASCII, as a UUID or any client's own request id.
KEY = re.compile(r"^[!-~]{1,255}$")
JSON = "application/json; charset=utf-8"
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
    return HttpResponse(body, status=status, content_type=JSON)


MALFORMED = "Send 1 to 255 visible ASCII characters."
REUSED = (f"This {HEADER} was already used for a different request; send a new key for a "
          "new request.")  # fmt: skip
# What a retry is given back beside the status and body: its content type, and where the
# record made (Location) or the export started (Content-Location) is.
KEPT_HEADERS = ("Content-Type", "Content-Location", "Location")
# Who sent a request: the user it acts as, and whose keys it uses (a token's, or a signed-in
# staff member's); None when no valid sender (the view then answers 401 itself).
Sender = Callable[[HttpRequest], tuple[int, str] | None]
# The guard's own refusals, in the form of the URLs it guards: status, reason, field errors.
Refuse = Callable[[int, str, dict[str, list[str]]], HttpResponse]


def token_sender(request: HttpRequest) -> tuple[int, str] | None:
    """The sender of a request with a valid bearer token: its keys are the token's own."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    token = services.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    return None if token is None else (token.user_id, f"api:{token.pk}")


def guard(view: View, *, methods: tuple[str, ...], sender: Sender, refuse: Refuse) -> View:
    """Wrap a URL view: a request of `methods` sent with a key by a valid sender is answered
    once per key (`answer_once`). Without a key, or without a valid sender, the view runs as
    it is."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = request.headers.get(HEADER)
        if request.method not in methods or key is None:
            return view(request, *args, **kwargs)
        if not KEY.match(key):
            return refuse(422, "The request is not in the form this operation takes.",
                          {HEADER: [MALFORMED]})  # fmt: skip
        found = sender(request)
        if found is None:
            return view(request, *args, **kwargs)
        user_id, keys = found
        answered: list[HttpResponse] = []

        def answer() -> Answer:
            answered.append(view(request, *args, **kwargs))
            first = answered[0]
            kept = {name: first[name] for name in KEPT_HEADERS if first.has_header(name)}
            return Answer(first.status_code, first.content.decode(), kept)

        scoped = hashlib.sha256(f"{keys}:{key}".encode()).hexdigest()
        try:
            given = answer_once(user_id=user_id, token=scoped,
                                fingerprint=_fingerprint(request), answer=answer)  # fmt: skip
        except KeyReused:
            return refuse(409, REUSED, {})
        if not given.replayed:
            return answered[0]
        response = HttpResponse(given.body, status=given.status,
                                content_type=given.headers.get("Content-Type", JSON))  # fmt: skip
        for name, value in given.headers.items():
            response[name] = value
        response["Idempotent-Replayed"] = "true"
        return response

    return wrapped


def idempotent(view: View) -> View:
    """Wrap one of the API's URL views: a POST or PATCH sent with a key by a valid token is
    answered once per key. Without a key, or without a valid token (the view then answers
    401), the view runs as it is."""
    return guard(view, methods=METHODS, sender=token_sender, refuse=_error)


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
