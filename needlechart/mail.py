"""Outgoing email. Mail leaves only once the transaction that caused it has committed: a
rolled-back write sends nothing, and a slow or silent mail server holds no database lock."""

import smtplib
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction

# What a mail server that is down, slow or refusing raises (socket errors are OSErrors).
ERRORS = (OSError, smtplib.SMTPException)


@dataclass(frozen=True)
class Outcome:
    """How one email went: true when the server took it; otherwise `reason` says why not."""

    reason: str = ""

    def __bool__(self) -> bool:
        return not self.reason


SENT = Outcome()


def reason(error: BaseException) -> str:
    """Why the mail server did not take a message, in one line."""
    # smtplib reports a server that stopped answering mid-conversation as a disconnection.
    if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
        what = "the mail server did not answer"
    elif isinstance(error, ConnectionRefusedError):
        what = "the mail server refused the connection"
    elif isinstance(error, smtplib.SMTPServerDisconnected):
        what = "the mail server closed the connection"
    elif isinstance(error, smtplib.SMTPAuthenticationError):
        what = "the mail server refused the user name and password"
    elif isinstance(error, smtplib.SMTPRecipientsRefused):
        what = "the mail server refused the recipient"
    elif isinstance(error, smtplib.SMTPSenderRefused):
        what = "the mail server refused the sender address"
    elif isinstance(error, smtplib.SMTPException):
        what = "the mail server refused the message"
    else:
        what = "the mail server could not be reached"
    detail = " ".join(str(error).split())[:200] or type(error).__name__
    return f"{what} ({detail})"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str


def send(
    *, subject: str, body: str, to: list[str], attachments: tuple[Attachment, ...] = ()
) -> Outcome:
    """Send one email now. Call it from `after_commit`, or where no transaction is open."""
    message = EmailMessage(subject=subject, body=body, to=to)
    for attachment in attachments:
        message.attach(attachment.filename, attachment.content, attachment.mimetype)
    try:
        message.send()
    except ERRORS as error:
        return Outcome(reason(error))
    return SENT


SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def encrypted() -> bool:
    """False when mail would leave for a mail server in the clear (SMTP without TLS or SSL);
    a backend that keeps mail on the machine (console, file, memory) counts as encrypted."""
    if settings.EMAIL_BACKEND != SMTP_BACKEND:
        return True
    return bool(settings.EMAIL_USE_TLS or getattr(settings, "EMAIL_USE_SSL", False))


@dataclass
class Delivery:
    """An email waiting for the commit; `outcome` stays None until it has been tried."""

    outcome: Outcome | None = None

    @property
    def failed(self) -> bool:
        return self.outcome is not None and not self.outcome


def after_commit(send: Callable[[], Outcome]) -> Delivery:
    """Run `send` once the current transaction commits (at once outside a transaction);
    never if it rolls back. An error in `send` is logged: the write it follows stands."""
    delivery = Delivery()

    def run() -> None:
        delivery.outcome = send()

    transaction.on_commit(run, robust=True)
    return delivery
