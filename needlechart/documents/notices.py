"""Telling a patient that a document waits in their portal.

The email says only that: no name, no kind of document, no PDF. Email crosses servers the
clinic does not control (docs/access.md, "What leaves by email"), so the document itself is
read in the portal, after signing in. The notice is a DocumentDelivery like any other send
(documents/deliveries.py), retried when it fails.
"""

from needlechart.accounts.models import User
from needlechart.patients.models import Patient


def portal_address(patient: Patient) -> str:
    """The email address of the patient's portal account, or "" when they have none."""
    emails = User.objects.filter(portal_account__patient_id=patient.pk).values_list("email")
    return next((email for (email,) in emails[:1]), "")
