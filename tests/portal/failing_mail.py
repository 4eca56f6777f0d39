"""An email backend whose server is down, for tests of what happens when mail fails."""

import smtplib

from django.core.mail.backends.base import BaseEmailBackend


class Backend(BaseEmailBackend):
    def send_messages(self, email_messages: list) -> int:
        raise smtplib.SMTPServerDisconnected("the mail server is down")
