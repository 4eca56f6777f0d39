import datetime as dt
import gc
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from needlechart.audit.models import AuditEvent
from needlechart.charting import services
from needlechart.charting.models import Consent, NeedlingSession, TriggerPointFinding
from needlechart.charting.services import consent_withdraw
from needlechart.outcomes.export import charts, patient_chart, with_chart
from needlechart.patients.models import Patient
from tests import charts as chart_builder
from tests import factories


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("chart", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def charted(world):
    world.built = chart_builder.build(world.practitioner, world.episode_a, signed=True)
    return world


def test_chart_json_has_the_patient_episodes_and_every_session_detail(charted):
    data = json.loads(run(charted.patient_a.mrn, "--json"))
    assert data["patient"]["mrn"] == charted.patient_a.mrn
    [episode] = data["episodes"]
    assert episode["condition"] == {"code": "M54.2", "display": "Cervicalgia (neck pain)"}
    assert episode["status"] == "active"
    assert episode["screening"]["factors"] == [] and episode["screening"]["verdict"] == "allowed"
    assert len(episode["consents"]) == 1 and len(episode["assessments"]) == 1
    signed, draft = episode["sessions"]
    assert signed["signed_at"] and signed["cpt"] == "20560"
    assert signed["needles_opened"] == signed["needles_removed"] == 1
    assert signed["insertions"] == [{
        "muscle": "soleus", "side": "left", "needles": 1, "needle_size": "0.16 x 15 mm",
        "depth": "deep", "technique": "pistoning", "twitch_responses": 1, "familiar_pain": True,
        "tolerance": "good", "safety_verdict": "allowed", "angle": None, "approach": None,
        "ultrasound_guided": False, "lead_to": None,
    }]  # fmt: skip
    assert signed["consent_confirmed"] and signed["sharps_disposed"]
    assert draft["signed_at"] is None and draft["nprs_before"] == 6
    assert draft["adverse_events"] == [{
        "type": "bruising", "severity": "mild", "onset": "during", "duration": None,
        "action_taken": "none", "outcome": "resolved", "muscles": ["gastrocnemius:left"],
        "entered_in_error": False, "follow_ups": [],
    }]  # fmt: skip
    assert {"date", "practitioner", "aftercare_issued", "addenda"} <= set(signed)


def test_reading_a_chart_from_the_command_line_is_audited(charted):
    run(charted.patient_a.mrn, "--json")
    event = AuditEvent.objects.get(action="export", patient=charted.patient_a)
    assert event.user is None and event.detail == {"via": "command"}


def test_all_prints_one_json_object_per_patient_per_line(charted):
    lines = run("--all", "--json").splitlines()
    assert len(lines) == Patient.objects.count() == 2
    assert {json.loads(line)["patient"]["mrn"] for line in lines} == {
        charted.patient_a.mrn,
        charted.patient_b.mrn,
    }


def test_a_record_number_shared_by_two_clinics_needs_the_clinic(world):
    factories.patient(world.clinic_b, mrn=world.patient_a.mrn)
    with pytest.raises(CommandError, match="add --clinic"):
        run(world.patient_a.mrn, "--json")
    data = json.loads(run(world.patient_a.mrn, "--clinic", str(world.clinic_a.pk), "--json"))
    assert data["patient"]["id"] == world.patient_a.pk


@pytest.mark.parametrize(("args", "message"), [(["NOPE1"], "no patient has record number NOPE1"),
                                                ([], "give one record number, or --all")])  # fmt: skip
def test_bad_arguments_are_one_line_errors(world, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_the_export_costs_the_same_queries_however_long_the_history(world):
    chart_builder.build(world.practitioner, world.episode_a, signed=True)

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            for patient in with_chart(Patient.objects.all()):
                patient_chart(patient)
        return len(context.captured_queries)

    few = queries()
    for _ in range(3):
        chart_builder.build(world.practitioner, world.episode_a, signed=True)
    chart_builder.build(world.other_practitioner, world.episode_b, signed=False)
    assert queries() == few


def test_charts_walks_every_patient_in_chunks(world):
    for _ in range(5):
        factories.patient(world.clinic_a)
    walked = [chart["patient"]["id"] for _, chart in charts(Patient.objects.all(), chunk=2)]
    assert sorted(walked) == sorted(Patient.objects.values_list("pk", flat=True))


def test_the_session_date_is_the_clinics_day_not_the_utc_day(charted):
    charted.clinic_a.timezone = "Australia/Sydney"
    charted.clinic_a.save()
    # 20:30 UTC on 1 March is 07:30 on 2 March in Sydney (summer time, UTC+11).
    draft = charted.built.session
    NeedlingSession.objects.filter(pk=draft.pk).update(
        performed_at=dt.datetime(2026, 3, 1, 20, 30, tzinfo=dt.UTC)
    )
    patient = with_chart(Patient.objects.filter(pk=charted.patient_a.pk)).get()
    sessions = patient_chart(patient)["episodes"][0]["sessions"]
    moved = next(s for s in sessions if s["id"] == draft.pk)
    assert moved["date"] == "2026-03-02"
    assert moved["performed_at"].startswith("2026-03-01T20:30")


def _charted_patients(world, count: int) -> None:
    for _ in range(count):
        patient = factories.patient(world.clinic_a)
        episode = factories.episode(patient, world.practitioner.practitioner)
        chart_builder.build(world.practitioner, episode, signed=True)


def test_exporting_every_chart_costs_the_same_queries_for_twice_the_patients(world):
    # The clinic-wide export must not read row by row: doubling the clinic (within one
    # chunk) adds no query, and every patient's chart is still printed and audited.
    _charted_patients(world, 2)

    def export() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as context:
            lines = run("--all", "--json").splitlines()
        return len(context.captured_queries), len(lines)

    few, printed = export()
    assert printed == Patient.objects.count()
    _charted_patients(world, Patient.objects.count())
    many, printed = export()
    assert printed == Patient.objects.count()
    assert many == few
    assert AuditEvent.objects.filter(action="export").count() == printed + printed // 2


def test_the_export_reads_the_same_queries_for_each_chunk(world):
    _charted_patients(world, 4)  # six patients with the two of the world

    def queries(chunk: int) -> int:
        with CaptureQueriesContext(connection) as context:
            for _ in charts(Patient.objects.all(), chunk=chunk):
                pass
        return len(context.captured_queries)

    one_chunk, two_chunks, three_chunks = queries(6), queries(3), queries(2)
    assert three_chunks - two_chunks == two_chunks - one_chunk > 0


def test_a_withdrawn_consent_and_a_discharge_are_in_the_chart(charted):
    consent = Consent.objects.get(patient=charted.patient_a)
    withdrawal = consent_withdraw(actor=charted.practitioner, consent=consent, reason="moved")
    [line] = [
        json.loads(line)
        for line in run("--all", "--json").splitlines()
        if json.loads(line)["patient"]["id"] == charted.patient_a.pk
    ]
    [episode] = line["episodes"]
    assert episode["consents"][0]["withdrawn_at"] == withdrawal.withdrawn_at.isoformat()
    assert episode["discharge"] is None


def test_a_follow_up_of_an_adverse_event_is_in_its_patients_chart_and_no_other(world):
    # Rows three lists down (episode, session, event, follow-up) reach the right patient
    # when a whole clinic is exported at once.
    mine = chart_builder.build(world.practitioner, world.episode_a, signed=True)
    chart_builder.build(world.other_practitioner, world.episode_b, signed=False)
    services.adverse_event_update(actor=world.practitioner, event=mine.event, severity="moderate")
    follow_up = mine.event.follow_ups.get()
    charted = {
        chart["patient"]["id"]: chart
        for chart in map(json.loads, run("--all", "--json").splitlines())
    }

    def follow_ups(patient) -> list:
        [episode] = charted[patient.pk]["episodes"]
        return [e["follow_ups"] for s in episode["sessions"] for e in s["adverse_events"]]

    assert follow_ups(world.patient_a) == [[{
        "severity": "moderate", "duration": None, "action_taken": "none",
        "outcome": "resolved", "recorded_at": follow_up.recorded_at.isoformat(),
    }]]  # fmt: skip
    assert follow_ups(world.patient_b) == [[]]


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 3, 1, 20, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 1, 20, 30, 5, 120000, tzinfo=dt.UTC),
        # An instant given in another zone is printed as the same instant in UTC.
        dt.datetime(2026, 3, 2, 7, 30, 5, 1, tzinfo=dt.timezone(dt.timedelta(hours=11))),
    ],
)
def test_every_time_in_the_chart_is_its_instant_in_utc(charted, moment):
    draft = charted.built.session
    NeedlingSession.objects.filter(pk=draft.pk).update(performed_at=moment)
    patient = with_chart(Patient.objects.filter(pk=charted.patient_a.pk)).get()
    sessions = patient_chart(patient)["episodes"][0]["sessions"]
    moved = next(s for s in sessions if s["id"] == draft.pk)
    assert moved["performed_at"] == moment.astimezone(dt.UTC).isoformat()
    assert dt.datetime.fromisoformat(moved["performed_at"]) == moment


