"""API tokens: what lets another system (a booking or billing system, a registry) read and
write a clinic's records through /api/, acting as one staff member, within its scopes."""

from django.conf import settings
from django.db import models
from django.utils import timezone

# Areas of the API, each read or write.
AREAS = {
    "patients": "Patients (demographics and contact details)",
    "clinical": "Clinical records (episodes of care)",
    "dashboard": "Dashboard figures",
}
# Signing a note or an assessment in a clinician's name is its own scope, granted apart
# from writing drafts: a system that prepares notes need not be able to sign them.
SIGN = "clinical:sign"
SCOPES = [f"{area}:{mode}" for area in AREAS for mode in ("read", "write")] + [SIGN]
# What a service account's token may hold: reading and writing any area, but never a
# signature, which is a person's (rules.SIGNING_ROLES).
SERVICE_SCOPES = [scope for scope in SCOPES if scope != SIGN]


class ApiToken(models.Model):
    """A bearer token. Only a hash of the secret is kept: it is shown once, when made."""

    AUDIT_TYPE = "ApiToken"

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    # The staff member the token acts as: their role limits it as much as its scopes do.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens"
    )
    scopes = models.JSONField(default=list)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"API token {self.name} ({self.prefix}...)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
