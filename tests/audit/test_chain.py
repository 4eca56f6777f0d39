"""The audit trail shows tampering: `audit-verify` passes on a clean trail and names the first
row after an UPDATE, DELETE or INSERT made with raw SQL by someone who got round the
append-only triggers (an owner of the tables). On SQLite and PostgreSQL."""

import io
import itertools

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from needlechart.audit import chain
from needlechart.audit import services as audit
from needlechart.audit.models import AuditChain, AuditEvent, AuditVerification
from needlechart.db import guards
from tests.conftest import client_for
from tests.sql import captured


@pytest.fixture
def trail(world) -> list[AuditEvent]:
    """A few rows in clinic A's chain, besides those the personas' setup wrote."""
    return [
        audit.record(actor=world.practitioner, action=audit.Action.VIEW, obj=world.patient_a,
                     detail={"n": n, "note": "Ünïcode ✓", "nested": {"b": 1, "a": [1.5, None]}})
        for n in range(5)
    ]  # fmt: skip


def _verify(clinic) -> str:
    out = io.StringIO()
    call_command("audit-verify", "--clinic", str(clinic.pk), stdout=out)
    return out.getvalue()


def _broken(clinic) -> str:
    with pytest.raises(CommandError) as refused:
        _verify(clinic)
    return str(refused.value)


def _tamper(sql: str, *params: object) -> None:
    """As an owner of the tables would: the triggers lifted for one statement."""
    with guards.lifted(connection), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_every_row_takes_the_next_place_in_its_clinics_chain(trail, world):
    rows = list(AuditEvent.objects.filter(chain=world.clinic_a.pk).order_by("sequence"))
    assert [r.sequence for r in rows] == list(range(1, len(rows) + 1))
    assert all(r.previous_hash == before.hash for before, r in itertools.pairwise(rows))
    assert rows[0].previous_hash == chain.GENESIS
    assert AuditChain.objects.get(chain=world.clinic_a.pk).sequence == len(rows)
    # Another clinic's rows are a chain of their own.
    audit.record(actor=world.other_practitioner, action=audit.Action.VIEW, obj=world.patient_b)
    assert AuditEvent.objects.get(patient=world.patient_b).sequence >= 1


def test_a_clean_trail_verifies_and_the_walk_is_kept(trail, world):
    assert "intact" in _verify(world.clinic_a)
    kept = AuditVerification.objects.get(chain=world.clinic_a.pk)
    assert kept.intact and kept.last_sequence == AuditChain.objects.get(chain=kept.chain).sequence
    # Rows written since stay fine, and a bulk write (a list page) takes its places too.
    audit.record_each(actor=world.practitioner, action=audit.Action.LIST,
                      objects=[world.patient_a] * 3)  # fmt: skip
    assert "intact" in _verify(world.clinic_a)


@pytest.mark.parametrize("rows", [1, 3, chain.ROWS_WITH_THEIR_SEAL, chain.ROWS_WITH_THEIR_SEAL + 1])
def test_the_chains_head_keeps_the_last_rows_seal_whatever_a_write_brings(trail, world, rows):
    """A page's one row, a list's rows (written with the chain's new seal in one statement
    on PostgreSQL) or an import's (copied, the seal set apart): the head holds the seal of
    the write's last row, which the next row follows, and the chain verifies."""
    patients = [world.patient_a] * rows
    audit.record_each(actor=world.practitioner, action=audit.Action.LIST, objects=patients)
    audit.record(actor=world.practitioner, action=audit.Action.VIEW, obj=world.patient_a)
    last_two = list(AuditEvent.objects.filter(chain=world.clinic_a.pk).order_by("-sequence")[:2])
    head = AuditChain.objects.get(chain=world.clinic_a.pk)
    assert (head.sequence, head.last_hash) == (last_two[0].sequence, last_two[0].hash)
    assert last_two[0].previous_hash == last_two[1].hash
    assert "intact" in _verify(world.clinic_a)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_list_of_any_length_is_audited_by_one_statement_the_driver_can_keep(trail, world):
    """PostgreSQL's driver keeps a prepared statement for each statement run often, a
    hundred at most: a statement per length of list would crowd out the pages' own."""
    written = set()
    for length in (2, 3, 7, 25):
        with captured() as run:
            audit.record_each(
                actor=world.practitioner,
                action=audit.Action.LIST,
                objects=[world.patient_a] * length,
            )
        written |= {sql for sql, _ in run if "audit_auditevent" in sql}
    assert len(written) == 1
    assert "intact" in _verify(world.clinic_a)


