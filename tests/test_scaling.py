"""The property the scale-out path relies on (docs/scaling.md): every table of the clinic's
records reaches its clinic through keys that are never empty, so that the clinic can be the
distribution key."""

import pytest
from django.apps import apps
from django.db import IntegrityError, models, transaction

from needlechart.accounts.models import Clinic, User
from needlechart.charting.models import Addendum

# Accounts belong to a clinic except a superuser's; the trail's rows, except the system's.
OWN_CLINIC_OR_NONE = {"accounts.User", "accounts.Practitioner", "accounts.DryNeedlingCredential",
                      "audit.AuditEvent", "audit.Submission"}  # fmt: skip
# A record with one of several parents, each of which reaches the clinic.
ONE_OF_PARENTS = {"charting.Addendum": ("assessment", "session", "discharge")}


def path_to_clinic(model: type[models.Model], seen: tuple = ()) -> list[str] | None:
    """The shortest chain of never-empty keys from `model` to its clinic, not through a
    user (whose clinic may be empty)."""
    if model is Clinic:
        return []
    best = None
    for field in model._meta.concrete_fields:
        target = field.related_model
        if not field.is_relation or field.null or target in (None, model, User) or target in seen:
            continue
        rest = path_to_clinic(target, (*seen, model))
        if rest is not None and (best is None or len(rest) + 1 < len(best)):
            best = [field.name, *rest]
    return best


def test_every_clinical_table_reaches_its_clinic_through_keys_that_are_never_empty():
    missing = []
    for model in apps.get_models():
        label = model._meta.label
        if not model.__module__.startswith("needlechart.") or model is Clinic:
            continue
        if label in OWN_CLINIC_OR_NONE:
            continue
        if label in ONE_OF_PARENTS:
            for name in ONE_OF_PARENTS[label]:
                parent = model._meta.get_field(name).related_model
                assert path_to_clinic(parent) is not None, (label, name)
            continue
        if path_to_clinic(model) is None:
            missing.append(label)
    assert missing == [], "no path to the clinic: " + ", ".join(missing)


def test_an_addendum_without_a_parent_is_refused_by_the_database(world):
    # So an addendum's clinic is never in doubt.
    with pytest.raises(IntegrityError), transaction.atomic():
        Addendum.objects.create(reason="No record", text="Orphan", author=world.practitioner)
