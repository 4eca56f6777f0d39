"""The dashboard's SQL agrees with a plain recomputation from every patient's chart JSON."""

import datetime as dt
import gc
import io
import json
import statistics
from collections import Counter, defaultdict

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from needlechart import knowledge
from needlechart.accounts.models import Clinic, Practitioner, User
from needlechart.outcomes import dashboard
from tests.conftest import client_for
from tests.outcomes.conftest import TODAY
from tests.sql import SEAL_APART

COURSE = ("baseline", "before", "reassessment", "discharge")


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _in_range(session: dict, filters: dashboard.Filters, tz: dt.tzinfo) -> bool:
    day = _when(session["performed_at"]).astimezone(tz).date()
    return (
        (filters.date_from is None or day >= filters.date_from)
        and (filters.date_to is None or day <= filters.date_to)
        and (filters.practitioner is None or session["practitioner"] == str(filters.practitioner))
    )


def _pain(episode: dict) -> tuple[dict | None, dict | None]:
    course = [m for m in episode["measurements"]
              if m["code"] == "nprs" and m["timing"] in COURSE and not m["entered_in_error"]]  # fmt: skip
    course.sort(key=lambda m: (_when(m["taken_at"]), m["id"]))
    if not course:
        return None, None
    baseline = next((m for m in course if m["timing"] == "baseline"), course[0])
    latest = course[-1] if course[-1] is not baseline else None
    return baseline, latest


def _per_100(events: int, total: int) -> tuple[float, list[float]]:
    if not total:
        return 0.0, [0.0, 0.0]
    low, high = knowledge.wilson_interval(events, total)
    return round(events / total * 100, 2), [round(low * 100, 2), round(high * 100, 2)]


def recompute(records: list[dict], filters: dashboard.Filters, review_after: int) -> dict:
    """Every dashboard figure from the patients' chart JSON, in plain Python, with the
    knowledge package's thresholds: no SQL of the dashboard's."""
    import zoneinfo

    tz = zoneinfo.ZoneInfo(filters.clinic.timezone)
    sessions = episodes = active = minor = major = 0
    weeks: Counter = Counter()
    by_condition: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    muscles: Counter = Counter()
    muscle_patients: dict[str, set[str]] = defaultdict(set)
    until = []
    review = {}
    for record in records:
        patient = record["patient"]
        for episode in record["episodes"]:
            signed = [
                s for s in episode["sessions"] if s["signed_at"] and not s["entered_in_error"]
            ]
            chosen = [s for s in signed if _in_range(s, filters, tz)]
            baseline, latest = _pain(episode)
            code = episode["condition"]["code"]
            improved = (
                bool(baseline and latest)
                and knowledge.classify_change(
                    "nprs", baseline["value"], latest["value"], condition=code
                ).classification
                == "improved"
            )
            mine = filters.practitioner is None or episode["practitioner_in_charge"] == str(
                filters.practitioner
            )
            if episode["status"] == "active" and mine:
                plan = episode["plan"]
                overdue = plan is not None and dt.date.fromisoformat(plan["review_on"]) < TODAY
                if (len(signed) >= review_after and not improved) or overdue:
                    review[episode["id"]] = {
                        "patient": patient["id"],
                        "mrn": patient["mrn"],
                        "name": f"{patient['given_name']} {patient['family_name']}",
                        "condition": code,
                        "sessions": len(signed),
                        "reason": "plan review overdue"
                        if overdue
                        else f"no important improvement after {len(signed)} sessions",
                    }
            if not chosen:
                continue
            sessions += len(chosen)
            episodes += 1
            active += episode["status"] == "active"
            for s in chosen:
                day = _when(s["performed_at"]).astimezone(tz).date()
                weeks[(day - dt.timedelta(days=day.weekday())).isoformat()] += 1
                for event in s["adverse_events"]:
                    # As it stands: the latest follow-up's severity, else the one recorded.
                    later = event["follow_ups"]
                    severity = later[-1]["severity"] if later else event["severity"]
                    if not event["entered_in_error"]:
                        minor += severity == "mild"
                        major += severity != "mild"
                for insertion in s["insertions"]:
                    muscles[insertion["muscle"]] += 1
                    muscle_patients[insertion["muscle"]].add(patient["id"])
            if baseline and latest:
                by_condition[code][0] += 1
                by_condition[code][1] += improved
                if improved:
                    follow = [m for m in episode["measurements"]
                              if m["code"] == "nprs" and m["timing"] in COURSE[1:]
                              and not m["entered_in_error"] and m["id"] != baseline["id"]]  # fmt: skip
                    follow.sort(key=lambda m: (_when(m["taken_at"]), m["id"]))
                    first = next(m for m in follow if knowledge.classify_change(
                        "nprs", baseline["value"], m["value"], condition=code
                    ).classification == "improved")  # fmt: skip
                    until.append(
                        sum(
                            1 for s in signed if _when(s["performed_at"]) < _when(first["taken_at"])
                        )
                    )
    minor_per_100, minor_ci = _per_100(minor, sessions)
    major_per_100, major_ci = _per_100(major, sessions)
    return {
        "sessions": sessions,
        "episodes": episodes,
        "active": active,
        "weeks": sorted(weeks.items()),
        "minor": minor,
        "major": major,
        "rates": (minor_per_100, minor_ci, major_per_100, major_ci),
        "responders": {code: tuple(v) for code, v in by_condition.items()},
        "median_until": statistics.median(until) if until else None,
        "muscles": muscles,
        "muscle_patients": {muscle: len(ids) for muscle, ids in muscle_patients.items()},
        "review": review,
    }


