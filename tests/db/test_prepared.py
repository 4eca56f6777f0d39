"""A prepared query gives the rows its queryset gives, for each call's own values, without
building or compiling the queryset again; a queryset whose shape depends on more than its
arguments is refused rather than kept with stale values."""

import pytest
from django.db.models import Count, Prefetch, QuerySet
from django.db.models.sql.compiler import SQLCompiler
from django.test import override_settings

from needlechart.db.prepared import PreparedQueryError, prepared
from needlechart.patients.models import EpisodeOfCare, Patient
from tests import factories

pytestmark = pytest.mark.django_db


def _episodes(clinic_id: int, patient_id: int) -> QuerySet:
    return (
        EpisodeOfCare.objects.filter(patient__clinic_id=clinic_id, patient_id=patient_id)
        .select_related("patient", "care_manager__user")
        .annotate(n=Count("sessions"))
        .order_by("pk")
    )


def _compiles(monkeypatch) -> list[str]:
    """The SQL compiled from here on."""
    compiled: list[str] = []
    original = SQLCompiler.as_sql

    def as_sql(self, *args, **kwargs):
        sql, params = original(self, *args, **kwargs)
        compiled.append(sql)
        return sql, params

    monkeypatch.setattr(SQLCompiler, "as_sql", as_sql)
    return compiled


def test_each_call_gives_the_rows_of_its_own_values_with_related_records_and_annotations(world):
    second = factories.episode(world.patient_a, world.admin.practitioner, condition_code="M79.1")
    query = prepared(_episodes)
    for clinic, patient in [(world.clinic_a, world.patient_a), (world.clinic_b, world.patient_b),
                            (world.clinic_a, world.patient_b), (world.clinic_a, world.patient_a)]:  # fmt: skip
        got = query(clinic.pk, patient.pk)
        expected = list(_episodes(clinic.pk, patient.pk))
        assert [(e.pk, e.patient.mrn, e.care_manager.user.username, e.n) for e in got] == [
            (e.pk, e.patient.mrn, e.care_manager.user.username, e.n) for e in expected
        ]
    assert [e.pk for e in query(world.clinic_a.pk, world.patient_a.pk)] == [
        world.episode_a.pk, second.pk
    ]  # fmt: skip
    assert query(world.clinic_b.pk, world.patient_a.pk) == []


def test_values_and_prefetched_records_come_back_as_the_queryset_gives_them(world):
    factories.episode(world.patient_a, world.admin.practitioner, condition_code="M79.1")
    values = prepared(
        lambda clinic_id: (
            Patient.objects.filter(clinic_id=clinic_id).order_by("pk").values("pk", "mrn")
        )
    )
    assert values(world.clinic_a.pk) == list(
        Patient.objects.filter(clinic=world.clinic_a).order_by("pk").values("pk", "mrn")
    )
    with_episodes = prepared(
        lambda patient_id: Patient.objects.filter(pk=patient_id).prefetch_related(
            Prefetch("episodes", queryset=EpisodeOfCare.objects.order_by("pk"))
        )
    )
    [patient] = with_episodes(world.patient_a.pk)
    assert [e.condition_code for e in patient.episodes.all()] == [
        e.condition_code for e in world.patient_a.episodes.order_by("pk")
    ]


@override_settings(PREPARED_QUERIES_CHECK=False)
def test_after_the_first_call_the_queryset_is_neither_built_nor_compiled(world, monkeypatch):
    built = []

    def build(clinic_id: int, patient_id: int) -> QuerySet:
        built.append((clinic_id, patient_id))
        return _episodes(clinic_id, patient_id)

    query = prepared(build)
    query(world.clinic_a.pk, world.patient_a.pk)
    compiled = _compiles(monkeypatch)
    assert [e.pk for e in query(world.clinic_b.pk, world.patient_b.pk)] == [world.episode_b.pk]
    assert len(built) == 1  # with stand-in values, at the first call
    assert compiled == []


def test_a_queryset_that_depends_on_more_than_its_arguments_fails_its_check(world):
    extra = {"mrn": world.patient_a.mrn}

    def build(clinic_id: int) -> QuerySet:
        return Patient.objects.filter(clinic_id=clinic_id, **extra)

    query = prepared(build)
    assert [p.pk for p in query(world.clinic_a.pk)] == [world.patient_a.pk]
    extra["mrn"] = world.patient_b.mrn
    with pytest.raises(PreparedQueryError, match="shape depends on more than its arguments"):
        query(world.clinic_a.pk)


