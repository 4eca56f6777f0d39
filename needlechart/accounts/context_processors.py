from typing import Any

from django.http import HttpRequest

from needlechart.accounts import rules, sessions


def role(request: HttpRequest) -> dict[str, Any]:
    """What the navigation may offer to the signed-in user."""
    user = request.user
    patient_clinic = (
        user.portal_account.patient.clinic if getattr(user, "is_patient", False) else None
    )
    return {
        "portal_clinic": patient_clinic,
        "can_read_clinical": rules.has_role(user, rules.CLINICAL_READ_ROLES),
        "can_write_clinical": rules.has_role(user, rules.CLINICAL_WRITE_ROLES),
        "is_clinic_admin": rules.has_role(user, rules.ADMIN_ROLES),
        # The page counts the idle period down and warns before it ends (needlechart.js).
        "idle_seconds": sessions.idle_seconds(user) if user.is_authenticated else 0,
    }
