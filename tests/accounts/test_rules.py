import datetime as dt

import pytest

from needlechart.accounts.models import Role
from needlechart.accounts.rules import QualificationStatus, is_qualified_to_needle, qualification
from tests import factories

TODAY = dt.date(2026, 11, 24)


@pytest.fixture
def clinic(db):
    return factories.clinic()


def test_a_practitioner_with_a_current_credential_may_needle(clinic):
    paula = factories.practitioner(clinic, "paula")
    factories.credential(paula, dt.date(2025, 1, 1), dt.date(2027, 1, 1))
    assert is_qualified_to_needle(paula, on=TODAY)


def test_qualification_holds_on_the_expiry_day_and_lapses_the_day_after(clinic):
    paula = factories.practitioner(clinic, "paula")
    factories.credential(paula, dt.date(2024, 1, 1), TODAY)
    assert is_qualified_to_needle(paula, on=TODAY)
    assert not is_qualified_to_needle(paula, on=TODAY + dt.timedelta(days=1))


def test_a_credential_counts_only_from_its_completion_date(clinic):
    paula = factories.practitioner(clinic, "paula")
    factories.credential(paula, TODAY, None)
    assert not is_qualified_to_needle(paula, on=TODAY - dt.timedelta(days=1))
    assert is_qualified_to_needle(paula, on=TODAY)


def test_without_any_credential_nobody_may_needle(clinic):
    assert not is_qualified_to_needle(factories.practitioner(clinic, "paula"), on=TODAY)


def test_an_inactive_account_may_not_needle_whatever_its_credential(clinic):
    paula = factories.practitioner(clinic, "paula", is_active=False)
    factories.credential(paula, dt.date(2025, 1, 1), None)
    assert not is_qualified_to_needle(paula, on=TODAY)


def test_an_assistant_may_not_needle_even_with_a_credential(clinic):
    andy = factories.practitioner(clinic, "andy", role=Role.ASSISTANT)
    factories.credential(andy, dt.date(2025, 1, 1), None)
    assert not is_qualified_to_needle(andy, on=TODAY)


def test_a_clinic_admin_who_treats_may_needle(clinic):
    alice = factories.practitioner(clinic, "alice", role=Role.CLINIC_ADMIN)
    factories.credential(alice, dt.date(2025, 1, 1), dt.date(2027, 1, 1))
    assert is_qualified_to_needle(alice, on=TODAY)


@pytest.mark.parametrize(
    ("credentials", "status", "until"),
    [
        ([], QualificationStatus.NONE, None),
        ([(dt.date(2020, 1, 1), dt.date(2026, 1, 1))], QualificationStatus.LAPSED, None),
        ([(dt.date(2024, 1, 1), dt.date(2027, 6, 1))], QualificationStatus.QUALIFIED, dt.date(2027, 6, 1)),
        ([(dt.date(2024, 1, 1), dt.date(2027, 1, 23))], QualificationStatus.EXPIRING, dt.date(2027, 1, 23)),
        ([(dt.date(2024, 1, 1), dt.date(2027, 1, 24))], QualificationStatus.QUALIFIED, dt.date(2027, 1, 24)),
        ([(dt.date(2024, 1, 1), None)], QualificationStatus.QUALIFIED, None),
        # A renewed course replaces the expiring one.
        (
            [(dt.date(2023, 1, 1), dt.date(2026, 12, 1)), (dt.date(2026, 11, 1), dt.date(2029, 11, 1))],
            QualificationStatus.QUALIFIED,
            dt.date(2029, 11, 1),
        ),
    ],
)  # fmt: skip
def test_the_practitioners_page_status_follows_the_60_day_warning(
    clinic, credentials, status, until
):
    paula = factories.practitioner(clinic, "paula")
    for completed, expires in credentials:
        factories.credential(paula, completed, expires)
    result = qualification(paula.credentials.all(), TODAY)
    assert result.status == status
    assert result.valid_until == until
