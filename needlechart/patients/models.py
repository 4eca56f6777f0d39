"""Patients and their episodes of care (FHIR Patient and EpisodeOfCare)."""

import datetime as dt
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts.models import Clinic, Practitioner

if TYPE_CHECKING:
    from needlechart.knowledge.schema import Condition

MRN_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9-]*$",
    "Use letters, digits and hyphens only, starting with a letter or digit.",
)


# Nobody alive was born more than this many years ago; an older date is a typing error.
MAX_AGE_YEARS = 125


def check_birth_date(birth_date: dt.date, today: dt.date) -> None:
    if birth_date > today:
        raise ValidationError({"birth_date": "The date of birth cannot be in the future."})
    if today.year - birth_date.year > MAX_AGE_YEARS:
        raise ValidationError(
            {"birth_date": f"The date of birth is more than {MAX_AGE_YEARS} years ago; check it."}
        )


class Sex(models.TextChoices):
    # FHIR AdministrativeGender codes.
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


def full_name(given_name: str, family_name: str) -> str:
    """A patient's name as the pages show it, from the two fields (for rows, not models)."""
    return f"{given_name} {family_name}"


class Patient(models.Model):
    FHIR_TYPE = "Patient"
    # What staff may change after registration (the clinic never changes).
    EDITABLE = (
        "given_name",
        "family_name",
        "birth_date",
        "sex",
        "mrn",
        "phone",
        "email",
        "address",
    )

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("medical record number", max_length=32, validators=[MRN_VALIDATOR])
    given_name = models.CharField("given name", max_length=100)
    family_name = models.CharField("family name", max_length=100)
    birth_date = models.DateField("date of birth")
    sex = models.CharField(max_length=10, choices=Sex.choices)
    phone = models.CharField(max_length=32, blank=True)
    email = models.EmailField(blank=True)
    address = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "mrn"],
                name="patient_mrn_unique_in_clinic",
                violation_error_message="Another patient in this clinic has this record number.",
            )
        ]
        indexes = [
            # Serves the patient list's order; searches filter within one clinic.
            models.Index(fields=["clinic", "family_name", "given_name"], name="patient_name_idx"),
            models.Index(fields=["clinic", "birth_date"], name="patient_birth_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    def clean(self) -> None:
        if self.birth_date:
            check_birth_date(self.birth_date, timezone.localdate())

    @property
    def full_name(self) -> str:
        return full_name(self.given_name, self.family_name)

    def age(self, on: dt.date | None = None) -> int:
        day = on or timezone.localdate()
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday


def condition_choices() -> list[tuple[str, str]]:
    # A callable keeps catalogue updates out of the migrations.
    return [(c.code, c.option_label) for c in knowledge.conditions()]


def body_area_choices() -> list[tuple[str, str]]:
    return [(a.slug, a.label) for a in knowledge.body_areas()]


class ReferralSource(models.TextChoices):
    SELF = "self", "Self-referred"
    PHYSICIAN = "physician", "Physician or GP"
    PHYSIOTHERAPIST = "physiotherapist", "Physiotherapist"
    CHIROPRACTOR = "chiropractor", "Chiropractor"
    SPECIALIST = "specialist", "Specialist (orthopaedic, sports, pain)"
    EMPLOYER_INSURER = "employer_insurer", "Employer or insurer"
    OTHER = "other", "Other"


class EpisodeOfCare(models.Model):
    """Care for one complaint, from first visit to discharge."""

    FHIR_TYPE = "EpisodeOfCare"
    EDITABLE = (
        "condition_code",
        "body_area",
        "onset_date",
        "referral_source",
        "referral_detail",
        "referral_email",
        "care_manager",
        "status",
        "period_start",
    )

    class Status(models.TextChoices):
        # FHIR EpisodeOfCare.status codes; "finished" is shown as discharged.
        ACTIVE = "active", "Active"
        ON_HOLD = "onhold", "On hold"
        FINISHED = "finished", "Discharged"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="episodes")
    condition_code = models.CharField(
        "condition (ICD-10-CM)",
        max_length=10,
        choices=condition_choices,
    )
    body_area = models.CharField(max_length=32, choices=body_area_choices)
    onset_date = models.DateField(null=True, blank=True)
    referral_source = models.CharField(max_length=20, choices=ReferralSource.choices)
    referral_detail = models.CharField(
        max_length=200, blank=True, help_text="Who referred, e.g. the referring clinician's name."
    )
    # Where letters to the referrer are emailed (documents/deliveries.py).
    referral_email = models.EmailField(
        "referrer's email",
        blank=True,
        help_text="Progress reports and discharge letters can be emailed here, as a PDF.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    care_manager = models.ForeignKey(
        Practitioner,
        on_delete=models.PROTECT,
        related_name="episodes",
        verbose_name="practitioner in charge",
    )
    period_start = models.DateField("opened on", default=timezone.localdate)
    period_end = models.DateField("discharged on", null=True, blank=True)
    # The review date of the episode's current plan (outcomes.CarePlan, its latest version),
    # or none before a plan. Kept by the database's triggers (db/guards.py
    # `plan_review_kept`, installed by the migration that added it) whatever path writes a
    # plan or the episode, and whatever value a save carries: the lists of reviews due then
    # read the episodes due, along an index, rather than working out the current plan of
    # every active episode.
    plan_review_on = models.DateField("plan review date", null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period_start", "-id"]
        verbose_name = "episode of care"
        verbose_name_plural = "episodes of care"
        indexes = [
            # A practitioner's active episodes by review date: their reviews due, the
            # earliest first (the home page).
            models.Index(
                fields=["care_manager", "plan_review_on"],
                condition=models.Q(status="active", plan_review_on__isnull=False),
                name="episode_reviews_in_time",
            ),
            # The same for the whole clinic (staff in charge of no episode).
            models.Index(
                fields=["plan_review_on"],
                condition=models.Q(status="active", plan_review_on__isnull=False),
                name="episode_all_reviews_in_time",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_end__isnull=True)
                | models.Q(period_end__gte=models.F("period_start")),
                name="episode_ends_after_start",
                violation_error_message="An episode cannot end before it opens.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.condition_code} {self.condition.display}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        today = timezone.localdate()
        if self.onset_date and self.onset_date > today:
            errors["onset_date"] = "The onset date cannot be in the future."
        elif self.onset_date and self.patient_id and self.onset_date < self.patient.birth_date:
            errors["onset_date"] = "The onset date is before the patient's date of birth."
        if self.period_start and self.period_start > today:
            errors["period_start"] = "An episode cannot open in the future."
        elif self.period_start and self.period_end and self.period_start > self.period_end:
            errors["period_start"] = (
                f"An episode cannot open after its discharge date ({self.period_end:%Y-%m-%d})."
            )
        if (
            self.care_manager_id
            and self.patient_id
            and self.care_manager.user.clinic_id != self.patient.clinic_id
        ):
            errors["care_manager"] = "Choose a practitioner of this clinic."
        if errors:
            raise ValidationError(errors)

    @property
    def condition(self) -> "Condition":
        return knowledge.condition(self.condition_code)
