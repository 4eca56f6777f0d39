"""needlechart's own Questionnaires, published at /fhir/Questionnaire/{id}: the questions
patients answer in the portal, in the portal's own words (needlechart/portal/forms.py), so
that a QuestionnaireResponse says exactly what was asked."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from needlechart.fhir import codes


@dataclass(frozen=True)
class LocalQuestionnaire(codes.Definition):
    resource_type: ClassVar[str] = "Questionnaire"
    items: Callable[[], list[dict[str, Any]]]


def _check_in_items() -> list[dict[str, Any]]:
    # The form's labels are the questions: one wording, on the phone and in the record.
    from needlechart.portal.forms import CheckInForm

    fields = CheckInForm.base_fields
    return [
        {"linkId": "hours", "text": "Hours after the session the check-in was due",
         "type": "integer", "required": True, "readOnly": True},
        {"linkId": "soreness", "text": str(fields["soreness"].label), "type": "integer",
         "required": True},
        {"linkId": "symptoms", "text": str(fields["symptoms"].label), "type": "choice",
         "repeats": True,
         "answerOption": [{"valueCoding": c} for c in codes.codings("check-in-symptom")]},
        {"linkId": "other", "text": str(fields["other"].label), "type": "text"},
    ]  # fmt: skip


CHECK_IN = LocalQuestionnaire(
    "check-in", "NeedlechartCheckIn", "Check-in after a needling session",
    "How the patient is a day or two after a signed needling session: soreness where the "
    "needles went in, and any symptoms since.",
    _check_in_items,
)  # fmt: skip

# The FHIR item type of each kind of detail field; any other is a string.
DETAIL_TYPES = {"FloatField": "decimal", "TypedChoiceField": "integer", "IntegerField": "integer"}


def _detail_item(bound: Any) -> dict[str, Any]:
    """A detail a factor takes (its limb, side, regions ...) as the screening form labels
    it: a child item of the factor's question."""
    kind = type(bound.field).__name__
    item: dict[str, Any] = {
        "linkId": bound.name, "text": str(bound.label), "type": DETAIL_TYPES.get(kind, "string"),
    }  # fmt: skip
    if kind == "MultipleChoiceField":
        item["repeats"] = True
    return item


@cache
def _health_items() -> list[dict[str, Any]]:
    """The questions as the portal asks them (each rule's `question`), each with the details
    the screening takes, and the note; built once (the rules load at start-up)."""
    from needlechart.charting.forms import ScreeningForm
    from needlechart.portal.forms import HealthQuestionsForm

    items: list[dict[str, Any]] = []
    for rule, fields in ScreeningForm().groups:
        item: dict[str, Any] = {"linkId": rule.code, "text": rule.question, "type": "boolean"}
        if fields[1:]:
            item["item"] = [_detail_item(bound) for bound in fields[1:]]
        items.append(item)
    note = HealthQuestionsForm.base_fields["note"].label
    return [*items, {"linkId": "note", "text": str(note), "type": "text"}]


HEALTH_QUESTIONS = LocalQuestionnaire(
    "health-questions", "NeedlechartHealthQuestions", "Health questions before dry needling",
    "The patient's own answers to the health screening questions, reviewed by a clinician "
    "before they are recorded as a screening.",
    _health_items,
)  # fmt: skip

QUESTIONNAIRES = {q.id: q for q in (CHECK_IN, HEALTH_QUESTIONS)}


def questionnaire_resource(found: LocalQuestionnaire, version: str) -> dict[str, Any]:
    return {**found.resource(version), "subjectType": ["Patient"], "item": found.items()}
