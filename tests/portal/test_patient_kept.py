"""A reported effect and a check-in keep their patient (ReportedEffect.patient,
CheckIn.patient), which the patient header and the counts of a clinic's effects awaiting
review read along indexes. The database keeps it (db/guards.py `effect_patient_kept`,
`check_in_patient_kept`) on every path that writes such a row, its session or its episode,
on SQLite and PostgreSQL."""

import datetime as dt
import importlib
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F, Model

from needlechart.charting.models import NeedlingSession
from needlechart.db import bulk, guards
from needlechart.patients.models import EpisodeOfCare
from needlechart.portal import selectors
from needlechart.portal.models import CheckIn, ReportedEffect
from tests import charts, factories
from tests.portal.test_checkins import answer
from tests.sql import SchemaEditor, captured, query_plan, trigger_names

# Distinct hours, so that check-ins written for one session never collide.
_HOURS = itertools.count(100)
KINDS = ["bruising", "headache", "fatigue", "nausea", "pain-after", "bleeding"]


def _kind(session: NeedlingSession) -> str:
    """A kind of effect the session has none of yet (one effect per session and kind)."""
    taken = set(ReportedEffect.objects.filter(session=session).values_list("event_type", flat=True))
    return next(kind for kind in KINDS if kind not in taken)


def _check_in(session: NeedlingSession, hours: int | None = None, **fields) -> CheckIn:
    hours = next(_HOURS) if hours is None else hours
    return CheckIn(
        session=session, hours=hours, soreness=5, red_flags=["infection-signs"],
        answered_at=session.performed_at + dt.timedelta(hours=hours), **fields,
    )  # fmt: skip


def _effect(session: NeedlingSession) -> ReportedEffect:
    check_in = _check_in(session)
    check_in.save()
    return ReportedEffect(session=session, check_in=check_in, event_type=_kind(session))


@dataclass(frozen=True)
class Kept:
    """A table whose rows keep their session's patient."""

    model: type[Model]
    guard: Callable[[], guards.Guard]
    migration: str
    # The row's name in the migration's steps (keep_<one>_patient, fill_<one>_patient).
    one: str
    # A new row of `session`, not yet saved.
    new: Callable[[NeedlingSession], Model]
    # The columns and values (besides session and patient) of a row written by raw SQL.
    columns: Callable[[NeedlingSession], dict[str, Any]]

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def insert(self, session_id: int, patient_id: int | None, template: NeedlingSession) -> None:
        """A row written straight into the table, no model code."""
        values = {"session_id": session_id, "patient_id": patient_id, **self.columns(template)}
        names = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        # The table and column names are the test's own.
        sql = f"INSERT INTO {self.table} ({names}) VALUES ({marks})"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [*values.values()])

    def kept(self, pk: int) -> int | None:
        return self.model.objects.values_list("patient_id", flat=True).get(pk=pk)

    def all_kept(self) -> bool:
        """Every row's patient is its session's episode's patient."""
        rows = self.model.objects.values_list("patient_id", "session__episode__patient_id")
        return all(kept == actual for kept, actual in rows)


def _effect_columns(session: NeedlingSession) -> dict[str, Any]:
    check_in = _check_in(session)
    check_in.save()
    at = check_in.answered_at
    return {
        "check_in_id": check_in.pk, "event_type": _kind(session), "detail": "", "red_flag": False,
        "first_reported_at": at, "last_reported_at": at, "status": "pending",
        "dismiss_reason": "",
    }  # fmt: skip


def _check_in_columns(session: NeedlingSession) -> dict[str, Any]:
    hours = next(_HOURS)
    return {
        "hours": hours, "answered_at": session.performed_at + dt.timedelta(hours=hours),
        "soreness": 5, "symptoms": "[]", "other": "", "red_flags": "[]",
    }  # fmt: skip


EFFECTS = Kept(
    ReportedEffect, guards.effect_patient_kept, "0004_effect_patient_kept", "effect", _effect,
    _effect_columns,
)  # fmt: skip
CHECK_INS = Kept(
    CheckIn, guards.check_in_patient_kept, "0005_check_in_patient_kept", "check_in",
    _check_in, _check_in_columns,
)  # fmt: skip
BOTH = pytest.mark.parametrize("kept", [EFFECTS, CHECK_INS], ids=["effects", "check-ins"])


