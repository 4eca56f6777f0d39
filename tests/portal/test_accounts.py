"""Invitations, opening an account, signing in, and the wall between patients and staff."""

import datetime as dt
import html
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from needlechart.audit.models import AuditEvent
from needlechart.portal import services
from needlechart.portal.models import Invitation, PortalAccount
from tests import factories
from tests.conftest import client_for


@pytest.fixture
def cara(world):
    """A patient of clinic A with an email address and no portal account yet."""
    return factories.patient(
        world.clinic_a, given_name="Cara", family_name="Quinn", email="Cara.Quinn@example.org"
    )


def invite(world, patient, user=None) -> str:
    """Invite through the patient page and return the link from the email, which leaves
    once the invitation has committed."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        client_for(user or world.front_desk).post(
            reverse("portal:invite_patient", args=[patient.pk])
        )
    body = mail.outbox[-1].body
    return re.search(r"https?://\S+/portal/invite/\S+/", body).group(0)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


NEW_PASSWORD = "a-long-new-passphrase"


def accept(link: str, password: str = NEW_PASSWORD, again: str | None = None):
    client = Client()
    response = client.post(
        path_of(link), {"password": password, "password_again": again or password}
    )
    return client, response


def test_the_front_desk_invites_a_patient_by_email_with_a_one_time_link(world, cara):
    link = invite(world, cara)
    message = mail.outbox[-1]
    assert message.to == ["Cara.Quinn@example.org"]
    assert "works once, for 72 hours" in message.body
    invitation = Invitation.objects.get(patient=cara)
    token = link.rstrip("/").rsplit("/", 1)[1]
    # Only a hash is stored: the database alone does not give the link away.
    assert token not in invitation.token_hash and invitation.token_hash == services.token_hash(
        token
    )
    assert invitation.expires_at - invitation.created_at == dt.timedelta(hours=72)
    assert AuditEvent.objects.filter(action="create", object_type="Invitation").count() == 1


def test_the_invitation_email_leaves_only_once_the_invitation_has_committed(
    world, cara, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as waiting:
        client_for(world.front_desk).post(reverse("portal:invite_patient", args=[cara.pk]))
    assert Invitation.objects.filter(patient=cara).exists()
    assert mail.outbox == [] and len(waiting) == 1
    waiting[0]()  # the commit
    assert [m.to for m in mail.outbox] == [["Cara.Quinn@example.org"]]


# Transactional, as a server runs: the email is tried as the invitation commits, and the
# front desk hears how it went.
@pytest.mark.django_db(transaction=True)
def test_an_invitation_the_mail_server_refuses_is_kept_and_the_front_desk_told(
    world, cara, settings
):
    settings.EMAIL_BACKEND = "tests.portal.failing_mail.Backend"
    page = client_for(world.front_desk).post(
        reverse("portal:invite_patient", args=[cara.pk]), follow=True
    )
    assert "The invitation could not be emailed. Try again later." in page.content.decode()
    assert Invitation.objects.filter(patient=cara).count() == 1
    settings.EMAIL_BACKEND = "tests.mail.Backend"
    page = client_for(world.front_desk).post(
        reverse("portal:invite_patient", args=[cara.pk]), follow=True
    )
    assert "Invitation sent to Cara.Quinn@example.org" in page.content.decode()
    assert len(mail.outbox) == 1


def test_opening_the_link_sets_a_password_and_signs_the_patient_in(world, cara):
    link = invite(world, cara)
    page = Client().get(path_of(link))
    assert page.status_code == 200 and "Cara.Quinn@example.org" in page.content.decode()
    client, response = accept(link)
    assert response.status_code == 302 and response.url == reverse("portal:home")
    account = PortalAccount.objects.get(patient=cara)
    assert account.user.username == "cara.quinn@example.org"
    assert account.user.clinic is None and account.user.role == ""
    assert client.get(reverse("portal:home")).status_code == 200
    assert Invitation.objects.get(patient=cara).used_at is not None


def test_a_used_link_fails_clearly_and_opens_nothing(world, cara):
    link = invite(world, cara)
    accept(link)
    again = Client().get(path_of(link))
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    _, response = accept(link, "another-long-passphrase")
    assert response.status_code == 410
    assert PortalAccount.objects.filter(patient=cara).count() == 1


def test_an_expired_link_fails_clearly(world, cara):
    link = invite(world, cara)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=72, minutes=1)):
        response = Client().get(path_of(link))
        assert response.status_code == 410
        assert "expired" in response.content.decode()
        _, posted = accept(link)
    assert posted.status_code == 410
    assert not PortalAccount.objects.filter(patient=cara).exists()


def test_a_newer_invitation_replaces_the_older_link(world, cara):
    first = invite(world, cara)
    second = invite(world, cara)
    response = Client().get(path_of(first))
    assert response.status_code == 410 and "replaced by a newer one" in response.content.decode()
    _, opened = accept(second)
    assert opened.status_code == 302


def test_an_unknown_link_says_it_is_not_valid(world):
    response = Client().get(reverse("portal:invite", args=["made-up-token"]))
    assert response.status_code == 410 and "not valid" in response.content.decode()


@pytest.mark.parametrize(
    ("password", "again", "message"),
    [
        ("short", "short", "too short"),
        ("password123", "password123", "too common"),
        ("a-long-new-passphrase", "a-different-passphrase", "not the same"),
    ],
)
def test_a_weak_or_mistyped_password_is_refused_and_the_link_still_works(
    world, cara, password, again, message
):
    link = invite(world, cara)
    _, response = accept(link, password, again)
    assert response.status_code == 200 and message in response.content.decode()
    assert not PortalAccount.objects.filter(patient=cara).exists()
    _, opened = accept(link)
    assert opened.status_code == 302


def test_a_patient_without_email_or_with_an_account_is_not_invited(world):
    no_email = factories.patient(world.clinic_a, email="")
    response = client_for(world.front_desk).post(
        reverse("portal:invite_patient", args=[no_email.pk]), follow=True
    )
    assert "Add the patient's email address first." in html.unescape(response.content.decode())
    response = client_for(world.front_desk).post(
        reverse("portal:invite_patient", args=[world.patient_a.pk]), follow=True
    )
    assert "already has a portal account" in response.content.decode()
    assert not Invitation.objects.exists() and mail.outbox == []


def test_patients_sign_in_on_the_portal_and_not_on_the_staff_page(world):
    portal = Client()
    response = portal.post(
        reverse("portal:login"),
        {"username": "ANN@example.org", "password": factories.PASSWORD},
    )
    assert response.status_code == 302 and response.url == reverse("portal:home")
    staff_page = Client().post(
        reverse("login"), {"username": "ann@example.org", "password": factories.PASSWORD}
    )
    assert staff_page.status_code == 200 and "did not match" in staff_page.content.decode()


def test_staff_cannot_sign_in_on_the_portal(world):
    response = Client().post(
        reverse("portal:login"), {"username": "paula@example.org", "password": factories.PASSWORD}
    )
    assert response.status_code == 200 and "did not match" in response.content.decode()


def test_a_patient_finds_no_staff_page_and_staff_find_no_portal_page(world):
    patient = client_for(world.patient_user)
    assert patient.get("/").url == reverse("portal:home")
    for url in [
        reverse("patients:list"),
        reverse("patients:detail", args=[world.patient_a.pk]),
        reverse("patients:episode", args=[world.episode_a.pk]),
        reverse("outcomes:dashboard"),
        reverse("accounts:practitioners"),
    ]:
        assert patient.get(url).status_code == 404, url
    staff = client_for(world.practitioner)
    for url in [reverse("portal:home"), reverse("portal:diary"), reverse("portal:record_json")]:
        assert staff.get(url).status_code == 404, url
    assert staff.get(reverse("portal:login")).status_code == 200


def test_a_forgotten_password_is_reset_by_email_for_patients_only(world):
    Client().post(reverse("portal:password_reset"), {"email": "ann@example.org"})
    Client().post(reverse("portal:password_reset"), {"email": "paula@example.org"})
    assert [m.to for m in mail.outbox] == [["ann@example.org"]]
    link = re.search(r"http://\S+/portal/reset/\S+/", mail.outbox[0].body).group(0)
    client = Client()
    form = client.get(path_of(link), follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "brand-new-passphrase", "new_password2": "brand-new-passphrase"},
    )
    assert done.url == reverse("portal:password_reset_complete")
    signed_in = Client().post(
        reverse("portal:login"),
        {"username": "ann@example.org", "password": "brand-new-passphrase"},
    )
    assert signed_in.status_code == 302
    # The staff reset page sends nothing to a patient.
    Client().post(reverse("password_reset"), {"email": "ann@example.org"})
    assert len(mail.outbox) == 1


def test_repeated_wrong_passwords_lock_the_portal_account(world, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("portal:login"), {"username": "ann@example.org", "password": "wrong"})
    response = client.post(
        reverse("portal:login"), {"username": "ann@example.org", "password": factories.PASSWORD}
    )
    assert response.status_code != 302
    assert "_auth_user_id" not in client.session