def test_an_argument_that_does_not_reach_the_sql_as_a_parameter_is_refused(world):
    query = prepared(lambda clinic_id: Patient.objects.filter(clinic_id=clinic_id)[:5])
    assert len(query(world.clinic_a.pk)) == 1
    unused = prepared(lambda clinic_id: Patient.objects.all())
    with pytest.raises(PreparedQueryError, match="does not reach its SQL"):
        unused(world.clinic_a.pk)


def test_a_value_that_is_not_a_whole_number_is_run_as_a_plain_queryset(world):
    query = prepared(lambda manager_id: EpisodeOfCare.objects.filter(care_manager_id=manager_id))
    assert query(None) == []
    assert [e.pk for e in query(world.practitioner.practitioner.pk)] == [world.episode_a.pk]


def test_a_keyword_that_shapes_the_sql_is_kept_apart_for_each_of_its_values(world):
    for _ in range(3):
        factories.patient(world.clinic_a)
    query = prepared(
        lambda clinic_id, *, shown: Patient.objects.filter(clinic_id=clinic_id).order_by("pk")[
            :shown
        ]
    )
    assert len(query(world.clinic_a.pk, shown=2)) == 2
    assert len(query(world.clinic_a.pk, shown=3)) == 3
    assert len(query(world.clinic_a.pk, shown=2)) == 2


def test_a_number_no_column_holds_finds_nothing_rather_than_failing(world):
    query = prepared(lambda patient_id: Patient.objects.filter(pk=patient_id))
    assert query(world.patient_a.pk) == [world.patient_a]
    assert query(2**80) == []
    assert query(-(2**70)) == []


def test_the_shapes_kept_are_bounded_and_a_dropped_one_is_compiled_again(world, monkeypatch):
    from needlechart.db import prepared as module

    monkeypatch.setattr(module, "SHAPES_KEPT", 2)
    for _ in range(3):
        factories.patient(world.clinic_a)
    query = prepared(
        lambda clinic_id, *, shown: Patient.objects.filter(clinic_id=clinic_id).order_by("pk")[
            :shown
        ]
    )
    for shown in (1, 2, 3, 1):
        assert len(query(world.clinic_a.pk, shown=shown)) == shown
    assert len(query._compiled) == 2


def test_a_query_the_orm_answers_without_sql_for_a_stand_in_is_built_as_usual(world):
    from django.db import connection

    from needlechart.outcomes.models import EpisodeSummary

    # `changes` is a 32-bit column: on PostgreSQL the ORM finds nothing for a larger number
    # (the stand-in) without asking the database, so the SQL cannot be kept.
    EpisodeSummary.objects.create(episode=world.episode_a, changes=1)
    EpisodeSummary.objects.create(episode=world.episode_b, changes=2)
    query = prepared(lambda changes: EpisodeSummary.objects.filter(changes=changes))
    expected = list(EpisodeSummary.objects.filter(changes=1))
    assert [row.episode_id for row in expected] == [world.episode_a.pk]
    with override_settings(PREPARED_QUERIES_CHECK=False):
        assert query(1) == expected
        assert query(1) == expected
    if connection.vendor == "postgresql":
        with pytest.raises(PreparedQueryError, match="decides the query without SQL"):
            prepared(lambda changes: EpisodeSummary.objects.filter(changes=changes))(1)


def _patients(clinic_id: int) -> QuerySet:
    # Joined both ways (a patient's clinic; the portal account some patients have, and its
    # user), counted, one column deferred.
    return (
        Patient.objects.filter(clinic_id=clinic_id)
        .select_related("clinic", "portal_account__user")
        .annotate(episodes_n=Count("episodes"))
        .defer("email")
        .order_by("pk")
    )


def _as_read(patient: Patient) -> tuple:
    account = getattr(patient, "portal_account", None)
    return (
        patient.pk, patient.mrn, patient.birth_date, patient.clinic.name, patient.episodes_n,
        patient.get_deferred_fields(), account and account.user.email,
        account and account.patient is patient,
    )  # fmt: skip


