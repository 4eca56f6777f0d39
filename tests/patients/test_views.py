import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from needlechart.audit.models import AuditEvent
from needlechart.db import latest
from needlechart.pages.selectors import PAGE_SIZE
from needlechart.patients.models import EpisodeOfCare, Patient
from tests import factories
from tests.conftest import client_for
from tests.sql import SEAL_APART


def _names(response) -> list[str]:
    return [p.family_name for p in response.context["page"].object_list]


@pytest.fixture
def registry(world):
    factories.patient(world.clinic_a, given_name="Ann", family_name="Smith-Jones",
                      birth_date=dt.date(1990, 2, 3), mrn="X-77")  # fmt: skip
    factories.patient(world.clinic_a, given_name="Anton", family_name="Kowalski",
                      birth_date=dt.date(1990, 2, 3), mrn="X-78")  # fmt: skip
    factories.patient(world.clinic_a, given_name="Zoe", family_name="Byrne",
                      birth_date=dt.date(1971, 11, 30), mrn="Y-1")  # fmt: skip
    return world


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"name": "smith"}, ["Smith", "Smith-Jones"]),
        ({"name": "ann smith"}, ["Smith", "Smith-Jones"]),
        ({"name": "Smith, Ann"}, ["Smith", "Smith-Jones"]),
        ({"name": "jones"}, ["Smith-Jones"]),
        ({"birth_date": "1990-02-03"}, ["Kowalski", "Smith-Jones"]),
        ({"mrn": "x-7"}, ["Kowalski", "Smith-Jones"]),
        ({"mrn": "Y-1"}, ["Byrne"]),
        ({"name": "an", "birth_date": "1990-02-03", "mrn": "X-78"}, ["Kowalski"]),
        ({"name": "ben"}, []),  # Ben Jones is clinic B's
    ],
)
def test_the_patient_list_finds_by_name_date_of_birth_and_record_number(registry, query, expected):
    response = client_for(registry.front_desk).get(reverse("patients:list"), query)
    assert _names(response) == expected


