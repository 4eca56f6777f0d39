"""Bulk export `_since`: only what changed since the instant, by each record's best
timestamp (docs/fhir.md); over HTTP, in the command and in the export itself."""

import datetime as dt
import io
import json
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from needlechart.charting import services as charting
from needlechart.fhir import bulk, jobs
from needlechart.fhir.models import ExportJob
from needlechart.outcomes import measurements
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.portal.models import CheckIn
from tests import charts
from tests.fhir import tokens


def _ids(directory: Path) -> dict[str, set[str]]:
    return {
        path.stem: {json.loads(line)["id"] for line in path.read_text().splitlines()}
        for path in directory.glob("*.ndjson")
    }


@pytest.fixture
def history(world):
    """A visit charted and signed ten days ago; today a measurement, an addendum on the old
    session and a check-in after it."""
    ago = timezone.now() - dt.timedelta(days=10)
    with time_machine.travel(ago, tick=False):
        world.old = charts.build(world.practitioner, world.episode_a, signed=True)
        charting.assessment_sign(actor=world.practitioner, assessment=world.old.assessment)
        world.patient_b.save()  # clinic B's: never in clinic A's export
    # The personas were made today: as if they had been made then.
    Patient.objects.filter(pk=world.patient_a.pk).update(updated_at=ago)
    EpisodeOfCare.objects.filter(pk=world.episode_a.pk).update(updated_at=ago)
    world.since = ago + dt.timedelta(days=5)
    world.new_measure = measurements.observation_add(
        actor=world.practitioner, episode=world.episode_a, code="nprs", value=3,
        timing="reassessment",
    )  # fmt: skip
    world.addendum = charting.addendum_add(
        actor=world.practitioner, record=world.old.signed_session, reason="Late entry",
        text="Tolerated well.",
    )  # fmt: skip
    world.check_in = CheckIn.objects.create(session=world.old.signed_session, hours=24, soreness=2)
    return world


def test_since_keeps_what_changed_by_each_records_timestamp(history, tmp_path):
    old = history.old
    everything = _ids(tmp_path / "all") if bulk.export(
        history.clinic_a, tmp_path / "all", bulk.SYSTEM_TYPES) else {}  # fmt: skip
    changed = bulk.export(history.clinic_a, tmp_path / "since", bulk.SYSTEM_TYPES,
                          since=history.since)  # fmt: skip
    found = _ids(tmp_path / "since")
    assert {o.type for o in changed} == set(found)
    # Changed since: the new measurement, the addendum, the check-in; the signed session
    # the addendum amends (Encounter and Procedure), and drafts, which keep no time.
    assert f"m-{history.new_measure.pk}" in found["Observation"]
    assert f"m-{old.observation.pk}" not in found["Observation"]
    assert f"tp-{old.finding.pk}" not in found["Observation"]  # its assessment was signed before
    assert found["Provenance"] == {f"addendum-{history.addendum.pk}"}
    assert found["QuestionnaireResponse"] == {f"check-in-{history.check_in.pk}"}
    assert found["Encounter"] == {str(old.signed_session.pk), str(old.session.pk)}
    # Unchanged: the patient, the episode, the consent, the adverse event.
    for name in ("Patient", "EpisodeOfCare", "Condition", "Consent", "AdverseEvent"):
        assert name not in found, name
    # The directory has no change time: always whole.
    assert found["Practitioner"] == everything["Practitioner"]
    assert found["Organization"] == everything["Organization"]


def test_since_over_http_and_in_the_command(history, settings, tmp_path, monkeypatch,
                                            django_capture_on_commit_callbacks):  # fmt: skip
    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(jobs, "launch", jobs.run)
    secret = tokens.token(history, ["patients:read", "clinical:read"])
    since = history.since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with django_capture_on_commit_callbacks(execute=True):
        started = Client().get(
            "/fhir/$export",
            {"_since": since, "_type": "Provenance,Patient"},
            HTTP_PREFER="respond-async",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )
    assert started.status_code == 202, started.content
    job = ExportJob.objects.get()
    assert job.since is not None and abs(job.since - history.since) < dt.timedelta(seconds=1)
    assert job.output == [{"type": "Provenance", "count": 1}]
    for bad in ("2024-03-01", "yesterday", "2024-03-01T10:00:00"):
        refused = Client().get("/fhir/$export", {"_since": bad}, HTTP_PREFER="respond-async",
                               HTTP_AUTHORIZATION=f"Bearer {secret}")  # fmt: skip
        assert refused.status_code == 400 and "instant" in refused.json()["issue"][0]["diagnostics"]
    out = io.StringIO()
    call_command("fhir-export", str(tmp_path / "cmd"), "--clinic", str(history.clinic_a.pk),
                 "--type", "QuestionnaireResponse,Patient", "--since", since, stdout=out)  # fmt: skip
    assert _ids(tmp_path / "cmd") == {"QuestionnaireResponse": {f"check-in-{history.check_in.pk}"}}
    with pytest.raises(CommandError) as caught:
        call_command("fhir-export", str(tmp_path / "x"), "--since", "last week")
    assert "2024-03-01T00:00:00Z" in str(caught.value)
