import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from needlechart.accounts.models import DryNeedlingCredential
from needlechart.charting import selectors, services
from needlechart.charting.models import (
    Assessment,
    Insertion,
    NeedleSize,
    NeedlingSession,
    PainMark,
)
from tests import charts, factories
from tests.charts import row
from tests.conftest import client_for
from tests.sql import SEAL_APART, captured, work


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _row_post(needle, muscle="soleus", side="left", **extra) -> dict:
    data = row(needle, muscle, side)
    data["needle_size"] = needle.pk
    data.update(extra)
    data["familiar_pain"] = {True: "yes", False: "no"}.get(data.get("familiar_pain"), "")
    return {k: ("on" if v is True else v) for k, v in data.items() if v is not False}


@pytest.fixture
def ready(session, needle, world):
    """A draft session with one row and a matching needle count."""
    services.insertion_add(actor=world.practitioner, session=session, **row(needle))
    services.session_update(
        actor=world.practitioner,
        session=session,
        needles_opened=1,
        needles_removed=1,
        sharps_disposed=True,
    )
    return session


def sign(client, session):
    return client.post(reverse("charting:session_sign", args=[session.pk]), follow=True)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("needles", "Needle count does not match: 1 opened, 0 removed and disposed of."),
        ("consent", "No current consent: The patient withdrew consent"),
        ("credential", "credential is missing or has lapsed"),
        ("contraindication", "Gastrocnemius left: contraindicated by the current screening"),
    ],
)
def test_each_rule_blocks_signing_on_the_page_with_a_clear_message(ready, world, breakage, message):
    if breakage == "needles":
        services.session_update(
            actor=world.practitioner, session=ready, needles_removed=0, sharps_disposed=True
        )
    elif breakage == "consent":
        consent, _ = services.consent_status(world.patient_a)
        services.consent_withdraw(actor=world.practitioner, consent=consent, reason="Changed mind")
    elif breakage == "credential":
        DryNeedlingCredential.objects.filter(practitioner=world.practitioner_a).update(
            expires_on=timezone.localdate() - dt.timedelta(days=1)
        )
    else:
        services.screening_record(actor=world.practitioner, episode=world.episode_a,
                                  factors=[{"code": "lymphedema", "limb": "leg", "side": "left"}])  # fmt: skip
    response = sign(client_for(world.practitioner), ready)
    assert any(message in m for m in messages_of(response)), messages_of(response)
    assert message in response.content.decode()  # listed on the page before signing, too
    ready.refresh_from_db()
    assert not ready.is_signed


def test_a_contraindicated_row_is_refused_on_the_page_with_its_reason(session, needle, world):
    services.screening_record(actor=world.practitioner, episode=world.episode_a,
                              factors=[{"code": "pacemaker"}])  # fmt: skip
    response = client_for(world.practitioner).post(
        reverse("charting:session_row", args=[session.pk]),
        _row_post(
            needle,
            technique="electrical-stimulation",
            frequency_hz="2",
            intensity_ma="5",
            lead_to_muscle="soleus",
            lead_to_side="left",
        ),
    )
    assert response.status_code == 400
    errors = response.context["row_form"].errors["muscle"]
    assert errors == ["Contraindicated: Pacemaker, implanted defibrillator or stimulator: No "
                      "electrical stimulation; plain needling is allowed."]  # fmt: skip
    assert not session.insertions.exists()


def test_a_signed_session_cannot_be_changed_through_any_page(ready, needle, world):
    client = client_for(world.practitioner)
    sign(client, ready)
    ready.refresh_from_db()
    assert ready.is_signed
    attempts = [
        (reverse("charting:session_row", args=[ready.pk]), _row_post(needle, "tibialis-anterior")),
        (reverse("charting:session_row_remove", args=[ready.pk, ready.insertions.get().pk]), {}),
        (reverse("charting:session_details", args=[ready.pk]), {"needles_opened": 5, "needles_removed": 5, "note": "x"}),
        (reverse("charting:session_sign", args=[ready.pk]), {}),
        (reverse("outcomes:observation_add", args=[world.episode_a.pk]),
         {"code": "nprs", "value": 1, "timing": "after", "session": ready.pk}),
    ]  # fmt: skip
    for url, data in attempts:
        response = client.post(url, data, follow=True)
        assert response.status_code in (200, 400)
        text = response.content.decode()
        assert "signed and cannot be changed" in text, url
    ready.refresh_from_db()
    assert ready.needles_opened == 1 and ready.note == ""
    assert list(ready.insertions.values_list("muscle", flat=True)) == ["gastrocnemius"]
    assert not ready.observations.exists()
    page = client.get(reverse("charting:session", args=[ready.pk])).content.decode()
    assert "Add muscle" not in page and "Save details" not in page and "Sign session" not in page


