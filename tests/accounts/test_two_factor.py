"""Two-factor sign-in: required staff reach nothing until they set it up; with an app the
code is asked after the password; a recovery code works once; wrong codes count toward the
lockout; only a clinic admin resets it, audited."""

import io
import re
import time

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from needlechart.accounts.models import Clinic, RecoveryCode, TwoFactor
from needlechart.audit.models import AuditEvent
from tests import factories
from tests.totp import current_code, next_code


def _password(client: Client, username: str) -> None:
    response = client.post(reverse("login"), {"username": username, "password": factories.PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]


@pytest.fixture
def required(world):
    world.clinic_a.two_factor = TwoFactor.CLINICIANS
    world.clinic_a.save()
    return world


def _setup(client: Client, username: str) -> tuple[TOTPDevice, list[str]]:
    page = client.get(reverse("two_factor_setup"))
    assert page.status_code == 200
    secret = page.context["secret"]
    device = TOTPDevice.objects.get(user__username=username, confirmed=False)
    assert secret.replace(" ", "") in device.config_url  # the key shown is the key scanned
    assert page.context["qr"].startswith("data:image/svg+xml")
    wrong = client.post(reverse("two_factor_setup"), {"code": "000000"})
    assert wrong.status_code == 400 and "not the one the app shows" in wrong.content.decode()
    done = client.post(reverse("two_factor_setup"), {"code": current_code(device)})
    assert done.status_code == 200
    codes = re.findall(r"<code>([0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4})</code>", done.content.decode())
    device.refresh_from_db()
    assert device.confirmed and len(codes) == 10
    return device, codes


def test_a_required_user_reaches_nothing_until_two_factor_is_set_up(required):
    client = Client()
    _password(client, "paula")
    for url in (reverse("home"), reverse("patients:list"),
                reverse("patients:detail", args=[required.patient_a.pk])):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(
            reverse("two_factor_setup")
        ), url
    _, codes = _setup(client, "paula")
    assert client.get(reverse("home")).status_code == 200
    event = AuditEvent.objects.get(username="paula", action="update", detail__two_factor="set up")
    assert event.object_id == str(required.practitioner.pk)
    # Only hashes are kept.
    stored = " ".join(RecoveryCode.objects.values_list("code_hash", flat=True))
    assert not any(code.replace("-", "") in stored for code in codes)


def test_the_code_is_asked_after_the_password_and_a_recovery_code_works_once(required):
    first = Client()
    _password(first, "paula")
    device, codes = _setup(first, "paula")
    second = Client()
    _password(second, "paula")
    response = second.get(reverse("home"))
    assert response.url.startswith(reverse("two_factor_verify"))
    # The setup page cannot replace the app with the password alone.
    assert second.get(reverse("two_factor_setup")).url.startswith(reverse("two_factor_verify"))
    assert second.post(reverse("two_factor_verify"), {"code": codes[0]}).status_code == 302
    assert second.get(reverse("home")).status_code == 200
    third = Client()
    _password(third, "paula")
    again = third.post(reverse("two_factor_verify"), {"code": codes[0]})
    assert again.status_code == 400 and "did not match" in again.content.decode()
    ok = third.post(reverse("two_factor_verify"), {"code": next_code(device)})
    assert ok.status_code == 302 and third.get(reverse("home")).status_code == 200
    used = AuditEvent.objects.get(detail__two_factor="recovery code used")
    assert used.detail["codes_left"] == 9


def test_wrong_codes_count_toward_the_lockout(required, settings):
    client = Client()
    _password(client, "paula")
    _setup(client, "paula")
    attacker = Client()
    _password(attacker, "paula")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attacker.post(reverse("two_factor_verify"), {"code": "123456"})
    locked = attacker.post(reverse("two_factor_verify"), {"code": "123456"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in attacker.session
    # The right password is refused now too, from anywhere.
    late = Client(REMOTE_ADDR="203.0.113.50")
    refused = late.post(reverse("login"), {"username": "paula", "password": factories.PASSWORD})
    assert refused.status_code == 429 and "_auth_user_id" not in late.session


def test_only_a_clinic_admin_resets_it_and_it_is_audited(required):
    client = Client()
    _password(client, "paula")
    _setup(client, "paula")
    url = reverse("accounts:staff_two_factor_reset", args=[required.practitioner.pk])
    assert client.post(url).status_code == 403
    stale = Client()
    _password(stale, "paula")
    assert stale.get(reverse("home")).url.startswith(reverse("two_factor_verify"))
    admin = Client()
    _password(admin, "alice")
    _setup(admin, "alice")
    staff = admin.get(reverse("accounts:staff")).content.decode()
    assert "Reset two-factor" in staff
    assert admin.post(url).status_code == 302
    assert not TOTPDevice.objects.filter(user=required.practitioner).exists()
    assert not RecoveryCode.objects.filter(user=required.practitioner).exists()
    assert AuditEvent.objects.filter(username="alice", detail__two_factor="reset").exists()
    # Paula, at the code page on another device when the reset came, is not left asking for
    # a code that no app gives: she is sent to set it up again.
    went = stale.get(reverse("two_factor_verify"), {"next": reverse("home")}, follow=True)
    assert went.redirect_chain[-1][0].startswith(reverse("two_factor_setup"))
    # Another clinic's admin gets a 404.
    other = Client()
    _password(other, "bob")
    other_url = reverse("accounts:staff_two_factor_reset", args=[required.admin.pk])
    assert other.post(other_url).status_code == 404


def test_the_clinic_chooses_whom_it_requires(required):
    required.clinic_a.two_factor = TwoFactor.ADMINS
    required.clinic_a.save()
    practitioner = Client()
    _password(practitioner, "paula")
    assert practitioner.get(reverse("home")).status_code == 200
    admin = Client()
    _password(admin, "alice")
    assert admin.get(reverse("home")).url.startswith(reverse("two_factor_setup"))


def test_a_new_clinic_requires_it_and_the_demo_clinics_do_not(db):
    call_command("create-clinic", "--name", "Harbour Physio", "--admin-username", "hadmin",
                 "--admin-email", "h@example.org", stdout=io.StringIO())  # fmt: skip
    assert Clinic.objects.get(name="Harbour Physio").two_factor == TwoFactor.CLINICIANS
    from needlechart.accounts import services

    demo, _ = services.clinic_create(name="Demo", timezone="UTC", admin_username="dadmin",
                                     admin_email="d@example.org", is_demo=True)  # fmt: skip
    assert demo.two_factor == TwoFactor.NONE
    page = Client().get(reverse("login")).content.decode()
    assert "do not require two-factor sign-in" in page


def test_a_patient_may_turn_it_on_in_the_portal_and_is_then_asked_for_the_code(world):
    client = Client()
    signed_in = client.post(
        reverse("portal:login"), {"username": "ann@example.org", "password": factories.PASSWORD}
    )
    assert signed_in.status_code == 302
    assert client.get(reverse("portal:home")).status_code == 200  # not required of patients
    page = client.get(reverse("portal:two_factor_setup"))
    assert page.status_code == 200 and "portal-bar" in page.content.decode()
    device = TOTPDevice.objects.get(user=world.patient_user, confirmed=False)
    done = client.post(reverse("portal:two_factor_setup"), {"code": current_code(device)})
    assert "Two-factor sign-in is on" in done.content.decode()
    again = Client()
    again.post(
        reverse("portal:login"), {"username": "ann@example.org", "password": factories.PASSWORD}
    )
    response = again.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("portal:two_factor_verify"))
    ok = again.post(reverse("portal:two_factor_verify"), {"code": next_code(device)})
    assert ok.status_code == 302 and ok.url == reverse("portal:home")
    assert again.get(reverse("portal:home")).status_code == 200


def test_a_code_typed_as_the_app_turns_over_leaves_the_next_sign_in_working(required, monkeypatch):
    """The app's code changes every 30 seconds; a code read just before it changed and typed
    just after is accepted, and the code the app shows at the next sign-in works too."""
    client = Client()
    _password(client, "paula")
    client.get(reverse("two_factor_setup"))
    device = TOTPDevice.objects.get(user__username="paula", confirmed=False)
    period = int(time.time()) // device.step + 10
    monkeypatch.setattr(time, "time", lambda: period * device.step + 1.0)
    late = client.post(reverse("two_factor_setup"), {"code": _code_of(device, period - 1)})
    assert late.status_code == 200 and "Two-factor sign-in is on" in late.content.decode()
    for later in (period, period + 1):
        monkeypatch.setattr(time, "time", lambda at=later: at * device.step + 1.0)
        again = Client()
        _password(again, "paula")
        ok = again.post(reverse("two_factor_verify"), {"code": _code_of(device, later)})
        assert ok.status_code == 302, later


def _code_of(device: TOTPDevice, period: int) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits)
    totp.time = device.t0 + period * device.step
    return f"{totp.token():06d}"


def test_pages_are_handed_the_user_itself_with_their_second_factor_state(required):
    """Views and templates read the user a few hundred times a page: they get the user,
    not the two lazy wrappers (sign-in's and the second factor's) around it, and whether
    the second factor was given survives the unwrapping."""
    from django.contrib.auth.models import AnonymousUser

    from needlechart.accounts.models import User

    client = Client()
    before = client.get(reverse("login"))
    assert type(before.wsgi_request.user) is AnonymousUser
    _password(client, "paula")
    device, _ = _setup(client, "paula")
    page = client.get(reverse("home"))
    assert page.status_code == 200
    user = page.wsgi_request.user
    assert type(user) is User and user.username == "paula"
    assert user.is_verified() and user.otp_device == device
    # A second browser with the password alone: the same kind of user, not yet verified,
    # and still sent to give the code.
    second = Client()
    _password(second, "paula")
    waiting = second.get(reverse("home"))
    assert waiting.url.startswith(reverse("two_factor_verify"))
    assert type(waiting.wsgi_request.user) is User
    assert not waiting.wsgi_request.user.is_verified()
