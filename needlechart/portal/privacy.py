"""Privacy requests: everything held about a patient (the right of access), and erasure of
what is not part of the clinical record: the portal account, contact details no longer
needed, the pain diary.

The clinical record itself (episodes, screening, consent, assessments, sessions, the
clinician's measurements, plans, discharges) is kept for the retention period the clinic
sets, counted from the last visit: the law that requires clinical records be kept outweighs
a request to erase them. The audit trail is kept too (it records who saw what, which the
patient may ask for, and it is append-only); an erasure is itself audited, naming what was
erased and why, never the values.
"""

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from needlechart.accounts import rules
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.audit.models import AuditEvent
from needlechart.charting.models import Assessment, NeedlingSession
from needlechart.outcomes.export import patient_chart, with_chart
from needlechart.outcomes.models import Observation, Timing
from needlechart.patients.models import Patient
from needlechart.portal.models import Invitation, PortalAccount, Reminder

PARTS = {
    "portal": "The portal account (sign-in, email address, invitations)",
    "contact": "Contact details (phone, email address, postal address)",
    "diary": "The pain diary the patient kept in the portal",
}


def _diary(patient: Patient) -> Any:
    return Observation.objects.filter(
        episode__patient=patient, timing=Timing.HOME, code="nprs", session=None, assessment=None
    )


def last_visit(patient: Patient) -> dt.datetime:
    """The patient's last session or assessment, or their registration if neither."""
    dates = [
        NeedlingSession.objects.filter(episode__patient=patient).aggregate(m=Max("performed_at"))[
            "m"
        ],
        Assessment.objects.filter(episode__patient=patient).aggregate(m=Max("performed_at"))["m"],
        patient.created_at,
    ]
    return max(d for d in dates if d is not None)


def kept_until(patient: Patient) -> dt.date:
    """The last day the clinical record must be kept: the clinic's retention period after
    the last visit."""
    last = timezone.localdate(last_visit(patient))
    years = patient.clinic.retention_years
    try:
        return last.replace(year=last.year + years)
    except ValueError:  # 29 February
        return last.replace(year=last.year + years, day=28)


def held(*, actor: User, patient: Patient) -> dict[str, Any]:
    """What is held, part by part, for the privacy page (the page's read of the patient is
    audited where the patient is looked up)."""
    _authorize(actor, patient)
    account = PortalAccount.objects.filter(patient=patient).select_related("user").first()
    return {
        "portal": account is not None and account.user.is_active,
        "contact": [f for f in ("phone", "email", "address") if getattr(patient, f)],
        "diary": _diary(patient).count(),
        "kept_until": kept_until(patient),
        "retention_years": patient.clinic.retention_years,
    }


def _authorize(actor: User, patient: Patient) -> None:
    if not rules.has_role(actor, rules.ADMIN_ROLES) or actor.clinic_id != patient.clinic_id:
        raise PermissionDenied("Only a clinic admin can answer a privacy request.")


def everything(*, actor: User, patient: Patient) -> dict[str, Any]:
    """Everything held about the patient, as one JSON document (audited as an export)."""
    _authorize(actor, patient)
    loaded = with_chart(Patient.objects.filter(pk=patient.pk)).get()
    account = PortalAccount.objects.filter(patient=patient).select_related("user").first()
    history = (
        AuditEvent.objects.filter(patient=patient)
        .order_by("recorded_at", "id")
        .values_list("recorded_at", "username", "action", "object_type", "object_id")
    )
    audit.record(actor=actor, action=audit.Action.EXPORT, obj=patient,
                 detail={"via": "right-of-access"})  # fmt: skip
    return {
        "about": "Everything needlechart holds about this patient, for a right-of-access request",
        "made_at": timezone.now().isoformat(timespec="seconds"),
        "clinical_record_kept_until": kept_until(patient).isoformat(),
        "chart": patient_chart(loaded),
        "portal": {
            "account": None
            if account is None
            else {
                "email": account.user.email,
                "active": account.user.is_active,
                "opened_at": account.created_at.isoformat(timespec="seconds"),
                "last_sign_in": account.user.last_login.isoformat(timespec="seconds")
                if account.user.last_login
                else None,
            },
            "invitations": [
                {
                    "email": i.email,
                    "sent_at": i.created_at.isoformat(timespec="seconds"),
                    "status": i.status(),
                }
                for i in Invitation.objects.filter(patient=patient)
            ],
            "reminders": [
                {
                    "kind": r.kind,
                    "email": r.email,
                    "sent_at": r.sent_at.isoformat(timespec="seconds"),
                }
                for r in Reminder.objects.filter(patient=patient)
            ],
        },
        "access_history": [
            {
                "at": at.isoformat(timespec="seconds"),
                "by": who or "the system",
                "action": what,
                "record": f"{kind} {number}".strip(),
            }
            for at, who, what, kind, number in history
        ],
    }


@transaction.atomic
def erase(*, actor: User, patient: Patient, parts: list[str], reason: str) -> list[str]:
    """Erase the chosen parts; returns what was erased. The clinical record stays."""
    _authorize(actor, patient)
    unknown = set(parts) - set(PARTS)
    if not parts or unknown:
        raise ValidationError({"parts": "Choose what to erase."})
    if not reason.strip():
        raise ValidationError({"reason": "Say whose request this is and why, for the record."})
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    done = []
    if "portal" in parts:
        account = PortalAccount.objects.filter(patient=patient).select_related("user").first()
        if account is not None:
            user = account.user
            user.is_active = False
            user.set_unusable_password()
            user.email, user.first_name, user.last_name = "", "", ""
            user.username = f"erased-{user.pk}"
            user.save()
        invitations = Invitation.objects.filter(patient=patient)
        invitations.filter(used_at=None, revoked_at=None).update(revoked_at=timezone.now())
        invitations.update(email="erased@invalid")
        done.append("portal")
    if "contact" in parts:
        patient.phone, patient.email, patient.address = "", "", ""
        patient.save(update_fields=["phone", "email", "address"])
        Reminder.objects.filter(patient=patient).update(email="erased@invalid")
        done.append("contact")
    if "diary" in parts:
        removed = _diary(patient).delete()[0]
        done.append(f"diary ({removed} entries)")
    detail = {"privacy_request": "erasure", "erased": done, "reason": reason.strip()}
    audit.record(actor=actor, action=audit.Action.UPDATE, obj=patient, detail=detail)
    return done
