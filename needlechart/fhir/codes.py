"""Code systems: the standard ones by their URIs, and needlechart's own, which the server
publishes as CodeSystem resources at /fhir/CodeSystem/{id} (docs/fhir.md).

Local codes are the slugs the records already store (a muscle's slug, a technique), so a
coding never needs a translation table that could drift from the catalogue.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from needlechart import knowledge
from needlechart.accounts.models import Profession
from needlechart.charting.models import PainQuality, Technique, region_choices
from needlechart.outcomes.models import PlanTherapy

# The canonical base of needlechart's own definitions; the scoring extension of the
# questionnaires uses it already (needlechart/knowledge/instruments.py).
BASE = "https://needlechart.org/fhir"
ICD_10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CPT = "http://www.ama-assn.org/go/cpt"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
AE_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
AE_OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
# Provenance: signing is the document-completion state "legally authenticated"; an addendum
# revises the record and entered-in-error nullifies it (v3 DataOperation). Both value sets
# are in R4's provenance activity type value set.
DOCUMENT_COMPLETION = "http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PROVENANCE_AGENT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SIGNED = {"system": DOCUMENT_COMPLETION, "code": "LA", "display": "legally authenticated"}
REVISED = {"system": DATA_OPERATION, "code": "UPDATE", "display": "revise"}
NULLIFIED = {"system": DATA_OPERATION, "code": "NULLIFY", "display": "nullify"}
LEGAL_AUTHENTICATOR = {
    "system": PROVENANCE_AGENT, "code": "legal", "display": "Legal Authenticator"
}  # fmt: skip
AUTHOR = {"system": PROVENANCE_AGENT, "code": "author", "display": "Author"}

# NPRS is the one measure with a LOINC code (needlechart/knowledge/data/instruments.json
# holds it); its display is LOINC's long common name.
LOINC_DISPLAY = {"72514-3": "Pain severity - 0-10 verbal numeric rating [Score] - Reported"}
# UCUM codes of the instruments' units; a unit not listed is sent as text only.
UCUM_UNITS = {"degrees": "deg", "kPa": "kPa", "kg": "kg", "points": "{score}"}

# The extension that carries one needled muscle and side of a Procedure (docs/fhir.md).
NEEDLING_ROW = f"{BASE}/StructureDefinition/needling-row"
# What a measurement holds beyond an Observation's fields, so that an import takes it back
# whole: when it was taken, what was measured, the side, and its episode of care.
MEASUREMENT = f"{BASE}/StructureDefinition/measurement"


def system(code_system_id: str) -> str:
    """The canonical URL of one of needlechart's code systems."""
    return f"{BASE}/CodeSystem/{code_system_id}"


@dataclass(frozen=True)
class Definition:
    """One of needlechart's published definitions, at `{BASE}/{resource type}/{id}`."""

    resource_type: ClassVar[str]
    id: str
    name: str
    title: str
    description: str

    @property
    def url(self) -> str:
        return f"{BASE}/{self.resource_type}/{self.id}"

    def resource(self, version: str) -> dict[str, Any]:
        """What every definition's resource says of itself (its content is the kind's)."""
        return {
            "resourceType": self.resource_type,
            "id": self.id,
            "url": self.url,
            "version": version,
            "name": self.name,
            "title": self.title,
            "status": "active",
            "experimental": False,
            "publisher": "needlechart",
            "description": self.description,
        }


@dataclass(frozen=True)
class LocalCodeSystem(Definition):
    resource_type: ClassVar[str] = "CodeSystem"
    concepts: Callable[[], list[tuple[str, str]]]

    def display(self, code: str) -> str:
        return self._displays.get(code, code)

    @cached_property
    def _displays(self) -> dict[str, str]:
        # The concepts are the knowledge package's fixed data: looked up once, not once per
        # coding (a bulk export writes tens of thousands).
        return dict(self.concepts())


def _muscles() -> list[tuple[str, str]]:
    return [(m.slug, m.name) for m in sorted(knowledge.muscles(), key=lambda m: m.slug)]


def _measures() -> list[tuple[str, str]]:
    return [(i.code, i.name) for i in knowledge.instruments()]