def test_an_invalid_date_in_the_search_shows_a_field_error_not_a_crash(registry):
    response = client_for(registry.front_desk).get(
        reverse("patients:list"), {"birth_date": "1990-13-45"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["birth_date"] == ["Enter a valid date."]


def test_the_patient_list_is_paginated_and_keeps_the_search_across_pages(world):
    for number in range(PAGE_SIZE + 5):
        factories.patient(world.clinic_a, family_name=f"Walsh{number:02d}")
    client = client_for(world.assistant)
    first = client.get(reverse("patients:list"), {"name": "walsh"})
    assert len(first.context["page"].object_list) == PAGE_SIZE
    assert "name=walsh&amp;page=2" in first.content.decode()
    second = client.get(reverse("patients:list"), {"name": "walsh", "page": 2})
    assert _names(second) == [f"Walsh{n:02d}" for n in range(PAGE_SIZE, PAGE_SIZE + 5)]


@pytest.mark.parametrize("reader", ["assistant", "front_desk"])
def test_the_whole_list_pages_in_name_order_and_a_page_past_the_end_or_not_a_number_is_the_last_or_first(
    world, reader
):
    for number in range(PAGE_SIZE + 5):
        factories.patient(world.clinic_a, family_name=f"Walsh{number:02d}")
    factories.patient(world.clinic_b, family_name="Aardvark")  # another clinic's: never listed
    client = client_for(getattr(world, reader))
    names = sorted(p.family_name for p in Patient.objects.filter(clinic=world.clinic_a))
    first = client.get(reverse("patients:list"))
    assert first.context["page"].paginator.count == len(names) == PAGE_SIZE + 6
    assert _names(first) == names[:PAGE_SIZE]
    assert "?page=2" in first.content.decode()
    second = client.get(reverse("patients:list"), {"page": 2})
    assert _names(second) == names[PAGE_SIZE:]
    assert _names(client.get(reverse("patients:list"), {"page": 99})) == names[PAGE_SIZE:]
    assert _names(client.get(reverse("patients:list"), {"page": "x"})) == names[:PAGE_SIZE]
    if reader == "assistant":  # clinical roles see each patient's standing in care
        assert all(hasattr(p, "care") for p in second.context["page"].object_list)


def test_listing_audits_each_patient_shown_and_no_other(registry):
    since = max(AuditEvent.objects.values_list("pk", flat=True), default=0)
    client_for(registry.front_desk).get(reverse("patients:list"), {"mrn": "X-7"})
    listed = AuditEvent.objects.filter(pk__gt=since, action="list")
    assert sorted(e.patient.mrn for e in listed) == ["X-77", "X-78"]


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


# Queries per page, pinned: session, user, the page's own reads and its audit writes
# (the patient page writes two: the patient viewed, the episodes listed; and reads the
# portal account and the health answers waiting for review; for clinicians, the documents
# issued, the consent a copy can be issued of and the whole record's latest job). Each audit
# write also takes its place in the clinic's chain: a statement more, and on SQLite another
# for the chain's seal (SEAL_APART).
PATIENT_LIST_QUERIES = 6 + SEAL_APART
PATIENT_DETAIL_QUERIES = 23 + 2 * SEAL_APART
# The episode page also reads the screening, consent, the episode's latest records and how
# many there are, the plan, the measurements behind its progress and its letters.
EPISODE_DETAIL_QUERIES = 23 + SEAL_APART


def test_the_patient_list_costs_the_same_queries_however_many_patients(world):
    client, url = client_for(world.front_desk), reverse("patients:list")
    assert _queries(client, url) == PATIENT_LIST_QUERIES
    for _ in range(PAGE_SIZE + 10):
        factories.patient(world.clinic_a)
    assert _queries(client, url) == PATIENT_LIST_QUERIES


def test_the_patient_page_costs_the_same_queries_however_long_the_history(world):
    client = client_for(world.practitioner)
    url = reverse("patients:detail", args=[world.patient_a.pk])
    # Another practitioner's episode costs one read of their credentials (for the signal
    # that they cannot needle), however many such episodes there are.
    assert _queries(client, url) == PATIENT_DETAIL_QUERIES - 1
    other = factories.practitioner(world.clinic_a, "olga")
    factories.episode(world.patient_a, other)
    assert _queries(client, url) == PATIENT_DETAIL_QUERIES
    for number in range(20):
        factories.episode(world.patient_a, other if number % 2 else world.practitioner_a)
    assert _queries(client, url) == PATIENT_DETAIL_QUERIES


def test_the_patient_page_lists_open_episodes_first_then_the_newest_and_all_when_asked(
    world, monkeypatch
):
    """A patient treated over the years has many closed episodes: the page lists the open
    ones first (the next visit starts from them), then the newest closed, up to a page's
    worth, and audits those it shows; every episode when asked."""
    monkeypatch.setattr(latest, "LISTED", 2)
    closed = [
        factories.episode(
            world.patient_a,
            world.practitioner_a,
            status="finished",
            period_start=dt.date(2026, 2, day),
        )
        for day in (1, 2, 3)
    ]
    client = client_for(world.practitioner)
    url = reverse("patients:detail", args=[world.patient_a.pk])
    since = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    page = client.get(url)
    # The open episode began before the closed ones, and is listed first all the same.
    assert world.episode_a.period_start < closed[0].period_start
    assert list(page.context["episodes"]) == [world.episode_a, closed[2]]
    listed = AuditEvent.objects.filter(pk__gt=since, action="list", object_type="EpisodeOfCare")
    assert sorted(int(e.object_id) for e in listed) == sorted([world.episode_a.pk, closed[2].pk])
    html = page.content.decode()
    assert '2 earlier episodes not listed. <a href="?history=all">List all 4</a>' in html
    # The open episode's visit starts from this page.
    assert [episode for episode, _ in page.context["starts"]] == [world.episode_a]
    every = client.get(f"{url}?history=all")
    assert list(every.context["episodes"]) == [world.episode_a, *closed[::-1]]


def test_the_patient_page_starts_each_visit_from_its_episode_s_newest_screening_alone(world):
    """Each open episode's readiness reads its newest screening, and only that one: an
    episode screened at many visits costs the page no more rows."""
    from django.db.models.signals import post_init

    from needlechart.charting import services
    from needlechart.charting.models import Screening

    second = factories.episode(world.patient_a, world.practitioner_a, condition_code="M54.5")
    actor = world.practitioner
    for _ in range(3):
        services.screening_record(actor=actor, episode=world.episode_a, factors=[])
    # The newest of four: a precaution, which allows the start.
    newest_a = services.screening_record(
        actor=actor, episode=world.episode_a, factors=[{"code": "anticoagulant"}]
    )
    services.screening_record(actor=actor, episode=second, factors=[])
    # Re-screened: the newest now names a contraindication, and blocks the start.
    newest = services.screening_record(
        actor=actor, episode=second, factors=[{"code": "needle-phobia"}]
    )
    client = client_for(actor)
    url = reverse("patients:detail", args=[world.patient_a.pk])
    built = []

    def counted(sender, instance, **kwargs):
        built.append(instance)

    post_init.connect(counted, sender=Screening)
    try:
        page = client.get(url)
    finally:
        post_init.disconnect(counted, sender=Screening)
    readiness = {episode.pk: ready for episode, ready in page.context["starts"]}
    assert readiness[second.pk].safety.screening == newest
    assert readiness[second.pk].safety.verdict == "contraindicated"
    assert readiness[world.episode_a.pk].safety.screening == newest_a
    assert readiness[world.episode_a.pk].safety.verdict == "caution"
    assert len(built) == 2


def test_the_episode_page_costs_the_same_queries_however_many_sessions(world):
    from needlechart.documents import letters
    from tests import charts

    charts.build(world.practitioner, world.episode_a, signed=True)
    client = client_for(world.assistant)
    url = reverse("patients:episode", args=[world.episode_a.pk])
    assert _queries(client, url) == EPISODE_DETAIL_QUERIES
    for _ in range(4):
        charts.build(world.practitioner, world.episode_a, signed=True)
        letters.letter_start(actor=world.practitioner, episode=world.episode_a,
                             kind="progress-report")  # fmt: skip
    assert _queries(client, url) == EPISODE_DETAIL_QUERIES


def test_the_episode_page_lists_the_newest_letters_and_counts_the_rest(world, monkeypatch):
    """A course with a letter after every few sessions would list every one of them on each
    view of the page: it lists the newest, says how many more there are, and lists them all
    when asked."""
    from needlechart.documents import letters
    from needlechart.documents import selectors as document_selectors
    from tests import charts

    monkeypatch.setattr(document_selectors, "LETTERS_LISTED", 2)
    charts.build(world.practitioner, world.episode_a, signed=True)
    written = [
        letters.letter_start(actor=world.practitioner, episode=world.episode_a,
                             kind="progress-report")
        for _ in range(4)
    ]  # fmt: skip
    client = client_for(world.practitioner)
    url = reverse("patients:episode", args=[world.episode_a.pk])
    page = client.get(url)
    assert [letter.pk for letter in page.context["letters"]] == [w.pk for w in written[:-3:-1]]
    assert "2 earlier letters not listed." in page.content.decode()
    assert "List all 4" in page.content.decode()
    every = client.get(url, {"history": "all"})
    assert [letter.pk for letter in every.context["letters"]] == [w.pk for w in written[::-1]]
    assert "earlier letters not listed" not in every.content.decode()


def test_the_episode_page_reads_its_sessions_from_the_newest_end_of_their_index(world):
    """The latest sessions listed and the last signed one a visit starts from come from the
    index of the episode's sessions in time, without sorting all of them: before, both were
    sorted from every session of the episode (1.4 and 0.65 ms at 2,000 sessions on SQLite,
    0.09 and 0.02 ms read from the index)."""
    from tests import charts
    from tests.sql import captured, query_plan

    for _ in range(2):
        charts.build(world.practitioner, world.episode_a, signed=True)
    url = reverse("patients:episode", args=[world.episode_a.pk])
    with captured() as statements:
        assert client_for(world.practitioner).get(url).status_code == 200
    in_time = [
        (sql, params) for sql, params in statements
        if 'FROM "charting_needlingsession"' in sql and '"performed_at" DESC' in sql
        and "LIMIT" in sql
    ]  # fmt: skip
    # The list of the latest, and the last signed (its newest in a subquery of each episode).
    assert len(in_time) == 2
    for sql, params in in_time:
        steps = query_plan(sql, params, unsorted=True)
        assert "session_episode_newest" in steps, steps
        # Nothing sorted: SQLite's temporary tree, PostgreSQL's sort node.
        assert not re.search(r"TEMP B-TREE FOR ORDER BY|\bSort\b", steps), steps


def test_the_episode_page_lists_the_latest_records_and_sends_to_the_timeline_for_the_rest(
    world, monkeypatch
):
    from needlechart.charting import selectors as chart_selectors
    from tests import charts

    for _ in range(2):
        charts.build(world.practitioner, world.episode_a, signed=True)
    monkeypatch.setattr(chart_selectors, "EPISODE_LATEST", 3)
    page = client_for(world.practitioner).get(
        reverse("patients:episode", args=[world.episode_a.pk])
    )
    newest = list(world.episode_a.sessions.order_by("-performed_at", "-id")[:3])
    assert page.context["sessions"] == newest
    assert page.context["counts"]["sessions"] == world.episode_a.sessions.count() == 4
    html = page.content.decode()
    timeline = reverse("charting:timeline", args=[world.patient_a.pk])
    assert f'The latest 3 of 4 sessions; <a href="{timeline}?kind=session">' in html
    assert "of 2 assessments" not in html  # two, both shown


def test_the_episode_page_badges_exactly_the_records_entered_in_error(world):
    import re

    from needlechart.charting import services as chart_services
    from tests import charts

    built = charts.build(world.practitioner, world.episode_a, signed=True)
    for record in (built.signed_session, built.assessment):
        chart_services.addendum_add(
            actor=world.practitioner, record=record, reason="Wrong patient",
            kind="entered-in-error",
        )  # fmt: skip
    html = (
        client_for(world.practitioner)
        .get(reverse("patients:episode", args=[world.episode_a.pk]))
        .content.decode()
    )
    rows = re.findall(r'<tr><td><a href="(/(?:sessions|assessments)/\d+/)">.*?</tr>', html, re.S)
    badged = {
        href
        for href in rows
        if "Entered in error" in html.split(f'href="{href}"', 1)[1].split("</tr>", 1)[0]
    }
    assert badged == {
        reverse("charting:session", args=[built.signed_session.pk]),
        reverse("charting:assessment", args=[built.assessment.pk]),
    }
    assert reverse("charting:session", args=[built.session.pk]) in rows  # the draft: no badge


# --- forms -------------------------------------------------------------------------------


def _patient_form(**changes) -> dict:
    data = {"given_name": "Nora", "family_name": "Quinn", "birth_date": "1975-03-02",
            "sex": "female", "mrn": "", "phone": "", "email": "", "address": ""}  # fmt: skip
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"birth_date": "2999-01-01"}, "birth_date", "The date of birth cannot be in the future."),
        ({"birth_date": "1850-06-01"}, "birth_date", "The date of birth is more than 125 years ago; check it."),
        ({"birth_date": "1975-02-30"}, "birth_date", "Enter a valid date."),
        ({"given_name": ""}, "given_name", "This field is required."),
        ({"sex": "robot"}, "sex", "Select a valid choice. robot is not one of the available choices."),
        ({"email": "not-an-address"}, "email", "Enter a valid email address."),
        ({"mrn": "no spaces"}, "mrn", "Use letters, digits and hyphens only, starting with a letter or digit."),
        ({"mrn": "t-1"}, "mrn", "Another patient in this clinic already has this record number."),
    ],
)  # fmt: skip
def test_bad_patient_details_are_refused_by_the_field_and_nothing_is_saved(
    world, changes, field, message
):
    factories.patient(world.clinic_a, mrn="T-1")
    before = Patient.objects.count()
    response = client_for(world.front_desk).post(
        reverse("patients:create"), _patient_form(**changes)
    )
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert Patient.objects.count() == before


