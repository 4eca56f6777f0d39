"""The access table of docs/fhir.md, row by row: each role's session and each token scope."""

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from needlechart.api import services
from needlechart.api.models import SCOPES
from tests.conftest import client_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "fhir.md"
ROLES = ["front desk", "assistant", "practitioner", "clinic admin"]


def _rows() -> list[list[str]]:
    text = DOC.read_text()
    section = text[text.index("## Access") :]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    table = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    start = next(i for i, row in enumerate(table) if row[0] == "Resource")
    rows = []
    for row in table[start + 1 :]:
        if len(row) != 6:
            break
        rows.append(row)
    return rows


ROWS = _rows()


EXPORT = "`$export` (system, Patient and Group level)"
IMPORT = "Import (`POST /fhir/`)"
OPERATIONS = {"Patient/{id}/$everything", EXPORT, IMPORT}


def _path(world, resource: str) -> str:
    if resource == "Patient/{id}/$everything":
        return f"/fhir/Patient/{world.patient_a.pk}/$everything"
    return f"/fhir/{resource}"


def _ask(client: Client, world, resource: str) -> int:
    """The status of the row's request: a read, an $export kick-off (202 when it starts), or
    an import of an empty Bundle."""
    if resource == EXPORT:
        levels = ["/fhir/$export", "/fhir/Patient/$export",
                  f"/fhir/Group/caseload-{world.practitioner_a.pk}/$export"]  # fmt: skip
        found = {client.get(path, HTTP_PREFER="respond-async").status_code for path in levels}
        assert len(found) == 1, found
        status = found.pop()
        return 200 if status == 202 else status
    if resource == IMPORT:
        bundle = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []})
        return client.post("/fhir/", bundle, content_type="application/fhir+json").status_code
    return client.get(_path(world, resource)).status_code


def test_the_table_covers_every_type_served():
    from needlechart.fhir import reads

    assert {row[0] for row in ROWS} == {*reads.TYPES, *OPERATIONS}


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_each_role_reads_what_the_table_says(world, row):
    for role, expected in zip(ROLES, row[2:], strict=True):
        status = _ask(client_for(world.by_role(role)), world, row[0])
        assert status == (200 if expected in ("read", "write") else int(expected)), (row[0], role)


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_a_token_reads_with_the_scopes_the_table_names(world, row):
    named = re.findall(r"`([a-z]+:(?:read|write))`", row[1])
    both = " and " in row[1]
    grants = [named] if both else [[scope] for scope in named]
    # The admin's token: the one role that does every row (only an admin imports).
    user = world.admin if row[0] == IMPORT else world.practitioner

    def status(scopes: list[str]) -> int:
        _, secret = services.token_create(
            actor=world.admin, user=user, name="Table", scopes=scopes,
            expires_on=timezone.localdate() + dt.timedelta(days=5),
        )  # fmt: skip
        return _ask(Client(HTTP_AUTHORIZATION=f"Bearer {secret}"), world, row[0])

    for scopes in grants:
        assert status(scopes) == 200, (row[0], scopes)
    others = [scope for scope in SCOPES if scope not in named]
    assert status(others) == 403, row[0]
    if both:
        assert all(status([scope]) == 403 for scope in named), row[0]
