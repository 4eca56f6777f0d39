"""Every page of the app costs the same queries however long a patient's history grows, and
the patient header, on every page of a patient, names the same number of safety signals.

The pages are those of the access matrix (docs/access.md), each opened by the first role it
answers with 200 (a practitioner before the others, the patient for the portal's). The
history grows by every kind of record at once: a charted visit and a new version of the
plan (charts.grow), an episode closed, health answers and a check-in with red flags from the
portal, a letter to the referrer, an issued document.
"""

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from needlechart.charting.models import NeedlingSession
from needlechart.documents import letters
from needlechart.documents.models import Document
from needlechart.portal import services as portal_services
from needlechart.portal.selectors import REPORTS_LISTED
from tests import charts, factories
from tests.conftest import World, client_for
from tests.test_access import PAGES, ROLES, _kwargs, charted  # noqa: F401

# Their queries follow what the page shows rather than how much there is: the audit trail
# names the records of its page with one query per kind of record on it (fewer kinds as
# one kind fills the page); the dashboard reads its review list's episodes once the list
# has any (tests/outcomes pin both).
SHOWN_NOT_STORED = {"audit:list", "audit:patient", "outcomes:dashboard"}
# The timeline reads the records of each kind its page shows: as a long history's newest
# records fill the page, older kinds leave it, and with them their query (never more:
# tests/charting pin the most).
FEWER_AS_THE_PAGE_FILLS = {"charting:timeline"}
SIGNAL = re.compile(r'<li class="signal signal--')


def _viewer(world: World, row: list[str]):
    for role in ("practitioner", "clinic admin", "patient", "assistant", "front desk"):
        if row[2 + ROLES.index(role)] == "200":
            return world.by_role(role)
    return None


def _pages(world: World) -> dict[str, tuple[int, int]]:
    """Each page's queries, and the safety signals its patient header names."""
    seen = {}
    for name, row in sorted(PAGES.items()):
        user = _viewer(world, row)
        if user is None:
            continue
        client = client_for(user)
        url = reverse(name, kwargs=_kwargs(world, name, clinic="a"))
        client.get(url)  # what a page keeps between views (a course, a summary) is kept
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, name
        body = b"".join(response.streaming_content) if response.streaming else response.content
        seen[name] = (len(queries), len(SIGNAL.findall(body.decode(errors="replace"))))
    return seen


def _more(world: World) -> None:
    """More of every kind of record of patient A."""
    charts.grow(world.practitioner, world.episode_a)
    factories.episode(world.patient_a, world.practitioner_a, status="finished",
                      condition_code="M54.50")  # fmt: skip
    portal_services.questionnaire_submit(actor=world.patient_user, factors=[])
    last = NeedlingSession.objects.filter(episode=world.episode_a, signed_at__isnull=False).latest(
        "performed_at"
    )
    with time_machine.travel(last.performed_at + dt.timedelta(hours=25)):
        portal_services.checkin_answer(
            actor=world.patient_user, session=last, hours=24, soreness=3,
            symptoms=["bruising", "breathlessness-chest-pain"],
        )  # fmt: skip
    letters.letter_start(actor=world.practitioner, episode=world.episode_a, kind="progress-report")
    pdf = b"%PDF-1.7 issued"
    Document.objects.create(
        patient=world.patient_a, kind="record", source_type="Patient",
        source_id=world.patient_a.pk, title="Health record", render_version=1, content=pdf,
        sha256="0" * 64, size=len(pdf), issued_by=world.practitioner,
    )  # fmt: skip


@pytest.fixture
def grown(charted) -> tuple[dict, dict]:  # noqa: F811 - the fixture imported above
    # Past the reports the header lists one by one before the first measure, so that both
    # measure a header that counts the rest.
    for _ in range(REPORTS_LISTED + 2):
        _more(charted)
    before = _pages(charted)
    for _ in range(3):
        _more(charted)
    return before, _pages(charted)


def test_every_page_costs_the_same_queries_and_names_the_same_signals_as_the_history_grows(
    grown,
):
    before, after = grown
    queries = {
        name: (before[name][0], after[name][0])
        for name in before
        if before[name][0] != after[name][0]
        and name not in SHOWN_NOT_STORED | FEWER_AS_THE_PAGE_FILLS
    }
    assert queries == {}
    for name in FEWER_AS_THE_PAGE_FILLS:
        assert after[name][0] <= before[name][0], name
    # Every page of the matrix a user can open was measured.
    assert len(before) > 60
    # The header shows on every staff page of a patient: at most the listed red flags and
    # effects with a line each for the rest, and the health answers waiting.
    headers = {name: signals for name, (_, signals) in before.items() if signals}
    assert len(headers) > 20
    assert {name: signals for name, (_, signals) in after.items() if signals} == headers
    assert max(headers.values()) <= 2 * (REPORTS_LISTED + 1) + 1
