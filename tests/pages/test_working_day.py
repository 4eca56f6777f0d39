"""A working day: the patient list's care columns and filters, and the clinician's home page."""

import datetime as dt
from collections import Counter

import pytest
from django.db import connection
from django.urls import reverse

from needlechart.accounts.models import Role
from needlechart.audit.models import AuditEvent
from needlechart.charting.models import Addendum, Assessment, NeedlingSession
from needlechart.outcomes.models import CarePlan
from needlechart.patients.models import EpisodeOfCare
from needlechart.portal.models import CheckIn
from tests import factories
from tests.conftest import World, client_for
from tests.sql import captured

TODAY = dt.date(2026, 11, 30)
NOON = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def _session(episode, user, *, at=NOON, signed=True) -> NeedlingSession:
    """A session as it stands after charting; the charting rules have their own tests."""
    return NeedlingSession.objects.create(
        episode=episode,
        practitioner=user.practitioner,
        performed_at=at,
        created_by=user,
        created_at=at,
        signed_at=at if signed else None,
        signed_by=user if signed else None,
    )


def _assessment(episode, user, *, at=NOON, signed=False) -> Assessment:
    return Assessment.objects.create(
        episode=episode,
        practitioner=user.practitioner,
        performed_at=at,
        created_by=user,
        created_at=at,
        signed_at=at if signed else None,
        signed_by=user if signed else None,
    )


def _plan(episode, user, review_on: dt.date, version: int = 1) -> CarePlan:
    return CarePlan.objects.create(
        episode=episode, version=version, review_on=review_on, created_by=user
    )


def _audited_since(since: int) -> Counter:
    rows = AuditEvent.objects.filter(pk__gt=since).exclude(action="login")
    return Counter((row.action, row.object_type) for row in rows)


def _last_audit_id() -> int:
    return max(AuditEvent.objects.values_list("pk", flat=True), default=0)


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOON, tick=False)


# --- the patient list --------------------------------------------------------------------


@pytest.fixture
def caseload(world: World, frozen) -> World:
    """Ann (Paula's, in care, seen and with a plan), Olive (Alice's, on hold), Ned (discharged
    long ago), Zed (never treated)."""
    alice = world.admin
    _session(world.episode_a, world.practitioner, at=NOON - dt.timedelta(days=9))
    _assessment(world.episode_a, world.practitioner, at=NOON - dt.timedelta(days=3))
    # Entered in error: not a visit.
    wrong = _session(world.episode_a, world.practitioner, at=NOON - dt.timedelta(days=1))
    Addendum.objects.create(
        session=wrong, kind="entered-in-error", reason="Wrong patient", author=world.practitioner
    )
    _plan(world.episode_a, world.practitioner, TODAY + dt.timedelta(days=14))
    _plan(world.episode_a, world.practitioner, TODAY + dt.timedelta(days=21), version=2)
    olive = factories.patient(world.clinic_a, given_name="Olive", family_name="Oak")
    factories.episode(olive, alice.practitioner, status="onhold")
    ned = factories.patient(world.clinic_a, given_name="Ned", family_name="Nolan")
    old = factories.episode(ned, world.practitioner_a, status="finished",
                            period_end=dt.date(2026, 3, 1))  # fmt: skip
    _session(old, world.practitioner, at=dt.datetime(2026, 2, 20, 9, tzinfo=dt.UTC))
    factories.patient(world.clinic_a, given_name="Zed", family_name="Zane")
    return world


def _rows(response) -> dict[str, object]:
    return {p.family_name: p.care for p in response.context["page"].object_list}


