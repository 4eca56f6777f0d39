import logging

from django.contrib.auth.tokens import default_token_generator
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from needlechart import mail
from needlechart.accounts.models import User

logger = logging.getLogger(__name__)


def send_set_password_email(*, user: User, request: HttpRequest) -> mail.Outcome:
    """Email a staff member a one-time link to choose their password, now: call it through
    `mail.after_commit`, once the account is saved.

    A mail server that is down must not turn the request into an error: the admin can send
    the link again from the staff page.
    """
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    context = {"user": user, "clinic": user.clinic, "link": request.build_absolute_uri(path)}
    outcome = mail.send(
        subject=f"Your needlechart account at {user.clinic}",
        body=render_to_string("accounts/email/set_password.txt", context),
        to=[user.email],
    )
    if not outcome:
        logger.error("Could not email a set-password link to user %s: %s", user.pk, outcome.reason)
    return outcome
