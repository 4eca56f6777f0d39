"""An issued document: the PDF made from a signed record, kept exactly as it was issued."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from needlechart.records import VersionedText


class Kind(models.TextChoices):
    SESSION_NOTE = "session-note", "Session note"
    ASSESSMENT_REPORT = "assessment-report", "Assessment report"
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
    # The letter whose words it carries (a letter issued again with its addenda is one
    # more document of the same letter); empty for any other document. A letter's first
    # document issued before this column has it empty: the letter names it as `document`.
    from_letter = models.ForeignKey(
        "Letter", on_delete=models.PROTECT, null=True, blank=True, related_name="documents"
    )
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


class Recipient(models.TextChoices):
    REFERRER = "referrer", "Referrer"
    PATIENT = "patient", "Patient"


class DocumentDelivery(models.Model):
    """One issued document emailed to one address (FHIR Communication), kept so that a send
    that failed is retried (`needlechart send-documents`) and its standing shown. The
    referrer, a clinician, gets the PDF; the patient gets only a notice pointing to the
    portal (docs/access.md, "What leaves by email")."""

    FHIR_TYPE = "Communication"
    # Aftercare given is a Communication too: the trail names this table apart.
    AUDIT_TYPE = "Communication/DocumentDelivery"
    Recipient = Recipient

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Not sent: gave up"

    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="deliveries")
    recipient = models.CharField(max_length=10, choices=Recipient.choices)
    address = models.EmailField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    # When the next try is due: at once on creation, then later after each failure; a try
    # under way pushes it on first, so that a second sender leaves it alone.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # A document goes to an address once: a second tab's send finds the first.
            models.UniqueConstraint(
                fields=["document", "address"], name="document_delivery_once_per_address"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.document.title} to {self.address}"


# The documents written as letters to the referrer, with the clinic's wording.
LETTER_KINDS = [(k.value, k.label) for k in (Kind.PROGRESS_REPORT, Kind.DISCHARGE_LETTER)]


class LetterTemplate(VersionedText):
    """A clinic's wording for one kind of letter, one row per version (never edited in place,
    as the consent text): `{recipient}` in the salutation is the letter's addressee."""

    clinic = models.ForeignKey(
        "accounts.Clinic", on_delete=models.PROTECT, related_name="letter_templates"
    )
    kind = models.CharField(max_length=20, choices=LETTER_KINDS)
    salutation = models.CharField(max_length=200)
    opening = models.TextField()
    closing = models.TextField()

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "kind", "version"], name="letter_template_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} wording (version {self.version})"


class Letter(models.Model):
    """A letter to the referrer drafted from the clinic's wording: edited while a draft, and
    once signed and issued (`signed_at`, its Document) never again; the database refuses it
    (db/guards.py), as it refuses a change to any signed record."""

    FHIR_TYPE = "Composition"
    # The discharge summary is a Composition too: the trail names this table apart.
    AUDIT_TYPE = "Composition/Letter"
    EDITABLE = ("recipient", "salutation", "opening", "body", "closing")

    episode = models.ForeignKey(
        "patients.EpisodeOfCare", on_delete=models.PROTECT, related_name="letters"
    )
    kind = models.CharField(max_length=20, choices=LETTER_KINDS)
    template = models.ForeignKey(LetterTemplate, on_delete=models.PROTECT, related_name="+")
    recipient = models.CharField("to", max_length=200, blank=True)
    salutation = models.CharField(max_length=200)
    opening = models.TextField(blank=True)
    body = models.TextField("your text", blank=True)
    closing = models.TextField(blank=True)
    document = models.OneToOneField(
        Document, on_delete=models.PROTECT, null=True, blank=True, related_name="letter"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} letter of {self.created_at:%Y-%m-%d}"

    @property
    def patient_id(self) -> int:
        return self.episode.patient_id


class LetterAddendum(models.Model):
    """A later note on a signed letter, as a signed session takes one: the letter stays as
    it was signed and the addendum is shown with it, and printed on the letter when it is
    issued again. Kept by the database as written (db/guards.py). Apart from the charting
    addenda (charting.Addendum): a letter belongs to the documents, above the charting."""

    AUDIT_TYPE = "Addendum/Letter"

    letter = models.ForeignKey(Letter, on_delete=models.PROTECT, related_name="addenda")
    reason = models.CharField(max_length=300)
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    written_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["written_at", "id"]

    def __str__(self) -> str:
        return f"Addendum of {self.written_at:%Y-%m-%d}"


class DocumentJob(models.Model):
    """A whole record being laid out as a PDF in the background (documents/jobs.py): a long
    history takes tens of seconds, too long for a page to wait. The patient page shows it
    being prepared, then the issued document, or why it failed."""

    AUDIT_TYPE = "DocumentJob"

    class Status(models.TextChoices):
        RUNNING = "running", "Being prepared"
        DONE = "done", "Issued"
        FAILED = "failed", "Failed"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="document_jobs"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.RECORD)
    notify_patient = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    error = models.CharField(max_length=500, blank=True)
    document = models.ForeignKey(
        Document, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["patient", "-created_at"], name="document_job_patient")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk} ({self.status})"
