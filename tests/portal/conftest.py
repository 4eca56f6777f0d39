"""Portal fixtures: patient A's portal account is `world.patient_user` (tests/conftest.py)."""

import datetime as dt

import pytest
from django.utils import timezone

from needlechart.charting import services as charting
from needlechart.charting.models import NeedlingSession
from tests.charts import row


def signed_session(
    world, needle, hours_ago: float, muscle: str = "gastrocnemius", episode=None
) -> NeedlingSession:
    """A session of Paula's (on episode A unless told), performed `hours_ago` and signed."""
    session, _ = charting.session_start(
        actor=world.practitioner, episode=episode or world.episode_a, screening_status="unchanged", consent_confirmed=True,
        clean_technique=True, performed_at=timezone.now() - dt.timedelta(hours=hours_ago),
    )  # fmt: skip
    charting.insertion_add(actor=world.practitioner, session=session, **row(needle, muscle))
    charting.session_update(
        actor=world.practitioner,
        session=session,
        needles_opened=1,
        needles_removed=1,
        sharps_disposed=True,
    )
    return charting.session_sign(actor=world.practitioner, session=session)


@pytest.fixture
def session_26h(consented_long_ago, needle):
    """Signed 26 hours ago: the 24-hour check-in is open, the 48-hour one not yet."""
    return signed_session(consented_long_ago, needle, 26)