def test_a_record_number_used_by_another_clinic_is_free_in_this_one(world):
    response = client_for(world.front_desk).post(
        reverse("patients:create"), _patient_form(mrn=world.patient_b.mrn)
    )
    assert response.status_code == 302
    assert Patient.objects.filter(mrn=world.patient_b.mrn).count() == 2


def test_an_empty_record_number_gets_the_clinics_next_free_number(world):
    factories.patient(world.clinic_a, mrn="000002")
    client = client_for(world.front_desk)
    client.post(reverse("patients:create"), _patient_form(family_name="First"))
    client.post(reverse("patients:create"), _patient_form(family_name="Second"))
    assert Patient.objects.get(family_name="First").mrn == "000001"
    assert Patient.objects.get(family_name="Second").mrn == "000003"


def test_editing_keeps_the_record_number_required(world):
    response = client_for(world.front_desk).post(
        reverse("patients:edit", args=[world.patient_a.pk]), _patient_form(mrn="")
    )
    assert response.context["form"].errors["mrn"] == ["This field is required."]


def _episode_form(world, **changes) -> dict:
    data = {"condition_code": "M54.50", "body_area": "low-back", "onset_date": "2026-01-02",
            "referral_source": "physician", "referral_detail": "",
            "care_manager": world.practitioner_a.pk, "status": "active",
            "period_start": "2026-02-01"}  # fmt: skip
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"condition_code": "M54.5"}, "condition_code", "M54.5 Low back pain (code retired; use M54.50, M54.51 or M54.59): not valid for an episode opened on 2026-02-01; it was retired after 2021-09-30. Choose a current code from the list."),
        ({"condition_code": "Z99.9"}, "condition_code", "Z99.9 is not an ICD-10-CM code in the needlechart catalogue; choose one from the list."),
        ({"onset_date": "2999-01-01"}, "onset_date", "The onset date cannot be in the future."),
        ({"onset_date": "1950-01-01"}, "onset_date", "The onset date is before the patient's date of birth."),
        ({"period_start": "2999-01-01"}, "period_start", "An episode cannot open in the future."),
        ({"body_area": "tail"}, "body_area", "Select a valid choice. tail is not one of the available choices."),
        ({"care_manager": ""}, "care_manager", "This field is required."),
    ],
)  # fmt: skip
def test_bad_episode_details_are_refused_by_the_field_and_nothing_is_saved(
    world, changes, field, message
):
    before = EpisodeOfCare.objects.count()
    response = client_for(world.practitioner).post(
        reverse("patients:episode_create", args=[world.patient_a.pk]),
        _episode_form(world, **changes),
    )
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert EpisodeOfCare.objects.count() == before


