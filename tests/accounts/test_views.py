import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from needlechart.accounts.models import DryNeedlingCredential, Role, User
from tests import factories
from tests.conftest import client_for


def test_the_practitioners_page_shows_who_is_qualified_expiring_and_lapsed(world):
    today = timezone.localdate()
    soon = factories.practitioner(world.clinic_a, "sam", first_name="Sam", last_name="Soon")
    factories.credential(soon, today - dt.timedelta(days=700), today + dt.timedelta(days=20))
    gone = factories.practitioner(world.clinic_a, "lara", first_name="Lara", last_name="Lapsed")
    factories.credential(gone, today - dt.timedelta(days=900), today - dt.timedelta(days=1))
    factories.practitioner(world.clinic_a, "nina", first_name="Nina", last_name="New")

    page = client_for(world.front_desk).get(reverse("accounts:practitioners")).content.decode()

    def status_of(name: str) -> str:
        row = re.search(rf"<tr>\s*<td>{name}.*?</tr>", page, re.S)
        assert row, name
        return row.group(0)

    assert "Qualified" in status_of("Paula Physio")
    assert "Expires soon" in status_of("Sam Soon") and "in 20 days" in status_of("Sam Soon")
    assert "Lapsed" in status_of("Lara Lapsed")
    assert "No credential" in status_of("Nina New")
    assert "Bob" not in page and "bob" not in page  # clinic B's practitioner


# Session, user with clinic, practitioners with users, their credentials.
PRACTITIONERS_PAGE_QUERIES = 4


def test_the_practitioners_page_costs_the_same_queries_for_many_practitioners(
    world, django_assert_num_queries
):
    client = client_for(world.admin)
    url = reverse("accounts:practitioners")
    with django_assert_num_queries(PRACTITIONERS_PAGE_QUERIES):
        client.get(url)
    for number in range(15):
        factories.credential(
            factories.practitioner(world.clinic_a, f"extra{number}"),
            dt.date(2025, 1, 1),
            None,
        )
    with django_assert_num_queries(PRACTITIONERS_PAGE_QUERIES):
        client.get(url)


def test_a_new_staff_member_sets_a_password_from_the_emailed_link_and_signs_in(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as waiting:
        response = client_for(world.admin).post(
            reverse("accounts:staff_create"),
            {
                "username": "nina",
                "first_name": "Nina",
                "last_name": "Novak",
                "email": "nina@example.org",
                "role": "assistant",
                "profession": "",
            },
        )
    assert response.status_code == 302
    # The link leaves once the account has committed, not before.
    assert mail.outbox == [] and len(waiting) == 1
    waiting[0]()
    nina = User.objects.get(username="nina")
    assert nina.clinic == world.clinic_a and nina.role == Role.ASSISTANT
    assert not nina.has_usable_password()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["nina@example.org"]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)

    anonymous = Client()
    form_page = anonymous.get(link, follow=True)
    assert form_page.context["validlink"]
    done = anonymous.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-long-safe-passphrase", "new_password2": "a-long-safe-passphrase"},
    )
    assert done.status_code == 302
    # The link works once.
    assert not anonymous.get(link, follow=True).context["validlink"]
    signed_in = anonymous.post(
        reverse("login"), {"username": "nina", "password": "a-long-safe-passphrase"}
    )
    assert signed_in.status_code == 302 and signed_in.url == reverse("home")


def test_a_weak_password_is_refused_with_the_validators_reason(
    world, django_capture_on_commit_callbacks
):
    client = client_for(world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("accounts:staff_create"),
            {"username": "weak", "first_name": "W", "last_name": "K", "email": "w@example.org",
             "role": "front_desk"},
        )  # fmt: skip
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    anonymous = Client()
    page = anonymous.get(link, follow=True)
    response = anonymous.post(
        page.redirect_chain[-1][0], {"new_password1": "12345678", "new_password2": "12345678"}
    )
    assert response.status_code == 200
    assert "This password is too short" in " ".join(
        response.context["form"].errors["new_password2"]
    )
    assert not User.objects.get(username="weak").has_usable_password()


def test_a_duplicate_username_is_refused_by_the_field(world):
    response = client_for(world.admin).post(
        reverse("accounts:staff_create"),
        {"username": "PAULA", "first_name": "P", "last_name": "Q", "email": "p@example.org",
         "role": "front_desk"},
    )  # fmt: skip
    assert response.context["form"].errors["username"] == ["This username is already taken."]
    assert User.objects.filter(username__iexact="paula").count() == 1