def test_one_write_for_two_clinics_seals_each_chain_apart(trail, world):
    """The rows of one write may fall in two chains (a system job's rows of each clinic):
    each chain's head takes the seal of its own last row."""
    audit.record_together(
        actor=None,
        rows=[{"action": audit.Action.VIEW, "obj": world.patient_a},
              {"action": audit.Action.VIEW, "obj": world.patient_b},
              {"action": audit.Action.VIEW, "obj": world.patient_a}],
    )  # fmt: skip
    for clinic in (world.clinic_a, world.clinic_b):
        last = AuditEvent.objects.filter(chain=clinic.pk).order_by("-sequence").first()
        head = AuditChain.objects.get(chain=clinic.pk)
        assert last.patient.clinic == clinic
        assert (head.sequence, head.last_hash) == (last.sequence, last.hash)
        assert "intact" in _verify(clinic)


def test_a_row_changed_in_place_is_named(trail, world):
    target = trail[2]
    _tamper("UPDATE audit_auditevent SET username = 'someone-else' WHERE id = %s", target.pk)
    message = _broken(world.clinic_a)
    assert f"row {target.pk}" in message and "changed" in message


def test_a_changed_detail_is_named(trail, world):
    target = trail[1]
    detail = '{"n": 99}'
    _tamper("UPDATE audit_auditevent SET detail = %s WHERE id = %s", detail, target.pk)
    assert f"row {target.pk}" in _broken(world.clinic_a)


def test_a_deleted_row_is_named_by_the_row_after_it(trail, world):
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", trail[2].pk)
    message = _broken(world.clinic_a)
    assert f"row {trail[3].pk}" in message and "removed" in message


def test_rows_removed_from_the_end_are_noticed(trail, world):
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", trail[-1].pk)
    assert "removed from its end" in _broken(world.clinic_a)


def test_rows_cut_from_the_end_with_the_head_put_back_are_noticed_by_the_last_walk(trail, world):
    assert "intact" in _verify(world.clinic_a)
    last = trail[-1]
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", last.pk)
    _tamper(
        "UPDATE audit_auditchain SET sequence = %s, last_hash = %s WHERE chain = %s",
        last.sequence - 1, last.previous_hash, world.clinic_a.pk,
    )  # fmt: skip
    assert "cut short or rewritten" in _broken(world.clinic_a)


def test_a_row_inserted_with_raw_sql_is_named(trail, world):
    first = trail[0]
    _tamper(
        "INSERT INTO audit_auditevent (recorded_at, clinic_id, user_id, username, patient_id,"
        " action, object_type, object_id, client_address, detail, chain, sequence,"
        " previous_hash, hash) SELECT recorded_at, clinic_id, user_id, username, patient_id,"
        " 'export', object_type, object_id, client_address, detail, chain, NULL, '', ''"
        " FROM audit_auditevent WHERE id = %s",
        first.pk,
    )
    forged = AuditEvent.objects.filter(action="export").get()
    message = _broken(world.clinic_a)
    assert f"row {forged.pk}" in message and "outside the audit trail" in message


def test_a_backdated_row_saved_through_the_orm_is_named(trail, world):
    import datetime as dt

    forged = AuditEvent(
        recorded_at=trail[0].recorded_at - dt.timedelta(days=30), clinic=world.clinic_a,
        user=world.practitioner, username="paula", action="view", object_type="Patient",
        object_id=str(world.patient_a.pk), chain=world.clinic_a.pk,
    )  # fmt: skip
    forged.save()
    assert f"row {forged.pk}" in _broken(world.clinic_a)


def test_a_row_moved_to_another_place_is_named(trail, world):
    # Its place taken by a row sealed for another: the seal no longer matches.
    _tamper("UPDATE audit_auditevent SET action = 'update' WHERE id = %s", trail[4].pk)
    assert f"row {trail[4].pk}" in _broken(world.clinic_a)


def test_rows_sealed_with_the_previous_key_verify_after_a_rotation(trail, world, settings):
    old = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-key-" + "x" * 50, [old]
    audit.record(actor=world.practitioner, action=audit.Action.VIEW, obj=world.patient_a)
    assert "intact" in _verify(world.clinic_a)
    settings.SECRET_KEY_FALLBACKS = []
    assert "changed" in _broken(world.clinic_a)
    # After a suspected leak the old key signs nothing any more, yet its rows still verify.
    settings.AUDIT_RETIRED_KEYS = [old]
    assert "intact" in _verify(world.clinic_a)


def test_verify_every_chain_and_refuse_an_unknown_clinic(trail, world):
    out = io.StringIO()
    call_command("audit-verify", stdout=out)
    assert f"clinic {world.clinic_a.pk}" in out.getvalue()
    with pytest.raises(CommandError, match="no clinic 987654"):
        call_command("audit-verify", "--clinic", "987654")


def test_the_audit_page_shows_when_the_chain_was_last_verified(trail, world):
    admin = client_for(world.admin)
    assert "not been verified yet" in admin.get(reverse("audit:list")).content.decode()
    _verify(world.clinic_a)
    page = admin.get(reverse("audit:list")).content.decode()
    assert "verified intact" in page
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", trail[2].pk)
    _broken(world.clinic_a)
    assert "found broken" in admin.get(reverse("audit:list")).content.decode()
