"""The episode page keeps an episode's course (its measures as the progress reads them) by
what the database marks on every change of it, so a long history is read once: any change,
on any path, shows at the next view; nothing read inside a transaction is kept."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from needlechart.charting import services as chart_services
from needlechart.charting.models import Addendum, NeedlingSession
from needlechart.outcomes import selectors
from needlechart.outcomes.models import Observation
from tests.outcomes.test_outcomes import session_with_pain

# Committed data, as a page reads it (a test inside a transaction keeps nothing).
pytestmark = pytest.mark.django_db(transaction=True)


def _course(episode) -> tuple:
    return selectors.progress_inputs(episode).rows


def _values(episode) -> dict[int, tuple]:
    return {row.pk: (row.code, row.value, row.taken_at) for row in _course(episode)}


def test_the_course_is_read_once_and_again_after_any_change(consented_long_ago, needle):
    world = consented_long_ago
    episode = world.episode_a
    signed = session_with_pain(world, needle, 7, 4, days_ago=7)
    first = _course(episode)
    assert len(first) == 2
    with CaptureQueriesContext(connection) as queries:
        assert _course(episode) is first
    assert len(queries) == 1  # the course's state, not its rows

    # A measure of another scale, written straight into the table.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO outcomes_observation (episode_id, code, component, side, timing, value,"
            " recorded_by_id, recorded_at, entered_in_error_reason)"
            " VALUES (%s, 'psfs', '', '', 'reassessment', 4, %s, %s, '')",
            [episode.pk, world.practitioner.pk, dt.datetime.now(dt.UTC)],
        )
    psfs = Observation.objects.get(episode=episode, code="psfs")
    assert _values(episode)[psfs.pk][:2] == ("psfs", Decimal(4))

    # Entered in error (the same measures, changed in place): it leaves the course.
    Observation.objects.filter(pk=psfs.pk).update(entered_in_error_reason="Wrong scale")
    assert psfs.pk not in _values(episode)

    # A draft moved in time: its measures with it.
    draft, _ = chart_services.session_start(
        actor=world.practitioner, episode=episode, screening_status="unchanged",
        consent_confirmed=True, clean_technique=True,
    )  # fmt: skip
    before = Observation.objects.create(
        episode=episode, session=draft, code="nprs", timing="before", value=Decimal(6),
        recorded_by=world.practitioner,
    )  # fmt: skip
    taken = _values(episode)[before.pk][2]
    NeedlingSession.objects.filter(pk=draft.pk).update(
        performed_at=draft.performed_at - dt.timedelta(days=1)
    )
    assert _values(episode)[before.pk][2] == taken - dt.timedelta(days=1)

    # A signed session entered in error: its measures leave the course.
    Addendum.objects.create(
        session=signed, kind="entered-in-error", reason="Wrong patient", author=world.practitioner
    )
    assert {row.session_id for row in _course(episode)} == {draft.pk}


def test_a_course_read_inside_a_transaction_is_not_kept(consented_long_ago, needle):
    world = consented_long_ago
    session_with_pain(world, needle, 7, 4, days_ago=7)
    kept = selectors._kept_course.cache_info().currsize

    class Undone(Exception):
        pass

    with pytest.raises(Undone), transaction.atomic():
        Observation.objects.create(
            episode=world.episode_a, code="psfs", timing="reassessment", value=Decimal(2),
            recorded_by=world.practitioner,
        )  # fmt: skip
        assert "psfs" in {row.code for row in _course(world.episode_a)}
        raise Undone
    assert selectors._kept_course.cache_info().currsize == kept
    # Written again after the rollback (SQLite gives the same id anew): read as it is now.
    Observation.objects.create(
        episode=world.episode_a, code="psfs", timing="reassessment", value=Decimal(9),
        recorded_by=world.practitioner,
    )  # fmt: skip
    assert [row.value for row in _course(world.episode_a) if row.code == "psfs"] == [Decimal(9)]


def test_a_kept_course_hashes_as_its_rows_and_works_the_hash_out_once(consented_long_ago, needle):
    """The progress and its plots are kept by the inputs they are drawn from and looked up
    at every view of the page: the kept rows work their hash out once, and hash and compare
    as the plain tuple of the same rows, so a course read inside a transaction (not kept)
    finds what was drawn from the kept one."""
    world = consented_long_ago
    session_with_pain(world, needle, 7, 4, days_ago=7)
    kept = _course(world.episode_a)
    assert isinstance(kept, selectors.KeptRows)
    plain = tuple(kept)
    assert type(plain) is tuple and plain == kept and hash(plain) == hash(kept)
    assert kept._hash == hash(plain)  # worked out at the first lookup, kept since
    with transaction.atomic():
        read = selectors.progress_inputs(world.episode_a)
    assert type(read.rows) is tuple
    assert read == selectors.progress_inputs(world.episode_a)
    assert hash(read) == hash(selectors.progress_inputs(world.episode_a))


def test_the_signed_sessions_are_kept_with_the_course_and_counted_again_after_any_change(
    consented_long_ago, needle
):
    """The count of signed sessions (the review prompt's) is kept with the course rather
    than counted over every session at each view, and changes at the next view whenever a
    session is signed, moved to another episode, or entered in error, with or without
    measures, on any path."""
    from tests.charts import row

    world = consented_long_ago
    episode = world.episode_a
    session_with_pain(world, needle, 7, 4, days_ago=7)

    def signed() -> int:
        return selectors.progress_inputs(episode).signed_sessions

    assert signed() == 1
    with CaptureQueriesContext(connection) as queries:
        assert signed() == 1
    assert len(queries) == 1  # the course's state: no session or measure read
    assert "charting_needlingsession" not in queries[0]["sql"]
    assert "outcomes_observation" not in queries[0]["sql"]

    # Signed through the services, with no measure: the course's rows stay the same.
    draft, _ = chart_services.session_start(
        actor=world.practitioner, episode=episode, screening_status="unchanged",
        consent_confirmed=True, clean_technique=True,
    )  # fmt: skip
    assert signed() == 1  # a draft does not count
    chart_services.insertion_add(actor=world.practitioner, session=draft, **row(needle))
    chart_services.session_update(actor=world.practitioner, session=draft, needles_opened=1,
                                  needles_removed=1, sharps_disposed=True)  # fmt: skip
    chart_services.session_sign(actor=world.practitioner, session=draft)
    assert signed() == 2

    # Entered in error, written straight into the table: it no longer counts.
    Addendum.objects.create(
        session=draft, kind="entered-in-error", reason="Wrong patient", author=world.practitioner
    )
    assert signed() == 1

    # Drafts signed by plain UPDATEs: each counts in its own episode only.
    from tests import factories

    other = factories.episode(world.patient_a, world.practitioner_a, condition_code="M54.5")
    chart_services.screening_record(actor=world.practitioner, episode=other, factors=[])

    def sign_straight(episode_of) -> None:
        draft, _ = chart_services.session_start(
            actor=world.practitioner, episode=episode_of, screening_status="unchanged",
            consent_confirmed=True, clean_technique=True,
        )  # fmt: skip
        NeedlingSession.objects.filter(pk=draft.pk).update(
            signed_at=dt.datetime.now(dt.UTC), signed_by=world.practitioner
        )

    assert selectors.progress_inputs(other).signed_sessions == 0
    sign_straight(other)
    assert selectors.progress_inputs(other).signed_sessions == 1
    assert signed() == 1
    sign_straight(episode)
    assert signed() == 2


def test_an_episode_removed_while_its_page_is_read_has_an_empty_course(consented_long_ago):
    """The state is read by the episode's key: an episode gone between the page's reads (a
    demo rebuilt under it) reads as having no course, rather than failing the page."""
    from needlechart.patients.models import EpisodeOfCare

    gone = EpisodeOfCare(pk=10**9, patient=consented_long_ago.patient_a, condition_code="M54.2")
    inputs = selectors.progress_inputs(gone)
    assert inputs.rows == () and inputs.signed_sessions == 0
