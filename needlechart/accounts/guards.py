"""The one guard every write passes, whoever calls it: a view, a command, a task or an API.

Staff act within their clinic and their role; a patient's portal account acts only on that
patient's own record. Refusals are ValidationErrors with a reason a person can read, so a
service called from a page shows it next to the form and a command prints it.
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from needlechart.accounts import rules
from needlechart.accounts.models import Clinic, Role, User

if TYPE_CHECKING:
    from needlechart.patients.models import Patient

NOT_YOUR_CLINIC = "This record is not in your clinic."
NOT_YOURS = "This record is not yours."


def authorize(
    actor: User,
    *,
    what: str,
    roles: Iterable[Role] | None = None,
    patient: "Patient | None" = None,
    clinic: Clinic | None = None,
    portal: bool = False,
) -> None:
    """Refuse unless `actor` may do `what` (words after "Your role may not ...").

    Staff need one of `roles` and the same clinic as `patient` or `clinic`. With `portal`,
    the write is the patient's own (the portal): only the account of `patient` may make it.
    """
    if actor is None or not actor.is_authenticated:
        raise ValidationError(f"Sign in to {what}.")
    account = getattr(actor, "portal_account", None)
    if portal:
        if account is None:
            raise ValidationError("Only a patient's portal account can do this.")
        if patient is not None and account.patient_id != patient.pk:
            raise ValidationError(NOT_YOURS)
        return
    if account is not None or not rules.has_role(actor, frozenset(roles or ())):
        raise ValidationError(f"Your role may not {what}.")
    clinic_id = clinic.pk if clinic is not None else getattr(patient, "clinic_id", None)
    if clinic_id is not None and clinic_id != actor.clinic_id:
        raise ValidationError(NOT_YOUR_CLINIC)
