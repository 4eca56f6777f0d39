"""needlechart's own Questionnaires, published at /fhir/Questionnaire/{id}: the questions
patients answer in the portal, in the portal's own words (needlechart/portal/forms.py), so
that a QuestionnaireResponse says exactly what was asked."""

from collections.abc import Callable
from dataclasses import dataclass
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

QUESTIONNAIRES = {q.id: q for q in (CHECK_IN,)}


def questionnaire_resource(found: LocalQuestionnaire, version: str) -> dict[str, Any]:
    return {**found.resource(version), "subjectType": ["Patient"], "item": found.items()}
