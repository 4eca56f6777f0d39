"""`needlechart fhir-export DIR`: a clinic's records as NDJSON files, one per resource type,
the same resources the read layer serves, valid FHIR R4, streamed in chunks and audited."""

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from needlechart.accounts.models import Clinic
from needlechart.audit.models import AuditEvent
from needlechart.fhir import bulk, reads, resources
from needlechart.patients.models import Patient
from tests import charts
from tests.fhir import validation
from tests.fhir.test_resources import admin, built  # noqa: F401 - the demo clinic fixtures


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _export(directory: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("fhir-export", str(directory), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_export_writes_every_type_as_valid_fhir_the_same_as_the_reads(admin, tmp_path):  # noqa: F811
    clinic = admin.clinic
    printed = _export(tmp_path, "--clinic", str(clinic.pk))
    files = {path.name for path in tmp_path.iterdir()}
    assert files == {f"{name}.ndjson" for name in reads.TYPES}
    everything: list[dict[str, Any]] = []
    for name in reads.TYPES:
        resources = read_ndjson(tmp_path / f"{name}.ndjson")
        assert {r["resourceType"] for r in resources} == {name}
        assert f"{name}.ndjson: {len(resources)} {name}" in printed
        everything += resources
    # Exactly the clinic's records: every patient once, and nothing of the other clinic.
    patients = read_ndjson(tmp_path / "Patient.ndjson")
    assert sorted(int(p["id"]) for p in patients) == sorted(
        Patient.objects.filter(clinic=clinic).values_list("pk", flat=True)
    )
    assert all(p["managingOrganization"]["reference"] == f"Organization/{clinic.pk}"
               for p in patients)  # fmt: skip
    # The resources are those the read layer answers with.
    first = patients[0]
    from tests.conftest import client_for

    read = client_for(admin).get(f"/fhir/Patient/{first['id']}").json()
    assert read == first
    assert validation.errors(everything) == []
    # Every patient is audited as exported, and the export as a whole.
    exported = AuditEvent.objects.filter(action="export", detail__via="fhir-export")
    assert exported.filter(object_type="Patient").count() == len(patients)
    whole = exported.get(object_type="Clinic")
    assert whole.clinic_id == clinic.pk and whole.detail["resources"] == len(everything)


def test_each_type_exports_what_its_read_serves_and_its_record_alone_builds(admin, tmp_path):  # noqa: F811
    """One set of resource builders: the first and last resource of each type exported are
    what `/fhir/{type}/{id}` answers, and what the type's builder makes of the record
    fetched alone, its related rows read through their managers (the export fetches them
    as plain lists and leaves out the columns no resource reads)."""
    from tests.conftest import client_for

    _export(tmp_path, "--clinic", str(admin.clinic_id))
    client = client_for(admin)
    for name, kind in reads.TYPES.items():
        exported = read_ndjson(tmp_path / f"{name}.ndjson")
        for resource in {r["id"]: r for r in (exported[0], exported[-1])}.values():
            assert client.get(f"/fhir/{name}/{resource['id']}").json() == resource
            if name == "Group":
                continue  # a caseload's members come with it; no manager reads them
            source = next(s for s in kind.sources if s.pk_of(resource["id"]) is not None)
            rows = source.rows(bulk.Reader(admin.clinic_id)).prefetch_related(None)  # type: ignore[arg-type]
            alone = rows.get(pk=source.pk_of(resource["id"]))
            with timezone.override(admin.clinic.timezone):
                assert source.to_resource(alone) == resource, name


def test_only_the_types_asked_for(admin, tmp_path):  # noqa: F811
    _export(tmp_path, "--clinic", str(admin.clinic_id), "--type", "Patient,Observation")
    assert {path.name for path in tmp_path.iterdir()} == {"Patient.ndjson", "Observation.ndjson"}
    codes = {r["id"].split("-")[0] for r in read_ndjson(tmp_path / "Observation.ndjson")}
    assert codes == {"m", "tp", "pm"}  # the three tables the Observations come from


def test_refusals_are_one_line_with_exit_code_2(admin, tmp_path):  # noqa: F811
    def refused(*args: str) -> CommandError:
        with pytest.raises(CommandError) as caught:
            _export(tmp_path / "out", *args)
        return caught.value

    several = refused()
    assert "several clinics: give --clinic ID" in str(several) and several.returncode == 2
    unknown = refused("--clinic", str(admin.clinic_id), "--type", "Patient,Bogus")
    assert "not Bogus" in str(unknown) and unknown.returncode == 2
    missing = max(Clinic.objects.values_list("pk", flat=True)) + 1
    assert refused("--clinic", str(missing)).returncode == 2
    (tmp_path / "file").write_text("")
    with pytest.raises(CommandError, match="is a file"):
        _export(tmp_path / "file", "--clinic", str(admin.clinic_id))
    assert not (tmp_path / "out").exists()


def grow(world: Any) -> None:
    """A charted visit and a plan (charts.grow), a patient's check-in after the signed
    session, and an addendum to it."""
    from needlechart.charting import services as charting
    from needlechart.portal.models import CheckIn

    charts.grow(world.practitioner, world.episode_a)
    signed = world.episode_a.sessions.filter(signed_at__isnull=False).latest("pk")
    CheckIn.objects.create(session=signed, hours=24, soreness=3, symptoms=["bruising"])
    charting.addendum_add(actor=world.practitioner, record=signed, reason="Late entry",
                          text="Tolerated well.")  # fmt: skip


def _queries(clinic: Clinic, directory: Path, size: int, types: list[str] | None = None) -> int:
    with CaptureQueriesContext(connection) as queries:
        bulk.export(clinic, directory, types or bulk.SYSTEM_TYPES, size=size)
    return len(queries)


def test_the_export_streams_in_chunks_with_the_same_queries_per_chunk(world, tmp_path):
    """The queries depend on the number of chunks, never on the rows in one: the same at
    two sizes of the clinic's history while it fits one chunk; and a chunk of one row at a
    time writes the same files."""
    clinic = world.clinic_a
    grow(world)
    small = _queries(clinic, tmp_path / "small", bulk.CHUNK)
    for _ in range(3):
        grow(world)
    assert _queries(clinic, tmp_path / "large", bulk.CHUNK) == small
    _queries(clinic, tmp_path / "rows", 1)
    assert {p.name for p in (tmp_path / "large").iterdir()} == {
        f"{name}.ndjson" for name in bulk.SYSTEM_TYPES
    }
    for name in bulk.SYSTEM_TYPES:
        whole = (tmp_path / "large" / f"{name}.ndjson").read_text()
        assert (tmp_path / "rows" / f"{name}.ndjson").read_text() == whole


def test_types_built_from_the_same_rows_are_written_in_one_reading_of_them(world, tmp_path):
    """A session is an Encounter and a Procedure, an episode of care an EpisodeOfCare and a
    Condition: exported together, their rows are read once (the queries of the second type
    alone), and each file is what the type exported alone writes."""
    clinic = world.clinic_a
    grow(world)
    for first, second in sorted(bulk.TOGETHER):
        both = tmp_path / f"{first}-{second}"
        alone = _queries(clinic, tmp_path / second, bulk.CHUNK, [second])
        assert _queries(clinic, both, bulk.CHUNK, [first, second]) == alone
        _queries(clinic, tmp_path / first, bulk.CHUNK, [first])
        for name in (first, second):
            written = (both / f"{name}.ndjson").read_bytes()
            assert written and written == (tmp_path / name / f"{name}.ndjson").read_bytes()


def test_the_export_from_plain_rows_writes_what_the_reads_serve_for_rarer_records(world, tmp_path):
    """The export builds its resources from rows read straight from SQL; a read builds them
    from its model records. Both the same, for what a demo clinic seldom holds too: a
    measurement by an assistant (no Practitioner: their name alone) and one by the patient,
    a draft assessment's finding, a session entered in error, an adverse event followed up,
    an addendum on an assessment, a withdrawn consent."""
    from needlechart.charting import services as charting
    from needlechart.outcomes import measurements
    from tests.conftest import client_for

    chart = charts.build(world.practitioner, world.episode_a, signed=True)
    by_assistant = measurements.observation_add(
        actor=world.assistant, episode=world.episode_a, session=chart.session, code="nprs",
        value=5, timing="after",
    )  # fmt: skip
    by_patient = measurements.home_observation_add(
        actor=world.patient_user, episode=world.episode_a, code="nprs", value=3
    )
    charting.adverse_event_update(actor=world.practitioner, event=chart.event,
                                  severity="moderate", outcome="recovering")  # fmt: skip
    charting.addendum_add(actor=world.practitioner, record=chart.signed_session,
                          reason="Wrong patient", kind="entered-in-error")  # fmt: skip
    signed_assessment = charts.build(world.practitioner, world.episode_a, signed=False).assessment
    charting.assessment_sign(actor=world.practitioner, assessment=signed_assessment)
    charting.addendum_add(actor=world.practitioner, record=signed_assessment,
                          reason="Late entry", text="Both calves were tender.")  # fmt: skip
    withdrawal = charting.consent_withdraw(actor=world.practitioner, consent=chart.consent,
                                           reason="Changed their mind")  # fmt: skip

    outputs = bulk.export(world.clinic_a, tmp_path, bulk.SYSTEM_TYPES)
    exported = {(o.type, r["id"]): r for o in outputs for r in read_ndjson(o.path)}
    client = client_for(world.admin)
    for (name, resource_id), resource in exported.items():
        assert client.get(f"/fhir/{name}/{resource_id}").json() == resource, resource_id

    def observation(pk: int) -> dict[str, Any]:
        return exported["Observation", f"{resources.MEASUREMENT}-{pk}"]

    assert observation(by_assistant.pk)["performer"] == [{"display": str(world.assistant)}]
    assert observation(by_patient.pk)["performer"] == [
        {"reference": f"Patient/{world.patient_a.pk}"}
    ]
    assert exported["Observation", f"{resources.FINDING}-{chart.finding.pk}"]["status"] == (
        "preliminary"
    )
    assert exported["Encounter", str(chart.signed_session.pk)]["status"] == "entered-in-error"
    withdrawn = exported["Consent", str(chart.consent.pk)]
    assert withdrawn["status"] == "inactive"
    assert withdrawn["provision"]["period"]["end"] == resources.instant(withdrawal.withdrawn_at)
    event = exported["AdverseEvent", str(chart.event.pk)]
    assert event["severity"]["coding"][0]["code"] == "moderate"
    assert event["outcome"]["coding"][0]["code"] == "recovering"
    amended = [r for (name, _), r in exported.items()
               if name == "Provenance" and r["id"].startswith(resources.ADDENDUM)
               and r["reason"][0]["text"].endswith("Late entry")]  # fmt: skip
    assert amended[0]["target"] == [
        {"reference": f"Observation/{resources.PAIN_MARK}-{m.pk}"}
        for m in signed_assessment.pain_marks.order_by("pk")
    ] + [
        {"reference": f"Observation/{resources.FINDING}-{f.pk}"}
        for f in signed_assessment.findings.order_by("pk")
    ] + [
        {"reference": f"Observation/{resources.MEASUREMENT}-{o.pk}"}
        for o in signed_assessment.observations.order_by("recorded_at", "pk")
    ]


def test_a_progress_bar_when_asked_for_and_no_counting_without_one(world, tmp_path):
    clinic = world.clinic_a
    grow(world)

    def export(*args: str) -> tuple[str, list[str]]:
        err = io.StringIO()
        with CaptureQueriesContext(connection) as queries:
            call_command("fhir-export", str(tmp_path), "--clinic", str(clinic.pk), *args,
                         stdout=io.StringIO(), stderr=err)  # fmt: skip
        counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
        return err.getvalue(), counts

    bar, counted = export("--progress")
    written = sum(len(read_ndjson(path)) for path in tmp_path.glob("*.ndjson"))
    # The bar counts the resources beforehand and reaches that count.
    assert f"{written}/{written}" in bar and "resource" in bar
    assert counted
    # Written to a file or a pipe (not a terminal), no bar and no counting.
    for args in [(), ("--no-progress",)]:
        quiet, counted = export(*args)
        assert quiet == "" and counted == []