@pytest.mark.parametrize(
    "stored",
    [
        "2026-03-01 20:30:00",
        "2026-03-01 20:30:00.120000",
        # Text not written by Django (another tool, a hand-made row) is parsed in full.
        "2026-03-01 20:30:00.12",
        "2026-03-01T20:30:00",
        "2026-03-01T21:30:00+01:00",
    ],
)
def test_a_time_as_sqlite_holds_it_is_the_iso_text_of_its_instant(stored):
    from django.utils.dateparse import parse_datetime

    from needlechart.outcomes.export import _iso_of_utc_text

    parsed = parse_datetime(stored)
    instant = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    assert _iso_of_utc_text(stored) == instant.astimezone(dt.UTC).isoformat()


def test_exporting_every_chart_leaves_the_cycle_collector_running(charted):
    # The export pauses it while it runs (rows.no_cycle_collection); a command run in a
    # longer-lived process (the shell, a test) must get it back.
    assert gc.isenabled()
    run("--all", "--json")
    assert gc.isenabled()


def test_a_chart_as_json_is_the_text_the_standard_encoder_writes(charted):
    """The chart's JSON is encoded by orjson; its text is held to `json.dumps`, at the
    extremes a stored decimal allows and in text that must be escaped or kept as it is."""
    import copy as copy_module
    from decimal import Decimal

    from needlechart.outcomes import measurements

    Patient.objects.filter(pk=charted.patient_a.pk).update(
        given_name='Zoë "Jo" \\ \t\x01\x1f\u2028\u2029 😀 ⅞', address="line one\nline two"
    )
    measured = measurements.observation_add(
        actor=charted.practitioner,
        episode=charted.episode_a,
        code="nprs",
        value=Decimal(5),
        timing="baseline",
    )
    finding = TriggerPointFinding.objects.filter(assessment__episode=charted.episode_a).first()
    # Copies written past the model's checks, at the extremes of their stored decimals.
    copies = []
    for record, field, value in (
        (measured, "value", "0.01"), (measured, "value", "9.99"), (measured, "value", "2.50"),
        (finding, "pressure_pain_threshold", "99999.9"),
        (finding, "pressure_pain_threshold", "0.1"),
    ):  # fmt: skip
        copy = copy_module.copy(record)
        copy.pk = None
        setattr(copy, field, Decimal(value))
        copies.append(copy)
    for copy in copies:
        type(copy).objects.bulk_create([copy])
    chart = patient_chart(with_chart(Patient.objects.filter(pk=charted.patient_a.pk)).get())
    text = json.dumps(chart)
    for written in ("0.01", "9.99", "2.5", "99999.9", "0.1"):
        assert f": {written}," in text or f": {written}}}" in text, written
    written = json.dumps(chart, indent=2, ensure_ascii=False) + "\n"
    assert run(charted.patient_a.mrn, "--json") == written
    [line] = [
        line
        for line in run("--all", "--json").split("\n")[:-1]  # JSON Lines: a line ends at \n only
        if json.loads(line)["patient"]["id"] == charted.patient_a.pk
    ]
    assert line == json.dumps(chart, ensure_ascii=False, separators=(",", ":"))


def test_every_stored_decimal_is_one_the_chart_encoder_writes_as_python_does():
    """orjson writes a float as Python's repr does from 0.0001 up to 10**16 (outside it,
    1e-05 becomes 0.00001): every decimal field keeps its values within that range."""
    from django.apps import apps
    from django.db.models import DecimalField

    fields = [
        field
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, DecimalField)
    ]
    assert fields
    for field in fields:
        assert field.decimal_places <= 4, field
        assert field.max_digits - field.decimal_places <= 16, field