def test_the_patient_list_shows_status_practitioner_and_last_and_next_visit(caseload):
    response = client_for(caseload.assistant).get(reverse("patients:list"))
    rows = _rows(response)
    ann, olive, ned, zed = rows["Smith"], rows["Oak"], rows["Nolan"], rows["Zane"]
    assert (ann.status_label, ann.practitioner.user.username) == ("In care", "paula")
    assert ann.last_visit == NOON - dt.timedelta(days=3)  # the assessment, not the error
    assert ann.next_review == TODAY + dt.timedelta(days=21)  # the current plan's
    assert (olive.status_label, olive.practitioner.user.username) == ("On hold", "alice")
    assert (olive.last_visit, olive.next_review) == (None, None)
    assert (ned.status_label, ned.practitioner) == ("Not in care", None)
    assert ned.last_visit == dt.datetime(2026, 2, 20, 9, tzinfo=dt.UTC)
    assert (zed.status_label, zed.practitioner, zed.last_visit) == ("Not in care", None, None)
    row = response.content.decode().split("Smith, Ann")[1].split("</tr>")[0]
    assert "In care" in row and "Paula Physio" in row
    assert "2026-11-27" in row and "Plan review <time" in row and "2026-12-21" in row


def test_the_patient_list_marks_a_plan_review_that_is_past(caseload):
    _plan(caseload.episode_a, caseload.practitioner, TODAY - dt.timedelta(days=2), version=3)
    response = client_for(caseload.practitioner).get(reverse("patients:list"))
    assert _rows(response)["Smith"].review_overdue
    row = response.content.decode().split("Smith, Ann")[1].split("</tr>")[0]
    assert "2026-11-28" in row and "Overdue" in row


def test_the_patient_list_filters_to_my_patients(caseload):
    response = client_for(caseload.practitioner).get(reverse("patients:list"), {"mine": "on"})
    assert list(_rows(response)) == ["Smith"]
    response = client_for(caseload.admin).get(reverse("patients:list"), {"mine": "on"})
    assert list(_rows(response)) == ["Oak"]  # on hold is still open, and Alice's


def test_the_patient_list_filters_to_patients_in_care(caseload):
    response = client_for(caseload.assistant).get(reverse("patients:list"), {"in_care": "on"})
    assert list(_rows(response)) == ["Smith"]
    both = client_for(caseload.admin).get(reverse("patients:list"), {"in_care": "on", "mine": "on"})
    assert list(_rows(both)) == []


def test_the_patient_list_filters_combine_with_the_search(caseload):
    response = client_for(caseload.practitioner).get(
        reverse("patients:list"), {"in_care": "on", "name": "oak"}
    )
    assert list(_rows(response)) == []
    assert "No patients match this search." in response.content.decode()


def test_the_front_desk_gets_neither_the_care_columns_nor_their_filters(caseload):
    client = client_for(caseload.front_desk)
    response = client.get(reverse("patients:list"), {"in_care": "on", "mine": "on"})
    page = response.content.decode()
    assert "Practitioner in charge" not in page and "In care" not in page
    assert set(response.context["form"].fields) == {"name", "birth_date", "mrn"}
    # The clinical filters are ignored, not applied: all four patients are listed.
    assert len(response.context["page"].object_list) == 4
    assert not hasattr(response.context["page"].object_list[0], "care")


def test_an_assistant_may_filter_in_care_but_has_no_patients_of_their_own(caseload):
    form = client_for(caseload.assistant).get(reverse("patients:list")).context["form"]
    assert "in_care" in form.fields and "mine" not in form.fields


def test_the_patient_list_with_care_is_audited_as_before(caseload):
    since = _last_audit_id()
    client_for(caseload.practitioner).get(reverse("patients:list"), {"in_care": "on"})
    assert _audited_since(since) == Counter({("list", "Patient"): 1})


def test_the_patient_list_costs_the_same_queries_however_many_patients_are_in_care(
    caseload, django_assert_max_num_queries
):
    client = client_for(caseload.practitioner)
    # Session, user, page and count, the practitioners in charge, the audit rows (their place
    # in the chain and its seal too).
    with django_assert_max_num_queries(8):
        client.get(reverse("patients:list"))
    others = [factories.practitioner(caseload.clinic_a, f"p{n}") for n in range(4)]
    for number in range(30):
        patient = factories.patient(caseload.clinic_a)
        episode = factories.episode(patient, others[number % 4])
        _session(episode, others[number % 4].user, at=NOON - dt.timedelta(days=number))
        _assessment(episode, others[number % 4].user, at=NOON - dt.timedelta(days=number))
        _plan(episode, others[number % 4].user, TODAY + dt.timedelta(days=number))
    with django_assert_max_num_queries(8):
        response = client.get(reverse("patients:list"), {"in_care": "on"})
    assert len(response.context["page"].object_list) == 25


