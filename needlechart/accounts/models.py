"""Clinics (the tenants), staff users with one role each, and practitioners' credentials."""

import zoneinfo

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (e.g. Europe/Dublin).")


class TwoFactor(models.TextChoices):
    """Whom a clinic requires to sign in with a second factor (an authenticator app)."""

    NONE = "none", "No one (each person may still turn it on)"
    ADMINS = "admins", "Clinic admins"
    CLINICIANS = (
        "clinicians",
        "Everyone who reads clinical records (admins, practitioners, assistants)",
    )
    STAFF = "staff", "All staff"


class Clinic(models.Model):
    """The tenant: every patient record and staff account belongs to exactly one clinic."""

    FHIR_TYPE = "Organization"

    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    is_demo = models.BooleanField(
        default=False, help_text="Demo clinics hold generated data and may be rebuilt."
    )
    # How patients reach the clinic; printed on aftercare sheets.
    phone = models.CharField(max_length=32, blank=True)
    email = models.EmailField(blank=True)
    address = models.TextField(blank=True)
    # The letterhead's logo (PNG or JPEG, checked by accounts.services.clinic_update); the
    # documents embed it, nothing fetches it.
    logo = models.BinaryField(blank=True, default=b"")
    logo_type = models.CharField(max_length=20, blank=True)
    # After this many sessions without an important improvement, the episode asks for a review.
    review_after_sessions = models.PositiveSmallIntegerField(
        "sessions before a review prompt", default=3, validators=[MinValueValidator(1)]
    )
    # Some jurisdictions ask that the consent states the practitioner's dry-needling training.
    consent_states_training = models.BooleanField(
        "the consent states the practitioner's dry-needling training",
        default=False,
        help_text="Shown above the consent text and kept with each signature.",
    )
    # Minutes without a request before a signed-in staff member or patient is signed out.
    idle_minutes = models.PositiveSmallIntegerField(
        "minutes without activity before signing out",
        default=15,
        validators=[MinValueValidator(5), MaxValueValidator(60)],
    )
    # Signing a clinical record longer than this after signing in asks for the password (or
    # an authenticator code) again.
    sign_confirm_minutes = models.PositiveSmallIntegerField(
        "minutes after signing in before signing a record asks for the password again",
        default=60,
        validators=[MinValueValidator(5), MaxValueValidator(720)],
    )
    # How long the clinical record is kept after the last visit, as the clinic's law asks;
    # a privacy request cannot erase it before then (portal/privacy.py).
    retention_years = models.PositiveSmallIntegerField(
        "years the clinical record is kept after the last visit",
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    # Whom the clinic requires to use two-factor sign-in; demo clinics require no one.
    two_factor = models.CharField(
        "two-factor sign-in required of",
        max_length=12,
        choices=TwoFactor.choices,
        default=TwoFactor.CLINICIANS,
    )
    # Counter for generated medical record numbers; taken under a row lock.
    next_mrn = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    CLINIC_ADMIN = "clinic_admin", "Clinic admin"
    PRACTITIONER = "practitioner", "Practitioner"
    ASSISTANT = "assistant", "Assistant"
    FRONT_DESK = "front_desk", "Front desk"
    # Another system of the clinic (booking, billing) that owns API tokens: no person, no
    # sign-in, no signature (rules.SIGNING_ROLES); its tokens' scopes say what it reads and
    # writes. Made on the API tokens page (needlechart.api).
    SERVICE = "service", "Service account"


class StaffManager(UserManager):
    def get_queryset(self) -> models.QuerySet:
        # Every request needs the user's clinic (scoping, time zone), for a patient the
        # portal account that ties it to its record, and for a clinician the practitioner
        # profile (the header says whether they may needle today): fetch them with the user.
        return (
            super()
            .get_queryset()
            .select_related("clinic", "portal_account__patient__clinic", "practitioner")
        )


class User(AbstractUser):
    """A staff account, or a patient's portal sign-in (no clinic, no role, a portal account).
    Accounts without a clinic see no staff records."""

    clinic = models.ForeignKey(
        Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
    role = models.CharField(max_length=20, choices=Role.choices, blank=True)

    objects = StaffManager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(clinic__isnull=True) & Q(role=""))
                | (Q(clinic__isnull=False) & ~Q(role="")),
                name="user_role_iff_clinic",
                violation_error_message="A clinic user needs a role, and a role needs a clinic.",
            )
        ]

    def __str__(self) -> str:
        return self.name_of(self.first_name, self.last_name, self.username)

    @staticmethod
    def name_of(first_name: str, last_name: str, username: str) -> str:
        """A staff member's name as shown (their full name, else their username), from the
        columns alone (a bulk export reads no User)."""
        return f"{first_name} {last_name}".strip() or username

    @property
    def is_patient(self) -> bool:
        return hasattr(self, "portal_account")


