"""Email backends whose server fails, for tests of what happens when mail fails."""

import smtplib

from django.core.mail.backends.base import BaseEmailBackend

from tests import mail


class Backend(BaseEmailBackend):
    """The mail server is down."""

    def send_messages(self, email_messages: list) -> int:
        raise smtplib.SMTPServerDisconnected("the mail server is down")


class RefusingBackend(mail.Backend):
    """The mail server takes every message except those to an address in `refused`."""

    refused: set[str] = set()

    def send_messages(self, email_messages: list) -> int:
        for message in email_messages:
            if refused := self.refused.intersection(message.recipients()):
                raise smtplib.SMTPRecipientsRefused(
                    {address: (550, b"mailbox unavailable") for address in refused}
                )
        return super().send_messages(email_messages)
