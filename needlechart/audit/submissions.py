"""Writes sent once: a double click, a replayed form or a second tab posting the same page
makes one record, and so does an API client retrying a request with the same
`Idempotency-Key`. The token lives beside the audit trail, in the same low layer."""

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from needlechart.audit.models import Submission

FORM_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
T = TypeVar("T", bound=models.Model)
# How long an API client's idempotency key is kept: a retry after that is a new request.
KEY_LIFETIME = dt.timedelta(hours=24)
PRUNE = 100


def _claim(*, token: str, user_id: int, object_type: str, fingerprint: str = "") -> Submission:
    """Insert the token's row, or raise IntegrityError when it exists. The unique index, not a
    read before the insert, decides: on PostgreSQL a second request waits on it until the
    first commits (or rolls back, and then it goes ahead)."""
    with transaction.atomic():
        return Submission.objects.create(
            token=token, user_id=user_id, object_type=object_type, fingerprint=fingerprint
        )


def once(*, actor: Any, token: str, model: type[T], create: Callable[[], T]) -> T:
    """Create a record once per form: a second submission of the same token (a double click,
    a replay, a second tab posting the same page) returns the first one's record.

    Callers are atomic. Without a token (a command, a test) every call creates.
    """
    if not token:
        return create()
    if not isinstance(token, str) or not FORM_TOKEN.match(token):
        raise ValidationError("This form is damaged; reload the page and try again.")
    label = model._meta.label
    try:
        submission = _claim(token=token, user_id=actor.pk, object_type=label)
    except IntegrityError:
        earlier = Submission.objects.get(token=token)
        if earlier.user_id != actor.pk or earlier.object_type != label or not earlier.object_id:
            raise ValidationError("This form was already used; reload the page.") from None
        return model._default_manager.get(pk=earlier.object_id)
    record = create()
    submission.object_id = str(record.pk)
    submission.save(update_fields=["object_id"])
    return record


class KeyReused(Exception):
    """The idempotency key was already used for a different request."""


API_REQUEST = "api-request"


def answers_expire(*, now: dt.datetime | None = None) -> int:
    """Remove every API answer kept past KEY_LIFETIME, whoever sent it: the answers hold
    patient data, and a sender that never writes again would otherwise keep theirs for
    ever (`needlechart housekeeping`, from cron). Returns how many went."""
    cutoff = (now or timezone.now()) - KEY_LIFETIME
    expired = Submission.objects.filter(object_type=API_REQUEST, created_at__lt=cutoff)
    removed, _ = expired.delete()
    return removed


@dataclass(frozen=True)
class Answer:
    """An answer to a request as kept for its retries: the headers a retry needs too (its
    content type, the status URL of a started export)."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    replayed: bool = False


def answer_once(
    *, user_id: int, token: str, fingerprint: str, answer: Callable[[], Answer]
) -> Answer:
    """Answer a request once per key: `answer()` runs and its successful (2xx) answer is kept
    for KEY_LIFETIME; a retry with the same `fingerprint` gets that answer back without
    running again (marked `replayed`), one with another raises KeyReused.

    An answer that is not a success is not kept, so a retry runs again. Runs in its own
    transaction with the write it guards: a request that fails keeps no key.
    """
    label = API_REQUEST
    with transaction.atomic():
        cutoff = timezone.now() - KEY_LIFETIME
        # An expired key is free again. Deleting it takes its row lock, so two retries after
        # the expiry still meet on the unique index below.
        Submission.objects.filter(token=token, created_at__lt=cutoff).delete()
        # The answers kept hold patient data: the sender's expired ones go (those another of
        # its requests is removing meanwhile are skipped, not waited for).
        expired = Submission.objects.filter(user_id=user_id, object_type=label,
                                            created_at__lt=cutoff)  # fmt: skip
        pks = expired.select_for_update(skip_locked=True).values_list("pk", flat=True)[:PRUNE]
        Submission.objects.filter(pk__in=list(pks)).delete()
        try:
            submission = _claim(
                token=token, user_id=user_id, object_type=label, fingerprint=fingerprint
            )
        except IntegrityError:
            earlier = Submission.objects.get(token=token)
            if earlier.user_id != user_id or earlier.fingerprint != fingerprint:
                raise KeyReused from None
            return Answer(earlier.response_status or 200, earlier.response_body,
                          dict(earlier.response_headers), replayed=True)  # fmt: skip
        given = answer()
        if 200 <= given.status < 300:
            submission.response_status, submission.response_body = given.status, given.body
            submission.response_headers = given.headers
            submission.save(update_fields=["response_status", "response_body", "response_headers"])
        else:
            submission.delete()
        return given
