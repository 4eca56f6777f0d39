"""Emails the portal sends: red-flag alerts to the practitioner, invitations to patients."""

import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from needlechart import knowledge
from needlechart.portal.models import CheckIn, Invitation

logger = logging.getLogger(__name__)

MAIL_ERRORS = (OSError, smtplib.SMTPException)


def site_link(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def alert_recipients(check_in: CheckIn) -> list[str]:
    """The practitioner who needled, and the clinic's own address, when they have one."""
    clinic = check_in.session.episode.patient.clinic
    addresses = [check_in.session.practitioner.user.email, clinic.email]
    return list(dict.fromkeys(a for a in addresses if a))


def send_red_flag_alert(check_in_id: int) -> bool:
    """Email the alert at once; False if it could not be sent. The alert also stays on the
    dashboard until acknowledged, and `send-reminders` retries an unsent email."""
    check_in = CheckIn.objects.select_related(
        "session__practitioner__user", "session__episode__patient__clinic"
    ).get(pk=check_in_id)
    if check_in.alert_emailed_at is not None or not check_in.red_flags:
        return True
    recipients = alert_recipients(check_in)
    if not recipients:
        logger.warning("No address to send the red-flag alert of check-in %s to", check_in.pk)
        return False
    patient = check_in.session.episode.patient
    context = {
        "check_in": check_in,
        "patient": patient,
        "flags": [knowledge.symptom(code) for code in check_in.red_flags],
        "link": site_link(reverse("charting:session", args=[check_in.session_id])),
    }
    try:
        send_mail(
            # No clinical detail in the subject line: it shows on lock screens.
            subject=f"Urgent: a patient reported a red flag (record {patient.mrn})",
            message=render_to_string("portal/email/red_flag_alert.txt", context),
            from_email=None,
            recipient_list=recipients,
        )
    except MAIL_ERRORS:
        logger.exception("Could not email the red-flag alert of check-in %s", check_in.pk)
        return False
    CheckIn.objects.filter(pk=check_in.pk).update(alert_emailed_at=timezone.now())
    return True


def send_invitation(invitation: Invitation, token: str) -> bool:
    """Email the one-time link; False if sending failed (the staff can send a new one)."""
    context = {
        "patient": invitation.patient,
        "clinic": invitation.patient.clinic,
        "link": site_link(reverse("portal:invite", args=[token])),
        "expires_at": invitation.expires_at,
        "hours": settings.PORTAL_INVITATION_HOURS,
    }
    try:
        send_mail(
            subject=f"Your patient portal at {invitation.patient.clinic}",
            message=render_to_string("portal/email/invitation.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except MAIL_ERRORS:
        logger.exception("Could not email portal invitation %s", invitation.pk)
        return False
    return True