# --- the home page -----------------------------------------------------------------------


@pytest.fixture
def day(world: World, frozen) -> World:
    """Paula's day: two of her notes unsigned (one from last week), a session signed this
    morning, plan reviews due yesterday, today and next week; and Bob's day in clinic B."""
    paula, alice = world.practitioner, world.admin
    cleo = factories.patient(world.clinic_a, given_name="Cleo", family_name="Cole")
    cleo_episode = factories.episode(cleo, world.practitioner_a)
    dan = factories.patient(world.clinic_a, given_name="Dan", family_name="Dunne")
    dan_episode = factories.episode(dan, world.practitioner_a)
    world.signed_today = _session(cleo_episode, paula, at=NOON - dt.timedelta(hours=3))
    world.draft_today = _session(world.episode_a, paula, at=NOON - dt.timedelta(hours=1),
                                 signed=False)  # fmt: skip
    world.old_draft = _assessment(dan_episode, paula, at=NOON - dt.timedelta(days=6))
    world.alice_today = _session(world.episode_a, alice, at=NOON - dt.timedelta(hours=2))
    _assessment(world.episode_a, alice, at=NOON - dt.timedelta(hours=2))  # Alice's draft
    _plan(world.episode_a, paula, TODAY - dt.timedelta(days=1))
    _plan(cleo_episode, paula, TODAY)
    _plan(dan_episode, paula, TODAY + dt.timedelta(days=7))
    # The current plan counts: Dan's first version was due long ago.
    _plan(dan_episode, paula, TODAY - dt.timedelta(days=30), version=0)
    # Discharged or on hold: no review is due.
    eve = factories.patient(world.clinic_a, given_name="Eve", family_name="Egan")
    _plan(factories.episode(eve, world.practitioner_a, status="onhold"), paula, TODAY)
    _session(world.episode_b, world.other_practitioner, at=NOON, signed=False)
    _plan(world.episode_b, world.other_practitioner, TODAY)
    world.cleo, world.dan = cleo, dan
    return world


def test_a_practitioner_sees_their_unsigned_notes_oldest_first_with_a_link_to_sign(day):
    response = client_for(day.practitioner).get(reverse("home"))
    assert response.status_code == 200
    unsigned = response.context["day"].unsigned
    assert [v.record for v in unsigned] == [day.old_draft, day.draft_today]
    page = response.content.decode()
    assert reverse("charting:assessment", args=[day.old_draft.pk]) in page
    assert reverse("charting:session", args=[day.draft_today.pk]) in page
    row = page.split("Notes to sign")[1].split("Dunne, Dan")[1].split("</tr>")[0]
    assert "Initial assessment" in row and "2026-11-24" in row and "Overdue" in row


def test_the_home_page_lists_plan_reviews_due_today_or_past_and_not_later(day):
    response = client_for(day.practitioner).get(reverse("home"))
    reviews = response.context["day"].reviews
    assert [(e.patient.given_name, e.plan_review_on) for e in reviews] == [
        ("Ann", TODAY - dt.timedelta(days=1)),
        ("Cleo", TODAY),
    ]
    page = response.content.decode()
    assert reverse("outcomes:plan", args=[day.episode_a.pk]) in page


def test_the_home_page_lists_the_patients_seen_today(day):
    response = client_for(day.practitioner).get(reverse("home"))
    seen = response.context["day"].seen_today
    assert [v.record for v in seen] == [day.signed_today, day.draft_today]
    section = response.content.decode().split("Seen today")[1]
    assert "Cole, Cleo" in section and "Smith, Ann" in section
    assert "09:00" in section and "Signed" in section and "Draft" in section


