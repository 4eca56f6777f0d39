"""Measurements over an episode of care (FHIR Observation)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from needlechart import knowledge
from needlechart.db.labels import ChoiceLabels


class Timing(models.TextChoices):
    BASELINE = "baseline", "Baseline"
    BEFORE = "before", "Before needling"
    AFTER = "after", "After needling"
    REASSESSMENT = "reassessment", "Reassessment"
    DISCHARGE = "discharge", "Discharge"
    # Entered by the patient in the portal: the pain diary, and PSFS and GROC at reviews.
    HOME = "home", "At home (patient)"


def instrument_choices() -> list[tuple[str, str]]:
    return [(i.code, i.name) for i in knowledge.instruments()]


def instrument_name(code: str) -> str:
    """The measure's name, as `get_code_display()` gives it: looked up by its code rather
    than through every instrument's name at each call (a page lists fifty measurements), and
    never kept, as a clinic may load a questionnaire while the process runs."""
    try:
        return knowledge.instrument(code).name
    except knowledge.UnknownCode:
        return code


class Observation(ChoiceLabels):
    """One measured value: an instrument, what it measured, when in the episode, the value.

    `component` says what exactly was measured: the movement for range of motion
    ("shoulder-flexion"), the activity for PSFS, the muscle for strength or pressure
    pain threshold.
    """

    FHIR_TYPE = "Observation"

    episode = models.ForeignKey(
        "patients.EpisodeOfCare", on_delete=models.PROTECT, related_name="observations"
    )
    assessment = models.ForeignKey(
        "charting.Assessment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="observations",
    )
    session = models.ForeignKey(
        "charting.NeedlingSession",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="observations",
    )
    code = models.CharField("measure", max_length=40, choices=instrument_choices)
    component = models.CharField(max_length=100, blank=True)
    side = models.CharField(
        max_length=5, choices=[("left", "Left"), ("right", "Right")], blank=True
    )
    timing = models.CharField(max_length=15, choices=Timing.choices)
    value = models.DecimalField(max_digits=7, decimal_places=2)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    # A measurement recorded by mistake is marked, with the reason, never deleted.
    entered_in_error_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["recorded_at", "id"]
        indexes = [
            models.Index(fields=["episode", "code", "recorded_at"]),
            # An episode's measurements in time, newest or oldest first: the measurements
            # page reads a page of them without sorting all of an episode's.
            models.Index(fields=["episode", "recorded_at", "id"], name="observation_episode_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~(models.Q(assessment__isnull=False) & models.Q(session__isnull=False)),
                name="observation_in_one_record",
            )
        ]

    def __str__(self) -> str:
        words = knowledge.component_label(self.code, self.component)
        what = f" {words}" if words else ""
        return f"{self.code}{what} {self.value:g}"

    def get_code_display(self) -> str:
        return instrument_name(self.code)

    @property
    def patient_id(self) -> int:
        return self.episode.patient_id

    @property
    def instrument(self) -> "knowledge.schema.Instrument":
        return knowledge.instrument(self.code)


class CarePlan(models.Model):
    """The treatment plan of an episode (FHIR CarePlan), one row per version.

    A change to the plan is a new version; earlier versions stay as they were.
    """

    FHIR_TYPE = "CarePlan"

    class Frequency(models.TextChoices):
        TWICE_WEEKLY = "twice-weekly", "Twice a week"
        WEEKLY = "weekly", "Once a week"
        FORTNIGHTLY = "fortnightly", "Every two weeks"
        MONTHLY = "monthly", "Once a month"

    episode = models.ForeignKey(
        "patients.EpisodeOfCare", on_delete=models.PROTECT, related_name="care_plans"
    )
    version = models.PositiveIntegerField()
    planned_sessions = models.PositiveSmallIntegerField(
        "planned needling sessions",
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(30)],
        help_text="Most episodes plan 3 to 6 sessions.",
    )
    frequency = models.CharField(
        "needling frequency", max_length=15, choices=Frequency.choices, default=Frequency.WEEKLY
    )
    review_on = models.DateField("review date")
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["episode", "version"], name="care_plan_version_unique")
        ]

    def __str__(self) -> str:
        return f"Treatment plan, version {self.version}"

    @property
    def patient_id(self) -> int:
        return self.episode.patient_id


class PlanGoal(models.Model):
    """A goal tied to a measure, e.g. NPRS at most 3, or a PSFS activity at least 8."""

    FHIR_TYPE = "Goal"

    plan = models.ForeignKey(CarePlan, on_delete=models.PROTECT, related_name="goals")
    description = models.CharField(max_length=200)
    code = models.CharField("measure", max_length=40, choices=instrument_choices)
    component = models.CharField("activity, movement or muscle", max_length=100, blank=True)
    target = models.DecimalField(max_digits=7, decimal_places=2)
    target_date = models.DateField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description

    def get_code_display(self) -> str:
        return instrument_name(self.code)


class PlanTherapy(models.Model):
    """Another therapy in the plan beside needling, who provides it and how often."""

    class Kind(models.TextChoices):
        PHYSICAL_THERAPY = "physical-therapy", "Physical therapy"
        HOME_EXERCISE = "home-exercise", "Home exercise programme"
        MASSAGE = "massage", "Massage"
        CHIROPRACTIC = "chiropractic", "Chiropractic care"
        OTHER = "other", "Other"

    plan = models.ForeignKey(CarePlan, on_delete=models.PROTECT, related_name="therapies")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    provider = models.CharField("provided by", max_length=200)
    frequency = models.CharField("how often", max_length=100)
    # For a home exercise programme: [{"name": "chin tucks", "dose": "3 x 10 daily"}, ...]
    exercises = models.JSONField(default=list, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.provider}, {self.frequency}"


class Discharge(models.Model):
    """The end of an episode: why, and where the patient got to (a signed summary)."""

    FHIR_TYPE = "Composition"

    class Reason(models.TextChoices):
        GOALS_MET = "goals-met", "Goals met"
        PLATEAU = "plateau", "No further improvement expected"
        PATIENT_CHOICE = "patient-choice", "Patient's choice"
        REFERRED = "referred", "Referred to another service"
        NOT_ATTENDING = "not-attending", "Stopped attending"
        OTHER = "other", "Other"

    episode = models.OneToOneField(
        "patients.EpisodeOfCare", on_delete=models.PROTECT, related_name="discharge"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    summary = models.TextField()
    # The outcomes, sessions and adverse events at discharge, as they stood then.
    snapshot = models.JSONField(default=dict)
    discharged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    discharged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(summary=""), name="discharge_has_summary")
        ]

    def __str__(self) -> str:
        return f"Discharge {self.discharged_at:%Y-%m-%d}"

    @property
    def patient_id(self) -> int:
        return self.episode.patient_id


class EpisodeSummary(models.Model):
    """An episode's figures as the dashboard counts them (outcomes/dashboard.py): its signed
    sessions and its pain change, kept so that a dashboard view reads one row per episode
    instead of every session and pain measure of the clinic.

    Database triggers (db/guards.py, `summary_marks`) add one to `changes` whenever a row
    the figures depend on is written, on every path (services, commands, the shell, raw
    SQL); the dashboard recomputes the rows whose `computed` is behind before it reads them.
    Derived data only: it can be dropped and rebuilt from the charts at any time.
    """

    # Never read or written as a record of its own: the dashboard's figures are audited.
    AUDITED = False

    # No database constraint: a trigger may mark an episode in the same transaction that
    # removes it (a demo rebuild), and a row of a removed episode is simply never read.
    episode = models.OneToOneField(
        "patients.EpisodeOfCare",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        primary_key=True,
        related_name="summary",
    )
    changes = models.PositiveIntegerField(default=1)
    # The value of `changes` the figures below were computed at.
    computed = models.PositiveIntegerField(default=0)
    # Signed sessions, not entered in error.
    signed_sessions = models.PositiveIntegerField(default=0)
    # Has NPRS measures of the course; the next three describe them.
    measured = models.BooleanField(default=False)
    evaluable = models.BooleanField(default=False)
    responder = models.BooleanField(default=False)
    sessions_until = models.PositiveIntegerField(default=0)
    # Needling rows per muscle (slug: rows) in its signed sessions: the most-needled
    # muscles of the whole clinic add these up rather than join every needling row. A signed
    # session's rows never change (db/guards.py), so signing marks all they add.
    needled = models.JSONField(default=dict)
    # Adverse events of its signed sessions, not entered in error, by their severity as it
    # stands (the latest follow-up's): mild, and any other. The clinic's rates add these up
    # rather than read every session of the clinic.
    minor_events = models.PositiveIntegerField(default=0)
    major_events = models.PositiveIntegerField(default=0)
    # Signed sessions per week ({Monday in the clinic's zone, ISO: sessions}): the clinic's
    # sessions by week add these up. A clinic that changes its zone marks its episodes.
    weeks = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"Summary of episode {self.episode_id}"