def test_a_signed_assessment_cannot_be_changed_through_any_page(world, consented):
    client = client_for(world.practitioner)
    assessment = services.assessment_start(actor=world.practitioner, episode=world.episode_a)
    client.post(reverse("charting:assessment_pain", args=[assessment.pk]),
                {"region": "calf-left", "intensity": 5, "quality": "aching"})  # fmt: skip
    client.post(reverse("charting:assessment_sign", args=[assessment.pk]))
    assessment.refresh_from_db()
    assert assessment.is_signed
    for url, data in [
        (reverse("charting:assessment_pain", args=[assessment.pk]), {"region": "heel-left", "intensity": 3, "quality": "sharp"}),
        (reverse("charting:assessment_pain", args=[assessment.pk]), {"remove": "calf-left"}),
        (reverse("charting:assessment_note", args=[assessment.pk]), {"note": "rewritten"}),
        (reverse("charting:assessment_finding", args=[assessment.pk]), {"muscle": "soleus", "side": "left"}),
    ]:  # fmt: skip
        response = client.post(url, data, follow=True)
        assert "signed and cannot be changed" in response.content.decode(), url
    assert list(
        PainMark.objects.filter(assessment=assessment).values_list("region", flat=True)
    ) == ["calf-left"]
    assert Assessment.objects.get(pk=assessment.pk).note == ""


def test_an_assistant_records_a_measurement_on_the_session_page(session, world):
    response = client_for(world.assistant).post(
        reverse("outcomes:observation_add", args=[world.episode_a.pk]),
        {"code": "nprs", "value": 8, "timing": "before", "session": session.pk},
        follow=True,
    )
    assert "Measurement recorded." in messages_of(response)
    assert session.observations.get().value == 8


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"code": "nprs", "value": 11, "timing": "before"}, "Pain intensity (NPRS) runs from 0 to 10."),
        ({"code": "rom", "value": 90, "timing": "after", "component": "tail"}, "Choose the movement measured from the list."),
        ({"code": "nprs", "value": "lots", "timing": "before"}, "Value: Enter a number."),
    ],
)  # fmt: skip
def test_a_bad_measurement_is_refused_with_a_message_and_nothing_saved(
    session, world, data, message
):
    data = {**data, "session": session.pk}
    response = client_for(world.practitioner).post(
        reverse("outcomes:observation_add", args=[world.episode_a.pk]), data, follow=True
    )
    assert message in messages_of(response)
    assert not session.observations.exists()


def test_a_measurement_for_another_episodes_session_is_refused(session, world):
    other = charts.build(world.other_practitioner, world.episode_b, signed=False)
    response = client_for(world.practitioner).post(
        reverse("outcomes:observation_add", args=[world.episode_a.pk]),
        {"code": "nprs", "value": 3, "timing": "before", "session": other.session.pk},
        follow=True,
    )
    assert "That record is not part of this episode." in messages_of(response)


def test_the_screening_page_records_factors_with_their_details(world):
    client = client_for(world.practitioner)
    response = client.post(
        reverse("charting:screening", args=[world.episode_a.pk]),
        {"f_lymphedema": "on", "lymphedema__limb": "arm", "lymphedema__side": "left",
         "f_pregnancy": "on", "pregnancy__trimester": "2", "note": "Reported at intake"},
    )  # fmt: skip
    assert response.status_code == 302
    current = services.current_screening(world.episode_a)
    assert current.factors == [
        {"code": "lymphedema", "limb": "arm", "side": "left"},
        {"code": "pregnancy", "trimester": 2},
    ]
    page = client.get(reverse("patients:episode", args=[world.episode_a.pk])).content.decode()
    assert "banner--caution" in page and "Lymphedema (left arm)" in page
    # The arm itself must not be needled: that reason is shown as a contraindication there.
    items = re.findall(r"<li class=\"reason [^>]*>.*?</li>", page)
    lymph = next(li for li in items if "Lymphedema (left arm)" in li)
    assert "reason--contraindicated" in lymph and "Do not needle there" in lymph
    pregnancy = next(li for li in items if "Pregnancy" in li)
    assert "reason--caution" in pregnancy and "Do not needle there" not in pregnancy


def test_an_episode_without_a_screening_is_not_shown_as_clear(world):
    page = client_for(world.practitioner).get(
        reverse("patients:episode", args=[world.episode_a.pk])
    )
    html = page.content.decode()
    assert "banner--missing" in html and "banner--allowed" not in html
    assert "No health screening recorded for this episode." in html


def test_a_screening_missing_a_required_detail_shows_why_and_keeps_the_old_one(world):
    services.screening_record(actor=world.practitioner, episode=world.episode_a, factors=[])
    response = client_for(world.practitioner).post(
        reverse("charting:screening", args=[world.episode_a.pk]), {"f_lymphedema": "on"}
    )
    assert response.status_code == 200
    assert "factor lymphedema needs limb" in response.content.decode()
    assert services.current_screening(world.episode_a).factors == []


def _local_now(delta: dt.timedelta = dt.timedelta()) -> str:
    return (timezone.localtime() + delta).strftime("%Y-%m-%dT%H:%M")


