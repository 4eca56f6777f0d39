"""Emails the portal sends: red-flag alerts to the practitioner, invitations to patients."""

import logging

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from needlechart import mail
from needlechart.audit import services as audit
from needlechart.portal.models import CheckIn, Invitation

logger = logging.getLogger(__name__)


def site_link(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def alert_recipients(check_in: CheckIn) -> list[str]:
    """The practitioner who needled, and the clinic's own address, when they have one."""
    clinic = check_in.session.episode.patient.clinic
    addresses = [check_in.session.practitioner.user.email, clinic.email]
    return list(dict.fromkeys(a for a in addresses if a))


def send_red_flag_alert(check_in_id: int) -> mail.Outcome:
    """Email the alert now, unless it went before; run it after the check-in has committed.
    The alert also stays on the dashboard until acknowledged, and `send-reminders` retries
    an email that failed."""
    check_in = CheckIn.objects.select_related(
        "session__practitioner__user", "session__episode__patient__clinic"
    ).get(pk=check_in_id)
    if check_in.alert_emailed_at is not None or not check_in.red_flags:
        return mail.SENT
    recipients = alert_recipients(check_in)
    if not recipients:
        logger.warning("No address to send the red-flag alert of check-in %s to", check_in.pk)
        return mail.Outcome("neither the practitioner nor the clinic has an email address")
    patient = check_in.session.episode.patient
    # No name, record number, contact or symptom: email crosses servers the clinic does not
    # control and is read on lock screens and shared desks. The link leads to the app, where
    # signing in shows who it is and what they reported.
    context = {"link": site_link(reverse("charting:session", args=[check_in.session_id]))}
    outcome = mail.send(
        subject="Urgent: a patient's check-in needs your attention",
        body=render_to_string("portal/email/red_flag_alert.txt", context),
        to=recipients,
    )
    if not outcome:
        logger.error(
            "Could not email the red-flag alert of check-in %s: %s", check_in.pk, outcome.reason
        )
        return outcome
    with transaction.atomic():
        CheckIn.objects.filter(pk=check_in.pk).update(alert_emailed_at=timezone.now())
        audit.record(
            actor=None, action=audit.Action.SEND, obj=check_in, patient=patient,
            detail={"email": "red-flag alert", "to": recipients},
        )  # fmt: skip
    return outcome


def send_invitation(invitation: Invitation, token: str) -> mail.Outcome:
    """Email the one-time link now, after the invitation has committed; the staff can send a
    new one if this fails."""
    context = {
        "patient": invitation.patient,
        "clinic": invitation.patient.clinic,
        "link": site_link(reverse("portal:invite", args=[token])),
        "expires_at": invitation.expires_at,
        "hours": settings.PORTAL_INVITATION_HOURS,
    }
    outcome = mail.send(
        subject=f"Your patient portal at {invitation.patient.clinic}",
        body=render_to_string("portal/email/invitation.txt", context),
        to=[invitation.email],
    )
    if not outcome:
        logger.error("Could not email portal invitation %s: %s", invitation.pk, outcome.reason)
    return outcome