TRIGGER_POINT = [
    ("trigger-point", "Myofascial trigger point (palpation finding)"),
    ("active", "Active: reproduces the patient's recognised pain"),
    ("latent", "Latent: does not reproduce the patient's recognised pain"),
    ("taut-band", "Taut band palpable"),
    ("hypersensitive-spot", "Hypersensitive spot in the taut band"),
    ("referred-sensation", "Referred sensation on compression"),
    ("recognised", "Recognised as the patient's own pain"),
    ("jump-sign", "Jump sign"),
    ("twitch-response", "Local twitch response"),
    ("pressure-pain-threshold", "Pressure pain threshold"),
]

CODE_SYSTEMS = {
    cs.id: cs
    for cs in (
        LocalCodeSystem(
            "muscle", "NeedlechartMuscle", "Muscles",
            "The muscles needlechart charts for dry needling, by the slug records store.",
            _muscles,
        ),
        LocalCodeSystem(
            "needling-technique", "NeedlechartNeedlingTechnique", "Needling techniques",
            "How the needle was worked in a muscle.", lambda: list(Technique.choices),
        ),
        LocalCodeSystem(
            "procedure", "NeedlechartProcedure", "Procedures",
            "The procedures needlechart records.",
            lambda: [("dry-needling", "Dry needling (trigger point needling)")],
        ),
        LocalCodeSystem(
            "measure", "NeedlechartMeasure", "Outcome measures",
            "The measures needlechart records; NPRS is sent with its LOINC code as well.",
            _measures,
        ),
        LocalCodeSystem(
            "adverse-event", "NeedlechartAdverseEvent", "Adverse events of dry needling",
            "The kinds of adverse event recorded after dry needling.",
            lambda: list(knowledge.adverse_event_types().items()),
        ),
        LocalCodeSystem(
            "therapy", "NeedlechartTherapy", "Therapies in a treatment plan",
            "Dry needling and the other therapies a treatment plan holds.",
            lambda: [("dry-needling", "Dry needling"), *PlanTherapy.Kind.choices],
        ),
        LocalCodeSystem(
            "profession", "NeedlechartProfession", "Professions",
            "The professions of the clinicians who practise dry needling (PractitionerRole.code).",
            lambda: list(Profession.choices),
        ),
        LocalCodeSystem(
            "check-in-symptom", "NeedlechartCheckInSymptom", "Symptoms after needling",
            "The symptoms a patient may tick in a check-in after a needling session.",
            lambda: [(s.code, s.label) for s in knowledge.symptoms()],
        ),
        LocalCodeSystem(
            "body-region", "NeedlechartBodyRegion", "Body chart regions",
            "The regions of needlechart's body chart, where a patient's pain is marked.",
            region_choices,
        ),
        LocalCodeSystem(
            "body-chart", "NeedlechartBodyChart", "Pain on the body chart",
            "A region of pain marked on the body chart, and the quality of that pain.",
            lambda: [("pain-mark", "Pain marked on the body chart"),
                     ("quality", "Quality of the pain"), *PainQuality.choices],
        ),
        LocalCodeSystem(
            "trigger-point", "NeedlechartTriggerPoint", "Trigger-point findings",
            "A palpation finding and its criteria (after the 2018 Delphi consensus).",
            lambda: TRIGGER_POINT,
        ),
    )
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def coding(code_system_id: str, code: str) -> dict[str, str]:
    """One of needlechart's codes as a Coding. Made once per code and shared by every
    resource that holds it (a bulk export writes tens of thousands): never change it."""
    found = CODE_SYSTEMS[code_system_id]
    return {"system": found.url, "code": code, "display": found.display(code)}


def codings(code_system_id: str) -> list[dict[str, str]]:
    """Every code of one of needlechart's code systems, as Codings."""
    found = CODE_SYSTEMS[code_system_id]
    return [{"system": found.url, "code": c, "display": d} for c, d in found.concepts()]


def muscle_name(slug: str) -> str:
    """The muscle's name; the slug itself for a muscle the catalogue no longer holds."""
    try:
        return knowledge.muscle(slug).name
    except knowledge.UnknownCode:
        return slug


def code_system_resource(found: LocalCodeSystem, version: str) -> dict[str, Any]:
    concepts = found.concepts()
    return {
        **found.resource(version),
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": [{"code": code, "display": display} for code, display in concepts],
    }
