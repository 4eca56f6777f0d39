"""A reported effect keeps its patient (ReportedEffect.patient), which the counts of a
patient's and a clinic's effects awaiting review read along an index. The database keeps it
(db/guards.py `effect_patient_kept`) on every path that writes an effect, its session or its
episode, on SQLite and PostgreSQL."""

import datetime as dt
import importlib
import io

from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F

from needlechart.charting.models import NeedlingSession
from needlechart.db import bulk, guards
from needlechart.patients.models import EpisodeOfCare
from needlechart.portal import selectors
from needlechart.portal.models import CheckIn, ReportedEffect
from tests import charts, factories
from tests.portal.test_checkins import answer
from tests.sql import SchemaEditor, captured, query_plan, trigger_names

MIGRATION = importlib.import_module("needlechart.portal.migrations.0004_effect_patient_kept")


def _kept(effect_id: int) -> int | None:
    return ReportedEffect.objects.values_list("patient_id", flat=True).get(pk=effect_id)


def _all_kept() -> bool:
    """Every effect's patient is its session's episode's patient."""
    effects = ReportedEffect.objects.values_list("patient_id", "session__episode__patient_id")
    return all(kept == actual for kept, actual in effects)


def _check_in(session: NeedlingSession) -> CheckIn:
    check_in = CheckIn(session=session, hours=24, answered_at=session.performed_at, soreness=5)
    check_in.save()
    return check_in


def _effect(session: NeedlingSession, check_in: CheckIn, kind: str, **fields) -> ReportedEffect:
    return ReportedEffect(session=session, check_in=check_in, event_type=kind, **fields)


def test_an_answer_s_effects_carry_the_patient_in_the_record_and_the_database(session_26h, world):
    answer(world, session_26h, 24, soreness=6, symptoms=["bruising"])
    effects = list(ReportedEffect.objects.all())
    assert len(effects) == 2
    assert {e.patient_id for e in effects} == {world.patient_a.pk}
    assert _all_kept()


def test_every_path_that_writes_an_effect_keeps_its_patient(session_26h, world):
    check_in = _check_in(session_26h)
    # Straight into the table, no model code, with no patient or another one.
    with connection.cursor() as cursor:
        for kind, patient in (("bruising", None), ("headache", world.patient_b.pk)):
            cursor.execute(
                "INSERT INTO portal_reportedeffect (session_id, check_in_id, patient_id,"
                " event_type, detail, red_flag, first_reported_at, last_reported_at, status,"
                " dismiss_reason) VALUES (%s, %s, %s, %s, '', false, %s, %s, 'pending', '')",
                [session_26h.pk, check_in.pk, patient, kind, check_in.answered_at,
                 check_in.answered_at],
            )  # fmt: skip
    # One statement writing effects of two patients' sessions, none told its patient.
    other = _draft_of_another_patient(world)
    other_check_in = _check_in(other)
    bulk.insert(
        ReportedEffect,
        [_effect(session_26h, check_in, "fatigue"), _effect(other, other_check_in, "nausea")],
    )
    # Changed by hand through the ORM or raw SQL, to another patient or to none.
    ReportedEffect.objects.filter(event_type="fatigue").update(patient=world.patient_b)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE portal_reportedeffect SET patient_id = NULL")
    assert ReportedEffect.objects.count() == 4
    assert _all_kept()
    assert set(ReportedEffect.objects.values_list("patient_id", flat=True)) == {
        world.patient_a.pk, other.episode.patient_id
    }  # fmt: skip


def _draft_of_another_patient(world) -> NeedlingSession:
    episode = factories.episode(factories.patient(world.clinic_a), world.practitioner.practitioner)
    return charts.build(world.practitioner, episode, signed=False).session


def test_a_session_or_episode_moved_carries_its_effects_patient(world):
    draft = _draft_of_another_patient(world)
    effect = _effect(draft, _check_in(draft), "bruising")
    effect.save()
    assert _kept(effect.pk) == draft.episode.patient_id
    # The draft moved to patient A's episode, by raw SQL.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE charting_needlingsession SET episode_id = %s WHERE id = %s",
            [world.episode_a.pk, draft.pk],
        )
    assert _kept(effect.pk) == world.patient_a.pk
    # The episode moved to another patient: its sessions' effects follow.
    elsewhere = factories.patient(world.clinic_a)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE patients_episodeofcare SET patient_id = %s WHERE id = %s",
            [elsewhere.pk, world.episode_a.pk],
        )
    assert _kept(effect.pk) == elsewhere.pk
    assert _all_kept()


