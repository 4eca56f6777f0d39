"""The demo builds thousands of patients in batches: its queries grow with the batches, not
with the sessions, and the bulk signing refuses what signing a session one at a time
refuses, word for word."""

import datetime as dt
import io
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from needlechart.charting import services
from needlechart.charting.models import Consent, ConsentWithdrawal, NeedlingSession
from needlechart.charting.services import imports
from needlechart.charting.services.session import sign_problems
from needlechart.demo import generate

TODAY = "2026-11-24"

# The services the demo hands its batches to, by the name `generate` calls them through.
WATCHED = (
    (generate.charting_imports, "chart_import"),
    (generate.charting_imports, "signatures_import"),
    (generate.charting_imports, "followups_import"),
    (generate.measurements, "observations_import"),
    (generate.outcomes, "plans_import"),
    (generate.outcomes, "discharges_import"),
    (generate.patient_records, "patients_import"),
    (generate.patient_records, "episodes_import"),
    (generate, "_record_portal"),
)


def _queries(monkeypatch: pytest.MonkeyPatch, patients: int) -> tuple[Counter, Counter]:
    """Build the demo; the queries each service ran, all and SELECTs only (writes are
    split by the database's limit on parameters, so they grow with the rows)."""
    everything: Counter = Counter()
    reads: Counter = Counter()

    def counted(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            with CaptureQueriesContext(connection) as captured:
                result = call(*args, **kwargs)
            everything[name] += len(captured)
            reads[name] += sum(q["sql"].startswith("SELECT") for q in captured)
            return result

        return run

    with monkeypatch.context() as patch:
        for module, name in WATCHED:
            patch.setattr(module, name, counted(name, getattr(module, name)))
        call_command(
            "demo", "--patients", str(patients), "--today", TODAY,
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    return everything, reads


def test_the_demo_reads_per_batch_not_per_session(db, monkeypatch):
    few_all, few_reads = _queries(monkeypatch, 4)
    sessions_few = NeedlingSession.objects.count()
    many_all, many_reads = _queries(monkeypatch, 12)
    assert NeedlingSession.objects.count() > sessions_few + 30, "many more sessions to sign"
    # Signing, the charts and what followed them read a few queries a batch (the clinic's
    # current texts, who may needle on a day), not one or more a session.
    names = ("chart_import", "signatures_import", "followups_import", "plans_import",
             "discharges_import")  # fmt: skip
    for name in names:
        assert many_reads[name] <= few_reads[name] + 4, name
    # The whole build, drafts included (imported with the other sessions, left unsigned);
    # signing a session at a time, as before, added about 35 queries a patient.
    growth = sum(many_all.values()) - sum(few_all.values())
    assert growth < 8 * 20, growth


def test_the_snapshots_taken_in_bulk_at_discharge_are_each_episode_s_own(db):
    """The demo's discharges are imported together; each snapshot holds its own episode's
    sessions, measures and adverse events, as discharging that episode alone takes them."""
    from needlechart.outcomes.models import Discharge
    from needlechart.outcomes.selectors import discharge_snapshot

    call_command("demo", "--patients", "12", "--today", TODAY, stdout=io.StringIO(),
                 stderr=io.StringIO())  # fmt: skip
    discharges = list(Discharge.objects.select_related("episode__patient__clinic"))
    assert len(discharges) >= 3
    assert len({str(d.snapshot["measures"]) for d in discharges}) > 1
    for record in discharges:
        alone = discharge_snapshot(record.episode)
        assert {**record.snapshot, "taken_at": ""} == {**alone, "taken_at": ""}, record.pk


# --- the bulk signing refuses what `sign_problems` refuses -----------------------------------


def _ready(session: NeedlingSession, needle, **changes: Any) -> NeedlingSession:
    """The draft with a complete row and matching needle count, then `changes`, as stored."""
    world_user = session.practitioner.user
    services.insertion_add(
        actor=world_user, session=session, muscle="upper-trapezius", side="left",
        needle_size=needle, needles=2, depth="deep", depth_mm=10, technique="pistoning",
        twitch_responses=1, familiar_pain=True, tolerance="good",
    )  # fmt: skip
    values = {"needles_opened": 2, "needles_removed": 2, "sharps_disposed": True, **changes}
    NeedlingSession.objects.filter(pk=session.pk).update(**values)
    return NeedlingSession.objects.select_related(
        "episode__patient__clinic", "practitioner__user"
    ).get(pk=session.pk)


def _import_signature(world, session: NeedlingSession) -> None:
    imports.signatures_import(
        actor=world.admin, source="test", assessments=[],
        sessions=[(session, timezone.now() + dt.timedelta(minutes=1))],
    )  # fmt: skip


BROKEN = {
    "needle count": {"needles_removed": 1},
    "sharps": {"sharps_disposed": False},
    "too few opened": {"needles_opened": 1, "needles_removed": 1},
    "checklist": {"clean_technique": False, "consent_confirmed": False},
}


@pytest.mark.parametrize("changes", BROKEN.values(), ids=BROKEN.keys())
def test_the_bulk_signing_refuses_what_signing_one_session_refuses(
    consented, session, needle, changes
):
    draft = _ready(session, needle, **changes)
    expected = sign_problems(consented.practitioner, draft)
    assert expected, "a session the clinic's rules refuse to sign"
    with pytest.raises(ValidationError) as refused:
        _import_signature(consented, draft)
    assert refused.value.messages == expected
    assert not NeedlingSession.objects.get(pk=draft.pk).is_signed


def test_the_bulk_signing_refuses_after_the_consent_is_withdrawn(consented, session, needle):
    draft = _ready(session, needle)
    assert sign_problems(consented.practitioner, draft) == []
    ConsentWithdrawal.objects.create(
        consent=Consent.objects.get(patient=consented.patient_a),
        reason="Changed her mind.",
        recorded_by=consented.practitioner,
    )
    expected = sign_problems(consented.practitioner, draft)
    assert any("withdrew consent" in problem for problem in expected)
    with pytest.raises(ValidationError) as refused:
        _import_signature(consented, draft)
    assert refused.value.messages == expected


def test_the_bulk_signing_signs_what_signing_one_session_accepts(consented, session, needle):
    draft = _ready(session, needle)
    assert sign_problems(consented.practitioner, draft) == []
    _import_signature(consented, draft)
    stored = NeedlingSession.objects.get(pk=draft.pk)
    assert stored.is_signed and stored.signed_by == consented.practitioner
    assert stored.consent_id == Consent.objects.get(patient=consented.patient_a).pk
    assert stored.screening_id == services.current_screening(consented.episode_a).pk
    assert stored.cpt_code


def test_with_debug_on_the_build_s_statements_skip_the_query_log(db, settings, monkeypatch):
    """The debug cursor renders every statement for the log, which the demo empties after
    each batch: the build runs without it, and the connection logs again afterwards."""
    settings.DEBUG = True
    rendered = []
    real = connection.ops.last_executed_query
    monkeypatch.setattr(
        connection.ops,
        "last_executed_query",
        lambda cursor, sql, params: rendered.append(sql) or real(cursor, sql, params),
    )
    call_command("demo", "--patients", "3", "--today", TODAY, stdout=io.StringIO(),
                 stderr=io.StringIO())  # fmt: skip
    # Only the statistics and summaries refreshed after the build are rendered: the build
    # runs hundreds of statements.
    assert NeedlingSession.objects.count() > 10
    assert 0 < len(rendered) < 40, len(rendered)
    assert "make_debug_cursor" not in vars(connection)
    connection.queries_log.clear()
    NeedlingSession.objects.count()
    assert "COUNT" in connection.queries[-1]["sql"]
