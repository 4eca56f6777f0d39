"""Helpers the services share for changing a record field by field."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import models


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
