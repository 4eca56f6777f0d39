"""Create forms sent once: a double click, a replayed form or a second tab posting the same
page makes one record. The token lives beside the audit trail, in the same low layer."""

import re
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from needlechart.audit.models import Submission

FORM_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
T = TypeVar("T", bound=models.Model)


def once(*, actor: Any, token: str, model: type[T], create: Callable[[], T]) -> T:
    """Create a record once per form: a second submission of the same token (a double click,
    a replay, a second tab posting the same page) returns the first one's record.

    Callers are atomic. Without a token (a command, a test) every call creates. On PostgreSQL
    the second request waits on the token's unique index until the first commits.
    """
    if not token:
        return create()
    if not isinstance(token, str) or not FORM_TOKEN.match(token):
        raise ValidationError("This form is damaged; reload the page and try again.")
    label = model._meta.label
    try:
        with transaction.atomic():
            submission = Submission.objects.create(token=token, user=actor, object_type=label)
    except IntegrityError:
        earlier = Submission.objects.get(token=token)
        if earlier.user_id != actor.pk or earlier.object_type != label or not earlier.object_id:
            raise ValidationError("This form was already used; reload the page.") from None
        return model._default_manager.get(pk=earlier.object_id)
    record = create()
    submission.object_id = str(record.pk)
    submission.save(update_fields=["object_id"])
    return record