def test_an_admin_cannot_lock_themselves_out(world):
    response = client_for(world.admin).post(
        reverse("accounts:staff_edit", args=[world.admin.pk]),
        {"first_name": "Alice", "last_name": "Admin", "email": "alice@example.org",
         "role": "practitioner", "profession": "physiotherapist", "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "cannot remove your own admin role" in str(response.context["form"].errors["role"])
    world.admin.refresh_from_db()
    assert world.admin.role == Role.CLINIC_ADMIN


def test_a_deactivated_account_can_no_longer_sign_in(world):
    client_for(world.admin).post(
        reverse("accounts:staff_edit", args=[world.assistant.pk]),
        {"first_name": "Andy", "last_name": "A", "email": "andy@example.org",
         "role": "assistant", "profession": ""},
    )  # fmt: skip
    world.assistant.refresh_from_db()
    assert not world.assistant.is_active
    response = Client().post(reverse("login"), {"username": "andy", "password": factories.PASSWORD})
    assert response.status_code == 200 and not response.wsgi_request.user.is_authenticated


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"expires_on": "2024-01-01"}, "expires_on", "The expiry date must be after the completion date."),
        ({"completed_on": "2099-01-01", "expires_on": ""}, "completed_on", "The completion date cannot be in the future."),
        ({"hours": "0"}, "hours", "Ensure this value is greater than or equal to 0.5."),
        ({"course": ""}, "course", "This field is required."),
    ],
)  # fmt: skip
def test_a_bad_credential_is_refused_by_the_field_and_nothing_is_saved(
    world, changes, field, message
):
    data = {"course": "DN 1", "provider": "Academy", "hours": "27", "completed_on": "2025-06-01",
            "expires_on": "2028-06-01", "evidence_note": ""}  # fmt: skip
    data.update(changes)
    before = DryNeedlingCredential.objects.count()
    response = client_for(world.admin).post(
        reverse("accounts:credential_create", args=[world.practitioner_a.pk]), data
    )
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert DryNeedlingCredential.objects.count() == before


def test_a_sign_in_with_an_overlong_username_is_refused_not_a_server_error(db):
    response = Client().post(reverse("login"), {"username": "u" * 300, "password": "x"})
    assert response.status_code == 200
    assert "username" in response.context["form"].errors


def test_a_user_agent_with_a_nul_character_does_not_break_sign_in(world):
    client = Client(HTTP_USER_AGENT="evil\x00agent")
    response = client.post(reverse("login"), {"username": "paula", "password": "wrong"})
    assert response.status_code == 200
    response = client.post(reverse("login"), {"username": "paula", "password": factories.PASSWORD})
    assert response.status_code == 302


def test_a_practitioner_who_may_not_needle_is_not_shown_as_qualified(world):
    world.practitioner.role = Role.FRONT_DESK
    world.practitioner.save()
    page = client_for(world.admin).get(reverse("accounts:practitioners")).content.decode()
    row = re.search(r"<tr>\s*<td>Paula Physio.*?</tr>", page, re.S).group(0)
    assert "Not permitted" in row and "Qualified" not in row


def test_a_practitioner_profile_cannot_be_silently_dropped(world):
    response = client_for(world.admin).post(
        reverse("accounts:staff_edit", args=[world.practitioner.pk]),
        {"first_name": "Paula", "last_name": "Physio", "email": "paula@example.org",
         "role": "assistant", "profession": "", "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.context["form"].errors["profession"] == [
        "This person's practitioner profile stays on record; keep a profession."
    ]
    world.practitioner.refresh_from_db()
    assert world.practitioner.role == Role.PRACTITIONER


def test_profile_changes_are_in_the_audit_row(world):
    from needlechart.audit.models import AuditEvent

    client_for(world.admin).post(
        reverse("accounts:staff_edit", args=[world.practitioner.pk]),
        {"first_name": "Paula", "last_name": "Physio", "email": world.practitioner.email,
         "role": "practitioner", "profession": "chiropractor", "registration_number": "R-1",
         "is_active": "on"},
    )  # fmt: skip
    update = AuditEvent.objects.get(action="update", object_type="User")
    assert update.detail == {
        "changed": ["profession", "registration_number"],
        "before": {"profession": "physiotherapist", "registration_number": ""},
        "after": {"profession": "chiropractor", "registration_number": "R-1"},
    }


# Transactional, as a server runs: the email is tried as the account commits, and the admin
# hears how it went.
@pytest.mark.django_db(transaction=True)
def test_when_the_mail_server_is_down_the_account_is_kept_and_the_admin_told(world, settings):
    settings.EMAIL_BACKEND = "tests.accounts.test_views.BrokenBackend"
    response = client_for(world.admin).post(
        reverse("accounts:staff_create"),
        {"username": "nina", "first_name": "Nina", "last_name": "N", "email": "n@example.org",
         "role": "front_desk"},
        follow=True,
    )  # fmt: skip
    assert response.status_code == 200
    assert User.objects.filter(username="nina").exists()
    assert "could not be sent" in response.content.decode()


class BrokenBackend:
    def __init__(self, *args, **kwargs) -> None:
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server down")


def test_a_nul_character_anywhere_in_a_request_is_refused_clearly_and_saves_nothing(world):
    """No field takes one and PostgreSQL text cannot hold one: a 400 saying so, never a
    server error, whatever the page (filters, searches, forms)."""
    from needlechart.audit.models import AuditEvent
    from needlechart.patients.models import Patient

    admin = client_for(world.admin)
    since = max(AuditEvent.objects.values_list("pk", flat=True), default=0)
    for url, data in [
        (reverse("outcomes:dashboard"), {"practitioner": "\x00"}),
        (reverse("outcomes:dashboard"), {"date_from": "2026-01-01\x00"}),
        (reverse("audit:list"), {"action": "\x00"}),
        (reverse("audit:list"), {"patient_mrn": "\x00"}),
        (reverse("patients:list"), {"name": "Smith\x00"}),
        (reverse("patients:list"), {"\x00": "x"}),
    ]:
        response = admin.get(url, data)
        assert response.status_code == 400, url
        assert "NUL character" in response.content.decode()
    posted = admin.post(
        reverse("patients:edit", args=[world.patient_a.pk]), {"given_name": "An\x00n"}
    )
    assert posted.status_code == 400
    assert Patient.objects.get(pk=world.patient_a.pk).given_name == "Ann"
    assert not AuditEvent.objects.filter(pk__gt=since).exists()