def test_the_home_page_shows_what_patients_reported_that_awaits_the_clinic(day):
    check_in = CheckIn.objects.create(
        session=day.signed_today, hours=24, soreness=3, red_flags=["breathlessness-chest-pain"],
        answered_at=NOON - dt.timedelta(hours=1),
    )  # fmt: skip
    response = client_for(day.practitioner).get(reverse("home"))
    assert response.context["attention"]["alerts"] == [check_in]
    page = response.content.decode()
    assert "Red flags reported by patients" in page
    assert reverse("charting:session", args=[day.signed_today.pk]) in page


def test_an_assistant_sees_the_clinics_reviews_and_visits_and_no_portal_reports(day):
    response = client_for(day.assistant).get(reverse("home"))
    work = response.context["day"]
    assert not work.own and list(work.unsigned) == []
    assert {v.record.pk for v in work.seen_today} >= {day.signed_today.pk, day.alice_today.pk}
    assert [e.patient.given_name for e in work.reviews] == ["Ann", "Cleo"]
    page = response.content.decode()
    # The plan is changed by clinicians; the assistant is sent to the episode.
    assert reverse("outcomes:plan", args=[day.episode_a.pk]) not in page
    assert response.context["attention"] == {}


def test_the_front_desk_is_sent_to_the_patient_list(day):
    response = client_for(day.front_desk).get(reverse("home"))
    assert response.status_code == 302 and response.url == reverse("patients:list")


def test_another_clinics_records_never_appear_on_the_home_page(day):
    for user in (day.practitioner, day.admin, day.assistant):
        work = client_for(user).get(reverse("home")).context["day"]
        patients = {v.patient.clinic_id for v in [*work.seen_today, *work.unsigned]}
        patients |= {e.patient.clinic_id for e in work.reviews}
        assert patients <= {day.clinic_a.pk}
    bob = client_for(day.other_practitioner).get(reverse("home")).context["day"]
    assert [e.patient for e in bob.reviews] == [day.patient_b]


def test_the_home_page_audits_each_record_it_lists_once(day):
    since = _last_audit_id()
    client_for(day.practitioner).get(reverse("home"))
    # Reviews: Ann's and Cleo's episodes. Sessions: signed and draft today (the draft is
    # both unsigned and seen today, listed once). Assessments: Dan's draft.
    assert _audited_since(since) == Counter(
        {("list", "EpisodeOfCare"): 2, ("list", "Encounter"): 2, ("list", "ClinicalImpression"): 1}
    )
    listed = AuditEvent.objects.filter(pk__gt=since, action="list")
    patients = listed.values_list("patient__given_name", flat=True)
    assert sorted(patients) == ["Ann", "Ann", "Cleo", "Cleo", "Dan"]


def _busy(day: World, more: int, start: int = 0) -> None:
    """`more` patients of Paula's more: each seen today (signed), with a draft session and
    a draft assessment from earlier days, a plan review due and a red flag reported."""
    for number in range(start, start + more):
        patient = factories.patient(day.clinic_a)
        episode = factories.episode(patient, day.practitioner_a)
        session = _session(episode, day.practitioner, at=NOON - dt.timedelta(minutes=number))
        _session(episode, day.practitioner, at=NOON - dt.timedelta(days=number), signed=False)
        _assessment(episode, day.practitioner, at=NOON - dt.timedelta(days=number))
        _plan(episode, day.practitioner, TODAY - dt.timedelta(days=number))
        CheckIn.objects.create(session=session, hours=24, soreness=2, red_flags=["breathlessness-chest-pain"],
                               answered_at=NOON)  # fmt: skip


