"""An episode keeps its current plan's review date (EpisodeOfCare.plan_review_on), which the
lists of reviews due read along an index. The database keeps it (db/guards.py
`plan_review_kept`) on every path that writes a plan or the episode, on SQLite and
PostgreSQL."""

import datetime as dt
import importlib
import io

from django.core.management import call_command
from django.db import connection, transaction

from needlechart.db import guards
from needlechart.outcomes.models import CarePlan
from needlechart.patients.models import EpisodeOfCare
from tests import factories
from tests.outcomes.test_outcomes import TOMORROW, plan
from tests.sql import SchemaEditor

MIGRATION = importlib.import_module("needlechart.patients.migrations.0003_plan_review_kept")


def _kept(episode: EpisodeOfCare) -> dt.date | None:
    return EpisodeOfCare.objects.values_list("plan_review_on", flat=True).get(pk=episode.pk)


def _current(episode: EpisodeOfCare) -> dt.date | None:
    """The review date of the episode's latest plan version, read from the plans."""
    latest = CarePlan.objects.filter(episode=episode).order_by("-version").first()
    return latest.review_on if latest else None


def _add(episode: EpisodeOfCare, version: int, review_on: dt.date, user) -> CarePlan:
    return CarePlan.objects.create(
        episode=episode, version=version, review_on=review_on, created_by=user
    )


def test_a_plan_saved_through_the_service_gives_its_episode_its_review_date(world):
    assert _kept(world.episode_a) is None
    first = TOMORROW + dt.timedelta(days=20)
    plan(world, review_on=first)
    assert _kept(world.episode_a) == first
    # A new version brings the review forward: the episode follows its latest plan.
    plan(world, review_on=TOMORROW)
    assert _kept(world.episode_a) == TOMORROW == _current(world.episode_a)


def test_every_path_that_writes_a_plan_keeps_the_review_date(world):
    user = world.practitioner
    second = factories.episode(world.patient_a, user.practitioner)
    _add(world.episode_a, 1, dt.date(2027, 3, 1), user)

    # Straight into the table, no model code.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO outcomes_careplan (episode_id, version, planned_sessions, frequency,"
            " review_on, note, created_by_id, created_at)"
            " VALUES (%s, 2, 4, 'weekly', %s, '', %s, %s)",
            [world.episode_a.pk, dt.date(2027, 1, 15), user.pk, dt.datetime.now(dt.UTC)],
        )
    assert _kept(world.episode_a) == dt.date(2027, 1, 15)

    # One statement writing versions of two episodes: each gets its own latest.
    CarePlan.objects.bulk_create(
        [
            CarePlan(episode=world.episode_a, version=3, review_on=dt.date(2027, 2, 2),
                     created_by=user),
            CarePlan(episode=second, version=1, review_on=dt.date(2027, 4, 4), created_by=user),
            CarePlan(episode=second, version=2, review_on=dt.date(2027, 5, 5), created_by=user),
        ]
    )  # fmt: skip
    assert _kept(world.episode_a) == dt.date(2027, 2, 2)
    assert _kept(second) == dt.date(2027, 5, 5)

    # A version numbered below the latest, written late, is not the current plan.
    _add(second, 0, dt.date(2027, 1, 1), user)
    assert _kept(second) == dt.date(2027, 5, 5) == _current(second)
    # Another clinic's episode is untouched.
    assert _kept(world.episode_b) is None