def _draft_of_another_patient(world) -> NeedlingSession:
    episode = factories.episode(factories.patient(world.clinic_a), world.practitioner.practitioner)
    return charts.build(world.practitioner, episode, signed=False).session


def test_an_answer_carries_the_patient_in_the_record_and_the_database(session_26h, world):
    check_in = answer(world, session_26h, 24, soreness=6, symptoms=["bruising"])
    # The check-in the service returns (audited, alerted from) carries it as the table does.
    assert check_in.patient_id == world.patient_a.pk
    assert EFFECTS.model.objects.count() == 2
    assert EFFECTS.all_kept() and CHECK_INS.all_kept()
    assert CHECK_INS.kept(check_in.pk) == world.patient_a.pk
    assert set(ReportedEffect.objects.values_list("patient_id", flat=True)) == {world.patient_a.pk}


@BOTH
def test_every_path_that_writes_a_row_keeps_its_patient(kept, session_26h, world):
    # Straight into the table, no model code, with no patient or another one.
    kept.insert(session_26h.pk, None, session_26h)
    kept.insert(session_26h.pk, world.patient_b.pk, session_26h)
    # One statement writing rows of two patients' sessions, none told its patient.
    other = _draft_of_another_patient(world)
    bulk.insert(kept.model, [kept.new(session_26h), kept.new(other)])
    # Changed by hand through the ORM or raw SQL, to another patient or to none.
    last = kept.model.objects.filter(session=session_26h).order_by("-pk").first()
    kept.model.objects.filter(pk=last.pk).update(patient=world.patient_b)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {kept.table} SET patient_id = NULL")  # noqa: S608
    assert kept.model.objects.count() == 4
    assert kept.all_kept()
    assert set(kept.model.objects.values_list("patient_id", flat=True)) == {
        world.patient_a.pk, other.episode.patient_id
    }  # fmt: skip


@BOTH
def test_a_session_or_episode_moved_carries_its_rows_patient(kept, world):
    draft = _draft_of_another_patient(world)
    row = kept.new(draft)
    row.save()
    assert kept.kept(row.pk) == draft.episode.patient_id
    # The draft moved to patient A's episode, by raw SQL.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE charting_needlingsession SET episode_id = %s WHERE id = %s",
            [world.episode_a.pk, draft.pk],
        )
    assert kept.kept(row.pk) == world.patient_a.pk
    # The episode moved to another patient: its sessions' rows follow.
    elsewhere = factories.patient(world.clinic_a)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE patients_episodeofcare SET patient_id = %s WHERE id = %s",
            [elsewhere.pk, world.episode_a.pk],
        )
    assert kept.kept(row.pk) == elsewhere.pk
    assert kept.all_kept()


@BOTH
def test_a_load_that_writes_rows_before_their_session_and_episode_keeps_the_patient(
    kept, session_26h, world
):
    """Foreign keys are checked at commit, so a load may write the rows in any order."""
    episode_id = EpisodeOfCare.objects.order_by("-pk").values_list("pk", flat=True)[0] + 100
    session_id = NeedlingSession.objects.order_by("-pk").values_list("pk", flat=True)[0] + 100
    patient = factories.patient(world.clinic_a)
    with transaction.atomic():
        kept.insert(session_id, None, session_26h)
        # The session (a copy of one, left a draft), then its episode.
        copy = NeedlingSession.objects.get(pk=session_26h.pk)
        copy.pk, copy.episode_id, copy.signed_at, copy.signed_by = (
            session_id, episode_id, None, None,
        )  # fmt: skip
        copy.save(force_insert=True)
        EpisodeOfCare.objects.create(
            pk=episode_id, patient=patient, condition_code="M54.2", body_area="neck",
            referral_source="self", care_manager=world.practitioner.practitioner,
        )  # fmt: skip
    assert kept.model.objects.get(session_id=session_id).patient_id == patient.pk
    assert kept.all_kept()


@BOTH
def test_the_migration_fills_each_row_s_patient(kept, session_26h, world):
    answer(world, session_26h, 24, soreness=6, symptoms=["bruising"])
    migration = importlib.import_module(f"needlechart.portal.migrations.{kept.migration}")
    keep = getattr(migration, f"keep_{kept.one}_patient")
    fill = getattr(migration, f"fill_{kept.one}_patient")
    # As a database stands before the migration: no patient kept, no trigger keeping it.
    migration.drop_keeping(None, SchemaEditor())
    kept.model.objects.update(patient=None)
    assert set(kept.model.objects.values_list("patient_id", flat=True)) == {None}
    keep(None, SchemaEditor())
    fill(None, SchemaEditor())
    assert set(kept.model.objects.values_list("patient_id", flat=True)) == {world.patient_a.pk}
    # Installed by the migration's own step: a row written once it commits is kept.
    bulk.insert(kept.model, [kept.new(session_26h)])
    assert kept.all_kept()


