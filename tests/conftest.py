"""Personas, in one place: two clinics; in clinic A one user of every role."""

import datetime as dt
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from needlechart.accounts.models import Clinic, Practitioner, Role, User
from needlechart.charting import services
from needlechart.charting.models import Consent, NeedleSize, Screening
from needlechart.patients.models import EpisodeOfCare, Patient
from tests import factories


@dataclass
class World:
    clinic_a: Clinic
    clinic_b: Clinic
    admin: User  # alice: clinic admin of A who also treats (physiotherapist)
    practitioner: User  # paula: practitioner in A with a current credential
    assistant: User  # andy
    front_desk: User  # fiona
    other_practitioner: User  # bob: practitioner in clinic B
    patient_a: Patient
    episode_a: EpisodeOfCare
    patient_b: Patient
    episode_b: EpisodeOfCare
    patient_user: User  # ann: patient A's portal account

    @property
    def portal_patient(self) -> User:
        return self.patient_user

    def by_role(self, role: str) -> User | None:
        return {
            "anonymous": None,
            "front desk": self.front_desk,
            "assistant": self.assistant,
            "practitioner": self.practitioner,
            "clinic admin": self.admin,
            "patient": self.patient_user,
        }[role]

    @property
    def practitioner_a(self) -> Practitioner:
        return self.practitioner.practitioner

    @property
    def practitioner_b(self) -> Practitioner:
        return self.other_practitioner.practitioner


@pytest.fixture
def world(db) -> World:
    clinic_a = factories.clinic("Clinic A")
    clinic_b = factories.clinic("Clinic B")
    alice = factories.practitioner(
        clinic_a, "alice", role=Role.CLINIC_ADMIN, first_name="Alice", last_name="Admin"
    )
    paula = factories.practitioner(clinic_a, "paula", first_name="Paula", last_name="Physio")
    today = dt.date.today()
    factories.credential(alice, today - dt.timedelta(days=700), today + dt.timedelta(days=400))
    factories.credential(paula, today - dt.timedelta(days=400), today + dt.timedelta(days=3 * 365))
    andy = factories.user(clinic_a, "andy", Role.ASSISTANT)
    fiona = factories.user(clinic_a, "fiona", Role.FRONT_DESK)
    bob = factories.practitioner(clinic_b, "bob")
    factories.credential(bob, today - dt.timedelta(days=100), today + dt.timedelta(days=365))
    patient_a = factories.patient(
        clinic_a, given_name="Ann", family_name="Smith", email="ann@example.org"
    )
    patient_b = factories.patient(clinic_b, given_name="Ben", family_name="Jones")
    return World(
        clinic_a=clinic_a,
        clinic_b=clinic_b,
        admin=alice.user,
        practitioner=paula.user,
        assistant=andy,
        front_desk=fiona,
        other_practitioner=bob.user,
        patient_a=patient_a,
        episode_a=factories.episode(patient_a, paula),
        patient_b=patient_b,
        episode_b=factories.episode(patient_b, bob),
        patient_user=factories.portal_account(patient_a).user,
    )


@pytest.fixture(autouse=True, scope="session")
def mail_only_after_commit(django_test_environment) -> None:
    """Every test's outbox refuses an email sent while a transaction is open (tests/mail.py)."""
    settings.EMAIL_BACKEND = "tests.mail.Backend"


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> None:
    """Each test starts with no rate-limit counts (tests/settings.py keeps them in memory)."""
    from django.core.cache import caches

    caches["limits"].clear()


@pytest.fixture(autouse=True)
def no_kept_dashboard() -> None:
    """Each test starts with no dashboard figures kept from another test's clinic (the test
    databases give the same ids again)."""
    from needlechart.outcomes import dashboard

    dashboard.forget_kept()


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


# Charting fixtures, shared by the charting and outcomes tests.
@pytest.fixture
def needle(world) -> NeedleSize:
    services.needle_sizes(world.clinic_a)
    return NeedleSize.objects.get(clinic=world.clinic_a, diameter_mm="0.25", length_mm=40)


@pytest.fixture
def consented(world):
    """Clinic A's patient with a clean screening and a signed consent."""
    services.screening_record(actor=world.practitioner, episode=world.episode_a, factors=[])
    template = services.current_template(clinic=world.clinic_a, kind="consent")
    services.consent_sign(
        actor=world.practitioner,
        patient=world.patient_a,
        template=template,
        signed_name="Ann Smith",
        confirmed=True,
    )
    return world


@pytest.fixture
def consented_long_ago(world):
    """Clinic A's patient screened and consented months ago, for histories of past sessions.
    Screenings and consents are append-only, so the old ones are written as they were then."""
    Screening.objects.create(
        episode=world.episode_a,
        factors=[],
        recorded_by=world.practitioner,
        recorded_at=timezone.now() - dt.timedelta(days=120),
    )
    Consent.objects.create(
        patient=world.patient_a,
        template=services.current_template(clinic=world.clinic_a, kind="consent"),
        signed_name="Ann Smith",
        signed_at=timezone.now() - dt.timedelta(days=120),
        witnessed_by=world.practitioner,
    )
    return world


@pytest.fixture
def session(consented, needle):
    """A draft session by Paula on episode A, ready for rows."""
    session, _ = services.session_start(
        actor=consented.practitioner,
        episode=consented.episode_a,
        screening_status="unchanged",
        consent_confirmed=True,
        clean_technique=True,
    )
    return session