def test_starting_a_session_asks_for_the_screening_answer_and_a_real_date(world, consented):
    client = client_for(world.practitioner)
    url = reverse("charting:session_new", args=[world.episode_a.pk])
    page = client.get(url).content.decode()
    assert 'type="datetime-local"' in page
    assert not re.search(r'name="screening_status"[^>]*checked', page)
    response = client.post(url, {"clean_technique": "on", "performed_at": _local_now()})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    response = client.post(url, {"screening_status": "unchanged", "clean_technique": "on",
                                 "performed_at": _local_now(dt.timedelta(days=2))})  # fmt: skip
    assert "A session cannot be in the future." in response.content.decode()
    assert not NeedlingSession.objects.exists()
    # Consent was signed just now: a session three hours ago would have needled without it.
    earlier = timezone.localtime() - dt.timedelta(hours=3)
    response = client.post(url, {"screening_status": "unchanged", "clean_technique": "on",
                                 "performed_at": earlier.strftime("%Y-%m-%dT%H:%M")})  # fmt: skip
    assert "after the session began: needling needs consent first" in response.content.decode()
    assert not NeedlingSession.objects.exists()
    now = _local_now()
    response = client.post(url, {"screening_status": "unchanged", "clean_technique": "on",
                                 "performed_at": now})  # fmt: skip
    started = NeedlingSession.objects.get()
    assert response.url == reverse("charting:session", args=[started.pk])
    assert timezone.localtime(started.performed_at).strftime("%Y-%m-%dT%H:%M") == now


def test_start_from_last_session_on_the_page_copies_the_muscles(world):
    built = charts.build(world.practitioner, world.episode_a, signed=True)
    response = client_for(world.practitioner).post(
        reverse("charting:session_new", args=[world.episode_a.pk]),
        {"screening_status": "unchanged", "clean_technique": "on", "from_last": "on",
         "performed_at": _local_now()},
    )  # fmt: skip
    newest = NeedlingSession.objects.filter(episode=world.episode_a).order_by("-id").first()
    assert response.url == reverse("charting:session", args=[newest.pk])
    assert [(r.muscle, r.side) for r in newest.insertions.all()] == [
        (r.muscle, r.side) for r in built.signed_session.insertions.all()
    ]


# Queries on the busiest pages, pinned: they do not grow with a patient's history. Each audit
# write is two statements: its place in the clinic's chain, the row; and on SQLite a third,
# the chain's new seal (SEAL_APART).
# A draft's signing checks use the consent, screening, rows and credentials the page read;
# the needle catalogue is read once, for the empty row form.
SESSION_PAGE_QUERIES = 24 + SEAL_APART
# The timeline, at most: one count of every kind, the keys of the page's records, the days of
# the episodes, then the records of each kind the page shows (consents and their withdrawals
# apart; issued documents, their emails and letters' addenda apart). The patient and the
# timeline are audited as viewed in one write.
TIMELINE_QUERIES = 27


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context.captured_queries)


def test_the_session_page_costs_the_same_queries_however_many_rows_and_events(world):
    built = charts.build(world.practitioner, world.episode_a, signed=True)
    client = client_for(world.practitioner)
    url = reverse("charting:session", args=[built.session.pk])
    assert _count(client, url) == SESSION_PAGE_QUERIES
    for muscle in ("soleus", "tibialis-anterior", "fibularis-longus", "popliteus"):
        services.insertion_add(
            actor=world.practitioner, session=built.session, **row(built.needle, muscle, "left")
        )
        services.adverse_event_record(
            actor=world.practitioner, session=built.session, event_type="bruising", onset="during",
            severity="mild", action_taken="none", outcome="ongoing", muscles=[f"{muscle}:left"],
        )  # fmt: skip
    for event in built.session.adverse_events.all():
        services.adverse_event_update(actor=world.practitioner, event=event, outcome="resolved")
    assert _count(client, url) == SESSION_PAGE_QUERIES


def test_the_session_page_reads_the_rows_prefetching_reads_without_a_query_more(world):
    """The session's related rows come from prepared queries of their own: the same rows,
    in the same order, each linked back to its session, as prefetch_related gives them."""
    built = charts.build(world.practitioner, world.episode_a, signed=True)
    for muscle in ("soleus", "popliteus"):
        services.insertion_add(
            actor=world.practitioner, session=built.session, **row(built.needle, muscle, "left")
        )
    for event in built.session.adverse_events.all():
        services.adverse_event_update(actor=world.practitioner, event=event, outcome="recovering")
    session = selectors.session_get(user=world.practitioner, session_id=built.session.pk)
    expected = selectors._sessions_in(world.clinic_a.pk).get(pk=built.session.pk)
    with CaptureQueriesContext(connection) as context:
        for name in ("insertions", "observations", "adverse_events", "aftercare_issues", "addenda"):
            rows = list(getattr(session, name).all())
            assert rows == list(getattr(expected, name).all()), name
            assert all(r.session is session for r in rows), name
        assert [r.needle_size for r in session.insertions.all()] == [
            r.needle_size for r in expected.insertions.all()
        ]
        events = list(session.adverse_events.all())
        assert events and [list(e.follow_ups.all()) for e in events] == [
            list(e.follow_ups.all()) for e in expected.adverse_events.all()
        ]
        assert all(f.event is e for e in events for f in e.follow_ups.all())
    assert len(session.insertions.all()) >= 3
    assert any(e.follow_ups.all() for e in events)
    assert context.captured_queries == []
    # Asked for anything else, a related manager queries as usual.
    assert session.insertions.filter(muscle="soleus").count() == 1


