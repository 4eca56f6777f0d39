"""Outgoing email waits for the commit of the write that caused it (needlechart.mail)."""

import logging
import smtplib
import socket

import pytest
from django.core import mail as outbox
from django.db import transaction

from needlechart import mail


def email() -> mail.Outcome:
    return mail.send(subject="Hello", body="Body", to=["someone@example.org"])


class Interrupted(Exception):
    pass


def test_mail_waits_for_the_commit_and_a_rollback_sends_nothing(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as waiting:
        with pytest.raises(Interrupted), transaction.atomic():
            dropped = mail.after_commit(email)
            raise Interrupted
        with transaction.atomic():
            delivery = mail.after_commit(email)
            assert delivery.outcome is None and outbox.outbox == []
    assert len(waiting) == 1 and len(outbox.outbox) == 1
    assert dropped.outcome is None and not dropped.failed
    assert delivery.outcome and not delivery.failed


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_mail_leaves_at_once_and_says_how_it_went(settings):
    assert mail.after_commit(email).outcome == mail.SENT and len(outbox.outbox) == 1
    settings.EMAIL_BACKEND = "tests.portal.failing_mail.Backend"
    delivery = mail.after_commit(email)
    assert delivery.failed and delivery.outcome.reason == (
        "the mail server closed the connection (the mail server is down)"
    )


@pytest.mark.django_db(transaction=True)
def test_an_error_while_sending_after_the_commit_is_logged_and_the_write_stands(caplog):
    def broken() -> mail.Outcome:
        raise ValueError("a template went wrong")

    with caplog.at_level(logging.ERROR, logger="django.db.backends.base"):
        delivery = mail.after_commit(broken)
    assert delivery.outcome is None
    assert "a template went wrong" in caplog.text


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TimeoutError("timed out"), "the mail server did not answer (timed out)"),
        (
            ConnectionRefusedError(111, "Connection refused"),
            "the mail server refused the connection ([Errno 111] Connection refused)",
        ),
        (
            smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
            "the mail server closed the connection (Connection unexpectedly closed)",
        ),
        (
            smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"),
            "the mail server refused the user name and password (",
        ),
        (
            smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"no such user")}),
            "the mail server refused the recipient (",
        ),
        (smtplib.SMTPDataError(554, b"rejected"), "the mail server refused the message ("),
        (
            socket.gaierror(-2, "Name or service not known"),
            "the mail server could not be reached ([Errno -2] Name or service not known)",
        ),
    ],
)
def test_each_mail_failure_has_a_one_line_reason(error, reason):
    said = mail.reason(error)
    assert said.startswith(reason) and "\n" not in said
