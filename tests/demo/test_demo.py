"""The story the demo tells, read from one build of its clinics: the complaints and how
they went, the adverse events, the plans, reviews and discharges, and the patient portal
of the first clinic. Whether each record keeps the charting rules is the services' to
prove: the demo records everything through their imports (tests/demo/test_build.py)."""

import datetime as dt
import io
from collections import Counter, defaultdict
from collections.abc import Iterator
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import connection, models, transaction
from django.test import RequestFactory
from django.utils.html import escape

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.models import Clinic, User
from needlechart.audit.models import AuditEvent
from needlechart.audit.services import object_type_of
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AftercareIssue,
    Assessment,
    Consent,
    Insertion,
    NeedlingSession,
    PainMark,
    Screening,
    TriggerPointFinding,
)
from needlechart.demo.clinics import SHOWCASE_EMAIL
from needlechart.outcomes import selectors
from needlechart.outcomes.dashboard import Filters, figures
from needlechart.outcomes.export import charts
from needlechart.outcomes.models import CarePlan, Discharge, Observation, PlanTherapy
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.portal import schedule
from needlechart.portal import selectors as portal_selectors
from needlechart.portal import services as portal_services
from needlechart.portal.models import (
    CheckIn,
    HealthQuestionnaire,
    Invitation,
    PortalAccount,
    ReportedEffect,
)

