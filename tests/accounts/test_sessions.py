"""Sessions that end: after the clinic's idle period (15 minutes unless it sets 5 to 60) and
12 hours after signing in, for staff and patients, audited, and back to the same page."""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from needlechart.accounts import services
from needlechart.audit.models import AuditEvent
from tests import factories


def _signed_in(username: str, password: str = factories.PASSWORD, portal: bool = False):
    client = Client()
    login = reverse("portal:login" if portal else "login")
    assert client.post(login, {"username": username, "password": password}).status_code == 302
    return client


@pytest.fixture
def start():
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def test_an_idle_staff_session_is_signed_out_and_sent_back_to_the_same_page(world, start):
    client = _signed_in("paula")
    url = reverse("patients:detail", args=[world.patient_a.pk])
    start.shift(dt.timedelta(minutes=14))
    assert client.get(url).status_code == 200  # activity within the limit
    start.shift(dt.timedelta(minutes=14))
    assert client.get(url).status_code == 200  # the limit counts from the last request
    start.shift(dt.timedelta(minutes=15, seconds=5))
    response = client.get(url)
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"
    assert "_auth_user_id" not in client.session
    page = client.get(response.url).content.decode()
    assert "after 15 minutes without activity" in page
    ended = AuditEvent.objects.filter(action="logout", username="paula").get()
    assert "without activity" in ended.detail["reason"]
    # Signing in again goes back to the page.
    again = client.post(response.url, {"username": "paula", "password": factories.PASSWORD})
    assert again.url == url


def test_the_clinic_sets_the_idle_period_within_5_to_60_minutes(world, start):
    services.clinic_update(actor=world.admin, idle_minutes=30)
    client = _signed_in("paula")
    start.shift(dt.timedelta(minutes=29))
    assert client.get(reverse("home")).status_code == 200
    start.shift(dt.timedelta(minutes=31))
    assert client.get(reverse("home")).status_code == 302
    admin = _signed_in("alice")
    for minutes, accepted in ((4, False), (61, False), (5, True), (60, True)):
        form = admin.get(reverse("charting:clinic")).context["form"]
        data = {k: v for k, v in form.initial.items() if v is not None}
        data.update(idle_minutes=minutes, consent_states_training="")
        response = admin.post(reverse("charting:clinic"), data)
        assert (response.status_code == 302) is accepted, (minutes, response.status_code)
        if not accepted:
            assert "idle_minutes" in response.context["form"].errors


def test_a_session_ends_12_hours_after_signing_in_however_active(world, start):
    client = _signed_in("paula")
    for _ in range(12 * 6):  # a request every 10 minutes for 12 hours: never idle
        start.shift(dt.timedelta(minutes=10))
        assert client.get(reverse("home")).status_code == 200
    start.shift(dt.timedelta(minutes=1))
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert "12 hours after signing in" in client.get(response.url).content.decode()


def test_an_idle_portal_session_ends_at_the_portal_sign_in(world, start):
    client = _signed_in("ann@example.org", portal=True)
    assert client.get(reverse("portal:home")).status_code == 200
    start.shift(dt.timedelta(minutes=16))
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("portal:login"))


def test_stay_signed_in_counts_as_activity(world, start):
    client = _signed_in("paula")
    start.shift(dt.timedelta(minutes=13))
    assert client.post(reverse("session_keepalive")).status_code == 204
    start.shift(dt.timedelta(minutes=13))
    assert client.get(reverse("home")).status_code == 200
    patient = _signed_in("ann@example.org", portal=True)
    start.shift(dt.timedelta(minutes=13))
    assert patient.post(reverse("portal:session_keepalive")).status_code == 204
    start.shift(dt.timedelta(minutes=13))
    assert patient.get(reverse("portal:home")).status_code == 200


def test_pages_tell_the_browser_when_to_warn(world):
    client = _signed_in("paula")
    page = client.get(reverse("home")).content.decode()
    assert (
        'data-idle-seconds="900"' in page
        and 'data-keepalive="/accounts/session/keepalive/"' in page
    )


def test_a_session_past_its_expiry_date_or_gone_signs_no_one_in(world):
    """Sessions are read by their key alone (accounts/session_store.py, compiled once): one
    past its expiry in the database reads as none, as Django's own store reads it, and so
    does a key with no row (signed out in another tab, or made up)."""
    from django.contrib.sessions.models import Session

    url = reverse("patients:detail", args=[world.patient_a.pk])
    client = _signed_in("paula")
    assert client.get(url).status_code == 200
    key = client.cookies["sessionid"].value
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    client = _signed_in("paula")
    assert client.get(url).status_code == 200
    Session.objects.filter(session_key=client.cookies["sessionid"].value).delete()
    assert client.get(url).status_code == 302
    client.cookies["sessionid"] = "x" * 32
    assert client.get(url).status_code == 302