def test_the_home_page_costs_the_same_queries_however_busy_the_day(day):
    from django.test.utils import CaptureQueriesContext

    client = client_for(day.practitioner)
    counts = []
    # Session, user, the practitioner profile; a page of each list with its count (today's
    # and the unsigned sessions and assessments, the reviews); the three portal lists; the
    # audit writes (each with its place in the chain and the chain's seal).
    # One more patient first, so that every list has a row (an empty one writes no audit).
    for more, start in ((1, 0), (39, 1)):
        _busy(day, more, start)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("home"))
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 18, counts
    work = response.context["day"]
    # Every list is a page, however long it has grown.
    assert (len(work.reviews), work.reviews.paginator.count) == (25, 42)
    assert (len(work.unsigned), work.unsigned.paginator.count) == (25, 82)
    assert (len(work.seen_today), work.seen_today.paginator.count) == (25, 44)
    assert len(response.context["attention"]["alerts"]) == 40


def _listed_since(since: int) -> Counter:
    """The day's records listed since `since` (the portal's lists beside them aside)."""
    rows = AuditEvent.objects.filter(
        pk__gt=since, action="list",
        object_type__in=["EpisodeOfCare", "Encounter", "ClinicalImpression"],
    )  # fmt: skip
    return Counter(rows.values_list("object_type", "object_id"))


