"""A row's choice labels: Django's own, read from one map per field."""

import pytest
from django.db.models import Field

from needlechart import knowledge
from needlechart.charting.models import AdverseEvent, Insertion, PainMark, TriggerPointFinding


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (Insertion, "muscle"),
        (Insertion, "lead_to_muscle"),
        (TriggerPointFinding, "muscle"),
        (PainMark, "region"),
        (AdverseEvent, "event_type"),
    ],
)
def test_every_choice_reads_as_django_labels_it(model, name):
    field = model._meta.get_field(name)
    choices = dict(field.flatchoices)
    assert len(choices) > 5
    for value, label in choices.items():
        assert getattr(model(**{name: value}), f"get_{name}_display")() == label
    # A value outside the choices (an old code) reads as itself, as in Django.
    assert getattr(model(**{name: "retired-code"}), f"get_{name}_display")() == "retired-code"


def test_the_labels_are_worked_out_once_not_at_every_row(monkeypatch):
    muscle = knowledge.muscles()[0]
    reads = []
    flatchoices = Field.flatchoices

    def counted(field):
        reads.append(field.name)
        return flatchoices.fget(field)

    monkeypatch.setattr(Field, "flatchoices", property(counted))
    for _ in range(50):
        assert Insertion(muscle=muscle.slug).get_muscle_display() == muscle.name
    # Django flattens the hundred-odd muscles again at every call: 50 reads here.
    assert reads.count("muscle") <= 1