TODAY = "2026-11-24"
# Enough patients for the shares below to be stable, few enough to build in seconds.
PATIENTS = 150
# The password README publishes for every demo login.
DEMO_PASSWORD = "needlechart-demo"
MUSCLES = {
    "neck": {
        "upper-trapezius", "levator-scapulae", "splenius-capitis", "suboccipitals",
        "sternocleidomastoid", "semispinalis-capitis", "scalenes",
    },
    "low back": {
        "quadratus-lumborum", "lumbar-multifidus", "iliocostalis-lumborum", "gluteus-medius",
        "gluteus-minimus", "iliopsoas",
    },
    "shoulder": {
        "infraspinatus", "supraspinatus", "teres-minor", "deltoid", "subscapularis",
        "pectoralis-minor", "upper-trapezius",
    },
    "hip": {
        "gluteus-medius", "gluteus-minimus", "piriformis", "tensor-fasciae-latae",
        "quadratus-lumborum",
    },
}  # fmt: skip
GROUPS = {
    "M54.2": "neck", "M79.12": "neck", "M54.50": "low back", "M54.59": "low back",
    "M62.830": "low back", "M25.511": "shoulder", "M25.512": "shoulder", "M25.551": "hip",
    "M25.552": "hip", "M79.18": "sports",
}  # fmt: skip
# Sports injuries: the body area says where, and the muscles fit it.
SPORTS_AREAS = {
    "leg-foot": {"gastrocnemius", "soleus", "fibularis-longus"},
    "thigh-knee": {"biceps-femoris", "semitendinosus", "semimembranosus"},
    "arm-elbow": {
        "extensor-carpi-radialis-brevis", "extensor-carpi-radialis-longus", "supinator",
        "brachioradialis", "extensor-digitorum",
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker) -> Iterator[str]:
    """One demo for the whole module (building takes seconds), inside a transaction rolled
    back at the end; each test runs in a savepoint within it. Returns the command's output."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
    try:
        with django_db_blocker.unblock():
            out = io.StringIO()
            call_command("demo", "--patients", str(PATIENTS), "--today", TODAY, stdout=out)
            # The foreign keys checked now, once (PostgreSQL defers them to the commit, and
            # would check them all again as each test's savepoint ends).
            connection.check_constraints()
        yield out.getvalue()
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def demo(built, db) -> str:
    return built


def _midnight() -> dt.datetime:
    """The start of the demo's day in the first clinic: nothing happened from then on."""
    return dt.datetime.combine(
        dt.date.fromisoformat(TODAY), dt.time(0), tzinfo=ZoneInfo("Europe/Dublin")
    )


def _local(moment: dt.datetime, episode: EpisodeOfCare) -> dt.date:
    return moment.astimezone(ZoneInfo(episode.patient.clinic.timezone)).date()


def _baseline(episode: dict[str, Any]) -> float:
    (assessment,) = episode["assessments"]
    return next(m["value"] for m in assessment["measurements"] if m["code"] == "nprs")


def _brady() -> Any:
    return next(s for s in knowledge.published_rates().studies if s.key == "brady-2014")


# --- the charts --------------------------------------------------------------------------------


def test_episodes_cover_the_complaints_and_not_every_patient_responds(demo):
    episodes = [e for _, chart in charts(Patient.objects.all()) for e in chart["episodes"]]
    assert set(GROUPS[e["condition"]["code"]] for e in episodes) == {
        "neck", "low back", "shoulder", "hip", "sports",
    }  # fmt: skip
    responders = non_responders = 0
    for episode in episodes:
        code, sessions = episode["condition"]["code"], episode["sessions"]
        if episode["status"] == EpisodeOfCare.Status.ON_HOLD:
            assert 1 <= len(sessions) <= 3, "care on hold stopped after a visit or three"
        else:
            assert 3 <= len(sessions) <= 8
        dates = [dt.date.fromisoformat(s["date"]) for s in sessions]
        assert all(4 <= (b - a).days <= 11 for a, b in pairwise(dates)), "about weekly"
        if episode["period_end"]:
            assert dates[-1] <= dt.date.fromisoformat(episode["period_end"])
        group = GROUPS[code]
        fitting = SPORTS_AREAS[episode["body_area"]] if group == "sports" else MUSCLES[group]
        side = knowledge.condition(code).laterality
        for row in (r for s in sessions for r in s["insertions"]):
            assert row["muscle"] in fitting, f"{row['muscle']} for {code}"
            assert side is None or row["side"] == side
        if len(sessions) >= 3:
            final = sessions[-1]["nprs_before"]
            responders += final <= _baseline(episode) - 3
            non_responders += final >= _baseline(episode)
    assert responders > non_responders >= 3


def test_the_adverse_event_rate_is_near_the_published_rates(demo):
    signed = NeedlingSession.objects.filter(signed_at__isnull=False)
    with_minor = signed.filter(adverse_events__severity="mild").distinct().count()
    assert 0.10 <= with_minor / signed.count() <= 0.45  # Brady 2014: 19%, Boyce 2020: 37%
    types = Counter(
        AdverseEvent.objects.filter(severity="mild").values_list("event_type", flat=True)
    )
    assert set(types) <= set(_brady().by_type)
    assert types.most_common(1)[0][0] == "bruising"  # the commonest in Brady 2014
    assert AdverseEvent.objects.exclude(severity="mild").count() <= 3


def test_demo_codes_are_valid_on_the_demo_day(demo):
    valid = {c.code for c in knowledge.conditions_valid_on(dt.date.fromisoformat(TODAY))}
    codes = set(EpisodeOfCare.objects.values_list("condition_code", flat=True))
    assert codes <= valid
    assert "M54.50" in codes and "M54.5" not in codes, "low back pain as coded since 2021"


# --- plans, reassessments, discharge -----------------------------------------------------------


def test_every_episode_has_a_plan_with_goals_on_its_measures_and_known_therapies(demo):
    episodes = EpisodeOfCare.objects.select_related("patient__clinic", "care_manager__user")
    assert episodes.count() > PATIENTS
    revised = 0
    for episode in episodes.prefetch_related("care_plans__goals", "care_plans__therapies"):
        plans = sorted(episode.care_plans.all(), key=lambda p: p.version)
        assert [p.version for p in plans] in ([1], [1, 2])
        first = plans[0]
        initial = episode.assessments.get(kind=Assessment.Kind.INITIAL)
        # Made by the practitioner in charge on the day of the initial assessment.
        assert first.created_by == episode.care_manager.user
        assert _local(first.created_at, episode) == _local(initial.performed_at, episode)
        assert initial.performed_at <= first.created_at
        assert 3 <= first.planned_sessions <= 6
        assert 28 <= (first.review_on - episode.period_start).days <= 49
        baseline = {(o.code, o.component): o.value for o in initial.observations.all()}
        for plan in plans:
            assert plan.note
            goals = list(plan.goals.all())
            assert 1 <= len(goals) <= 3 and any(g.code == "nprs" for g in goals)
            for goal in goals:
                assert (goal.code, goal.component) in baseline, "a goal on a measure taken"
                assert goal.description and goal.target_date > plan.created_at.date()
                if goal.code == "nprs":
                    assert goal.target <= 3 and goal.target < baseline[("nprs", "")]
                if goal.code == "psfs-activity":
                    assert 7 <= goal.target <= 9
                    assert goal.target > baseline[(goal.code, goal.component)]
            therapies = list(plan.therapies.all())
            assert 1 <= len(therapies) <= 2
            for therapy in therapies:
                assert therapy.provider and therapy.frequency
                if therapy.kind == PlanTherapy.Kind.HOME_EXERCISE:
                    assert therapy.provider == "Patient at home"
                    assert 2 <= len(therapy.exercises) <= 4
                else:
                    assert therapy.exercises == []
        if len(plans) == 2:
            # Revised at a review of active care, by the practitioner in charge.
            revised += 1
            second = plans[1]
            assert episode.status == EpisodeOfCare.Status.ACTIVE
            assert first.created_at < second.created_at < _midnight()
            assert second.planned_sessions >= first.planned_sessions
            assert second.created_by == episode.care_manager.user
            assert second.note.startswith("Reviewed at session ")
    active = episodes.filter(status=EpisodeOfCare.Status.ACTIVE).count()
    assert 0.1 * active <= revised <= 0.45 * active, "about a quarter of active plans revised"
    kinds = set(PlanTherapy.objects.values_list("kind", flat=True))
    assert kinds >= {"home-exercise", "physical-therapy", "massage", "chiropractic"}


def test_every_finished_episode_is_discharged_after_its_last_session(demo):
    finished = EpisodeOfCare.objects.filter(status=EpisodeOfCare.Status.FINISHED)
    assert finished.count() >= 10
    assert set(Discharge.objects.values_list("episode", flat=True)) == set(
        finished.values_list("pk", flat=True)
    )
    records = Discharge.objects.select_related("episode__patient__clinic", "episode__care_manager")
    for discharge in records:
        episode = discharge.episode
        # Every session of finished care was signed, and the summary counts them.
        signed = selectors.signed_sessions(episode).count()
        assert discharge.snapshot["sessions"] == signed == episode.sessions.count() > 0
        assert len(discharge.summary) > 80 and f"{signed} dry needling" in discharge.summary
        last = episode.sessions.order_by("-performed_at").first()
        assert last.signed_at < discharge.discharged_at < _midnight()
        assert _local(discharge.discharged_at, episode) == episode.period_end
        assert discharge.discharged_by_id == episode.care_manager.user_id
        measures = {
            o.code: o for o in Observation.objects.filter(episode=episode, timing="discharge")
        }
        assert set(measures) >= {"nprs", "groc", "pgic", "qol"}
        for o in measures.values():
            assert o.recorded_at == discharge.discharged_at
        assert discharge.snapshot["measures"][0]["last"] == float(measures["nprs"].value)
        if discharge.reason == Discharge.Reason.GOALS_MET:
            # Every goal of the plan reached by its measure at discharge.
            plan = episode.care_plans.order_by("-version").first()
            for goal in plan.goals.all():
                value = Observation.objects.get(
                    episode=episode, timing="discharge", code=goal.code, component=goal.component
                ).value
                higher_is_better = knowledge.instrument(goal.code).higher_is == "better"
                assert value >= goal.target if higher_is_better else value <= goal.target
    reasons = Counter(records.values_list("reason", flat=True))
    assert reasons.most_common(1)[0][0] == Discharge.Reason.GOALS_MET
    assert set(reasons) <= {"goals-met", "plateau", "patient-choice"}


def test_ratings_at_discharge_follow_whether_the_pain_improved(demo):
    ratings: dict[bool, list[tuple[int, int]]] = {True: [], False: []}
    for discharge in Discharge.objects.all():
        values = dict(
            Observation.objects.filter(
                episode=discharge.episode_id, timing="discharge", code__in=["groc", "pgic"]
            ).values_list("code", "value")
        )
        improved = discharge.snapshot["measures"][0]["classification"] == "improved"
        ratings[improved].append((int(values["groc"]), int(values["pgic"])))
        if discharge.reason == Discharge.Reason.GOALS_MET:
            assert improved
        if discharge.reason == Discharge.Reason.PLATEAU:
            assert not improved
    responders, others = ratings[True], ratings[False]
    assert len(responders) >= 20 and len(others) >= 5
    assert sum(groc >= 3 for groc, _ in responders) >= 0.8 * len(responders)
    assert sum(groc < 3 for groc, _ in others) >= 0.8 * len(others)
    # PGIC: 1 very much better .. 7 very much worse.
    assert all(pgic <= 3 for _, pgic in responders)
    assert sum(pgic >= 3 for _, pgic in others) >= 0.8 * len(others)


def test_active_care_is_reassessed_now_and_then(demo):
    rows = Observation.objects.filter(timing="reassessment").select_related("episode")
    reassessed = set()
    for o in rows:
        assert o.episode.status == EpisodeOfCare.Status.ACTIVE
        reassessed.add(o.episode_id)
    assert reassessed
    for episode in EpisodeOfCare.objects.filter(pk__in=reassessed):
        taken = episode.observations.filter(timing="reassessment")
        assert sorted(taken.values_list("code", flat=True)) == ["groc", "nprs", "psfs-activity"]
        assert episode.sessions.filter(performed_at__lt=taken.first().recorded_at).count() >= 3
    eligible = [
        e for e in EpisodeOfCare.objects.filter(status=EpisodeOfCare.Status.ACTIVE)
        if e.sessions.count() >= 4
    ]  # fmt: skip
    assert 0.2 * len(eligible) <= len(reassessed) < len(eligible)


def test_some_active_plans_are_overdue_for_review_and_the_dashboard_lists_them(demo):
    today = dt.date.fromisoformat(TODAY)
    clinic = Clinic.objects.get(name__startswith="Riverside")
    active = EpisodeOfCare.objects.filter(patient__clinic=clinic, status="active")
    latest = {e.pk: e.care_plans.order_by("-version").first().review_on for e in active}
    overdue = {pk for pk, review_on in latest.items() if review_on < today}
    assert 1 <= len(overdue) <= 0.3 * len(latest), "some overdue, most reviews still to come"
    listed = {
        row["episode"]: row["reason"]
        for row in figures(Filters(clinic=clinic), today=today)["review_due"]
    }
    assert overdue <= set(listed)
    assert all(listed[pk] == "plan review overdue" for pk in overdue)
    assert all(
        reason != "plan review overdue" for pk, reason in listed.items() if pk not in overdue
    )


# --- the patient portal ------------------------------------------------------------------------


def _in_care(clinic: Clinic, today: dt.date) -> set[int]:
    """Patients whose newest episode is active or finished in the last four weeks."""
    patients = set()
    for patient in clinic.patients.all():
        newest = patient.episodes.order_by("-period_start", "-id").first()
        if newest.status == EpisodeOfCare.Status.ACTIVE or (
            newest.status == EpisodeOfCare.Status.FINISHED
            and newest.period_end >= today - dt.timedelta(days=28)
        ):
            patients.add(patient.pk)
    return patients


def test_a_share_of_patients_in_care_have_a_portal_account_and_the_demo_patient_signs_in(
    demo, client
):
    today = dt.date.fromisoformat(TODAY)
    riverside = Clinic.objects.get(name__startswith="Riverside")
    accounts = list(PortalAccount.objects.select_related("patient__clinic", "user"))
    in_care = _in_care(riverside, today)
    with_account = {a.patient_id for a in accounts}
    assert with_account <= in_care, "only patients in care, only in the first clinic"
    assert 0.12 * len(in_care) <= len(with_account) <= 0.45 * len(in_care)
    for account in accounts:
        user, patient = account.user, account.patient
        # A patient's sign-in: no clinic, no role; the email address is the username.
        assert user.clinic_id is None and user.role == "" and user.is_patient
        assert user.username == patient.email.lower()
        assert user.check_password(DEMO_PASSWORD)
        # Opened from an invitation some days before the first visit of the newest episode.
        newest = patient.episodes.order_by("-period_start", "-id").first()
        first = newest.assessments.get(kind=Assessment.Kind.INITIAL).performed_at
        assert first - dt.timedelta(days=11) < account.created_at < first - dt.timedelta(days=1)
        invitation = patient.portal_invitations.get()
        assert invitation.status() == Invitation.Status.USED
        assert invitation.used_at == account.created_at
    # Some patients without an account were invited lately; nobody holds their links.
    others = Invitation.objects.exclude(patient__in=with_account)
    assert others.exists() and not others.filter(used_at__isnull=False).exists()

    # The demo patient: printed with the other logins, signs in at /portal/login/.
    assert SHOWCASE_EMAIL in demo and "/portal/login/" in demo
    request = RequestFactory().post("/portal/login/")
    user = authenticate(request, username=SHOWCASE_EMAIL, password=DEMO_PASSWORD)
    assert user is not None and user.is_patient
    patient = user.portal_account.patient
    assert patient.clinic == riverside
    response = client.post(
        "/portal/login/", {"username": SHOWCASE_EMAIL.upper(), "password": DEMO_PASSWORD}
    )
    assert response.status_code == 302 and response.url == "/portal/"
    assert escape(patient.given_name) in client.get("/portal/").content.decode()
    # Whenever today she signs in, a check-in of her last session is open; earlier ones
    # were answered, she keeps a diary and her plan has a review date.
    for hour in (0, 7, 12, 17, 23):
        now = _midnight() + dt.timedelta(hours=hour, minutes=59)
        home = portal_selectors.home(user=user, now=now)
        assert home.open_check_ins, f"nothing open at {now}"
        assert {slot.session for slot in home.open_check_ins} == {home.sessions[0]}
    course = [s for s in home.sessions if s.episode_id == home.episode.pk]
    assert len(course) >= 3
    assert all(session.check_ins.exists() for session in course[1:])
    assert home.plan is not None and home.plan.review_on
    assert len(portal_selectors.own_diary(user=user)) >= 5
    assert home.questionnaire.status == HealthQuestionnaire.Status.CONFIRMED


def test_every_reported_effect_is_what_its_check_ins_report_and_older_ones_are_reviewed(demo):
    fields = ("event_type", "check_in_id", "detail", "red_flag", "first_reported_at")
    fields += ("last_reported_at",)
    by_session = defaultdict(list)
    for check_in in CheckIn.objects.select_related("session"):
        by_session[check_in.session_id].append(check_in)
    expected = sorted(
        (session, *(getattr(e, f) for f in fields))
        for session, check_ins in by_session.items()
        for e in portal_services.reported_effects(check_ins)
    )
    stored = sorted(ReportedEffect.objects.values_list("session", *fields))
    assert len(stored) > 30 and stored == expected

    midnight = _midnight()
    effects = ReportedEffect.objects.select_related(
        "session__practitioner__user", "adverse_event", "reviewed_by"
    ).prefetch_related("session__insertions")
    older = reviewed = 0
    for effect in effects:
        recent = effect.last_reported_at >= midnight - dt.timedelta(days=3)
        older += not recent
        if effect.status == ReportedEffect.Status.PENDING:
            assert effect.reviewed_at is None and effect.adverse_event is None
            continue
        # Reviewed: only older reports, by the practitioner who needled, before today.
        assert not recent and not effect.red_flag
        reviewed += 1
        assert effect.reviewed_by == effect.session.practitioner.user
        assert effect.last_reported_at < effect.reviewed_at < midnight
        if effect.status == ReportedEffect.Status.DISMISSED:
            assert effect.dismiss_reason and effect.adverse_event is None
            continue
        # Confirmed: the clinician recorded the adverse event it was, then.
        event = effect.adverse_event
        assert event.session_id == effect.session_id and event.event_type == effect.event_type
        assert event.severity == "mild" and event.event_type in _brady().by_type
        assert (event.recorded_by, event.recorded_at) == (effect.reviewed_by, effect.reviewed_at)
    assert reviewed >= 0.7 * older, "a backlog, but most older reports reviewed"
    statuses = Counter(effects.values_list("status", flat=True))
    assert set(statuses) == {"pending", "confirmed", "dismissed"}


def test_one_red_flag_alert_is_open_and_the_staff_dashboard_shows_it(demo, client):
    alert = CheckIn.objects.exclude(red_flags=[]).select_related("session__episode__patient").get()
    assert alert.red_flags == ["breathlessness-chest-pain"] and alert.alert_open
    assert alert.answered_at < alert.alert_emailed_at < _midnight()
    assert alert.answered_at >= _midnight() - dt.timedelta(days=3), "a recent check-in"
    patient = alert.session.episode.patient
    assert patient.clinic.name.startswith("Riverside")
    assert alert.session.episode.status == EpisodeOfCare.Status.ACTIVE
    effect = ReportedEffect.objects.get(session=alert.session, red_flag=True)
    assert effect.event_type == "pneumothorax" and effect.status == ReportedEffect.Status.PENDING

    client.force_login(User.objects.get(username="demo-practitioner"))
    page = client.get("/dashboard/").content.decode()
    alerts = page.split('id="alerts-title"')[1].split("</section>")[0]
    assert escape(patient.full_name) in alerts
    # The other clinic has nothing of it.
    client.force_login(User.objects.get(username="demo-b-practitioner"))
    assert 'id="alerts-title"' not in client.get("/dashboard/").content.decode()


def test_check_ins_answer_signed_sessions_only_while_they_are_open(demo):
    plan = knowledge.checkin_plan()
    midnight = _midnight()
    check_ins = CheckIn.objects.select_related(
        "session__episode__patient__portal_account"
    ).prefetch_related("session__addenda", "session__check_ins")
    assert check_ins.count() > 100
    answered: dict[int, dict[int, CheckIn]] = defaultdict(dict)
    for check_in in check_ins:
        session = check_in.session
        assert session.is_signed and not schedule._in_error(session)
        assert session.episode.patient.portal_account.created_at < session.performed_at
        # The schedule's own slot, open when answered, before the demo's day.
        slot = next(s for s in schedule.slots(session, midnight) if s.hours == check_in.hours)
        assert slot.due_at <= check_in.answered_at < min(slot.closes_at, midnight)
        answered[session.pk][check_in.hours] = check_in
    for answers in answered.values():
        if plan.extra_hours in answers:
            # The 72-hour check-in only when the 48-hour answer asked for it.
            last = answers[plan.hours[-1]]
            assert knowledge.needs_extra_checkin(last.soreness, last.symptoms)
        soreness = [answers[h].soreness for h in sorted(answers)]
        assert soreness == sorted(soreness, reverse=True), "soreness settles"
    # Most sessions of patients with an account have answers; bruising is the commonest
    # effect ticked, and the first check-in the sorest.
    sessions = NeedlingSession.objects.filter(
        signed_at__isnull=False,
        episode__patient__portal_account__isnull=False,
        performed_at__lt=midnight - dt.timedelta(days=2),
    ).select_related("episode__patient__portal_account")
    ours = [s for s in sessions if s.performed_at > s.episode.patient.portal_account.created_at]
    assert sum(s.pk in answered for s in ours) >= 0.7 * len(ours)
    symptoms = Counter(code for c in check_ins for code in c.symptoms)
    assert symptoms.most_common(1)[0][0] == "bruising"
    first_hours = [c.soreness for c in check_ins if c.hours == plan.hours[0]]
    later = [c.soreness for c in check_ins if c.hours == plan.hours[1]]
    assert sum(first_hours) / len(first_hours) > sum(later) / len(later)


def test_confirmed_questionnaires_are_the_screening_of_their_episode(demo):
    accounts = PortalAccount.objects.all()
    answered = HealthQuestionnaire.objects.values("patient").distinct().count()
    assert answered >= 0.75 * accounts.count()
    questionnaires = HealthQuestionnaire.objects.select_related(
        "patient__portal_account", "episode", "screening", "reviewed_by"
    )
    confirmed = [q for q in questionnaires if q.status == HealthQuestionnaire.Status.CONFIRMED]
    pending = [q for q in questionnaires if q.status == HealthQuestionnaire.Status.PENDING]
    assert confirmed and pending and len(pending) < 0.3 * len(confirmed)
    assert len(confirmed) + len(pending) == questionnaires.count()
    for q in confirmed:
        # Confirmed into the chart before the first session, as the screening "reported by
        # the patient".
        screening = q.screening
        assert screening.source == Screening.Source.PATIENT
        assert screening.episode_id == q.episode_id and q.episode.patient_id == q.patient_id
        assert screening.factors == q.factors
        assert (q.reviewed_by, q.reviewed_at) == (screening.recorded_by, screening.recorded_at)
        assert rules.has_role(q.reviewed_by, rules.CLINICAL_WRITE_ROLES)
        first = q.episode.sessions.order_by("performed_at").first()
        assert q.patient.portal_account.created_at < q.submitted_at < q.reviewed_at
        assert first is None or q.reviewed_at < first.performed_at
    for q in pending:
        # Newer answers, with one thing more, sent lately in active care.
        assert q.reviewed_at is None and q.screening is None
        earlier = next(c for c in confirmed if c.patient_id == q.patient_id)
        assert earlier.reviewed_at < q.submitted_at < _midnight()
        assert q.note and len(q.factors) == len(earlier.factors) + 1
        assert q.episode.status == EpisodeOfCare.Status.ACTIVE
    # Shown to the clinicians: waiting for review on the dashboard.
    practitioner = User.objects.get(username="demo-practitioner")
    waiting = portal_selectors.clinic_attention(practitioner)["questionnaires"]
    assert {q.pk for q in waiting} == {q.pk for q in pending}


def test_diary_entries_and_review_ratings_are_the_patients_own_in_their_open_episode(demo):
    midnight = _midnight()
    home = Observation.objects.filter(timing="home").select_related(
        "episode__patient__portal_account", "episode__patient__clinic"
    )
    diary = [o for o in home if o.code == "nprs"]
    ratings = [o for o in home if o.code != "nprs"]
    assert len(diary) > 100 and ratings
    assert {o.code for o in ratings} == {"psfs-activity", "groc"}
    for o in home:
        patient = o.episode.patient
        assert o.recorded_by_id == patient.portal_account.user_id
        assert portal_services.active_episode(patient) == o.episode
        assert o.episode.status == EpisodeOfCare.Status.ACTIVE
        assert patient.portal_account.created_at < o.recorded_at < midnight
    # The diary follows the pain course: near the score before the nearest session.
    before = defaultdict(list)
    for o in Observation.objects.filter(code="nprs", timing__in=["baseline", "before"]):
        before[o.episode_id].append((o.recorded_at, float(o.value)))
    gaps = [
        abs(float(o.value) - min(before[o.episode_id], key=lambda p: abs(p[0] - o.recorded_at))[1])
        for o in diary
    ]
    assert sum(gaps) / len(gaps) <= 1.5
    # Ratings given in the window the portal opens around the current plan's review date,
    # for the activities measured at the start.
    for o in ratings:
        window = schedule.review_window(o.episode.care_plans.order_by("-version").first())
        local = o.recorded_at.astimezone(ZoneInfo(o.episode.patient.clinic.timezone)).date()
        assert window.opens_on <= local <= window.closes_on
        if o.code == "psfs-activity":
            assert o.episode.observations.filter(
                timing="baseline", code="psfs-activity", component=o.component
            ).exists()


# --- the audit trail ---------------------------------------------------------------------------

# Every kind of clinical record the demo makes, and the way from it to its patient. (A
# plan's goals and therapies are audited with their plan, as `plan_create` audits them.)
RECORDS: tuple[tuple[type[models.Model], str], ...] = (
    (Patient, "pk"),
    (EpisodeOfCare, "patient"),
    (Screening, "episode__patient"),
    (Consent, "patient"),
    (Assessment, "episode__patient"),
    (PainMark, "assessment__episode__patient"),
    (TriggerPointFinding, "assessment__episode__patient"),
    (NeedlingSession, "episode__patient"),
    (Insertion, "session__episode__patient"),
    (AdverseEvent, "session__episode__patient"),
    (AftercareIssue, "session__episode__patient"),
    (Addendum, "session__episode__patient"),
    (Observation, "episode__patient"),
    (CarePlan, "episode__patient"),
    (Discharge, "episode__patient"),
    (PortalAccount, "patient"),
    (Invitation, "patient"),
    (HealthQuestionnaire, "patient"),
    (CheckIn, "session__episode__patient"),
)


@pytest.mark.parametrize(("model", "patient"), RECORDS, ids=[m.__name__ for m, _ in RECORDS])
def test_every_demo_record_has_a_create_audit_row_for_its_patient(demo, model, patient):
    """The bulk imports audit as the clinic's own services do: a user of the demo sees who
    made each record in the patient's access history."""
    records = {str(pk): owner for pk, owner in model.objects.values_list("pk", patient)}
    assert records, f"the demo makes {model.__name__} records"
    rows = AuditEvent.objects.filter(object_type=object_type_of(model()), action="create")
    assert dict(rows.values_list("object_id", "patient_id")) == records
    assert rows.count() == len(records), "one row each"


def test_every_demo_episode_and_its_last_session_open_for_the_clinics_practitioner(demo, client):
    """Each screening, consent, plan and report the demo holds shows on the pages where
    needling is decided: none of them makes a page fail."""
    for username in ("demo-practitioner", "demo-b-practitioner"):
        user = User.objects.get(username=username)
        client.force_login(user)
        episodes = EpisodeOfCare.objects.filter(patient__clinic=user.clinic).annotate(
            last=models.Max("sessions__id")
        )
        assert episodes
        for episode in episodes:
            url = f"/episodes/{episode.pk}/"
            assert client.get(url).status_code == 200, url
            if episode.last:
                url = f"/sessions/{episode.last}/"
                assert client.get(url).status_code == 200, url