def test_the_episode_form_offers_no_discharge_status_which_has_its_own_page(world):
    client = client_for(world.practitioner)
    url = reverse("patients:episode_edit", args=[world.episode_a.pk])
    form = client.get(url).context["form"]
    assert "finished" not in dict(form.fields["status"].choices)
    response = client.post(url, _episode_form(world, status="finished"))
    assert "status" in response.context["form"].errors
    world.episode_a.refresh_from_db()
    assert world.episode_a.status == "active"


def test_putting_an_episode_on_hold_and_back_is_recorded(world):
    client = client_for(world.practitioner)
    url = reverse("patients:episode_edit", args=[world.episode_a.pk])
    client.post(url, _episode_form(world, status="onhold"))
    world.episode_a.refresh_from_db()
    assert world.episode_a.status == "onhold" and world.episode_a.period_end is None


def test_an_update_records_which_fields_changed(world):
    client_for(world.front_desk).post(
        reverse("patients:edit", args=[world.patient_a.pk]),
        _patient_form(given_name="Ann", family_name="Smith", birth_date="1980-05-17",
                      phone="+1 555 0100", mrn=world.patient_a.mrn, email="ann@example.org"),
    )  # fmt: skip
    update = AuditEvent.objects.get(action="update", patient=world.patient_a)
    # The change row keeps the old and the new value of what changed, nothing else.
    assert update.detail == {
        "changed": ["phone"], "before": {"phone": ""}, "after": {"phone": "+1 555 0100"},
    }  # fmt: skip