def test_every_row_of_a_long_day_is_reached_a_page_at_a_time(day):
    """Past a page, each list says how many there are and pages on by itself (its links
    keep the other lists' pages); the view audits only the rows it shows, once each."""
    _busy(day, 40)
    client = client_for(day.practitioner)
    page = client.get(reverse("home")).content.decode()
    assert "Plan reviews due (42)" in page and "Notes to sign (82)" in page
    assert "Seen today (44)" in page
    kinds = {"session": "Encounter", "assessment": "ClinicalImpression"}
    reviews, unsigned = [], []
    for number in (1, 2, 3, 4):
        since = _last_audit_id()
        response = client.get(reverse("home"), {"reviews": number, "unsigned": number, "seen": 2})
        work = response.context["day"]
        reviews += [e.pk for e in work.reviews]
        unsigned += list(work.unsigned)
        assert len(work.seen_today) == 19  # 44 = 25 + 19
        shown = {("EpisodeOfCare", str(e.pk)) for e in work.reviews}
        shown |= {(kinds[v.kind], str(v.record.pk)) for v in [*work.unsigned, *work.seen_today]}
        assert _listed_since(since) == Counter(dict.fromkeys(shown, 1))
        if number == 2:
            html = response.content.decode()
            # Each pager changes its own list's page and keeps the others'.
            assert "?reviews=1&amp;unsigned=2&amp;seen=2#reviews" in html
            assert "?reviews=2&amp;unsigned=3&amp;seen=2#unsigned" in html
    # The reviews' second page was their last (42 = 25 + 17): pages past it give it again.
    assert len(reviews) == 25 + 17 * 3 and len(set(reviews)) == 42
    due = EpisodeOfCare.objects.filter(patient__clinic=day.clinic_a, status="active")
    assert set(reviews) == set(due.exclude(patient=day.dan).values_list("pk", flat=True))
    # The drafts, sessions and assessments together: all 82 in four pages, oldest first.
    keys = [(v.when, v.kind, v.record.pk) for v in unsigned]
    assert len(set(keys)) == 82 and keys == sorted(keys)
    # Past the end of the merged list, or a page number too big for the database: the last.
    for asked in ("5", "99999999999999999999"):
        work = client.get(reverse("home"), {"unsigned": asked, "reviews": asked}).context["day"]
        assert (work.unsigned.number, len(work.unsigned)) == (4, 7), asked
        assert (work.reviews.number, len(work.reviews)) == (2, 17), asked
        assert [(v.when, v.kind, v.record.pk) for v in work.unsigned] == keys[75:]
    # A page number that is not one gives the first page.
    work = client.get(reverse("home"), {"reviews": "x", "unsigned": "-3"}).context["day"]
    assert work.reviews.number == 1 and work.unsigned.number == 1


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_the_home_page_reads_a_practitioner_s_visits_from_their_indexes(day):
    """Today's visits and the drafts come from the practitioner's indexes, in the order they
    are listed: before, SQLite read every patient, episode and session of the clinic (40-120
    ms at 10,000 patients), and a page of drafts read through the day's index walked every
    signed session of the practitioner."""
    with captured() as statements:
        client_for(day.practitioner).get(reverse("home"))
    plans = {}
    for table, relation in (("charting_needlingsession", "session"),
                            ("charting_assessment", "assessment")):  # fmt: skip
        # The page's two lists of them: today's visits and the drafts, each with its count.
        lists = [
            (sql, params) for sql, params in statements
            if sql.startswith(f'SELECT "{table}"."id"') and "LIMIT" in sql
        ]  # fmt: skip
        assert len(lists) == 2, lists
        for sql, params in lists:
            kind = "draft" if '"signed_at" IS NULL' in sql else "day"
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
                plans[table, relation, kind] = " | ".join(row[-1] for row in cursor.fetchall())
    assert len(plans) == 4
    indexes = {"day": "{}_practitioner_day", "draft": "{}_drafts_in_time"}
    for (table, relation, kind), plan in plans.items():
        # The list itself, not only its count, and in the index's order.
        index = indexes[kind].format(relation)
        assert f"SEARCH {table} USING INDEX {index} " in plan, plan
        assert "SCAN patients_patient" not in plan and "TEMP B-TREE" not in plan, plan
    # The reviews due: the practitioner's active episodes due by their kept review date, not
    # each active episode's current plan worked out from its versions.
    (reviews,) = [
        (sql, params) for sql, params in statements
        if sql.startswith('SELECT "patients_episodeofcare"."id"') and "LIMIT" in sql
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {reviews[0]}", reviews[1])
        plan = " | ".join(row[-1] for row in cursor.fetchall())
    assert "SEARCH patients_episodeofcare USING INDEX episode_reviews_in_time " in plan, plan
    assert "outcomes_careplan" not in plan, plan


def test_signing_in_lands_a_clinician_on_the_home_page_and_the_front_desk_on_the_list(world):
    for user, landing in ((world.practitioner, "Today,"), (world.front_desk, "<h1>Patients")):
        client = client_for(None)
        response = client.post(
            reverse("login"), {"username": user.username, "password": factories.PASSWORD},
            follow=True,
        )  # fmt: skip
        assert landing in response.content.decode(), user.username


def test_a_clinic_admin_without_a_practitioner_profile_sees_the_clinics_day(day):
    manager = factories.user(day.clinic_a, "mona", Role.CLINIC_ADMIN)
    work = client_for(manager).get(reverse("home")).context["day"]
    assert not work.own
    assert EpisodeOfCare.objects.filter(pk__in=[e.pk for e in work.reviews]).count() == 2


def test_the_attention_lists_show_a_page_of_work_and_how_much_waits(day):
    """A long queue of reported effects lists (and audits) the first page, red flags and the
    oldest first, and says how many wait in all."""
    from needlechart.portal import selectors as portal_selectors
    from needlechart.portal.models import ReportedEffect

    episode = factories.episode(factories.patient(day.clinic_a), day.practitioner_a)
    shown = portal_selectors.ATTENTION_SHOWN
    for number in range(shown + 5):
        session = _session(episode, day.practitioner, at=NOON - dt.timedelta(days=number))
        check_in = CheckIn.objects.create(session=session, hours=24, soreness=2, answered_at=NOON)
        ReportedEffect.objects.create(
            session=session, check_in=check_in, event_type="bruising",
            red_flag=number == shown + 4,
            first_reported_at=NOON - dt.timedelta(days=number),
        )  # fmt: skip
    since = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    response = client_for(day.practitioner).get(reverse("home"))
    effects = response.context["attention"]["effects"]
    assert len(effects) == shown and response.context["attention"]["effects_total"] == shown + 5
    assert effects[0].red_flag and effects[1].first_reported_at < effects[2].first_reported_at
    assert f"The first {shown} of {shown + 5}" in response.content.decode()
    listed = AuditEvent.objects.filter(pk__gt=since, object_type="ReportedEffect")
    assert listed.count() == shown
