"""The patient-facing side: portal accounts, invitations, the patient's own questionnaire
answers, check-ins after sessions, effects they report, and the reminders sent."""

import datetime as dt

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class PortalAccount(models.Model):
    """A patient's sign-in. The user has no clinic and no role: it is not staff, and every
    staff page is closed to it; it reaches only its own patient's record, under /portal/."""

    patient = models.OneToOneField(
        "patients.Patient", on_delete=models.PROTECT, related_name="portal_account"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="portal_account"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Portal account of {self.patient}"


class Invitation(models.Model):
    """A one-time link to open a portal account. Only a hash of the token is stored, so the
    database alone cannot be used to take over an invitation."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for the patient"
        USED = "used", "Used"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Replaced by a newer invitation"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="portal_invitations"
    )
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Portal invitation for {self.patient} ({self.created_at:%Y-%m-%d})"

    def status(self, now: dt.datetime | None = None) -> str:
        if self.used_at:
            return self.Status.USED
        if self.revoked_at:
            return self.Status.REVOKED
        if (now or timezone.now()) >= self.expires_at:
            return self.Status.EXPIRED
        return self.Status.OPEN


class HealthQuestionnaire(models.Model):
    """The patient's own answers to the health screening questions (FHIR
    QuestionnaireResponse). They never change the chart by themselves: a clinician reviews
    them and either records them as a screening or dismisses them with a note."""

    FHIR_TYPE = "QuestionnaireResponse"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        CONFIRMED = "confirmed", "Recorded in the chart"
        DISMISSED = "dismissed", "Reviewed, not recorded"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="health_questionnaires"
    )
    # The episode it was answered for, when the patient had one open.
    episode = models.ForeignKey(
        "patients.EpisodeOfCare",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="health_questionnaires",
    )
    # In the safety engine's format, as a screening stores them.
    factors = models.JSONField(default=list, blank=True)
    note = models.TextField("anything else the patient wants us to know", blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    screening = models.OneToOneField(
        "charting.Screening",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="from_questionnaire",
    )

    class Meta:
        ordering = ["-submitted_at", "-id"]
        # The clinic's answers waiting for review, the oldest first (the home page and the
        # dashboard): the first few read in order, not every pending one sorted.
        indexes = [
            models.Index(
                fields=["submitted_at", "id"],
                condition=Q(status="pending"),
                name="questionnaire_pending",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="pending", reviewed_at__isnull=True)
                | (~Q(status="pending") & Q(reviewed_at__isnull=False)),
                name="questionnaire_reviewed_iff_not_pending",
            ),
            models.CheckConstraint(
                condition=Q(screening__isnull=True) | Q(status="confirmed"),
                name="questionnaire_screening_only_when_confirmed",
            ),
        ]

    def __str__(self) -> str:
        return f"Health questionnaire of {self.patient} ({self.submitted_at:%Y-%m-%d})"


def _kept_patient() -> models.ForeignKey:
    """A row's session's patient, which the database writes on every path that writes the
    row, its session or its episode (never the code: it is not editable)."""
    return models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        null=True,
        editable=False,
        related_name="+",
        db_index=False,
    )


class CheckIn(models.Model):
    """How the patient is some hours after a signed session (FHIR QuestionnaireResponse).
    A row is an answer; a check-in that is due but unanswered has no row yet."""

    FHIR_TYPE = "QuestionnaireResponse"
    AUDIT_TYPE = "QuestionnaireResponse/CheckIn"

    session = models.ForeignKey(
        "charting.NeedlingSession", on_delete=models.PROTECT, related_name="check_ins"
    )
    # The session's patient, kept by the database (db/guards.py `check_in_patient_kept`):
    # the patient header reads a patient's open red flags along an index rather than
    # through every session of the patient.
    patient = _kept_patient()
    hours = models.PositiveSmallIntegerField()
    answered_at = models.DateTimeField(default=timezone.now)
    soreness = models.PositiveSmallIntegerField(validators=[MaxValueValidator(10)])
    symptoms = models.JSONField(default=list, blank=True)
    other = models.CharField("anything else", max_length=500, blank=True)
    # The red-flag symptoms among `symptoms`: each raises an alert to the practitioner.
    red_flags = models.JSONField(default=list, blank=True)
    alert_emailed_at = models.DateTimeField(null=True, blank=True)
    alert_acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    alert_acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["session_id", "hours"]
        # The open red-flag alerts (the home page, the dashboard, the patient header): the
        # few not yet acknowledged, found without reading every check-in ever answered.
        indexes = [
            models.Index(
                fields=["answered_at", "id"],
                condition=Q(alert_acknowledged_at__isnull=True) & ~Q(red_flags=[]),
                name="check_in_open_red_flags",
            ),
            # A patient's open red flags, in the order the patient header names them.
            models.Index(
                fields=["patient", "-answered_at", "-id"],
                condition=Q(alert_acknowledged_at__isnull=True) & ~Q(red_flags=[]),
                name="check_in_open_red_flags_of",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["session", "hours"], name="one_check_in_per_time"),
            models.CheckConstraint(condition=Q(soreness__lte=10), name="soreness_0_to_10"),
        ]

    def __str__(self) -> str:
        return f"{self.hours}-hour check-in after {self.session}"

    @property
    def alert_open(self) -> bool:
        return bool(self.red_flags) and self.alert_acknowledged_at is None


class ReportedEffect(models.Model):
    """An effect the patient reported in a check-in: a pending adverse event until a
    clinician confirms it (recording the adverse event) or dismisses it with a reason.
    One per session and type: a later check-in reporting it again updates it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        CONFIRMED = "confirmed", "Recorded as an adverse event"
        DISMISSED = "dismissed", "Dismissed"

    session = models.ForeignKey(
        "charting.NeedlingSession", on_delete=models.PROTECT, related_name="reported_effects"
    )
    check_in = models.ForeignKey(CheckIn, on_delete=models.PROTECT, related_name="effects")
    # The session's patient, kept by the database (db/guards.py `effect_patient_kept`): a
    # patient's and a clinic's effects awaiting review are counted along an index rather
    # than through every effect's session and episode.
    patient = _kept_patient()
    event_type = models.CharField(max_length=20)
    detail = models.CharField(max_length=500, blank=True)
    red_flag = models.BooleanField(default=False)
    first_reported_at = models.DateTimeField(default=timezone.now)
    last_reported_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    adverse_event = models.OneToOneField(
        "charting.AdverseEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reported_effect",
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    dismiss_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-red_flag", "first_reported_at", "id"]
        # The dashboard's and the episode banner's queue: the few effects still pending,
        # found without reading every effect a clinic's patients ever reported.
        indexes = [
            models.Index(
                fields=["-red_flag", "first_reported_at", "id"],
                condition=Q(status="pending"),
                name="reported_effect_pending",
            ),
            # A patient's effects awaiting review, in the order the patient header names them.
            models.Index(
                fields=["patient", "-red_flag", "-first_reported_at", "-id"],
                condition=Q(status="pending"),
                name="reported_effect_pending_of",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "event_type"], name="one_reported_effect_per_type"
            ),
            models.CheckConstraint(
                condition=Q(status="pending", reviewed_at__isnull=True)
                | (~Q(status="pending") & Q(reviewed_at__isnull=False)),
                name="effect_reviewed_iff_not_pending",
            ),
            models.CheckConstraint(
                condition=~Q(status="confirmed") | Q(adverse_event__isnull=False),
                name="confirmed_effect_has_its_event",
            ),
        ]

    def __str__(self) -> str:
        return f"Reported {self.event_type} after {self.session}"


class Reminder(models.Model):
    """One email sent by `send-reminders`. The key names what it was about; being unique,
    it makes sending twice impossible, however often and however late the command runs."""

    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=30)
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="portal_reminders"
    )
    email = models.EmailField()
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} reminder to {self.patient} ({self.sent_at:%Y-%m-%d %H:%M})"