def _compare(figures: dict, expected: dict) -> None:
    assert figures["sessions"] == expected["sessions"]
    assert figures["episodes"] == expected["episodes"]
    assert figures["active_episodes"] == expected["active"]
    assert [(w["week"], w["sessions"]) for w in figures["sessions_per_week"]] == expected["weeks"]
    events = figures["adverse_events"]
    assert (events["minor"], events["major"]) == (expected["minor"], expected["major"])
    assert (
        events["minor_per_100"], events["minor_ci"], events["major_per_100"], events["major_ci"]
    ) == expected["rates"]  # fmt: skip
    assert {
        code: (r["episodes"], r["responders"])
        for code, r in figures["responders_by_condition"].items()
    } == expected["responders"]
    for r in figures["responders_by_condition"].values():
        assert r["rate"] == round(r["responders"] / r["episodes"], 3)
        assert r["ci"][0] <= r["rate"] <= r["ci"][1]
    assert figures["median_sessions_to_improvement"] == expected["median_until"]
    # The ten most-needled muscles, each with its rows and patients (ties may fall in any
    # order the database's collation gives).
    listed = figures["most_needled_muscles"]
    assert [m["rows"] for m in listed] == sorted(expected["muscles"].values(), reverse=True)[:10]
    for row in listed:
        assert row["rows"] == expected["muscles"][row["muscle"]]
        assert row["patients"] == expected["muscle_patients"][row["muscle"]]
    assert {
        r["episode"]: {k: v for k, v in r.items() if k != "episode"} for r in figures["review_due"]
    } == expected["review"]
    assert len(figures["review_due"]) == len(expected["review"])


def test_the_dashboard_agrees_with_a_recomputation_from_every_chart(demo):
    clinic, records = demo
    filters = dashboard.Filters(clinic=clinic)
    figures = dashboard.figures(filters, today=TODAY)
    assert figures["sessions"] > 100 and figures["responders_by_condition"]
    _compare(figures, recompute(records, filters, clinic.review_after_sessions))


def test_the_dashboard_agrees_for_a_period_and_one_practitioner(demo):
    clinic, records = demo
    someone = Practitioner.objects.get(user__username="demo-practitioner")
    filters = dashboard.Filters(clinic=clinic, date_from=TODAY - dt.timedelta(days=60),
                                date_to=TODAY - dt.timedelta(days=10), practitioner=someone)  # fmt: skip
    figures = dashboard.figures(filters, today=TODAY)
    assert (
        0
        < figures["sessions"]
        < dashboard.figures(dashboard.Filters(clinic=clinic), today=TODAY)["sessions"]
    )
    _compare(figures, recompute(records, filters, clinic.review_after_sessions))
    # An earlier period: episodes treated since are still on the review list, but their pain
    # change counts among the period's responders only if treated in the period.
    earlier = dashboard.Filters(clinic=clinic, date_from=TODAY - dt.timedelta(days=150),
                                date_to=TODAY - dt.timedelta(days=90))  # fmt: skip
    figures = dashboard.figures(earlier, today=TODAY)
    assert figures["sessions"] and figures["review_due"]
    _compare(figures, recompute(records, earlier, clinic.review_after_sessions))


def test_the_command_prints_the_same_figures_as_json(demo):
    clinic, _ = demo
    out = io.StringIO()
    call_command("dashboard", "--clinic", str(clinic.pk), "--json", stdout=out)
    printed = json.loads(out.getvalue())
    assert set(printed) >= {"sessions", "episodes", "adverse_events", "literature",
                            "responders_by_condition", "review_due"}  # fmt: skip
    assert printed["sessions"] == dashboard.figures(dashboard.Filters(clinic=clinic))["sessions"]
    assert set(printed["adverse_events"]) >= {
        "minor_per_100",
        "major_per_100",
        "minor_ci",
        "major_ci",
    }
    first = next(iter(printed["responders_by_condition"].values()))
    assert set(first) >= {"episodes", "responders", "rate", "ci"}


