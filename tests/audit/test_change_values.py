"""A change's audit row keeps what each changed field held before and after, never a secret."""

from needlechart.accounts import services as accounts
from needlechart.audit.models import AuditEvent
from needlechart.charting import services as charting
from needlechart.records import change_detail
from tests import charts


def _last_update(record) -> dict:
    return (
        AuditEvent.objects.filter(action="update", object_id=str(record.pk))
        .order_by("-id")
        .first()
        .detail
    )


def test_the_clinical_record_s_changes_keep_their_old_and_new_values(world):
    chart = charts.build(world.practitioner, world.episode_a, signed=False)
    charting.assessment_update(actor=world.practitioner, assessment=chart.assessment, note="Calf")
    assert _last_update(chart.assessment) == {
        "changed": ["note"], "before": {"note": ""}, "after": {"note": "Calf"},
    }  # fmt: skip
    charting.adverse_event_update(actor=world.practitioner, event=chart.event, severity="moderate")
    # A follow-up is a record of its own; its audit row keeps what the event said before.
    detail = (
        AuditEvent.objects.filter(action="create", object_type="AdverseEvent/FollowUp")
        .get(object_id=str(chart.event.follow_ups.get().pk))
        .detail
    )
    assert detail["before"] == {"severity": "mild"}
    assert detail["after"] == {"severity": "moderate"}


def test_a_staff_change_keeps_old_and_new_values(world):
    staff = world.assistant
    accounts.staff_update(
        actor=world.admin, staff=staff, email="andrew@clinic-a.example.org", first_name="Andy",
        last_name=staff.last_name, role=staff.role, is_active=True,
    )  # fmt: skip
    detail = _last_update(staff)
    assert "email" in detail["changed"]
    assert detail["after"]["email"] == "andrew@clinic-a.example.org"
    assert detail["before"]["first_name"] == "" and detail["after"]["first_name"] == "Andy"


def test_a_secret_is_named_as_changed_but_its_values_are_never_kept(world):
    user = world.assistant
    user.set_password("a-new-long-passphrase")
    detail = change_detail({"password": "old-hash"}, user, ["password"])
    assert detail == {"changed": ["password"], "before": {}, "after": {}}
