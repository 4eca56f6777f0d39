"""Every resource type the server emits for a demo clinic passes an independent FHIR R4
validator (@medplum/core's validateResource), with real LOINC and ICD-10-CM codes and local
codes from the CodeSystems the server publishes."""

import io
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from needlechart.accounts.models import Role, User
from needlechart.fhir import codes, reads
from needlechart.patients.models import Patient
from tests.conftest import client_for
from tests.fhir import validation

TODAY = "2026-11-24"


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker) -> Iterator[None]:
    """A small demo, once for the module, rolled back at its end (as tests/demo does)."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
    try:
        with django_db_blocker.unblock():
            call_command("demo", "--patients", "12", "--today", TODAY, stdout=io.StringIO())
            connection.check_constraints()
        yield
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def admin(built, db) -> User:
    return User.objects.filter(clinic__is_demo=True, role=Role.CLINIC_ADMIN).order_by("pk")[0]


def _all(client: Any, path: str) -> list[dict[str, Any]]:
    """Every resource of a search, following the next links."""
    found, url = [], path
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.content
        assert answer["Content-Type"].startswith("application/fhir+json")
        bundle = answer.json()
        found += [entry["resource"] for entry in bundle.get("entry", [])]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return found


def _codings(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if "system" in value and "code" in value:
            yield value
        for inner in value.values():
            yield from _codings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _codings(inner)


def _amend_two_sessions(clinic: Any) -> None:
    """An addendum and an entered-in-error (the small demo may have neither)."""
    from needlechart.charting import services as charting
    from needlechart.charting.models import NeedlingSession

    sessions = NeedlingSession.objects.filter(
        episode__patient__clinic=clinic, signed_at__isnull=False, addenda__isnull=True
    ).select_related("practitioner__user", "episode__patient")[:2]
    first, second = list(sessions)
    charting.addendum_add(actor=first.practitioner.user, record=first, reason="Late entry",
                          text="Tolerated well.")  # fmt: skip
    charting.addendum_add(actor=second.practitioner.user, record=second, reason="Wrong day",
                          kind="entered-in-error")  # fmt: skip


def test_every_resource_of_a_demo_clinic_is_valid_fhir_r4(admin):
    _amend_two_sessions(admin.clinic)
    client = client_for(admin)
    emitted: list[dict[str, Any]] = []
    for name in reads.TYPES:
        emitted += _all(client, f"/fhir/{name}?_count=200")
    kinds = Counter(resource["resourceType"] for resource in emitted)
    assert set(kinds) == set(reads.TYPES)
    # Every kind of Observation: NPRS with LOINC, other measures, trigger-point findings,
    # pain marks of the body chart.
    observation_ids = {r["id"].split("-")[0] for r in emitted if r["resourceType"] == "Observation"}
    assert observation_ids == {"m", "tp", "pm"}
    # Every kind of Provenance: signed sessions and assessments, addenda.
    provenance_ids = {r["id"].split("-")[0] for r in emitted if r["resourceType"] == "Provenance"}
    assert provenance_ids == {"session", "assessment", "addendum"}
    # Both kinds of answers: check-ins after sessions, and the health questions.
    answered = {r["questionnaire"] for r in emitted if r["resourceType"] == "QuestionnaireResponse"}
    assert answered == {f"{codes.BASE}/Questionnaire/check-in",
                        f"{codes.BASE}/Questionnaire/health-questions"}  # fmt: skip
    patient = Patient.objects.filter(clinic=admin.clinic).order_by("pk").first()
    everything = client.get(f"/fhir/Patient/{patient.pk}/$everything").json()
    others = [
        client.get("/fhir/metadata").json(),
        client.get("/fhir/CodeSystem").json(),
        client.get("/fhir/Questionnaire").json(),
        client.get("/fhir/Questionnaire/check-in").json(),
        client.get("/fhir/Questionnaire/health-questions").json(),
        client.get(f"/fhir/Patient/{patient.pk}").json(),
        everything,
    ]
    assert validation.errors(emitted + others) == []
    assert {"Patient", "EpisodeOfCare", "Condition", "Encounter", "Procedure", "Observation",
            "CarePlan", "Practitioner", "Organization"} <= {
        e["resource"]["resourceType"] for e in everything["entry"]
    }  # fmt: skip

    # Every code is a real code of a standard system or a code of a published CodeSystem.
    published = {cs.url: {c for c, _ in cs.concepts()} for cs in codes.CODE_SYSTEMS.values()}
    systems = Counter()
    for coding in _codings(emitted):
        system = coding["system"]
        systems[system] += 1
        if system in published:
            assert coding["code"] in published[system], coding
    assert systems[codes.ICD_10_CM] and systems[codes.LOINC]
    nprs = [c for c in _codings(emitted) if c["system"] == codes.LOINC and c["code"] == "72514-3"]
    assert nprs[0]["display"] == "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
    condition_codes = {c["code"] for c in _codings(emitted) if c["system"] == codes.ICD_10_CM}
    from needlechart import knowledge

    assert condition_codes <= {c.code for c in knowledge.conditions()}


def test_a_procedure_names_each_muscle_and_side_with_technique_needles_and_performer(admin):
    client = client_for(admin)
    procedures = _all(client, "/fhir/Procedure?status=completed&_count=5")
    assert procedures
    procedure = procedures[0]
    from needlechart.charting.models import NeedlingSession

    session = NeedlingSession.objects.get(pk=procedure["id"])
    rows = list(session.insertions.all())
    assert [site["coding"][0]["code"] for site in procedure["bodySite"]] == [r.muscle for r in rows]
    parts = [{p["url"]: p for p in row["extension"]} for row in procedure["extension"]]
    assert [p["technique"]["valueCoding"]["code"] for p in parts] == [r.technique for r in rows]
    assert [p["needles"]["valueInteger"] for p in parts] == [r.needles for r in rows]
    assert [p.get("side", {}).get("valueCode", "") for p in parts] == [r.side for r in rows]
    assert procedure["performer"][0]["actor"]["reference"] == (
        f"Practitioner/{session.practitioner_id}"
    )


def test_the_code_systems_are_published_at_their_canonical_ids(client, db):
    muscle = client.get("/fhir/CodeSystem/muscle").json()
    assert muscle["url"] == "https://needlechart.org/fhir/CodeSystem/muscle"
    from needlechart import knowledge

    assert {c["code"]: c["display"] for c in muscle["concept"]}["upper-trapezius"] == (
        knowledge.muscle("upper-trapezius").name
    )
    found = client.get("/fhir/CodeSystem", {"url": muscle["url"]}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["muscle"]
    missing = client.get("/fhir/CodeSystem/nothing")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
