"""An issued document: the PDF made from a signed record, kept exactly as it was issued."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Kind(models.TextChoices):
    SESSION_NOTE = "session-note", "Session note"
    CONSENT = "consent", "Signed consent"
    AFTERCARE = "aftercare", "Aftercare sheet"
    PROGRESS_REPORT = "progress-report", "Progress report"
    DISCHARGE_LETTER = "discharge-letter", "Discharge letter"
    RECORD = "record", "Whole record"


class Document(models.Model):
    """One PDF as issued (FHIR DocumentReference). The database refuses to change or remove
    it (db/guards.py): a document someone was given must stay what they were given."""

    FHIR_TYPE = "DocumentReference"
    Kind = Kind

    # The clinic is the patient's: a document is scoped through its patient like any record.
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="documents"
    )
    episode = models.ForeignKey(
        "patients.EpisodeOfCare",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="documents",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The record it was made from, by its audit name and id ("Encounter" 12, "Consent" 3 ...).
    source_type = models.CharField(max_length=40)
    source_id = models.PositiveBigIntegerField()
    title = models.CharField(max_length=200)
    # The layout's version (documents/render.py), and the clinic text's version where the
    # document prints one (the consent or aftercare wording).
    render_version = models.PositiveSmallIntegerField()
    text_version = models.PositiveIntegerField(null=True, blank=True)
    content = models.BinaryField()
    sha256 = models.CharField("SHA-256 checksum", max_length=64)
    size = models.PositiveIntegerField()
    # Who it is written to (a referrer's name, "the patient"); empty for a plain copy.
    addressee = models.CharField(max_length=200, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["patient", "-issued_at"], name="document_patient_issued")]

    def __str__(self) -> str:
        return f"{self.title} ({self.issued_at:%Y-%m-%d})"

    @property
    def filename(self) -> str:
        return f"{self.kind}-{self.source_id}-{self.issued_at:%Y%m%d}.pdf"
