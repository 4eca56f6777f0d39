"""The access table of docs/fhir.md, row by row: each role's session and each token scope."""

import datetime as dt
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


def _path(world, resource: str) -> str:
    if resource == "Patient/{id}/$everything":
        return f"/fhir/Patient/{world.patient_a.pk}/$everything"
    return f"/fhir/{resource}"


def test_the_table_covers_every_type_served():
    from needlechart.fhir import reads

    assert {row[0] for row in ROWS} == {*reads.TYPES, "Patient/{id}/$everything"}


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_each_role_reads_what_the_table_says(world, row):
    for role, expected in zip(ROLES, row[2:], strict=True):
        answer = client_for(world.by_role(role)).get(_path(world, row[0]))
        assert answer.status_code == (200 if expected == "read" else int(expected)), (row[0], role)


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_a_token_reads_with_the_scopes_the_table_names(world, row):
    named = re.findall(r"`([a-z]+:read)`", row[1])
    both = " and " in row[1]
    grants = [named] if both else [[scope] for scope in named]

    def status(scopes: list[str]) -> int:
        _, secret = services.token_create(
            actor=world.admin, user=world.practitioner, name="Table", scopes=scopes,
            expires_on=timezone.localdate() + dt.timedelta(days=5),
        )  # fmt: skip
        return Client().get(_path(world, row[0]), HTTP_AUTHORIZATION=f"Bearer {secret}").status_code

    for scopes in grants:
        assert status(scopes) == 200, (row[0], scopes)
    others = [scope for scope in SCOPES if scope not in named]
    assert status(others) == 403, row[0]
    if both:
        assert all(status([scope]) == 403 for scope in named), row[0]
