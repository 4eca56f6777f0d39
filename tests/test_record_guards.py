"""The database keeps signed records and the audit trail whatever path an attacker with a shell
or database access takes: ORM deletes, `_base_manager`, `_raw_delete`, raw SQL, TRUNCATE, a
signed record deleted to be inserted again. Run on SQLite and PostgreSQL."""

import datetime as dt
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, models, transaction

from needlechart.audit import services as audit
from needlechart.audit.models import AuditEvent
from needlechart.charting import services
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AdverseEventFollowUp,
    Assessment,
    Consent,
    Insertion,
    NeedlingSession,
    PainMark,
    TriggerPointFinding,
)
from needlechart.outcomes import measurements
from needlechart.outcomes import services as outcome_services
from needlechart.outcomes.models import CarePlan, Discharge, Observation, PlanGoal
from tests import charts


@pytest.fixture
def signed(world) -> SimpleNamespace:
    """Signed records of every guarded kind, and an audit row."""
    actor = world.practitioner
    chart = charts.build(actor, world.episode_a, signed=True)
    measurements.observation_add(
        actor=actor, episode=world.episode_a, assessment=chart.assessment, code="nprs", value=6,
        timing="baseline",
    )  # fmt: skip
    services.assessment_sign(actor=actor, assessment=chart.assessment)
    alone = measurements.observation_add(
        actor=actor, episode=world.episode_a, code="nprs", value=4, timing="reassessment"
    )
    services.adverse_event_update(actor=actor, event=chart.event, outcome="recovering")
    plan = outcome_services.plan_create(
        actor=actor, episode=world.episode_a, planned_sessions=6, frequency="weekly",
        review_on=dt.date.today() + dt.timedelta(days=30),
        goals=[{"description": "Less neck pain", "code": "nprs", "target": 2,
                "target_date": dt.date.today() + dt.timedelta(days=60)}], therapies=[],
    )  # fmt: skip
    discharge = charts.discharged(actor, world.clinic_a)
    return SimpleNamespace(
        session=chart.signed_session,
        assessment=chart.assessment,
        consent=chart.consent,
        observation=alone,
        event=chart.event,
        plan=plan,
        discharge=discharge,
        audit=audit.record(actor=actor, action=audit.Action.VIEW, obj=world.patient_a),
    )


def _refused(attempt: Callable[[], object]) -> None:
    # The database refuses; the audit trail's manager refuses before it gets there (TypeError).
    with pytest.raises((DatabaseError, TypeError)), transaction.atomic():
        attempt()


def _sql(statement: str, *params: object) -> Callable[[], None]:
    def run() -> None:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)

    return run


def _every_delete(what: str, rows: models.QuerySet) -> list[Callable[[], object]]:
    """Each way the ORM and raw SQL remove rows."""
    table = rows.model._meta.db_table
    ids = list(rows.values_list("pk", flat=True))
    assert ids, f"the fixture holds no {what}"
    marks = ", ".join(["%s"] * len(ids))
    return [
        lambda: rows.model.objects.filter(pk__in=ids).delete(),
        lambda: rows.model._base_manager.filter(pk__in=ids).delete(),
        lambda: (q := rows.model._base_manager.filter(pk__in=ids))._raw_delete(q.db),
        _sql(f"DELETE FROM {table} WHERE id IN ({marks})", *ids),  # noqa: S608
    ]


def _kept(signed: SimpleNamespace) -> dict[str, models.QuerySet]:
    s = signed
    return {
        "signed session": NeedlingSession.objects.filter(pk=s.session.pk),
        "its needling rows": Insertion.objects.filter(session=s.session),
        "its measurements": Observation.objects.filter(assessment=s.assessment),
        "signed assessment": Assessment.objects.filter(pk=s.assessment.pk),
        "its pain marks": PainMark.objects.filter(assessment=s.assessment),
        "its findings": TriggerPointFinding.objects.filter(assessment=s.assessment),
        "consent": Consent.objects.filter(pk=s.consent.pk),
        "measurement": Observation.objects.filter(pk=s.observation.pk),
        "adverse event": AdverseEvent.objects.filter(pk=s.event.pk),
        "its follow-up": AdverseEventFollowUp.objects.filter(event=s.event),
        "plan": CarePlan.objects.filter(pk=s.plan.pk),
        "plan goal": PlanGoal.objects.filter(plan=s.plan),
        "discharge": Discharge.objects.filter(pk=s.discharge.pk),
        "addendum": Addendum.objects.filter(session__episode=s.discharge.episode),
        "audit row": AuditEvent.objects.filter(pk=s.audit.pk),
    }


