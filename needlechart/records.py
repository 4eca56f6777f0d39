"""Helpers the services share for changing a record field by field."""

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist, ValidationError
from django.db import models
from django.utils import timezone


def apply_changes(
    record: models.Model, fields: tuple[str, ...], values: dict[str, Any]
) -> list[str]:
    """Set the given fields on `record` and return the names of those whose value changed.

    Unknown names are a programming error, not user input, so they raise TypeError.
    """
    unknown = set(values) - set(fields)
    if unknown:
        raise TypeError(f"{type(record).__name__} has no editable fields {sorted(unknown)}")
    changed = []
    for field in fields:
        if field not in values:
            continue
        value = values[field]
        if isinstance(value, str):
            value = value.strip()
        try:
            current = getattr(record, field)
        except ObjectDoesNotExist:  # a relation not set yet on a new record
            current = None
        if current != value:
            setattr(record, field, value)
            changed.append(field)
    return changed


@contextmanager
def unchanged_on_error(record: models.Model) -> Iterator[None]:
    """Reload `record` from the database if the block fails, so callers never see or
    display values that were refused (the transaction has rolled the row back already)."""
    try:
        yield
    except Exception:
        if record.pk is not None:
            record.refresh_from_db()
        raise


# --- edits made from a page that may be out of date -------------------------------------------

WAS_SALT = "needlechart.was"
STALE = "Someone saved this record after you opened it"
DAMAGED = "This form is damaged; reload the page and try again."
MISSING = object()


def _plain(value: Any) -> Any:
    """A value as compared between what a page showed and what is stored now."""
    if isinstance(value, models.Model):
        value = value.pk
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def snapshot(record: models.Model, fields: Iterable[str]) -> str:
    """The values of `fields` as a page shows them, signed: the page sends them back with
    the edit, so the service can tell whether someone changed them in between."""
    values = {
        name: _plain(record._meta.get_field(name).value_from_object(record)) for name in fields
    }
    return signing.dumps(values, salt=WAS_SALT)


def refuse_if_changed(record: models.Model, was: str | None, values: dict[str, Any]) -> None:
    """Refuse an edit made from a page that showed other values than are stored now, naming
    what changed (optimistic concurrency). `record` must be read under its row lock. A field
    someone else changed to exactly what this edit sets is not a conflict."""
    if not was:
        return  # a command or a test: no page, nothing to be out of date
    try:
        shown = signing.loads(was, salt=WAS_SALT)
    except signing.BadSignature:
        raise ValidationError(DAMAGED) from None
    if not isinstance(shown, dict):
        raise ValidationError(DAMAGED)
    changed = []
    for name, before in shown.items():
        # Validly signed, but for another kind of record (a form's hidden field copied from
        # another page): as damaged as a broken signature, never a server error.
        try:
            field = record._meta.get_field(name)
        except FieldDoesNotExist:
            raise ValidationError(DAMAGED) from None
        now = _plain(field.value_from_object(record))
        if now == before:
            continue
        mine = values.get(name, MISSING)
        if mine is not MISSING and _plain(mine) == now:
            continue
        shown_now = getattr(
            record, f"get_{name}_display", lambda f=field: f.value_from_object(record)
        )()
        changed.append(
            f"{field.verbose_name} is now “{shown_now if shown_now not in ('', None) else 'empty'}”"
        )
    if changed:
        raise ValidationError(
            f"{STALE}: "
            + "; ".join(changed)
            + ". Nothing of yours was saved: reload to see it as it is now, then make your "
            "change again."
        )


# --- locks and the audit trail's record of a change --------------------------------------


def lock(record: models.Model) -> None:
    """Take the record's row lock and reload every column, so two requests at once (a double
    click on "Sign", two tabs) see each other's writes instead of racing, and a save never
    writes back another edit's older value. Callers are atomic: the lock lasts until their
    transaction ends."""
    locked = type(record)._default_manager.select_for_update().get(pk=record.pk)
    for field in record._meta.concrete_fields:
        setattr(record, field.attname, getattr(locked, field.attname))


def audit_values(record: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """Field values as the audit trail keeps them: plain JSON, related records by id."""
    values = {}
    for name in fields:
        field = record._meta.get_field(name)
        values[name] = _plain(field.value_from_object(record))
    return values


# Fields whose values the audit trail never keeps, only that they changed.
SECRET_WORDS = ("password", "token", "secret", "key")


def _kept(name: str) -> bool:
    return not any(word in name for word in SECRET_WORDS)


def change_detail(before: dict[str, Any], record: models.Model, changed: list[str]) -> dict:
    """The audit detail of a change: which fields, and each one's old and new value (a
    secret's name only)."""
    kept = [name for name in changed if _kept(name)]
    return {
        "changed": changed,
        "before": {name: before[name] for name in kept},
        "after": audit_values(record, kept),
    }


class VersionedText(models.Model):
    """A clinic's wording kept one row per version (a consent text, a letter's wording): a
    change is a new version, and what was signed or issued under an old one keeps it."""

    version = models.PositiveIntegerField()
    # None for the text needlechart ships.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
