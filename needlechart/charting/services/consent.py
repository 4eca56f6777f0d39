"""Consent to dry needling: signed against the clinic's current text, withdrawn by record."""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.audit.submissions import once
from needlechart.charting.models import (
    Consent,
    ConsentWithdrawal,
    DocumentTemplate,
)
from needlechart.charting.services.catalogue import current_template
from needlechart.charting.services.common import clean_text
from needlechart.db.prepared import prepared
from needlechart.patients.models import EpisodeOfCare, Patient


def consent_status(patient: Patient) -> tuple[Consent | None, str]:
    """The consent that covers needling today, or None with the reason why there is none."""
    newest = _newest_consent(patient.pk)
    consent = newest[0] if newest else None
    if consent is None:
        return status_of(None, None)
    return status_of(
        consent, current_template(clinic=patient.clinic_id, kind=DocumentTemplate.Kind.CONSENT)
    )


@prepared
def _newest_consent(patient_id: int) -> QuerySet:
    return (
        Consent.objects.filter(patient_id=patient_id)
        .select_related("template", "withdrawal")
        .order_by("-signed_at", "-id")[:1]
    )


def status_of(
    consent: Consent | None, current: DocumentTemplate | None
) -> tuple[Consent | None, str]:
    """What `consent_status` says of a patient whose newest consent is `consent`, when the
    clinic's current consent text is `current` (a bulk import reads both for many at once)."""
    if consent is None:
        return None, "No consent to dry needling has been signed."
    if hasattr(consent, "withdrawal"):
        return None, f"The patient withdrew consent on {consent.withdrawal.withdrawn_at:%Y-%m-%d}."
    if consent.template_id != current.pk:
        return None, (
            f"The consent text changed to version {current.version}; the patient signed "
            f"version {consent.template.version} and needs to sign again."
        )
    return consent, ""


@transaction.atomic
def consent_sign(
    *,
    actor: User,
    patient: Patient,
    template: DocumentTemplate,
    signed_name: str,
    confirmed: bool,
    token: str = "",
) -> Consent:
    """The patient signs the current consent text; the signed-in clinician witnesses."""
    authorize(actor, roles=rules.SIGNING_ROLES, patient=patient, what="witness a consent")
    return once(
        actor=actor, token=token, model=Consent,
        create=lambda: consent_record(
            actor=actor, patient=patient, template=template, signed_name=signed_name,
            confirmed=confirmed, channel=Consent.Channel.CLINIC,
        ),
    )  # fmt: skip


@transaction.atomic
def consent_record(
    *,
    actor: User,
    patient: Patient,
    template: DocumentTemplate,
    signed_name: str,
    confirmed: bool,
    channel: str,
) -> Consent:
    """Store a signature on the current consent text: a clinician witnessing in the clinic,
    or the patient in the portal (the guard checks which, whoever calls)."""
    if channel == Consent.Channel.CLINIC:
        authorize(actor, roles=rules.SIGNING_ROLES, patient=patient, what="witness a consent")
    else:
        authorize(actor, portal=True, patient=patient, what="sign a consent")
    errors = {}
    if not confirmed:
        errors["confirmed"] = "The patient must confirm they have read and agree to the text."
    if len((signed_name if isinstance(signed_name, str) else "").strip()) < 2:
        errors["signed_name"] = "The patient types their full name to sign."
    current = current_template(clinic=patient.clinic, kind=DocumentTemplate.Kind.CONSENT)
    if template.pk != current.pk:
        errors["template"] = (
            "The consent text has changed since this page was opened; read it again."
        )
    if errors:
        raise ValidationError(errors)
    consent = Consent.objects.create(
        patient=patient,
        template=template,
        signed_name=clean_text(signed_name, "signed_name", max_length=200),
        channel=channel,
        witnessed_by=actor if channel == Consent.Channel.CLINIC else None,
        practitioner_training=training_statement(
            patient=patient, witness=actor if channel == Consent.Channel.CLINIC else None
        ),
    )
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=consent,
        patient=patient,
        detail={"template_version": template.version, "channel": channel},
    )
    return consent


def training_statement(*, patient: Patient, witness: User | None = None) -> str:
    """Where the clinic states it on the consent: the dry-needling training of who will
    needle (the witnessing practitioner, else the practitioners in charge of the patient's
    open episodes), from their current credentials. Empty when the clinic does not."""
    if not patient.clinic.consent_states_training:
        return ""
    if witness is not None and getattr(witness, "practitioner", None) is not None:
        practitioners = [witness.practitioner]
    else:
        practitioners = [
            e.care_manager
            for e in patient.episodes.exclude(status=EpisodeOfCare.Status.FINISHED)
            .select_related("care_manager__user")
            .order_by("pk")
            if e.care_manager is not None
        ]
    today = timezone.localdate()
    lines = []
    for practitioner in dict.fromkeys(practitioners):
        current = [
            c for c in practitioner.credentials.order_by("-completed_on")
            if rules.credential_is_current(c, today)
        ]  # fmt: skip
        name = practitioner.user.get_full_name() or practitioner.user.get_username()
        if not current:
            lines.append(f"{name}: no current dry-needling credential is recorded.")
            continue
        c = current[0]
        where = f"; it meets the requirements of {c.jurisdiction}" if c.jurisdiction else ""
        lines.append(
            f"{name} ({practitioner.get_profession_display()}) completed {c.course} with "
            f"{c.provider} ({c.hours:g} hours of training) on {c.completed_on:%Y-%m-%d}{where}."
        )
    return "\n".join(lines)


@transaction.atomic
def consent_withdraw(*, actor: User, consent: Consent, reason: str) -> ConsentWithdrawal:
    authorize(
        actor,
        roles=rules.CLINICAL_WRITE_ROLES,
        patient=consent.patient,
        what="record a withdrawal of consent",
    )
    if not (reason if isinstance(reason, str) else "").strip():
        raise ValidationError({"reason": "Record why, or in the patient's words."})
    reason = clean_text(reason, "reason", max_length=1000)
    # Locked, so two clicks on "withdraw" give one withdrawal and one clear refusal.
    Consent.objects.select_for_update().filter(pk=consent.pk).first()
    if ConsentWithdrawal.objects.filter(consent=consent).exists():
        raise ValidationError("This consent is already withdrawn.")
    withdrawal = ConsentWithdrawal.objects.create(consent=consent, reason=reason, recorded_by=actor)
    audit.record(actor=actor, action=audit.Action.UPDATE, obj=consent, detail={"withdrawn": True})
    return withdrawal


def _consent_after(consent: Consent, performed_at: dt.datetime) -> str:
    """Why the consent came too late for a session at `performed_at`, or "". Session times
    are entered to the minute, so a consent signed within that minute counts as before."""
    if consent.signed_at.replace(second=0, microsecond=0) <= performed_at:
        return ""
    return (
        f"The consent was signed ({timezone.localtime(consent.signed_at):%Y-%m-%d %H:%M}) "
        "after the session began: needling needs consent first."
    )