@BOTH
def test_a_migration_rebuilding_a_table_takes_the_keeping_triggers_down_and_up(kept):
    name = kept.guard().name
    for table in (kept.table, "charting_needlingsession", "patients_episodeofcare"):
        assert name in {guard.name for guard in guards.touching({table})}, table


def test_a_demo_clinic_s_effects_and_check_ins_keep_their_patient(db):
    call_command("demo", "--patients", "40", "--seed", "2", stdout=io.StringIO())
    for model in (ReportedEffect, CheckIn):
        assert model.objects.count() > 20
        assert not model.objects.filter(patient__isnull=True).exists()
        assert not model.objects.exclude(patient=F("session__episode__patient")).exists()


def test_an_earlier_migration_that_puts_its_guards_back_leaves_the_column_s_triggers_out(db):
    """A migration before these that rebuilds the sessions' table puts back the guards
    naming it, at a time when the effects' and check-ins' tables may exist without their
    patient column."""
    guards.uninstall(SchemaEditor(), [guards.effect_patient_kept(), guards.check_in_patient_kept()])
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX reported_effect_pending_of")
        cursor.execute("ALTER TABLE portal_reportedeffect DROP COLUMN patient_id")
        cursor.execute("DROP INDEX check_in_open_red_flags_of")
        cursor.execute("ALTER TABLE portal_checkin DROP COLUMN patient_id")
    drop, restore = guards.rebuilding("charting_needlingsession")
    drop(None, SchemaEditor())
    restore(None, SchemaEditor())
    names = trigger_names()
    assert "charting_needlingsession_effects_patient" not in names
    assert "charting_needlingsession_check_ins_patient" not in names
    assert "charting_needlingsession_signed_no_update" in names  # the others are back


# --- the patient header reads them along the patient's own indexes ------------------------


def _read_along(index: str, sql: str, params: object) -> None:
    """The statement takes its first few rows without numbering all of them (no window
    count), and on SQLite reads them in order along `index`. On PostgreSQL the index chosen
    turns on the statistics a test's few rows (and earlier tests' ANALYZE) leave."""
    steps = query_plan(sql, params, unsorted=True)
    assert "WindowAgg" not in steps, steps
    if connection.vendor == "sqlite":
        assert index in steps and "TEMP B-TREE" not in steps, steps


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
    # The first few read in order along the index, counted apart: a window count made
    # PostgreSQL join every pending effect to its session and number them all first.
    _read_along("reported_effect_pending_of", sql, params)


def test_a_patient_s_open_red_flags_are_read_from_their_own_index(session_26h, world):
    """The header's first few open red flags are read in order from the patient's own index,
    and counted from it: neither the patient's sessions nor another patient's check-ins are
    read to find them. The code before joined every session of the patient to its
    check-ins, numbered all of them and sorted them, at every page of the patient."""
    older = []
    for days in range(1, 7):
        copy = NeedlingSession.objects.get(pk=session_26h.pk)
        copy.pk = None
        copy.performed_at = session_26h.performed_at - dt.timedelta(days=days)
        copy.signed_at = copy.performed_at + dt.timedelta(hours=1)
        older.append(copy)
    bulk.insert(NeedlingSession, older)
    sessions = NeedlingSession.objects.filter(episode=session_26h.episode)
    bulk.insert(CheckIn, [_check_in(s, 24) for s in sessions.exclude(pk=session_26h.pk)])
    with captured() as statements:
        [first, *_] = selectors._open_red_flags(world.patient_a.pk, first=4)
    [(sql, params)] = [(s, p) for s, p in statements if 'FROM "portal_checkin"' in s]
    assert '"portal_checkin"."patient_id" = ' in sql
    # Neither the episodes nor, in the count, the sessions are joined.
    assert "patients_episodeofcare" not in sql
    assert 'JOIN "charting_needlingsession" U' not in sql
    _read_along("check_in_open_red_flags_of", sql, params)
    newest = CheckIn.objects.filter(patient=world.patient_a).latest("answered_at")
    assert first.waiting == 6 and first.pk == newest.pk
