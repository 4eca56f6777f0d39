"""Between sessions: the pain diary, the review ratings, the patient's own progress and
record; and that a patient reaches nothing of anyone else's."""

import datetime as dt
import json
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from needlechart.audit.models import AuditEvent
from needlechart.charting import services as charting
from needlechart.charting.models import Consent
from needlechart.outcomes import selectors as outcome_selectors
from needlechart.outcomes import services as outcome_services
from needlechart.outcomes.export import patient_chart, with_chart
from needlechart.outcomes.measurements import observation_add
from needlechart.outcomes.models import Observation
from needlechart.patients.models import Patient
from needlechart.portal import services as portal_services
from needlechart.portal import views as portal_views
from needlechart.portal.models import CheckIn
from tests import factories
from tests.conftest import client_for
from tests.portal.conftest import signed_session
from tests.sql import SEAL_APART


def test_a_diary_entry_is_the_patients_own_and_stays_out_of_the_clinical_figures(
    session_26h, world
):
    observation_add(actor=world.practitioner, episode=world.episode_a, code="nprs", value=7,
                    timing="baseline")  # fmt: skip
    before = outcome_selectors.episode_progress(world.episode_a).pain.latest
    client = client_for(world.patient_user)
    assert client.post(reverse("portal:diary"), {"pain": "2"}).status_code == 302
    entry = Observation.objects.get(timing="home")
    assert (entry.code, entry.value, entry.recorded_by) == ("nprs", 2, world.patient_user)
    after = outcome_selectors.episode_progress(world.episode_a).pain
    assert after.latest == before and len(after.points) == 1
    assert "Your diary" in client.get(reverse("portal:progress")).content.decode()
    refused = client.post(reverse("portal:diary"), {"pain": "11"})
    assert refused.status_code == 200 and Observation.objects.filter(timing="home").count() == 1


def test_the_progress_chart_plots_clinic_and_diary_pain(session_26h, world):
    observation_add(actor=world.practitioner, episode=world.episode_a, code="nprs", value=7,
                    timing="baseline")  # fmt: skip
    client = client_for(world.patient_user)
    client.post(reverse("portal:diary"), {"pain": "5"})
    page = client.get(reverse("portal:progress")).content.decode()
    assert '<svg class="plot plot--phone" role="img" aria-label="Your pain over time' in page
    assert "Pain, 0 to 10" in page


def test_the_progress_page_lists_the_newest_ratings_and_charts_them_all(session_26h, world):
    """A long course keeps the patient's page short and its queries the same: every rating
    on the chart, the newest listed under it, the number of earlier ones said, and all of
    them listed when asked."""
    client = client_for(world.patient_user)
    url = reverse("portal:progress")
    portal_services.diary_add(actor=world.patient_user, pain=6)
    with CaptureQueriesContext(connection) as few:
        first = client.get(url)
    assert "earlier rating" not in first.content.decode()
    start = timezone.now()
    listed = portal_views.PROGRESS_LISTED
    for day in range(1, listed + 3):
        with time_machine.travel(start + dt.timedelta(days=day), tick=False):
            portal_services.diary_add(actor=world.patient_user, pain=day % 10)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert len(many) == len(few)
    latest = response.context["latest"]
    assert len(latest) == listed and response.context["earlier"] == 3
    assert [value for _, value, _ in latest] == [day % 10 for day in range(listed + 2, 2, -1)]
    page = response.content.decode()
    assert f"Your {listed} latest pain ratings, newest first" in page
    assert "3 earlier ratings are in the chart above" in page
    # Every rating as text, when asked: the chart's words for whoever cannot see it.
    every = client.get(url, {"all": "1"})
    assert len(every.context["latest"]) == listed + 3 and every.context["earlier"] == 0
    assert [value for _, value, _ in every.context["latest"]][-2:] == [1, 6]
    assert f'<a href="?all=1">List all {listed + 3} ratings</a>' in page
    # The chart draws all of them: a square a diary rating, and one in the legend.
    marks = [m for m in re.findall(r"<rect [^>]*>", page) if "fill=" not in m]
    assert len(marks) == listed + 3 + 1


def test_the_progress_chart_is_drawn_again_only_when_a_rating_changes(
    session_26h, world, monkeypatch
):
    """A diary of a rating a day is drawn from every rating: kept by the ratings it draws,
    the chart is drawn once for them, and again once one is added."""
    drawn = []

    def counted(points):
        drawn.append(len(points))
        return f"<svg>{len(points)}</svg>"

    monkeypatch.setattr(portal_views, "own_pain_plot", counted)
    portal_views._own_plot.cache_clear()
    client = client_for(world.patient_user)
    url = reverse("portal:progress")
    for pain in (6, 4):
        portal_services.diary_add(actor=world.patient_user, pain=pain)
    pages = [client.get(url).content.decode() for _ in range(3)]
    assert drawn == [2] and all("<svg>2</svg>" in page for page in pages)
    with time_machine.travel(timezone.now() + dt.timedelta(days=1), tick=False):
        portal_services.diary_add(actor=world.patient_user, pain=3)
    assert "<svg>3</svg>" in client.get(url).content.decode()
    assert drawn == [2, 3]


