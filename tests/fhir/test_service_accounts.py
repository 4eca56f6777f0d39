"""A service account's token over FHIR: it reads every resource its scopes name, as a
person's token does, audited as itself; a scope it lacks is a 403; it imports nothing (an
import is a clinic admin's)."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from needlechart.api import services
from needlechart.api.models import SERVICE_SCOPES
from needlechart.audit.models import AuditEvent
from needlechart.fhir.models import ExportJob
from tests import charts
from tests.fhir.test_access import IMPORT, ROWS, _ask


def _secret(world, account, scopes: list[str]) -> str:
    _, secret = services.token_create(
        actor=world.admin, user=account, name="Registry sync", scopes=scopes,
        expires_on=timezone.localdate() + dt.timedelta(days=5),
    )  # fmt: skip
    return secret


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_it_reads_with_the_scopes_the_access_table_names(world, row):
    account = services.service_account_create(actor=world.admin, name="Registry")

    def status(scopes: list[str]) -> int:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {_secret(world, account, scopes)}")
        return _ask(client, world, row[0])

    named = re.findall(r"`([a-z]+:(?:read|write))`", row[1])
    if row[0] == IMPORT:
        assert status(SERVICE_SCOPES) == 403
        return
    grants = [named] if " and " in row[1] else [[scope] for scope in named]
    for scopes in grants:
        assert status(scopes) == 200, (row[0], scopes)
    assert status([scope for scope in SERVICE_SCOPES if scope not in named]) == 403, row[0]


def test_its_reads_and_exports_are_audited_as_itself(world, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    chart = charts.build(world.practitioner, world.episode_a, signed=True)
    account = services.service_account_create(actor=world.admin, name="Registry")
    secret = _secret(world, account, ["patients:read", "clinical:read"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    before = AuditEvent.objects.count()
    session = chart.signed_session.pk
    for path in (f"Encounter/{session}", f"Procedure/{session}", f"Provenance?target=Encounter/{session}",
                 f"Observation?patient={world.patient_a.pk}", f"Patient/{world.patient_a.pk}/$everything"):  # fmt: skip
        answer = client.get(f"/fhir/{path}")
        assert answer.status_code == 200, (path, answer.content)
    kick_off = client.get("/fhir/$export", HTTP_PREFER="respond-async")
    assert kick_off.status_code == 202
    rows = AuditEvent.objects.order_by("id")[before:]
    assert {(r.user_id, r.username, r.detail["api_token"], r.detail["via"]) for r in rows} == {
        (account.pk, account.username, "Registry sync", "fhir")
    }
    assert {"view", "list", "export"} <= {r.action for r in rows}
    assert ExportJob.objects.get().user == account
    # The signature it read is a person's.
    signed = client.get(f"/fhir/Provenance?target=Encounter/{session}").json()["entry"][0]
    assert signed["resource"]["agent"][0]["who"]["reference"].startswith("Practitioner/")


def test_without_the_clinical_scope_it_is_refused_every_clinical_read(world):
    account = services.service_account_create(actor=world.admin, name="Booking")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {_secret(world, account, ['patients:read'])}")
    assert client.get(f"/fhir/Patient/{world.patient_a.pk}").status_code == 200
    for path in (f"EpisodeOfCare/{world.episode_a.pk}", "Observation", "Encounter",
                 f"Patient/{world.patient_a.pk}/$everything"):  # fmt: skip
        answer = client.get(f"/fhir/{path}")
        assert answer.status_code == 403, path
        assert answer.json()["issue"][0]["code"] == "forbidden"