def test_the_session_page_reads_its_rows_without_joining_the_session_again(world):
    """Each of the session's rows is read from its own table, with only the records it
    shows (an insertion's needle size, an addendum's author): the session, its episode,
    patient and practitioners are on the page already."""
    built = charts.build(world.practitioner, world.episode_a, signed=True)
    selectors.session_get(user=world.practitioner, session_id=built.session.pk)
    with CaptureQueriesContext(connection) as context:
        selectors.session_get(user=world.practitioner, session_id=built.session.pk)
    joins = {}
    for query in context.captured_queries:
        table = re.search(r'FROM "(\w+)"', query["sql"])
        if table and '"session_id" =' in query["sql"]:
            joins[table.group(1)] = query["sql"].count(" JOIN ")
    assert joins == {
        "charting_insertion": 1, "outcomes_observation": 0, "charting_adverseevent": 0,
        "charting_aftercareissue": 0, "charting_addendum": 1,
        # A follow-up is found through its event's session.
        "charting_adverseeventfollowup": 1,
    }  # fmt: skip


def test_a_follow_up_saved_from_the_page_is_a_record_of_its_own_shown_in_the_history(world):
    built = charts.build(world.practitioner, world.episode_a, signed=False)
    client = client_for(world.practitioner)
    url = reverse("charting:adverse_event_edit", args=[built.event.pk])
    form = client.get(url).context["form"]
    data = {name: value for name, value in form.initial.items() if value not in (None, "")}
    data.update(muscles=built.event.muscles, was=form["was"].value(), outcome="recovering",
                severity="moderate", action_taken="clinician")  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 302
    event = built.event.__class__.objects.get(pk=built.event.pk)
    assert (event.severity, event.outcome) == ("mild", "resolved")
    assert (event.now.severity, event.now.outcome) == ("moderate", "recovering")
    page = client.get(url).content.decode()
    assert "History" in page and "Seen by a clinician" in page
    session = client.get(reverse("charting:session", args=[built.session.pk])).content.decode()
    assert "moderate" in session and "outcome recovering" in session
    # The same page posted again (a second tab, a double click) is refused, not recorded.
    again = client.post(url, {**data, "severity": "severe"})
    assert again.status_code == 200 and "Someone saved this record" in again.content.decode()
    assert event.follow_ups.count() == 1


def test_the_timeline_costs_the_same_queries_for_years_of_history(world):
    charts.build(world.practitioner, world.episode_a, signed=True)
    client = client_for(world.assistant)
    url = reverse("charting:timeline", args=[world.patient_a.pk])
    first = _count(client, url)
    assert first <= TIMELINE_QUERIES
    for _ in range(5):
        charts.build(world.practitioner, world.episode_a, signed=True)
    assert _count(client, url) == first
    page = client.get(url, {"kind": "session"})
    assert {e.kind for e in page.context["entries"]} == {"session"}
    assert len(page.context["entries"]) == 12


@pytest.mark.parametrize("dates", [{}, {"date_from": "2000-01-01"}])
def test_the_timeline_strikes_exactly_the_records_entered_in_error(world, dates):
    built = charts.build(world.practitioner, world.episode_a, signed=True)
    for record in (built.signed_session, built.assessment):
        services.addendum_add(actor=world.practitioner, record=record, reason="Wrong patient",
                              kind="entered-in-error")  # fmt: skip
    page = client_for(world.practitioner).get(
        reverse("charting:timeline", args=[world.patient_a.pk]), dates
    )
    struck = {e.url for e in page.context["entries"] if e.in_error}
    assert struck == {
        reverse("charting:session", args=[built.signed_session.pk]),
        reverse("charting:assessment", args=[built.assessment.pk]),
    }
    assert page.content.decode().count(" · entered in error") == 2