def test_a_draft_sessions_pain_is_not_on_the_patients_chart(consented, world):
    draft, _ = charting.session_start(actor=world.practitioner, episode=world.episode_a,
                                      screening_status="unchanged", consent_confirmed=True)  # fmt: skip
    observation_add(actor=world.practitioner, episode=world.episode_a, session=draft,
                    code="nprs", value=9, timing="before")  # fmt: skip
    page = client_for(world.patient_user).get(reverse("portal:progress")).content.decode()
    assert "9/10" not in page


def test_review_ratings_ask_for_each_activity_named_at_the_start(world, consented):
    for name in ("Lifting my child", "Running 5 km"):
        observation_add(actor=world.practitioner, episode=world.episode_a, code="psfs-activity",
                        component=name, value=3, timing="baseline")  # fmt: skip
    client = client_for(world.patient_user)
    form = client.get(reverse("portal:review")).context["form"]
    assert form.activities == ["Lifting my child", "Running 5 km"]
    response = client.post(
        reverse("portal:review"), {"activity_0": "6", "activity_1": "4", "groc": "3"}
    )
    assert response.status_code == 302
    home = Observation.objects.filter(timing="home").order_by("id")
    assert [(o.code, o.component, int(o.value)) for o in home] == [
        ("psfs-activity", "Lifting my child", 6), ("psfs-activity", "Running 5 km", 4),
        ("groc", "", 3),
    ]  # fmt: skip


def test_the_review_is_offered_around_the_plans_review_date(world, consented):
    outcome_services.plan_create(
        actor=world.practitioner, episode=world.episode_a, planned_sessions=4, frequency="weekly",
        review_on=timezone.localdate() + dt.timedelta(days=2),
        goals=[{"description": "Less pain", "code": "nprs", "target": 2,
                "target_date": timezone.localdate() + dt.timedelta(days=30)}],
        therapies=[],
    )  # fmt: skip
    client = client_for(world.patient_user)
    assert reverse("portal:review") in client.get(reverse("portal:home")).content.decode()
    client.post(reverse("portal:review"), {"groc": "1"})
    assert reverse("portal:review") not in client.get(reverse("portal:home")).content.decode()


def test_the_record_download_is_the_same_json_as_the_chart_command(session_26h, world):
    response = client_for(world.patient_user).get(reverse("portal:record_json"))
    assert response["Content-Disposition"].startswith("attachment;")
    expected = patient_chart(with_chart(Patient.objects.filter(pk=world.patient_a.pk)).get())
    assert json.loads(response.content) == json.loads(json.dumps(expected))
    event = AuditEvent.objects.filter(action="export", patient=world.patient_a).get()
    assert event.user == world.patient_user and event.detail == {"via": "portal-json"}


def test_the_printable_record_lists_the_sessions(session_26h, world):
    page = client_for(world.patient_user).get(reverse("portal:record")).content.decode()
    assert "Gastrocnemius (left): 1" in page and world.patient_a.mrn in page
    assert "data-print" in page  # the print button (no inline handler: the CSP forbids it)


@pytest.fixture
def neighbours(session_26h, world, needle):
    """Another portal patient of the same clinic with a signed session of their own: what
    patient A must never reach (clinic B's records are covered by tests/test_access.py)."""
    carl = factories.patient(world.clinic_a, given_name="Carl", email="carl@example.org")
    episode = factories.episode(carl, world.practitioner_a)
    factories.portal_account(carl)
    charting.screening_record(actor=world.practitioner, episode=episode, factors=[])
    # Consents are append-only: one signed ten days ago is written as it was then.
    Consent.objects.create(
        patient=carl, template=charting.current_template(clinic=world.clinic_a, kind="consent"),
        signed_name="Carl", signed_at=timezone.now() - dt.timedelta(days=10),
        witnessed_by=world.practitioner,
    )  # fmt: skip
    return {"same clinic": signed_session(world, needle, 26, muscle="soleus", episode=episode)}


def test_a_patient_reaches_no_other_patients_session_by_any_url(neighbours, world):
    client = client_for(world.patient_user)
    for where, session in neighbours.items():
        for url in [
            reverse("portal:session", args=[session.pk]),
            reverse("portal:check_in", args=[session.pk, 24]),
            reverse("portal:check_in", args=[session.pk, 48]),
        ]:
            since = AuditEvent.objects.order_by("-pk").first().pk
            assert client.get(url).status_code == 404, (where, url)
            assert client.post(url, {"soreness": "1"}).status_code == 404, (where, url)
            assert not AuditEvent.objects.filter(pk__gt=since).exists(), (where, url)
    assert not CheckIn.objects.exists()


