import logging
import smtplib

from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from needlechart.accounts.models import User

logger = logging.getLogger(__name__)


def send_set_password_email(*, user: User, request: HttpRequest) -> bool:
    """Email a staff member a one-time link to choose their password; False if sending failed.

    The account is already saved when this runs, so a mail server that is down must not
    turn the request into an error: the admin can send the link again from the staff page.
    """
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    context = {"user": user, "clinic": user.clinic, "link": request.build_absolute_uri(path)}
    try:
        send_mail(
            subject=f"Your needlechart account at {user.clinic}",
            message=render_to_string("accounts/email/set_password.txt", context),
            from_email=None,
            recipient_list=[user.email],
        )
    except (OSError, smtplib.SMTPException):
        logger.exception("Could not email a set-password link to user %s", user.pk)
        return False
    return True
