"""How the demo is built: through the services only, the same for the same seed and day,
rebuilt over its own clinics and over whatever a user of the demo did in them, and
refused in one line when asked for what it cannot build."""

import datetime as dt
import io
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

import needlechart.demo
from needlechart import knowledge
from needlechart.accounts.models import Clinic, User
from needlechart.audit.models import AuditChain, AuditEvent
from needlechart.charting.models import Addendum, AdverseEvent, Insertion, NeedlingSession
from needlechart.charting.services import addenda
from needlechart.demo.clinics import SHOWCASE_EMAIL
from needlechart.outcomes.export import charts
from needlechart.outcomes.models import (
    CarePlan,
    Discharge,
    EpisodeSummary,
    Observation,
    PlanGoal,
    PlanTherapy,
)
from needlechart.patients.models import EpisodeOfCare, Patient
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
DEMO_PASSWORD = "needlechart-demo"


def _demo(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# --- built through the services ----------------------------------------------------------------

# What writing rows directly looks like: the demo leaves that, and the audit rows, to the
# services' imports.
DIRECT_WRITES = (
    "AuditEvent", "_raw_delete", ".objects.create(", "bulk_create(", "bulk_update(", ".save(",
    ".delete(", "cursor(", ".raw(",
)  # fmt: skip


def test_the_demo_writes_no_row_itself_and_leaves_that_to_the_services():
    sources = sorted(Path(needlechart.demo.__file__).parent.rglob("*.py"))
    names = {path.name for path in sources}
    assert {"generate.py", "charts.py", "outcomes.py", "portal.py", "demo.py"} <= names
    found = [
        f"{path.name}: {pattern}"
        for path in sources
        for pattern in DIRECT_WRITES
        if pattern in path.read_text()
    ]
    assert found == []


# --- the same seed and day, the same clinics ---------------------------------------------------

# Keys holding database ids, which differ between builds (measurements and discharge
# snapshots name their session or assessment by id).
IDS = ("id", "author_id", "session", "assessment")


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k not in IDS}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def _everything() -> list[Any]:
    """Every chart, plan version and discharge, and the portal, without ids."""
    order = ("episode__patient__clinic__name", "episode__patient__mrn", "episode__period_start")
    plans = [
        (
            plan.episode.patient.mrn, plan.version, plan.planned_sessions, plan.frequency,
            plan.review_on, plan.note, plan.created_at,
            [(g.description, g.code, g.component, g.target, g.target_date)
             for g in plan.goals.all()],
            [(t.kind, t.provider, t.frequency, t.exercises, t.note) for t in plan.therapies.all()],
        )
        for plan in CarePlan.objects.select_related("episode__patient")
        .prefetch_related("goals", "therapies")
        .order_by(*order, "version")
    ]  # fmt: skip
    discharges = [
        (d.episode.patient.mrn, d.reason, d.summary, d.discharged_at, _without_ids(d.snapshot))
        for d in Discharge.objects.select_related("episode__patient").order_by(*order)
    ]
    portal = [
        *PortalAccount.objects.order_by("user__username").values_list(
            "patient__mrn", "user__username", "user__date_joined", "created_at"
        ),
        *Invitation.objects.order_by("patient__mrn", "created_at").values_list(
            "patient__mrn", "email", "created_at", "expires_at", "used_at"
        ),
        *HealthQuestionnaire.objects.order_by("patient__mrn", "submitted_at").values_list(
            "patient__mrn", "factors", "note", "submitted_at", "status", "reviewed_at"
        ),
        *CheckIn.objects.order_by("session__performed_at", "hours").values_list(
            "session__performed_at", "hours", "answered_at", "soreness", "symptoms", "other",
            "red_flags", "alert_emailed_at",
        ),
        *ReportedEffect.objects.order_by("session__performed_at", "event_type").values_list(
            "session__performed_at", "event_type", "detail", "status", "reviewed_at",
            "dismiss_reason", "adverse_event__description",
        ),
        *Observation.objects.filter(timing="home").order_by("recorded_at", "code", "component")
        .values_list("episode__patient__mrn", "code", "component", "value", "recorded_at"),
    ]  # fmt: skip
    chart_list = [_without_ids(chart) for _, chart in charts(Patient.objects.all())]
    return [*chart_list, *plans, *discharges, *portal]


def test_the_same_seed_and_day_give_the_same_clinics_and_another_seed_others(db):
    _demo("--patients", "10", "--seed", "7", "--today", TODAY)
    first = _everything()
    assert CheckIn.objects.exists() and Discharge.objects.exists()
    assert CarePlan.objects.filter(version=2).exists(), "a revised plan among them"
    _demo("--patients", "10", "--seed", "7", "--today", TODAY)
    assert _everything() == first
    _demo("--patients", "10", "--seed", "8", "--today", TODAY)
    assert _everything() != first


# --- rebuilt over its own clinics --------------------------------------------------------------