def test_a_refused_edit_shows_the_saved_details_in_the_header_not_the_refused_ones(world):
    response = client_for(world.front_desk).post(
        reverse("patients:edit", args=[world.patient_a.pk]),
        _patient_form(given_name="Zed", family_name="Unsaved", birth_date="2999-01-01",
                      mrn=world.patient_a.mrn),
    )  # fmt: skip
    assert response.status_code == 200
    header = (
        response.content.decode().split('<header class="patient-header"')[1].split("</header>")[0]
    )
    assert "Ann Smith" in header and "Unsaved" not in header and "2999" not in header
    # The form keeps what was typed, for correction.
    assert response.context["form"]["family_name"].value() == "Unsaved"


def test_typing_the_record_number_in_lower_case_is_not_a_change(world):
    client_for(world.front_desk).post(
        reverse("patients:edit", args=[world.patient_a.pk]),
        _patient_form(given_name="Ann", family_name="Smith", birth_date="1980-05-17",
                      mrn=world.patient_a.mrn.lower(), email="ann@example.org"),
    )  # fmt: skip
    assert AuditEvent.objects.get(action="update").detail["changed"] == []


def test_an_episode_cannot_open_after_its_discharge_date(world):
    world.episode_a.status = "finished"
    world.episode_a.period_end = dt.date(2026, 3, 1)
    world.episode_a.save()
    response = client_for(world.practitioner).post(
        reverse("patients:episode_edit", args=[world.episode_a.pk]),
        _episode_form(world, status="finished", period_start="2026-04-01"),
    )
    assert response.context["form"].errors["period_start"] == [
        "An episode cannot open after its discharge date (2026-03-01)."
    ]


