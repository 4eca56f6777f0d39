"""Plain builders for test records; each takes only what a test cares about."""

import datetime as dt
import itertools
from decimal import Decimal

from needlechart.accounts.models import (
    Clinic,
    DryNeedlingCredential,
    Practitioner,
    Profession,
    Role,
    User,
)
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.portal.models import PortalAccount

PASSWORD = "correct-horse-battery"
_numbers = itertools.count(1)


def clinic(name: str = "Clinic", **fields) -> Clinic:
    # Two-factor sign-in off unless a test asks for it (tests/accounts/test_two_factor.py):
    # the model's default requires it, and every other test signs in with a password.
    fields.setdefault("two_factor", "none")
    return Clinic.objects.create(name=name, timezone=fields.pop("timezone", "UTC"), **fields)


def user(clinic: Clinic, username: str, role: Role, **fields) -> User:
    account = User(clinic=clinic, username=username, role=role, email=f"{username}@example.org")
    for name, value in fields.items():
        setattr(account, name, value)
    account.set_password(PASSWORD)
    account.save()
    return account


def practitioner(
    clinic: Clinic,
    username: str,
    role: Role = Role.PRACTITIONER,
    profession: Profession = Profession.PHYSIOTHERAPIST,
    **fields,
) -> Practitioner:
    return Practitioner.objects.create(
        user=user(clinic, username, role, **fields), profession=profession
    )


def credential(
    practitioner: Practitioner,
    completed_on: dt.date,
    expires_on: dt.date | None,
) -> DryNeedlingCredential:
    return DryNeedlingCredential.objects.create(
        practitioner=practitioner,
        course="Dry needling foundations",
        provider="Test Academy",
        hours=Decimal("27.0"),
        completed_on=completed_on,
        expires_on=expires_on,
        recorded_by=practitioner.user,
    )


def patient(clinic: Clinic, **fields) -> Patient:
    number = next(_numbers)
    values = {
        "mrn": f"T{number:05d}",
        "given_name": "Pat",
        "family_name": f"Patient{number}",
        "birth_date": dt.date(1980, 5, 17),
        "sex": "female",
    }
    values.update(fields)
    return Patient.objects.create(clinic=clinic, **values)


def episode(patient: Patient, care_manager: Practitioner, **fields) -> EpisodeOfCare:
    values = {
        "condition_code": "M54.2",
        "body_area": "neck",
        "referral_source": "self",
        "period_start": dt.date(2026, 1, 5),
    }
    values.update(fields)
    return EpisodeOfCare.objects.create(patient=patient, care_manager=care_manager, **values)


def portal_account(patient: Patient, email: str | None = None) -> PortalAccount:
    """A patient who already accepted their invitation (the invitation flow has its tests)."""
    address = email or patient.email or f"patient{patient.pk}@example.org"
    account = User(
        username=address.lower(),
        email=address,
        first_name=patient.given_name,
        last_name=patient.family_name,
    )
    account.set_password(PASSWORD)
    account.save()
    return PortalAccount.objects.create(patient=patient, user=account)


def overdue_reviews(clinic: Clinic, care_manager: Practitioner, count: int, by: User) -> list:
    """`count` new patients, each with an active episode whose plan's review date passed three
    days ago: the episodes the dashboard lists as due for review."""
    from needlechart.outcomes.models import CarePlan

    overdue = dt.date.today() - dt.timedelta(days=3)
    episodes = []
    for number in range(count):
        episode_ = episode(patient(clinic, family_name=f"Due{number}"), care_manager)
        CarePlan.objects.create(
            episode=episode_, version=1, planned_sessions=4, frequency="weekly",
            review_on=overdue, created_by=by,
        )  # fmt: skip
        episodes.append(episode_)
    return episodes