COUNTED = (
    Patient, EpisodeOfCare, NeedlingSession, Insertion, AdverseEvent, Addendum, Observation,
    CarePlan, PlanGoal, PlanTherapy, Discharge, User, PortalAccount, Invitation,
    HealthQuestionnaire, CheckIn, ReportedEffect, AuditEvent,
)  # fmt: skip


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def test_the_demo_rebuilds_over_its_own_clinics_and_what_was_done_in_them(db, client):
    _demo("--patients", "5", "--today", TODAY)
    counts = _counts()
    # A user of the demo adds an addendum to a discharge summary ...
    discharge = Discharge.objects.select_related("episode__patient", "discharged_by").first()
    addenda.addendum_add(
        actor=discharge.discharged_by, record=discharge, reason="Late entry",
        text="Phoned: still well.",
    )  # fmt: skip
    # ... and tries the demo patient's portal: signs in, answers the open check-in, adds to
    # the diary and sends new health answers.
    response = client.post(
        "/portal/login/", {"username": SHOWCASE_EMAIL, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 302
    user = User.objects.get(username=SHOWCASE_EMAIL)
    midnight = dt.datetime.combine(
        dt.date.fromisoformat(TODAY), dt.time(0), tzinfo=ZoneInfo("Europe/Dublin")
    )
    home = portal_selectors.home(user=user, now=midnight + dt.timedelta(hours=1))
    slot = home.open_check_ins[0]
    portal_services.checkin_answer(
        actor=user, session=slot.session, hours=slot.hours, soreness=4,
        symptoms=["bruising", "numbness-weakness"], now=slot.due_at + dt.timedelta(minutes=5),
    )  # fmt: skip
    portal_services.diary_add(actor=user, pain=3)
    portal_services.questionnaire_submit(actor=user, factors=[{"code": "diabetes"}])
    changed = _counts()
    assert {name for name in counts if changed[name] != counts[name]} >= {
        "Addendum", "CheckIn", "ReportedEffect", "Observation", "HealthQuestionnaire",
        "AuditEvent",
    }  # fmt: skip

    _demo("--patients", "5", "--today", TODAY)
    assert _counts() == counts
    assert not Addendum.objects.filter(discharge__isnull=False).exists()
    # The removed clinics' audit chains went with them; the new clinics' chains verify.
    out = io.StringIO()
    call_command("audit-verify", stdout=out)
    assert set(AuditChain.objects.values_list("chain", flat=True)) == set(
        Clinic.objects.values_list("pk", flat=True)
    )
    assert out.getvalue().count("intact") == Clinic.objects.count()
    # Every sign-in without a clinic is a demo patient's, with its account.
    assert not User.objects.filter(clinic__isnull=True, portal_account__isnull=True).exists()


# --- the demo's day ----------------------------------------------------------------------------


def test_an_older_demo_day_uses_the_codes_valid_on_that_day(db):
    """Before the 2021 update of ICD-10-CM, low back pain was M54.5; the demo of a day
    then codes it so, and nothing that came later."""
    day = "2021-06-01"
    _demo("--patients", "10", "--today", day)
    valid = {c.code for c in knowledge.conditions_valid_on(dt.date.fromisoformat(day))}
    codes = set(EpisodeOfCare.objects.values_list("condition_code", flat=True))
    assert codes <= valid
    assert "M54.5" in codes


# --- refused in one line -----------------------------------------------------------------------


def _tomorrow() -> str:
    return (timezone.localdate() + dt.timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--patients", "0"], "argument --patients: must be a whole number of 1 or more, not '0'"),
        (["--patients", "ten"], "argument --patients: must be a whole number"),
        (["--today", "2026-02-30"], "argument --today: must be a date YYYY-MM-DD from 1950"),
        (["--today", "1949-12-31"], "argument --today: must be a date YYYY-MM-DD from 1950"),
        (["--today", "tomorrow"], "argument --today: must be a date YYYY-MM-DD from 1950"),
        (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
    ],
)
def test_a_bad_argument_is_refused_in_one_line_and_builds_nothing(db, args, message):
    args = [_tomorrow() if a == "tomorrow" else a for a in args]
    with pytest.raises(CommandError) as refused:
        _demo(*args)
    assert message in str(refused.value)
    assert len(str(refused.value).splitlines()) == 1
    assert not Clinic.objects.exists()


def test_the_demo_leaves_the_planner_statistics_of_what_it_loaded(db):
    # Without them the dashboard's queries are planned for empty tables (18 s, not 1 s).
    call_command("demo", "--patients", "2", stdout=io.StringIO(), stderr=io.StringIO())
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'charting_insertion'")
        else:
            cursor.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'charting_insertion'")
        assert cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_the_demo_on_postgresql_leaves_no_dead_rows_for_its_reads_to_step_over():
    """Its load writes sessions and then signs them: on PostgreSQL each update leaves the
    row's first copy dead, read by every scan and kept by each index until a vacuum."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite updates rows in place")
    call_command("demo", "--patients", "10", stdout=io.StringIO(), stderr=io.StringIO())
    # When it was vacuumed (its count of dead rows may take the load's own updates after
    # the vacuum: a connection sends its statistics when idle, at most once a second).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'charting_needlingsession'"
        )
        assert cursor.fetchone()[0] is not None


def test_the_planner_knows_the_dashboards_summaries_as_the_demo_left_them(db):
    # Analysed before they were computed, every episode looked as if it had no signed session,
    # and PostgreSQL joined the dashboard's reads of them row by row (nested loops).
    if connection.vendor != "postgresql":
        pytest.skip("SQLite plans these reads without the statistics")
    call_command("demo", "--patients", "10", stdout=io.StringIO(), stderr=io.StringIO())
    signed = EpisodeSummary.objects.filter(signed_sessions__gt=0).count()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT * FROM outcomes_episodesummary WHERE signed_sessions > 0")
        plan = cursor.fetchone()[0]
    estimated = int(plan.split("rows=")[1].split()[0])
    assert signed > 5 and estimated >= signed // 2, plan