def _portal_pages() -> list[URLPattern]:
    """The patient's side of the portal, from the URL configuration itself."""
    resolver = next(
        p for p in get_resolver().url_patterns
        if isinstance(p, URLResolver) and p.namespace == "portal"
    )  # fmt: skip
    return [p for p in resolver.url_patterns if str(p.pattern).startswith("portal/")]


def test_every_portal_url_with_an_id_swapped_to_another_patients_is_not_found(neighbours, world):
    from needlechart.documents import services as documents

    theirs = neighbours["same clinic"]
    document = documents.document_issue(
        actor=world.practitioner, kind="session-note", record=theirs
    )
    others = {"session_id": theirs.pk, "hours": 24, "document_id": document.pk}
    client = client_for(world.patient_user)
    checked = []
    for pattern in _portal_pages():
        names = set(pattern.pattern.regex.groupindex)
        if not names & {"session_id", "document_id"}:
            assert names <= {"slug", "token", "uidb64"}, pattern  # ids a new URL would add
            continue
        url = reverse(f"portal:{pattern.name}", kwargs={k: others[k] for k in names})
        assert client.get(url).status_code == 404, url
        assert client.post(url, {}).status_code == 404, url
        checked.append(pattern.name)
    assert sorted(checked) == ["check_in", "document", "session"]


# Pages stay as fast for a patient with years of sessions and check-ins.
# With today's diary entry, for the to-do list; an audit write seals its chain apart on SQLite.
HOME_QUERIES = 13 + SEAL_APART
# A signed session: no signing checks to run, no row form (nor its needle catalogue); the
# reader's credentials read once.
STAFF_SESSION_QUERIES = 20 + SEAL_APART


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context.captured_queries)


def test_the_portal_home_costs_the_same_queries_however_many_sessions(consented_long_ago, needle):
    world = consented_long_ago
    first = signed_session(world, needle, 26)
    client = client_for(world.patient_user)
    assert _count(client, reverse("portal:home")) == HOME_QUERIES
    for hours in (30, 40, 50, 60):
        session = signed_session(world, needle, hours, muscle="soleus")
        CheckIn.objects.create(session=session, hours=24, soreness=2)
    assert _count(client, reverse("portal:home")) == HOME_QUERIES
    assert (
        reverse("portal:check_in", args=[first.pk, 24])
        in client.get(reverse("portal:home")).content.decode()
    )


def test_the_staff_session_page_costs_the_same_queries_however_many_reports(session_26h, world):
    client = client_for(world.practitioner)
    url = reverse("charting:session", args=[session_26h.pk])
    baseline = _count(client, url)
    portal_services.checkin_answer(actor=world.patient_user, session=session_26h, hours=24, soreness=5,
                            symptoms=["bruising", "headache", "infection-signs"],
                            now=session_26h.performed_at + dt.timedelta(hours=25))  # fmt: skip
    assert _count(client, url) == baseline == STAFF_SESSION_QUERIES


@pytest.mark.parametrize("page", ["charting:session", "patients:episode"])
def test_a_red_flag_is_read_once_for_the_header_and_the_banner_that_both_show_it(
    session_26h, world, page
):
    portal_services.checkin_answer(actor=world.patient_user, session=session_26h, hours=24, soreness=5,
                            symptoms=["infection-signs"],
                            now=session_26h.performed_at + dt.timedelta(hours=25))  # fmt: skip
    record = session_26h if page == "charting:session" else session_26h.episode
    client = client_for(world.practitioner)
    with CaptureQueriesContext(connection) as context:
        html = client.get(reverse(page, args=[record.pk])).content.decode()
    assert "Red flag reported" in html  # the header's signal
    assert "Red flag reported after a session: review before needling" in html  # the banner
    red_flag_reads = [
        q["sql"] for q in context.captured_queries
        if 'FROM "portal_checkin"' in q["sql"] and '"alert_acknowledged_at" IS NULL' in q["sql"]
    ]  # fmt: skip
    assert len(red_flag_reads) == 1


def test_the_front_desk_sees_no_red_flag_on_the_patient_page_and_none_is_read_for_it(
    session_26h, world
):
    portal_services.checkin_answer(actor=world.patient_user, session=session_26h, hours=24, soreness=5,
                            symptoms=["infection-signs"],
                            now=session_26h.performed_at + dt.timedelta(hours=25))  # fmt: skip
    url = reverse("patients:detail", args=[session_26h.episode.patient_id])
    assert "Red flag reported" in client_for(world.practitioner).get(url).content.decode()
    with CaptureQueriesContext(connection) as context:
        response = client_for(world.front_desk).get(url)
    assert response.status_code == 200
    assert "Red flag reported" not in response.content.decode()
    assert not [q for q in context.captured_queries if 'FROM "portal_checkin"' in q["sql"]]