def test_a_load_that_writes_effects_before_their_session_and_episode_keeps_the_patient(
    session_26h, world
):
    """Foreign keys are checked at commit, so a load may write the rows in any order."""
    check_in = _check_in(session_26h)
    episode_id = EpisodeOfCare.objects.order_by("-pk").values_list("pk", flat=True)[0] + 100
    session_id = NeedlingSession.objects.order_by("-pk").values_list("pk", flat=True)[0] + 100
    patient = factories.patient(world.clinic_a)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO portal_reportedeffect (session_id, check_in_id, event_type, detail,"
                " red_flag, first_reported_at, last_reported_at, status, dismiss_reason)"
                " VALUES (%s, %s, 'bruising', '', false, %s, %s, 'pending', '')",
                [session_id, check_in.pk, check_in.answered_at, check_in.answered_at],
            )
        # The session (a copy of one, left a draft), then its episode.
        copy = NeedlingSession.objects.get(pk=session_26h.pk)
        copy.pk, copy.episode_id, copy.signed_at, copy.signed_by = (
            session_id,
            episode_id,
            None,
            None,
        )
        copy.save(force_insert=True)
        EpisodeOfCare.objects.create(
            pk=episode_id, patient=patient, condition_code="M54.2", body_area="neck",
            referral_source="self", care_manager=world.practitioner.practitioner,
        )  # fmt: skip
    assert ReportedEffect.objects.get(session_id=session_id).patient_id == patient.pk
    assert _all_kept()


def test_the_migration_fills_each_effect_s_patient(session_26h, world):
    answer(world, session_26h, 24, soreness=6, symptoms=["bruising"])
    # As a database stands before the migration: no patient kept, no trigger keeping it.
    MIGRATION.drop_keeping(None, SchemaEditor())
    ReportedEffect.objects.update(patient=None)
    assert set(ReportedEffect.objects.values_list("patient_id", flat=True)) == {None}
    MIGRATION.keep_effect_patient(None, SchemaEditor())
    MIGRATION.fill_effect_patient(None, SchemaEditor())
    assert set(ReportedEffect.objects.values_list("patient_id", flat=True)) == {world.patient_a.pk}
    # Installed by the migration's own step: an effect written once it commits is kept.
    bulk.insert(ReportedEffect, [_effect(session_26h, _check_in_at(session_26h), "fatigue")])
    assert _all_kept()


def _check_in_at(session: NeedlingSession) -> CheckIn:
    check_in = CheckIn(
        session=session, hours=48, answered_at=session.performed_at + dt.timedelta(hours=49),
        soreness=5,
    )  # fmt: skip
    check_in.save()
    return check_in


def test_a_migration_rebuilding_a_table_takes_the_keeping_triggers_down_and_up():
    name = guards.effect_patient_kept().name
    for table in ("portal_reportedeffect", "charting_needlingsession", "patients_episodeofcare"):
        assert name in {guard.name for guard in guards.touching({table})}, table


def test_a_demo_clinic_s_effects_keep_their_patient(db):
    call_command("demo", "--patients", "40", "--seed", "2", stdout=io.StringIO())
    assert ReportedEffect.objects.count() > 20
    assert not ReportedEffect.objects.filter(patient__isnull=True).exists()
    assert not ReportedEffect.objects.exclude(patient=F("session__episode__patient")).exists()


def test_a_patient_s_effects_awaiting_review_are_read_from_their_own_index(session_26h, world):
    answer(world, session_26h, 24, soreness=6, symptoms=["bruising"])
    with captured() as statements:
        [first, *_] = selectors._pending_effects(world.patient_a.pk, first=4)
    assert first.waiting == 2
    [(sql, params)] = [(s, p) for s, p in statements if 'FROM "portal_reportedeffect"' in s]
    # Filtered by the effect's own patient, counted without joining the sessions.
    assert '"portal_reportedeffect"."patient_id" = ' in sql
    # The counts' subqueries join no session (each listed effect's own session is joined,
    # for the header's link).
    assert 'JOIN "charting_needlingsession" U' not in sql
    if connection.vendor == "sqlite":
        assert "reported_effect_pending_of" in query_plan(sql, params)


def test_an_earlier_migration_that_puts_its_guards_back_leaves_the_column_s_triggers_out(db):
    """A migration before this one that rebuilds the sessions' table puts back the guards
    naming it, at a time when the effects' table may exist without its patient column."""
    guards.uninstall(SchemaEditor(), [guards.effect_patient_kept()])
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX reported_effect_pending_of")
        cursor.execute("ALTER TABLE portal_reportedeffect DROP COLUMN patient_id")
    drop, restore = guards.rebuilding("charting_needlingsession")
    drop(None, SchemaEditor())
    restore(None, SchemaEditor())
    names = trigger_names()
    assert "charting_needlingsession_effects_patient" not in names
    assert "charting_needlingsession_signed_no_update" in names  # the others are back