def test_the_timeline_is_read_a_page_at_a_time_in_the_same_order(world, monkeypatch):
    for _ in range(3):
        charts.build(world.practitioner, world.episode_a, signed=True)
    client = client_for(world.assistant)
    url = reverse("charting:timeline", args=[world.patient_a.pk])
    everything = client.get(url).context["entries"]
    assert len(everything) > 12
    monkeypatch.setattr(selectors, "TIMELINE_PAGE", 5)
    first = client.get(url)
    pages = first.context["page"].pages
    assert pages == -(-len(everything) // 5)
    assert f"Page 1 of {pages}" in first.content.decode()
    read = []
    for number in range(1, pages + 1):
        read += client.get(url, {"page": number}).context["entries"]
    assert read == everything
    # Past the last page, the last page; nonsense, the first.
    assert client.get(url, {"page": 999}).context["page"].number == pages
    assert client.get(url, {"page": "x"}).context["page"].number == 1
    # A number no database offset holds is past the end too, not a server error.
    assert client.get(url, {"page": "9" * 40}).context["page"].number == pages
    assert client.get(url, {"page": "-2"}).context["page"].number == 1
    # A later page reads the keys of the records dated by a moment in one query and the
    # episodes' days in another, then only the sources it shows: at most two queries more
    # than the first page, whatever the history.
    assert _count(client, url + f"?page={pages}") <= TIMELINE_QUERIES + 2


def _timeline_pages(client, url: str, query: dict) -> list:
    first = client.get(url, query)
    read = list(first.context["entries"])
    for number in range(2, first.context["page"].pages + 1):
        read += client.get(url, {**query, "page": number}).context["entries"]
    assert len(read) == first.context["page"].total
    return read


@pytest.mark.parametrize(
    "query", [{}, {"date_from": "2026-03-01"}, {"kind": "episode"}, {"kind": "session"}]
)
def test_every_page_of_the_timeline_holds_the_entries_of_the_whole_list_in_its_place(
    world, monkeypatch, query
):
    """Episodes, dated by their first day, fall between records dated by a moment (some of
    them at the same moment as each other): each later page, read from the keys of all
    records without the records before it, holds what the one long list holds there."""
    import time_machine

    zone = timezone.get_current_timezone()
    for day in (dt.date(2026, 3, 2), dt.date(2026, 3, 4), dt.date(2026, 3, 6)):
        episode = factories.episode(world.patient_a, world.practitioner.practitioner,
                                    period_start=day, condition_code="M54.5")  # fmt: skip
        # Charted on the day the episode opens, at its first moment and later that day.
        with time_machine.travel(dt.datetime.combine(day, dt.time(0, 0), zone), tick=False):
            charts.build(world.practitioner, episode, signed=False)
        with time_machine.travel(dt.datetime.combine(day, dt.time(9, 30), zone), tick=False):
            charts.build(world.practitioner, episode, signed=True)
    charts.build(world.practitioner, world.episode_a, signed=True)
    client = client_for(world.practitioner)
    url = reverse("charting:timeline", args=[world.patient_a.pk])
    whole = client.get(url, query).context["entries"]
    assert len(whole) >= 4
    for size in (1, 3, 4):
        monkeypatch.setattr(selectors, "TIMELINE_PAGE", size)
        assert _timeline_pages(client, url, query) == whole


def test_the_last_page_of_the_timeline_builds_only_the_entries_it_shows(world, monkeypatch):
    for _ in range(4):
        charts.build(world.practitioner, world.episode_a, signed=True)
    client = client_for(world.practitioner)
    url = reverse("charting:timeline", args=[world.patient_a.pk])
    monkeypatch.setattr(selectors, "TIMELINE_PAGE", 2)
    pages = client.get(url).context["page"].pages
    built = []

    class Counted(selectors.Entry):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(selectors, "Entry", Counted)
    last = client.get(url, {"page": pages}).context["entries"]
    assert 1 <= len(last) <= 2
    assert len(built) == len(last)
    before = _count(client, url + f"?page={pages}")
    # Twice the history: the last page (the oldest records) costs the same queries.
    for _ in range(4):
        charts.build(world.practitioner, world.episode_a, signed=True)
    assert client.get(url).context["page"].pages > pages
    assert _count(client, url + f"?page={client.get(url).context['page'].pages}") == before


def _keys_work(client, url: str, query: dict) -> int:
    """What the database does to read the keys of a page of the timeline (tests/sql.work)."""
    with captured() as run:
        assert client.get(url, query).status_code == 200
    [(sql, params)] = [(sql, params) for sql, params in run if "timeline_rank" in sql]
    return work(sql, params)


def _signed_visits(actor, episode, needle, count: int) -> None:
    """`count` visits more, each a session of one row, signed: what a long history grows by."""
    for _ in range(count):
        session, _ = services.session_start(actor=actor, episode=episode,
                                            screening_status="unchanged", consent_confirmed=True,
                                            clean_technique=True)  # fmt: skip
        services.insertion_add(actor=actor, session=session, **row(needle))
        services.session_update(actor=actor, session=session, needles_opened=1,
                                needles_removed=1, sharps_disposed=True)  # fmt: skip
        services.session_sign(actor=actor, session=session)


def test_the_last_page_of_the_timeline_reads_its_keys_as_the_first_does(world, monkeypatch):
    """The last page reads the keys from the oldest end, as the first reads them from the
    newest: the database does as much for either, where it sorted every key down to the last
    page (twice what the first page cost when the visits were four times as many)."""
    monkeypatch.setattr(selectors, "TIMELINE_PAGE", 3)
    client = client_for(world.practitioner)
    url = reverse("charting:timeline", args=[world.patient_a.pk])
    built = charts.build(world.practitioner, world.episode_a, signed=True)

    def pages_work() -> dict[str, int]:
        pages = client.get(url).context["page"].pages
        return {
            "first": _keys_work(client, url, {}),
            "last": _keys_work(client, url, {"page": pages}),
            "first, sessions": _keys_work(client, url, {"kind": "session"}),
            "last, sessions": _keys_work(client, url, {"kind": "session", "page": 999}),
        }

    for visits in (5, 15):
        _signed_visits(world.practitioner, world.episode_a, built.needle, visits)
        done = pages_work()
        assert done["last"] <= done["first"] * 1.15, done
        assert done["last, sessions"] <= done["first, sessions"] * 1.15, done


def test_the_page_of_keys_is_the_slice_of_the_whole_order():
    """Keys dated by a moment, read from the database in order from an offset, merged with
    every key dated by a day: each slice is the slice of the whole order, wherever the day
    keys fall (before the page, within it, after it, tied to the moment)."""
    import random

    rng = random.Random(12)
    base = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    for _ in range(200):
        timed = sorted(
            {(base + dt.timedelta(hours=rng.randrange(40)), -rng.randrange(1, 4),
              rng.randrange(1, 60)) for _ in range(rng.randrange(0, 30))},
            reverse=True,
        )  # fmt: skip
        days = [(base + dt.timedelta(days=rng.randrange(3)), 0, pk)
                for pk in rng.sample(range(1, 50), rng.randrange(0, 5))]  # fmt: skip
        whole = sorted(timed + days, reverse=True)
        read = [(at, -rank, pk) for at, rank, pk in timed]
        for size in (1, 2, 5):
            for start in range(0, len(whole) + size, size):
                assert (
                    selectors._keys_on_page(
                        lambda first, stop, read=read: read[first:stop], days, start, size
                    )
                    == whole[start : start + size]
                )


def test_the_aftercare_sheet_names_the_patient_date_muscles_and_clinic(world):
    built = charts.build(world.practitioner, world.episode_a, signed=True)
    world.clinic_a.phone = "+1 555 0199"
    world.clinic_a.save()
    page = client_for(world.assistant).get(
        reverse("charting:aftercare", args=[built.signed_session.pk])
    )
    html = page.content.decode()
    assert "Ann Smith" in html and "Soleus (left)" in html and "+1 555 0199" in html
    assert "Avoid intense physical activity for 24 to 48 hours." in html
    assert built.signed_session.performed_at.strftime("%Y") in html


def test_a_new_consent_version_needs_a_new_signature_before_signing_a_session(ready, world):
    client_for(world.admin).post(
        reverse("charting:clinic_document", args=["consent"]),
        {"title": "Consent to dry needling", "body": "Revised text. " * 30},
    )
    response = sign(client_for(world.practitioner), ready)
    assert any("needs to sign again" in m for m in messages_of(response))
    assert not NeedlingSession.objects.get(pk=ready.pk).is_signed


def test_bad_row_input_is_shown_by_the_fields(session, needle, world):
    response = client_for(world.practitioner).post(
        reverse("charting:session_row", args=[session.pk]),
        _row_post(needle, muscle="wing", needles=0, technique="static"),
    )
    errors = response.context["row_form"].errors
    assert "muscle" in errors and "needles" in errors
    assert not Insertion.objects.filter(session=session).exists()


def test_removing_an_unknown_region_is_a_message_not_a_server_error(world, consented):
    assessment = services.assessment_start(actor=world.practitioner, episode=world.episode_a)
    client = client_for(world.practitioner)
    for region in ["no-such-region", "calf-right"]:
        response = client.post(
            reverse("charting:assessment_pain", args=[assessment.pk]),
            {"remove": region},
            follow=True,
        )
        assert response.status_code == 200
        assert messages_of(response), region


@pytest.mark.parametrize(
    "target", ["https://evil.example/phish", "//evil.example/x", "javascript:alert(1)"]
)
def test_after_a_form_the_next_link_never_leaves_the_site(world, target):
    response = client_for(world.practitioner).post(
        reverse("charting:screening", args=[world.episode_a.pk]) + f"?next={target}",
        {"none_apply": "on"},
    )
    assert response.status_code == 302
    # The first visit's next step, on this site: the consent, then back to the episode.
    episode = reverse("patients:episode", args=[world.episode_a.pk])
    consent = reverse("charting:consent", args=[world.patient_a.pk])
    assert response["Location"] == f"{consent}?next={episode}"


def test_after_a_form_next_returns_to_a_page_of_the_site(world):
    back = reverse("patients:detail", args=[world.patient_a.pk])
    response = client_for(world.practitioner).post(
        reverse("charting:screening", args=[world.episode_a.pk]) + f"?next={back}",
        {"none_apply": "on"},
    )
    assert response["Location"] == back


def test_posting_to_another_clinics_session_pages_is_not_found_for_every_role(world):
    other = charts.build(world.other_practitioner, world.episode_b, signed=False)
    event = other.event
    for user in [world.front_desk, world.assistant, world.practitioner]:
        client = client_for(user)
        for url in [
            reverse("charting:aftercare", args=[other.session.pk]),
            reverse("charting:adverse_event_edit", args=[event.pk]),
        ]:
            assert client.post(url, {}).status_code == 404, (user, url)


def test_a_draft_row_shows_a_contraindication_from_a_newer_screening_at_once(
    session, needle, world
):
    services.insertion_add(
        actor=world.practitioner, session=session, **row(needle, "gastrocnemius")
    )
    services.screening_record(actor=world.practitioner, episode=world.episode_a,
                              factors=[{"code": "local-infection", "regions": ["calf-left"]}])  # fmt: skip
    page = client_for(world.practitioner).get(reverse("charting:session", args=[session.pk]))
    html = page.content.decode()
    assert 'class="row--contraindicated"' in html
    assert "Remove this row: the current screening forbids it." in html
    # The stored verdict is only changed by a write, never by viewing the page.
    assert Insertion.objects.get(session=session).safety_verdict == "allowed"


def test_an_invalid_timeline_filter_is_reported_and_the_valid_ones_still_apply(world):
    charts.build(world.practitioner, world.episode_a, signed=True)
    page = client_for(world.assistant).get(
        reverse("charting:timeline", args=[world.patient_a.pk]),
        {"kind": "session", "date_from": "not-a-date"},
    )
    assert page.status_code == 400
    assert "Enter a valid date." in page.content.decode()
    assert {e.kind for e in page.context["entries"]} == {"session"}
    # Dates a day's start in the clinic's zone, or the day after, would take past what a
    # date holds: refused with the reason, not a server error.
    world.clinic_a.timezone = "Pacific/Chatham"
    world.clinic_a.save()
    url = reverse("charting:timeline", args=[world.patient_a.pk])
    for dates, reason in (({"date_to": "9999-12-31"}, "before the year 9001"),
                          ({"date_from": "0001-01-01"}, "from 1900 onwards")):  # fmt: skip
        page = client_for(world.assistant).get(url, dates)
        assert page.status_code == 400 and reason in page.content.decode()
        assert page.context["page"].total == len(
            client_for(world.assistant).get(url).context["page"].entries
        )


def test_referred_regions_of_a_finding_read_as_body_regions(world, consented):
    assessment = services.assessment_start(actor=world.practitioner, episode=world.episode_a)
    services.finding_add(
        actor=world.practitioner, assessment=assessment, muscle="gastrocnemius", side="left",
        referred_sensation="deep-ache", referred_regions=["calf-left", "heel-left"],
    )  # fmt: skip
    html = (
        client_for(world.practitioner)
        .get(reverse("charting:assessment", args=[assessment.pk]))
        .content.decode()
    )
    assert "Calf (left), Heel (left)" in html and "calf-left, heel-left" not in html


# Each state a screening factor's details can put it in has a reason of its own code
# ("anticoagulant-inr-above"): the banner names it on every page that shows the screening.
@pytest.mark.parametrize(
    ("factor", "shown"),
    [
        ({"code": "anticoagulant", "drug": "warfarin", "inr": 4.2}, "INR"),
        ({"code": "anticoagulant", "drug": "warfarin"}, "INR"),
        ({"code": "anticoagulant"}, "Blood thinner"),
        ({"code": "bleeding-disorder", "severity": "severe"}, "Bleeding"),
        ({"code": "dvt", "limb": "leg", "side": "left", "status": "suspected"}, "thrombosis"),
    ],
)
def test_a_factor_in_a_derived_state_is_on_the_banner_of_the_episode_and_session_pages(
    session, world, factor, shown
):
    services.screening_record(actor=world.practitioner, episode=world.episode_a, factors=[factor])
    client = client_for(world.practitioner)
    for url in (reverse("patients:episode", args=[world.episode_a.pk]),
                reverse("charting:session", args=[session.pk])):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 200, url
        banner = response.content.decode().split('aria-label="Safety screening"')[1]
        assert shown.lower() in banner.split("</section>")[0].lower(), url


def test_the_draft_session_page_lists_what_signing_would_refuse(world):
    """The page works out the signing checks from what it read; they are the signing
    service's own, as the reader's credentials, the consent and the rows change."""
    built = charts.build(world.practitioner, world.episode_a, signed=False)
    session = built.session
    url = reverse("charting:session", args=[session.pk])

    def shown(user) -> list[str]:
        response = client_for(user).get(url)
        assert response.status_code == 200
        return response.context["sign_problems"]

    def refused(user) -> list[str]:
        session.refresh_from_db()
        return services.sign_problems(user, session)

    assert shown(world.practitioner) == refused(world.practitioner) != []
    services.session_update(
        actor=world.practitioner, session=session, needles_opened=1, needles_removed=1,
        sharps_disposed=True, clean_technique=True, consent_confirmed=True,
        screening_status="unchanged",
    )  # fmt: skip
    assert shown(world.practitioner) == refused(world.practitioner) == []
    # Another practitioner of the clinic reads it: only the one who needled may sign.
    assert shown(world.admin) == refused(world.admin) != []
    # The reader's credential lapses.
    DryNeedlingCredential.objects.filter(practitioner__user=world.practitioner).update(
        expires_on=timezone.localdate() - dt.timedelta(days=1)
    )
    lapsed = shown(world.practitioner)
    assert lapsed == refused(world.practitioner)
    assert any("not qualified to needle" in problem for problem in lapsed)
    # And the consent is withdrawn.
    services.consent_withdraw(actor=world.practitioner, consent=built.consent, reason="Asked")
    assert shown(world.practitioner) == refused(world.practitioner)
    assert any("No current consent" in problem for problem in shown(world.practitioner))


def test_the_empty_row_form_is_written_once_and_as_a_fresh_form_writes_it(world):
    from decimal import Decimal

    from django.template.loader import render_to_string

    from needlechart.charting import session_views

    built = charts.build(world.practitioner, world.episode_a, signed=False)
    session = built.session
    for focus in (False, True):
        fresh = session_views._row_form(session, focus=focus)
        expected = render_to_string("charting/_row_fields.html", {"form": fresh})
        assert session_views._blank_row_fields(session, focus=focus) == expected
    # A size the admin adds is offered at the next view, and one retired is not.
    url = reverse("charting:session", args=[session.pk])
    client = client_for(world.practitioner)
    label = str(NeedleSize.words(Decimal("0.18"), 33))
    assert label not in client.get(url).content.decode()
    added = services.needle_size_add(actor=world.admin, diameter_mm=Decimal("0.18"), length_mm=33)
    page = client.get(url).content.decode()
    assert f'<option value="{added.pk}">{label}</option>' in page
    services.needle_size_retire(actor=world.admin, size=added)
    assert f'<option value="{added.pk}">' not in client.get(url).content.decode()


def test_the_timeline_lists_the_addenda_of_sessions_and_assessments_each_read_by_its_own_index(
    world,
):
    """Addenda are of a session or of an assessment: both are listed, and each kind is read
    along its own join, not an OR of the two (PostgreSQL then joined every addendum to every
    session of the clinic)."""
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    built = charts.build(world.practitioner, world.episode_a, signed=True)
    on_session = services.addendum_add(
        actor=world.practitioner, record=built.signed_session, reason="Later", text="Soreness"
    )
    on_assessment = services.addendum_add(  # a draft: marked entered in error
        actor=world.practitioner, record=built.assessment, reason="Wrong patient",
        kind="entered-in-error",
    )  # fmt: skip
    other = charts.build(world.other_practitioner, world.episode_b, signed=True)
    services.addendum_add(
        actor=world.other_practitioner, record=other.signed_session, reason="x", text="y"
    )
    client = client_for(world.practitioner)
    url = reverse("charting:timeline", args=[world.patient_a.pk])
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url, {"kind": "addendum"})
    assert page.context["page"].total == 2
    assert {e.when for e in page.context["entries"]} == {
        on_session.written_at,
        on_assessment.written_at,
    }
    ored = [q["sql"] for q in queries if re.search(r'"patient_id" = \d+ OR\b', q["sql"])]
    assert ored == []


