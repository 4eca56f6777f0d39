"""PractitionerRole: each practitioner at their clinic, in their profession, with dry
needling as specialty over the span of their credentials; searched by practitioner and
organization, clinic-scoped, audited, with constant queries."""

import datetime as dt
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from needlechart.audit.models import AuditEvent
from tests import factories
from tests.conftest import client_for
from tests.fhir import tokens


def _get(secret: str, path: str, **params: Any) -> Any:
    return Client().get(f"/fhir/{path}", params, HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_a_role_names_the_practitioner_the_clinic_the_profession_and_credential_span(world):
    paula = world.practitioner_a
    credential = paula.credentials.get()
    secret = tokens.token(world, ["clinical:read"])
    found = _get(secret, f"PractitionerRole/{paula.pk}").json()
    assert found["practitioner"]["reference"] == f"Practitioner/{paula.pk}"
    assert found["organization"] == {"reference": f"Organization/{world.clinic_a.pk}"}
    assert found["code"][0]["coding"][0] == {
        "system": "https://needlechart.org/fhir/CodeSystem/profession",
        "code": paula.profession, "display": paula.get_profession_display(),
    }  # fmt: skip
    assert found["specialty"][0]["coding"][0]["code"] == "dry-needling"
    assert found["period"] == {
        "start": credential.completed_on.isoformat(), "end": credential.expires_on.isoformat()
    }  # fmt: skip
    # A credential that does not expire leaves the span open.
    factories.credential(paula, dt.date(2010, 5, 1), None)
    assert _get(secret, f"PractitionerRole/{paula.pk}").json()["period"] == {"start": "2010-05-01"}


def test_a_practitioner_without_a_credential_has_no_dry_needling_specialty(world):
    new = factories.practitioner(world.clinic_a, "nina", first_name="Nina", last_name="New")
    found = _get(tokens.token(world, ["patients:read"]), f"PractitionerRole/{new.pk}").json()
    assert "specialty" not in found and "period" not in found
    assert found["active"] is True


def test_searches_by_practitioner_and_organization_within_the_clinic(world):
    secret = tokens.token(world, ["clinical:read"])

    def ids(**params: Any) -> set[str]:
        bundle = _get(secret, "PractitionerRole", **params).json()
        return {e["resource"]["id"] for e in bundle.get("entry", [])}

    paula, alice = world.practitioner_a, world.admin.practitioner
    assert ids() == {str(paula.pk), str(alice.pk)}
    assert ids(practitioner=f"Practitioner/{paula.pk}") == {str(paula.pk)}
    assert ids(practitioner=f"{paula.pk},{world.practitioner_b.pk}") == {str(paula.pk)}
    assert ids(organization=f"Organization/{world.clinic_a.pk}") == {str(paula.pk), str(alice.pk)}
    assert ids(organization=f"Organization/{world.clinic_b.pk}") == set()
    assert _get(secret, "PractitionerRole", practitioner="Patient/1").status_code == 400


def test_another_clinics_role_is_404_and_reads_are_audited(world):
    secret = tokens.token(world, ["patients:read"])
    other = _get(secret, f"PractitionerRole/{world.practitioner_b.pk}")
    assert other.status_code == 404 and other.json()["resourceType"] == "OperationOutcome"
    # The directory is read by every staff role, the front desk too.
    desk = client_for(world.front_desk)
    assert desk.get(f"/fhir/PractitionerRole/{world.practitioner_a.pk}").status_code == 200
    resource = f"PractitionerRole/{world.practitioner_a.pk}"
    assert AuditEvent.objects.filter(
        user=world.front_desk, action="view", detail={"via": "fhir", "resource": resource}
    ).exists()


def _queries(secret: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert _get(secret, "PractitionerRole").status_code == 200
    return len(queries)


def test_a_search_costs_the_same_queries_as_the_staff_grows(world):
    secret = tokens.token(world, ["patients:read"])
    _queries(secret)
    small = _queries(secret)
    for number in range(3):
        grown = factories.practitioner(world.clinic_a, f"p{number}")
        factories.credential(grown, dt.date(2020, 1, 1), None)
    assert _get(secret, "PractitionerRole").json()["total"] == 5
    assert _queries(secret) == small