def test_a_retired_code_is_refused_for_a_new_episode_but_an_old_episode_keeps_it(world):
    client = client_for(world.practitioner)
    response = client.post(
        reverse("patients:episode_create", args=[world.patient_a.pk]),
        _episode_form(world, condition_code="M54.5"),
    )
    assert "condition_code" in response.context["form"].errors
    old = factories.episode(world.patient_a, world.practitioner_a, condition_code="M54.5",
                            period_start=dt.date(2021, 5, 1))  # fmt: skip
    url = reverse("patients:episode_edit", args=[old.pk])
    assert 'value="M54.5 Low back pain (code retired; use M54.50, M54.51 or M54.59)"' in (
        client.get(url).content.decode()
    )
    kept = client.post(url, _episode_form(world, condition_code="M54.5", period_start="2021-05-01",
                                          onset_date="2021-04-01", status="onhold"))  # fmt: skip
    assert kept.status_code == 302
    old.refresh_from_db()
    assert old.condition_code == "M54.5" and old.status == "onhold"


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_later_page_works_out_the_care_columns_for_its_own_patients_only(world):
    """PostgreSQL works out a select list's subqueries for every row an offset skips: the
    last page of 10,000 patients took half a second. The page's patients are chosen first."""
    import json

    for number in range(2 * PAGE_SIZE + 5):
        factories.patient(world.clinic_a, family_name=f"Walsh{number:02d}")
    for query in ({"page": 3}, {"name": "walsh", "page": 3}):
        with CaptureQueriesContext(connection) as context:
            response = client_for(world.assistant).get(reverse("patients:list"), query)
        assert len(response.context["page"].object_list) == 5 + (query.get("name") is None)
        sql = next(q["sql"] for q in context.captured_queries if '"care_status"' in q["sql"])
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
            (plan,) = cursor.fetchone()
        plan = json.loads(plan) if isinstance(plan, str) else plan

        def loops(node: dict) -> list[int]:
            own = [node["Actual Loops"]] if node.get("Parent Relationship") == "SubPlan" else []
            return own + [n for child in node.get("Plans", []) for n in loops(child)]

        worked_out = loops(plan[0]["Plan"])
        assert worked_out and max(worked_out) <= PAGE_SIZE, (query, worked_out)