@pytest.mark.parametrize(
    "zone, first, last",
    [
        # Summer time starts at 02:00 on the first day; it ends at 03:45 on the last.
        ("America/St_Johns", dt.date(2026, 3, 8), dt.date(2026, 3, 10)),
        ("Pacific/Chatham", dt.date(2026, 4, 3), dt.date(2026, 4, 5)),
    ],
)
def test_a_timeline_between_dates_holds_exactly_the_records_of_those_days_in_the_clinic_s_zone(
    world, monkeypatch, zone, first, last
):
    """From the first moment of the first day to the last of the last, in the clinic's time
    zone, for records dated by a moment and episodes dated by a day, on every page; the
    page's queries are compiled once, as the timeline's without dates are."""
    import time_machine
    from django.db.models.sql.compiler import SQLCompiler
    from django.test import override_settings

    world.clinic_a.timezone = zone
    world.clinic_a.save()
    local = ZoneInfo(zone)
    edges = [(first - dt.timedelta(days=1), dt.time(23, 59, 59, 999999)),
             (first, dt.time(0, 0)), (last, dt.time(23, 59, 59, 999999)),
             (last + dt.timedelta(days=1), dt.time(0, 0))]  # fmt: skip
    for day, moment in edges:
        factories.episode(world.patient_a, world.practitioner_a, period_start=day)
        with time_machine.travel(dt.datetime.combine(day, moment, local), tick=False):
            charts.build(world.practitioner, world.episode_a, signed=True)
    client = client_for(world.practitioner)
    url = reverse("charting:timeline", args=[world.patient_a.pk])
    whole = _timeline_pages(client, url, {})
    dates = {"date_from": first.isoformat(), "date_to": last.isoformat()}
    expected = [e for e in whole if first <= e.when.astimezone(local).date() <= last]
    assert {e.kind for e in expected} >= {"episode", "session", "assessment", "screening"}
    assert {e.when.astimezone(local).date() for e in expected} == {first, last}
    since = [e for e in whole if first <= e.when.astimezone(local).date()]
    for size in (50, 3):  # one page, and pages whose records are read by their keys
        monkeypatch.setattr(selectors, "TIMELINE_PAGE", size)
        assert _timeline_pages(client, url, dates) == expected
        assert _timeline_pages(client, url, {"date_from": first.isoformat()}) == since

    compiled: list[str] = []
    original = SQLCompiler.as_sql

    def as_sql(self, *args, **kwargs):
        compiled.append(self.query.model.__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", as_sql)
    with override_settings(PREPARED_QUERIES_CHECK=False):
        counted = {}
        views = {"all": {}, "between": dates, "all, page 2": {"page": 2},
                 "between, page 2": {**dates, "page": 2}}  # fmt: skip
        for name, query in views.items():
            client.get(url, query)  # compiled at the first view
            compiled.clear()
            assert client.get(url, query).status_code == 200
            counted[name] = list(compiled)
    # At each view, on every page, with dates or without, only the follow-ups of the adverse
    # events shown are compiled (a prefetch is built as usual: db/prepared.py).
    assert counted["between"] == counted["all"]
    assert all(set(found) <= {"AdverseEventFollowUp"} for found in counted.values()), counted