def test_the_figures_pause_the_cycle_collector_and_leave_it_running(demo, monkeypatch):
    # Paused while the figures are added up (dashboard.figures), back on after them, for the
    # page, the API and the command alike.
    clinic, _ = demo
    seen = []
    review_due = dashboard._review_due

    def watched(*args):
        seen.append(gc.isenabled())
        return review_due(*args)

    monkeypatch.setattr(dashboard, "_review_due", watched)
    assert gc.isenabled()
    dashboard.figures(dashboard.Filters(clinic=clinic), today=TODAY)
    call_command("dashboard", "--clinic", str(clinic.pk), "--json", stdout=io.StringIO())
    assert seen == [False, False]
    assert gc.isenabled()


def test_the_published_rates_sit_beside_the_clinics_with_wilson_intervals():
    literature = dashboard.literature()
    brady, boyce = literature["brady-2014"], literature["boyce-2020"]
    assert brady["minor_per_100"] == 19.18 and brady["major_per_100"] == 0.0
    assert brady["minor_ci"][0] < 19.18 < brady["minor_ci"][1]
    assert 0 < brady["major_ci"][1] < 0.1  # none in 7629: the upper bound stays small
    assert boyce["major_per_100"] == 0.1 and boyce["treatments"] == 20464


def test_the_dashboard_costs_the_same_queries_whatever_the_size_of_the_clinic(db):
    """The figures, the page and `needlechart dashboard --json` each run a fixed number of
    queries: the pain change is fetched once and read by every figure that needs it."""

    def queries(patients: int) -> tuple[int, int, int]:
        call_command("demo", "--patients", str(patients), "--today", TODAY.isoformat(),
                     stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
        clinic = Clinic.objects.get(name__startswith="Riverside")
        with CaptureQueriesContext(connection) as figures:
            dashboard.figures(dashboard.Filters(clinic=clinic), today=TODAY)
        client = client_for(User.objects.get(username="demo-practitioner"))
        client.get(reverse("outcomes:dashboard"))  # the session and caches, as a second view
        with CaptureQueriesContext(connection) as page:
            response = client.get(reverse("outcomes:dashboard"))
        assert response.status_code == 200
        assert response.context["figures"]["sessions"] > patients  # the demo, on the page
        with CaptureQueriesContext(connection) as command:
            call_command("dashboard", "--clinic", str(clinic.pk), "--json", stdout=io.StringIO())
        return len(figures), len(page), len(command)

    assert queries(10) == queries(80) == (DASHBOARD_QUERIES, PAGE_QUERIES, COMMAND_QUERIES)


# the episodes whose kept summary is behind (none here); every figure the kept summaries hold
# (pain change, episodes, adverse events, weeks and so the session count, muscles) in one read
# of them; the review list
DASHBOARD_QUERIES = 3
# A second view with nothing changed: the sign-in (session, user); the clinic's marks, which
# say the figures of the first view still hold (dashboard.kept_figures); the portal's
# attention lists (3); one audit write for everything listed, the review episodes shown with
# them (its place in the chain, the rows, and on SQLite the chain's seal apart: SEAL_APART);
# the filter form's practitioners
PAGE_QUERIES = 9 + SEAL_APART
# the clinic; the figures; the audit record
COMMAND_QUERIES = 6 + SEAL_APART


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--from", "2026-02-30"], "must be a date"), (["--clinic", "999"], "no clinic 999"),
     (["--from", "2026-05-01", "--to", "2026-04-01", "--clinic", "1"], "--to is before --from")],
)  # fmt: skip
def test_bad_dashboard_arguments_are_one_line_errors(tmp_path, args, message):
    assert _command(tmp_path, "migrate", "-v0").returncode == 0
    result = _command(tmp_path, "dashboard", *args)
    assert result.returncode in (1, 2)
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


def test_a_command_on_an_unmigrated_database_says_so_in_one_line(tmp_path):
    result = _command(tmp_path, "dashboard", "--clinic", "1")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "CommandError: the database is not ready (no such table: accounts_clinic); "
        "run `needlechart migrate`"
    ]


def _command(data_dir, *args: str):
    import subprocess
    import sys
    from pathlib import Path

    return subprocess.run(
        [str(Path(sys.executable).parent / "needlechart"), *args],
        capture_output=True, text=True, check=False,
        env={"DEBUG": "1", "PATH": "/usr/bin:/bin", "NEEDLECHART_DATA_DIR": str(data_dir)},
    )  # fmt: skip


@pytest.mark.parametrize(
    "zone", ["Asia/Kathmandu", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham", "UTC"]
)
def test_sessions_fall_in_the_clinics_local_week_whatever_its_offset(demo, zone):
    import zoneinfo

    from needlechart.charting.models import NeedlingSession

    clinic, _ = demo
    tz = zoneinfo.ZoneInfo(zone)
    in_range = dashboard.sessions(dashboard.Filters(clinic=clinic))
    expected: Counter = Counter()
    for at in NeedlingSession.objects.filter(pk__in=in_range).values_list(
        "performed_at", flat=True
    ):
        day = at.astimezone(tz).date()
        expected[day - dt.timedelta(days=day.weekday())] += 1
    assert dashboard._sessions_per_week(in_range, tz) == sorted(expected.items())