class Profession(models.TextChoices):
    PHYSIOTHERAPIST = "physiotherapist", "Physiotherapist"
    CHIROPRACTOR = "chiropractor", "Chiropractor"
    ATHLETIC_TRAINER = "athletic_trainer", "Athletic trainer"
    PHYSICIAN = "physician", "Physician"
    ACUPUNCTURIST = "acupuncturist", "Acupuncturist"
    OTHER = "other", "Other"


class Practitioner(models.Model):
    """A clinician's professional details (FHIR Practitioner), one per staff account."""

    FHIR_TYPE = "Practitioner"

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="practitioner")
    profession = models.CharField(max_length=20, choices=Profession.choices)
    registration_number = models.CharField(max_length=50, blank=True)
    registration_body = models.CharField(
        max_length=100, blank=True, help_text="The regulator that issued the registration number."
    )

    class Meta:
        ordering = ["user__last_name", "user__first_name"]

    def __str__(self) -> str:
        return str(self.user)

    @property
    def clinic_id(self) -> int | None:
        return self.user.clinic_id


class DryNeedlingCredential(models.Model):
    """Completed dry-needling training (FHIR Practitioner.qualification)."""

    FHIR_TYPE = "PractitionerQualification"
    EDITABLE = (
        "course", "provider", "hours", "jurisdiction", "completed_on", "expires_on",
        "evidence_note",
    )  # fmt: skip

    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, related_name="credentials"
    )
    course = models.CharField(max_length=200)
    provider = models.CharField(max_length=200)
    hours = models.DecimalField(
        "training hours", max_digits=5, decimal_places=1, validators=[MinValueValidator(0.5)]
    )
    # Boards set their own minimum hours and rules: where the credential counts.
    jurisdiction = models.CharField(
        max_length=100, blank=True, help_text="The state, province or country whose rules it meets."
    )
    completed_on = models.DateField()
    expires_on = models.DateField(
        null=True, blank=True, help_text="Leave empty if the credential does not expire."
    )
    evidence_note = models.TextField(
        blank=True, help_text="How the credential was verified, e.g. certificate seen and by whom."
    )
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-completed_on"]
        constraints = [
            models.CheckConstraint(condition=Q(hours__gt=0), name="credential_hours_positive"),
            models.CheckConstraint(
                condition=Q(expires_on__isnull=True) | Q(expires_on__gt=F("completed_on")),
                name="credential_expires_after_completion",
                violation_error_message="The expiry date must be after the completion date.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.course} ({self.provider})"


class RecoveryCode(models.Model):
    """A one-time code that stands in for the authenticator app once, e.g. when the phone is
    lost. Only a salted hash is kept: the codes are shown once, when they are made. Their
    making and use are audited as the user's two-factor changes (accounts/two_factor.py)."""

    AUDITED = False  # recorded on the user's own row: "two_factor" in the detail

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Recovery code of {self.user}{' (used)' if self.used_at else ''}"