def test_no_path_deletes_a_signed_record_or_an_audit_row(signed):
    kept = _kept(signed)
    before = {what: sorted(rows.values_list("pk", flat=True)) for what, rows in kept.items()}
    for what, rows in kept.items():
        for attempt in _every_delete(what, rows):
            try:
                _refused(attempt)
            except pytest.fail.Exception:
                pytest.fail(f"the {what} was deleted")
    assert {
        what: sorted(rows.values_list("pk", flat=True)) for what, rows in kept.items()
    } == before


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_truncate_is_refused_on_postgresql(signed):
    for table in ("audit_auditevent", "charting_needlingsession", "charting_adverseevent",
                  "outcomes_observation"):  # fmt: skip
        _refused(_sql(f"TRUNCATE {table} CASCADE"))
    assert AuditEvent.objects.filter(pk=signed.audit.pk).exists()


def test_a_signed_session_cannot_be_deleted_and_written_again(signed):
    session = signed.session
    _refused(_sql("DELETE FROM charting_insertion WHERE session_id = %s", session.pk))
    _refused(_sql("DELETE FROM charting_needlingsession WHERE id = %s", session.pk))
    # Nor can rows be slipped under it.
    row = Insertion.objects.filter(session=session).values().first()
    row.pop("id")
    _refused(lambda: Insertion.objects.create(**{**row, "needles": 9}))
    assert list(Insertion.objects.filter(session=session).values_list("needles", flat=True)) == [1]


def test_an_adverse_event_changes_only_by_being_marked_in_error(signed):
    event = signed.event
    _refused(lambda: AdverseEvent.objects.filter(pk=event.pk).update(severity="severe"))
    _refused(_sql("UPDATE charting_adverseevent SET severity = 'severe' WHERE id = %s", event.pk))
    _refused(_sql("UPDATE charting_adverseevent SET outcome = 'fatal' WHERE id = %s", event.pk))
    follow_up = event.follow_ups.get()
    _refused(
        _sql(
            "UPDATE charting_adverseeventfollowup SET outcome = 'fatal' WHERE id = %s", follow_up.pk
        )
    )
    # Marking it entered in error (the one change it takes) goes through, once.
    services.adverse_event_enter_in_error(
        actor=event.recorded_by, event=event, reason="Recorded on the wrong session"
    )
    _refused(
        _sql(
            "UPDATE charting_adverseevent SET entered_in_error_reason = '' WHERE id = %s", event.pk
        )
    )
    stored = AdverseEvent.objects.get(pk=event.pk)
    assert (stored.severity, stored.outcome) == ("mild", "resolved")
    assert stored.entered_in_error_reason == "Recorded on the wrong session"


def test_a_measurement_outside_a_draft_is_only_marked_in_error(signed, world):
    observation = signed.observation
    _refused(lambda: Observation.objects.filter(pk=observation.pk).update(value=0))
    _refused(_sql("UPDATE outcomes_observation SET value = 0 WHERE id = %s", observation.pk))
    outcome_services.observation_enter_in_error(
        actor=world.practitioner, observation=observation, reason="Wrong patient"
    )
    observation.refresh_from_db()
    assert (observation.value, observation.entered_in_error_reason) == (4, "Wrong patient")


def test_drafts_stay_editable(world):
    """The guards leave unsigned work alone: rows of a draft are removed and corrected."""
    chart = charts.build(world.practitioner, world.episode_a, signed=False)
    measurements.observation_add(
        actor=world.practitioner, episode=world.episode_a, session=chart.session, code="nprs",
        value=5, timing="before",
    )  # fmt: skip
    assert chart.session.observations.get(timing="before").value == 5
    services.insertion_remove(actor=world.practitioner, insertion=chart.insertion)
    services.finding_remove(actor=world.practitioner, finding=chart.finding)
    assert not Insertion.objects.filter(pk=chart.insertion.pk).exists()


