"""The append-only audit trail (after FHIR AuditEvent)."""

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise TypeError("Audit events are append-only.")

    def delete(self) -> NoReturn:
        raise TypeError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One read or write of patient data, or a security event, as it happened."""

    class Action(models.TextChoices):
        VIEW = "view", "Viewed"
        LIST = "list", "Listed in search results"
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Removed from a draft"
        SIGN = "sign", "Signed"
        EXPORT = "export", "Exported"
        LOGIN = "login", "Logged in"
        LOGOUT = "logout", "Logged out"
        SEND = "send", "Emailed"

    recorded_at = models.DateTimeField(default=timezone.now, db_index=True)
    clinic = models.ForeignKey(
        "accounts.Clinic", on_delete=models.PROTECT, null=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    # The username as it was, so the row reads the same if the account is renamed.
    username = models.CharField(max_length=150, blank=True)
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, null=True, related_name="+"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    client_address = models.GenericIPAddressField(null=True)
    detail = models.JSONField(default=dict, blank=True)
    # The tamper-evident chain (audit/chain.py): each clinic's rows (chain 0: rows of no
    # clinic) numbered from 1, each sealed with a keyed hash over its content and the hash
    # of the row before it.
    chain = models.BigIntegerField(default=0)
    sequence = models.BigIntegerField(null=True)
    previous_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "-recorded_at"]),
            models.Index(fields=["patient", "-recorded_at"]),
        ]
        constraints = [
            # Partial, so that SQLite adds an index rather than rebuilding the table.
            models.UniqueConstraint(
                fields=["chain", "sequence"],
                condition=models.Q(sequence__isnull=False),
                name="audit_one_row_per_place_in_a_chain",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.recorded_at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.object_type}"
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("Audit events are append-only.")


class AuditChain(models.Model):
    """The head of one chain: how many rows it holds and the last one's hash. Its row lock
    makes writers of one clinic take their places in turn, so a chain never forks."""

    AUDITED = False

    chain = models.BigIntegerField(primary_key=True)
    sequence = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"Audit chain {self.chain} at place {self.sequence}"


class AuditVerification(models.Model):
    """One walk of a chain by `audit-verify`: what it found, kept so the next walk also
    notices rows removed from the end, and shown on the audit page."""

    AUDITED = False

    chain = models.BigIntegerField()
    verified_at = models.DateTimeField(default=timezone.now)
    intact = models.BooleanField()
    rows = models.BigIntegerField()
    last_sequence = models.BigIntegerField()
    last_hash = models.CharField(max_length=64, blank=True)
    problem = models.TextField(blank=True)

    class Meta:
        ordering = ["-verified_at", "-id"]
        indexes = [models.Index(fields=["chain", "-verified_at"])]

    def __str__(self) -> str:
        state = "intact" if self.intact else "broken"
        return f"Audit chain {self.chain} {state} on {self.verified_at:%Y-%m-%d %H:%M}"


class Submission(models.Model):
    """A create form, sent once. Its token names the record it created, so that a double
    click or a replayed form returns that record instead of making a second one. An API
    request sent with an `Idempotency-Key` keeps its answer here instead, for a day, so that
    a client's retry gets the same answer."""

    # Bookkeeping of the forms and retries, not a record of its own: the record a request
    # made has its own audit row, and a replayed answer was audited when first given.
    AUDITED = False

    token = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # An API request: a hash of its method, path and body, and the answer it was given.
    fingerprint = models.CharField(max_length=64, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    # The answer's headers a retry needs as well: its content type, and where the record or
    # the export it started is (Location, Content-Location).
    response_headers = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.object_type} {self.object_id} from form {self.token[:8]}"