def test_an_episode_written_with_another_date_gets_its_plan_s_date_back(world):
    user = world.practitioner
    loaded_before = EpisodeOfCare.objects.get(pk=world.episode_a.pk)
    _add(world.episode_a, 1, dt.date(2027, 3, 1), user)

    # A save of the episode as it was read before the plan (every column written back).
    assert loaded_before.plan_review_on is None
    loaded_before.referral_detail = "Dr Lee"
    loaded_before.save()
    assert _kept(world.episode_a) == dt.date(2027, 3, 1)
    assert EpisodeOfCare.objects.get(pk=world.episode_a.pk).referral_detail == "Dr Lee"

    # Set by hand, through the ORM or raw SQL, to a date or to none.
    EpisodeOfCare.objects.filter(pk=world.episode_a.pk).update(plan_review_on=dt.date(2030, 1, 1))
    assert _kept(world.episode_a) == dt.date(2027, 3, 1)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE patients_episodeofcare SET plan_review_on = NULL WHERE id = %s",
            [world.episode_a.pk],
        )
    assert _kept(world.episode_a) == dt.date(2027, 3, 1)

    # A new episode has no plan, whatever it is written with.
    fresh = EpisodeOfCare(
        patient=world.patient_a, condition_code="M54.2", body_area="neck",
        referral_source="self", care_manager=user.practitioner,
    )  # fmt: skip
    fresh.plan_review_on = dt.date(2027, 1, 1)
    fresh.save()
    assert _kept(fresh) is None


def test_a_load_that_writes_the_plans_before_their_episode_keeps_the_date(world):
    """Foreign keys are checked at commit, so a load may write an episode's plans first."""
    user = world.practitioner
    number = EpisodeOfCare.objects.order_by("-pk").values_list("pk", flat=True).first() + 100
    with transaction.atomic():
        CarePlan.objects.create(
            episode_id=number, version=1, review_on=dt.date(2027, 6, 1), created_by=user
        )
        EpisodeOfCare.objects.create(
            pk=number, patient=world.patient_a, condition_code="M54.2", body_area="neck",
            referral_source="self", care_manager=user.practitioner,
        )  # fmt: skip
    assert _kept(EpisodeOfCare(pk=number)) == dt.date(2027, 6, 1)


def test_the_migration_fills_each_episode_s_date_from_its_latest_plan(world):
    user = world.practitioner
    second = factories.episode(world.patient_a, user.practitioner)
    for version, day in ((1, dt.date(2027, 3, 1)), (2, dt.date(2027, 1, 10))):
        _add(world.episode_a, version, day, user)
    # As a database stands before the migration: no date kept, no trigger keeping it.
    MIGRATION.drop_keeping(None, SchemaEditor())
    EpisodeOfCare.objects.update(plan_review_on=None)
    _add(second, 1, dt.date(2027, 2, 2), user)
    assert _kept(world.episode_a) is None and _kept(second) is None
    # The migration's steps, without the guards installed after migrating: its own steps
    # install the triggers, so a plan saved once it commits is kept too.
    MIGRATION.keep_plan_review(None, SchemaEditor())
    MIGRATION.fill_plan_review(None, SchemaEditor())
    assert _kept(world.episode_a) == dt.date(2027, 1, 10)
    assert _kept(second) == dt.date(2027, 2, 2)
    third = factories.episode(world.patient_a, user.practitioner)
    assert _kept(third) is None
    _add(third, 1, dt.date(2027, 8, 8), user)
    assert _kept(third) == dt.date(2027, 8, 8)


def test_a_migration_rebuilding_either_table_takes_the_keeping_triggers_down_and_up():
    """SQLite rebuilds a table for many schema changes, and a trigger naming the table breaks
    the rebuild: `rebuilding` takes down every trigger naming it, these included."""
    name = guards.plan_review_kept().name
    for table in ("patients_episodeofcare", "outcomes_careplan"):
        assert name in {guard.name for guard in guards.touching({table})}, table


def test_a_demo_clinic_s_episodes_keep_their_latest_plan_s_date(db):
    call_command("demo", "--patients", "40", "--seed", "2", stdout=io.StringIO())
    episodes = list(EpisodeOfCare.objects.all())
    planned = [e for e in episodes if _current(e) is not None]
    assert len(planned) > 10
    assert {e.pk: e.plan_review_on for e in episodes} == {e.pk: _current(e) for e in episodes}
