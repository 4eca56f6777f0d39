"""A Bulk Data export job ($export): what was asked, how far it got, and what it wrote."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ExportJob(models.Model):
    AUDIT_TYPE = "ExportJob"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    # A random id: the status URL names the job, and ids in sequence would tell how many
    # exports other clinics made.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The token's name when one asked (the job's audit rows name it, as every API read does).
    api_token = models.CharField(max_length=100, blank=True)
    # The kick-off request, as the manifest gives it back.
    request = models.CharField(max_length=2000)
    types = models.JSONField(default=list)
    # `_since`: only the resources changed since this instant.
    since = models.DateTimeField(null=True, blank=True)
    # A Group-level export: the group's id (`caseload-12`); its members' records only.
    group = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    # Resources written so far and in all, for the status answer's X-Progress.
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    # Each file written: {"type": ..., "count": ...}.
    output = models.JSONField(default=list)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Touched after every chunk: a running job not touched for a while was stopped with
    # its process (a restart) and is reported failed.
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"FHIR export {self.id} ({self.status})"
