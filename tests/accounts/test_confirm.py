"""Signing a record long after signing in asks for the password again first."""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from needlechart.accounts import services as account_services
from needlechart.audit.models import AuditEvent
from needlechart.charting.models import Assessment
from tests import charts, factories


@pytest.fixture
def start():
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def _active_for(client: Client, start, minutes: int) -> None:
    """Keep the session busy (a page every 10 minutes) for this long."""
    for _ in range(minutes // 10):
        start.shift(dt.timedelta(minutes=10))
        assert client.get(reverse("home")).status_code == 200
    start.shift(dt.timedelta(minutes=minutes % 10))


def _draft_assessment(world):
    built = charts.build(world.practitioner, world.episode_a, signed=False)
    return built.assessment


def test_signing_long_after_signing_in_asks_for_the_password_first(world, start):
    assessment = _draft_assessment(world)
    client = Client()
    client.post(reverse("login"), {"username": "paula", "password": factories.PASSWORD})
    _active_for(client, start, 65)
    page = reverse("charting:assessment", args=[assessment.pk])
    sign = reverse("charting:assessment_sign", args=[assessment.pk])
    asked = client.post(sign, HTTP_REFERER=f"http://testserver{page}")
    assert asked.status_code == 302 and asked.url.startswith(reverse("confirm_identity"))
    assessment.refresh_from_db()
    assert assessment.signed_at is None  # nothing signed
    wrong = client.post(asked.url, {"secret": "not-my-password"})
    assert wrong.status_code == 400 and "did not match" in wrong.content.decode()
    right = client.post(asked.url, {"secret": factories.PASSWORD})
    assert right.status_code == 302 and right.url.endswith(page)
    assert AuditEvent.objects.filter(username="paula", detail__confirmed="to sign").exists()
    assert client.post(sign).status_code == 302
    assessment.refresh_from_db()
    assert assessment.signed_at is not None


def test_within_the_clinics_limit_signing_asks_nothing(world, start):
    account_services.clinic_update(actor=world.admin, sign_confirm_minutes=120)
    assessment = _draft_assessment(world)
    client = Client()
    client.post(reverse("login"), {"username": "paula", "password": factories.PASSWORD})
    _active_for(client, start, 65)
    response = client.post(reverse("charting:assessment_sign", args=[assessment.pk]))
    assert not response.url.startswith(reverse("confirm_identity"))
    assert Assessment.objects.get(pk=assessment.pk).signed_at is not None