def test_the_database_refuses_a_service_account_as_signer_whatever_the_path(world):
    """The services refuse it first (tests/api/test_service_accounts.py); a raw write, a
    shell or a forgotten service meets the database's refusal."""
    from django.utils import timezone

    from needlechart.accounts.models import Role, User
    from needlechart.charting.models import DocumentTemplate
    from needlechart.documents import letters
    from needlechart.documents.models import LetterAddendum

    account = User.objects.create(clinic=world.clinic_a, role=Role.SERVICE, username="b@svc")
    chart = charts.build(world.practitioner, world.episode_a, signed=True)
    letter = letters.letter_issue(
        actor=world.practitioner,
        letter=letters.letter_start(actor=world.practitioner, episode=world.episode_a,
                                    kind="progress-report"),
    )  # fmt: skip
    now = timezone.now()
    consent = Consent.objects.get(pk=chart.consent.pk)
    attempts = {
        "sign a session": lambda: NeedlingSession.objects.filter(pk=chart.session.pk).update(
            signed_at=now, signed_by=account),
        "sign an assessment": lambda: Assessment.objects.filter(pk=chart.assessment.pk).update(
            signed_at=now, signed_by=account),
        "write an addendum": lambda: Addendum.objects.create(
            session=chart.signed_session, kind="addendum", reason="Late", text="More.",
            author=account),
        "witness a consent": lambda: Consent.objects.create(
            patient=world.patient_a, template=DocumentTemplate.objects.get(pk=consent.template_id),
            signed_name="Ann Smith", channel="clinic", witnessed_by=account),
        "discharge": lambda: Discharge.objects.create(
            episode=world.episode_a, reason="goals-met", summary="Settled.", snapshot={},
            discharged_by=account),
        "add to a signed letter": lambda: LetterAddendum.objects.create(
            letter=letter, reason="Late", text="More.", author=account),
        "raw SQL": _sql("UPDATE charting_needlingsession SET signed_at = %s, signed_by_id = %s "
                        "WHERE id = %s", now, account.pk, chart.session.pk),
    }  # fmt: skip
    for what, attempt in attempts.items():
        with (
            pytest.raises(DatabaseError, match="a service account signs nothing"),
            transaction.atomic(),
        ):
            attempt()
        assert not NeedlingSession.objects.filter(signed_by=account).exists(), what
    assert not Addendum.objects.filter(author=account).exists()
    assert not LetterAddendum.objects.filter(author=account).exists()
    # A person signs as before.
    services.addendum_add(actor=world.practitioner, record=chart.signed_session, reason="Late",
                          text="Settled by evening.")  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_flush_empties_the_database_and_leaves_every_guard_in_place():
    """How the test runner empties a database between tests: the guards are lifted for it
    and put back, refusing again afterwards."""
    from tests.test_guards import _expected, _installed

    audit.record(actor=None, action=audit.Action.VIEW, object_type="AuditTrail")
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()
    assert _expected() <= _installed()
    event = audit.record(actor=None, action=audit.Action.VIEW, object_type="AuditTrail")
    _refused(_sql("DELETE FROM audit_auditevent WHERE id = %s", event.pk))
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_the_application_role_cannot_lift_the_guards_on_postgresql(settings):
    """The documented production setup: the app connects as a role `grant-app-role` set up,
    which reads and writes rows but cannot disable, drop or bypass a trigger."""
    import os

    import psycopg

    role = f"needlechart_app_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        call_command("grant-app-role", role, verbosity=0)
        params = {**connection.get_connection_params(), "user": role}
        params.pop("password", None)
        params.pop("cursor_factory", None)
        with psycopg.connect(**params, autocommit=True) as app:
            app.execute("SELECT count(*) FROM patients_patient")
            app.execute(
                "INSERT INTO accounts_clinic (name, timezone) SELECT 'Probe', 'UTC' WHERE false"
            )
            attacks = [
                "ALTER TABLE charting_needlingsession DISABLE TRIGGER ALL",
                "DROP TRIGGER audit_auditevent_no_delete ON audit_auditevent",
                "SET session_replication_role = replica",
                "TRUNCATE audit_auditevent",
                "DELETE FROM audit_auditevent",
                "UPDATE audit_auditevent SET action = 'x'",
                "DROP TABLE audit_auditevent",
                "CREATE TABLE public.probe (id int)",
            ]
            for attack in attacks:
                with pytest.raises(psycopg.Error):
                    app.execute(attack)
        assert set(_installed_on("audit_auditevent")) >= {"audit_auditevent_no_delete"}
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')


def _installed_on(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            [table],
        )
        return [name for (name,) in cursor.fetchall()]


def test_grant_app_role_refuses_in_one_line(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as refused:
        call_command("grant-app-role", "postgres" if connection.vendor == "postgresql" else "x")
    assert "\n" not in str(refused.value)
    assert ("superuser" if connection.vendor == "postgresql" else "SQLite") in str(refused.value)


def test_a_guard_on_a_table_a_later_migration_makes_waits_for_it(db):
    """A migration that rebuilt a table puts back every guard naming it, among them guards
    on tables a later migration creates (a follow-up's guard names the sessions): those wait,
    and are installed with the rest once their table exists."""
    from needlechart.db import guards
    from tests.sql import SchemaEditor, trigger_names

    later, present = (
        guards.append_only("charting_made_later"),
        guards.append_only("charting_addendum"),
    )
    guards.uninstall(SchemaEditor(), [present])
    guards.install(SchemaEditor(), [later, present])
    names = trigger_names()
    assert "charting_made_later_no_update" not in names
    assert "charting_addendum_no_update" in names