def test_records_built_from_the_rows_are_those_the_queryset_builds_in_one_query(
    world, django_assert_num_queries
):
    factories.episode(world.patient_a, world.admin.practitioner, condition_code="M79.1")
    factories.patient(world.clinic_a, given_name="No", family_name="Account")
    query = prepared(_patients)
    query(world.clinic_b.pk)
    for clinic in (world.clinic_a, world.clinic_b):
        # One query, with the suite's check of every record against the queryset's own.
        with django_assert_num_queries(1):
            got = query(clinic.pk)
        assert [_as_read(p) for p in got] == [_as_read(p) for p in _patients(clinic.pk)]
    with_account, without = query(world.clinic_a.pk)
    assert with_account.portal_account.user == world.patient_user
    assert not hasattr(without, "portal_account")


def test_a_query_ordered_by_a_column_it_does_not_show_gives_the_queryset_s_records(world):
    for name in ("Zed", "Amy"):
        factories.patient(world.clinic_a, given_name=name, family_name="Extra")

    def build(clinic_id: int) -> QuerySet:
        # DISTINCT selects the ordering's column too, after the records' own columns.
        return (
            Patient.objects.filter(clinic_id=clinic_id)
            .order_by("clinic__name", "given_name")
            .distinct()
        )

    query = prepared(build)
    query(world.clinic_a.pk)
    assert [p.given_name for p in query(world.clinic_a.pk)] == ["Amy", "Ann", "Zed"]
    assert query(world.clinic_a.pk) == list(build(world.clinic_a.pk))


def test_records_that_differ_from_the_queryset_s_own_fail_the_check(world, monkeypatch):
    from needlechart.db import prepared as module

    built = module._records

    def losing_annotations(how, *args):
        return built(module._Records(**{**vars(how), "annotations": []}), *args)

    query = prepared(_patients)
    query(world.clinic_a.pk)
    monkeypatch.setattr(module, "_records", losing_annotations)
    with pytest.raises(PreparedQueryError, match="records differ"):
        query(world.clinic_a.pk)


def test_a_queryset_of_a_class_of_its_own_is_read_through_its_own_iteration(world):
    class Marked(QuerySet):
        def _fetch_all(self) -> None:
            super()._fetch_all()
            for record in self._result_cache:
                record.marked = True

    query = prepared(lambda clinic_id: Marked(Patient).filter(clinic_id=clinic_id))
    query(world.clinic_a.pk)
    [patient] = query(world.clinic_a.pk)
    assert patient.marked


def _episodes_between(patient_id: int, since: object, until: object, created: object) -> QuerySet:
    return EpisodeOfCare.objects.filter(
        patient_id=patient_id, period_start__gte=since, period_start__lt=until,
        created_at__lt=created,
    ).order_by("pk")  # fmt: skip


def test_days_and_moments_are_values_compiled_once_and_adapted_as_their_fields_adapt_them(
    world, monkeypatch
):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    days = [dt.date(2026, 1, 5), dt.date(2026, 3, 1), dt.date(2026, 6, 30)]
    for day in days[1:]:
        factories.episode(world.patient_a, world.practitioner_a, period_start=day)
    query = prepared(_episodes_between)
    later = timezone.now() + dt.timedelta(minutes=1)
    cases = [
        (days[0], days[2], later),  # the first two
        (days[1], days[2] + dt.timedelta(days=1), later),  # the last two
        (days[0], days[2], timezone.now() - dt.timedelta(days=1)),  # none made by then
        # The same moment in another zone, to the microsecond.
        (days[0], days[1] + dt.timedelta(days=1), later.astimezone(ZoneInfo("Asia/Kolkata"))),
        (days[0], days[1], later.replace(microsecond=0)),
    ]
    # The suite's check compares each call's kept SQL and values with the queryset's own.
    for since, until, created in cases:
        got = query(world.patient_a.pk, since, until, created)
        assert [e.pk for e in got] == [
            e.pk for e in _episodes_between(world.patient_a.pk, since, until, created)
        ]
    assert [len(query(world.patient_a.pk, *case)) for case in cases] == [2, 2, 0, 2, 1]
    with override_settings(PREPARED_QUERIES_CHECK=False):
        compiled = _compiles(monkeypatch)
        assert [len(query(world.patient_a.pk, *case)) for case in cases] == [2, 2, 0, 2, 1]
        assert compiled == []


def test_a_moment_without_its_zone_is_not_kept(world, monkeypatch):
    import datetime as dt

    query = prepared(_episodes_between)
    naive = dt.datetime(2030, 1, 1)
    with pytest.warns(RuntimeWarning):
        got = query(world.patient_a.pk, dt.date(2026, 1, 1), dt.date(2027, 1, 1), naive)
    assert [e.pk for e in got] == [world.episode_a.pk]
    assert query._compiled == {}
