"""The dry-needling visit: screening, consent, assessment, needling session, adverse events,
aftercare, addenda. FHIR names where one fits.

Signed assessments and sessions, their rows, consents, screenings and addenda are never
changed in place or removed: services refuse, and database triggers (needlechart/db/guards.py)
refuse too. Adverse events keep what was first recorded; follow-ups are records of their own.
"""

import copy
import functools
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property

from needlechart import knowledge
from needlechart.db.labels import ChoiceLabels
from needlechart.records import VersionedText

SIDES = [("left", "Left"), ("right", "Right")]


# The catalogues' choices, made once: the knowledge package does not change while the
# process runs, and a form's field asks again each time it lists them (every row form).
@functools.cache
def muscle_choices() -> tuple[tuple[str, str], ...]:
    return tuple((m.slug, m.name) for m in sorted(knowledge.muscles(), key=lambda m: m.name))


@functools.cache
def region_choices() -> tuple[tuple[str, str], ...]:
    return tuple((r.id, r.display) for r in knowledge.regions())


@functools.cache
def adverse_event_choices() -> tuple[tuple[str, str], ...]:
    return tuple(knowledge.adverse_event_types().items())


class Screening(models.Model):
    """The answers to the health questionnaire at one time (FHIR RiskAssessment).

    Each change is a new row; the newest is current. `factors` holds the knowledge
    engine's factor dicts, e.g. {"code": "lymphedema", "limb": "arm", "side": "left"}.
    """

    FHIR_TYPE = "RiskAssessment"

    class Source(models.TextChoices):
        CLINICIAN = "clinician", "Recorded by a clinician"
        PATIENT = "patient", "Reported by the patient, confirmed by a clinician"

    episode = models.ForeignKey(
        "patients.EpisodeOfCare", on_delete=models.PROTECT, related_name="screenings"
    )
    factors = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CLINICIAN)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"Screening of {self.recorded_at:%Y-%m-%d %H:%M}"

    @property
    def patient_id(self) -> int:
        return self.episode.patient_id


class DocumentTemplate(VersionedText):
    """A clinic's consent or aftercare text, one row per version (never edited in place)."""

    class Kind(models.TextChoices):
        CONSENT = "consent", "Consent"
        AFTERCARE = "aftercare", "Aftercare"

    clinic = models.ForeignKey(
        "accounts.Clinic", on_delete=models.PROTECT, related_name="document_templates"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField()

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "kind", "version"], name="template_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} (version {self.version})"


class Consent(models.Model):
    """A patient's signed consent to dry needling against one template version."""

    FHIR_TYPE = "Consent"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="consents"
    )
    template = models.ForeignKey(DocumentTemplate, on_delete=models.PROTECT, related_name="+")

    class Channel(models.TextChoices):
        CLINIC = "clinic", "In the clinic, witnessed"
        PORTAL = "portal", "In the patient portal"

    signed_name = models.CharField("name typed by the patient", max_length=200)
    # The practitioner's training as the patient read it, where the clinic states it.
    practitioner_training = models.TextField(blank=True)
    signed_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.CLINIC)
    # The clinician who saw the patient sign; a consent signed in the portal has none.
    witnessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-signed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(channel="portal") | Q(witnessed_by__isnull=False),
                name="clinic_consent_is_witnessed",
            )
        ]

    def __str__(self) -> str:
        return f"Consent signed {self.signed_at:%Y-%m-%d} ({self.template})"


class ConsentWithdrawal(models.Model):
    """The record that a patient withdrew a consent; the consent itself stays as signed."""

    consent = models.OneToOneField(Consent, on_delete=models.PROTECT, related_name="withdrawal")
    reason = models.TextField()
    withdrawn_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"Consent withdrawn {self.withdrawn_at:%Y-%m-%d}"


class SignedRecord(models.Model):
    """A clinical note drafted, then signed; once signed it is read-only."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        abstract = True

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class Assessment(SignedRecord):
    """A body-chart assessment: pain regions, trigger-point findings, baseline measures."""

    FHIR_TYPE = "ClinicalImpression"

    class Kind(models.TextChoices):
        INITIAL = "initial", "Initial assessment"
        REASSESSMENT = "reassessment", "Reassessment"

    episode = models.ForeignKey(
        "patients.EpisodeOfCare", on_delete=models.PROTECT, related_name="assessments"
    )
    practitioner = models.ForeignKey(
        "accounts.Practitioner", on_delete=models.PROTECT, related_name="assessments"
    )
    kind = models.CharField(max_length=15, choices=Kind.choices, default=Kind.INITIAL)
    performed_at = models.DateTimeField(default=timezone.now)
    note = models.TextField("clinical note", blank=True)

    class Meta:
        ordering = ["-performed_at", "-id"]
        indexes = [
            # The home page, as for sessions: a practitioner's assessments of today and drafts.
            models.Index(
                fields=["practitioner", "performed_at"], name="assessment_practitioner_day"
            ),
            models.Index(
                fields=["practitioner", "performed_at"],
                condition=Q(signed_at__isnull=True),
                name="assessment_drafts_in_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.performed_at:%Y-%m-%d}"

    @property
    def patient_id(self) -> int:
        return self.episode.patient_id


class PainQuality(models.TextChoices):
    ACHING = "aching", "Aching"
    SHARP = "sharp", "Sharp"
    BURNING = "burning", "Burning"
    TINGLING = "tingling", "Tingling"
    OTHER = "other", "Other"


class PainMark(ChoiceLabels):
    """Pain felt in one region of the body chart, with its intensity and quality."""

    FHIR_TYPE = "Observation"
    AUDIT_TYPE = "Observation/PainMark"

    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="pain_marks")
    region = models.CharField(max_length=40, choices=region_choices)
    intensity = models.PositiveSmallIntegerField()
    quality = models.CharField(max_length=10, choices=PainQuality.choices, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["assessment", "region"], name="pain_mark_once"),
            models.CheckConstraint(condition=Q(intensity__lte=10), name="pain_mark_0_10"),
        ]

    def __str__(self) -> str:
        return f"{self.region} {self.intensity}/10 {self.quality}"


class ReferredSensation(models.TextChoices):
    PAIN = "pain", "Pain"
    DEEP_ACHE = "deep-ache", "Deep ache"
    TINGLING = "tingling", "Tingling"
    BURNING = "burning", "Burning"
    OTHER = "other", "Other"


class TriggerPointFinding(ChoiceLabels):
    """A palpation finding in one muscle and side (after the 2018 Delphi criteria)."""

    FHIR_TYPE = "Observation"
    AUDIT_TYPE = "Observation/TriggerPointFinding"

    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="findings")
    muscle = models.CharField(max_length=60, choices=muscle_choices)
    side = models.CharField(max_length=5, choices=SIDES, blank=True)
    location = models.CharField(max_length=200, blank=True)
    taut_band = models.BooleanField(default=False)
    hypersensitive_spot = models.BooleanField(default=False)
    referred_sensation = models.CharField(
        max_length=10, choices=ReferredSensation.choices, blank=True
    )
    referred_regions = models.JSONField(default=list, blank=True)
    recognised = models.BooleanField(
        "recognised as the patient's own pain",
        default=False,
        help_text="Reproduces the complaint the patient knows: the trigger point is active.",
    )
    jump_sign = models.BooleanField(default=False)
    twitch_response = models.BooleanField("local twitch response", default=False)
    pressure_pain_threshold = models.DecimalField(
        "pressure pain threshold (kPa)", max_digits=6, decimal_places=1, null=True, blank=True
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.muscle} {self.side} ({self.activity})".replace("  ", " ")

    @property
    def activity(self) -> str:
        return self.activity_of(self.recognised)

    @staticmethod
    def activity_of(recognised: bool) -> str:
        # Active when pressure reproduces the patient's recognised complaint.
        return "active" if recognised else "latent"

    @property
    def meets_criteria(self) -> bool:
        """The essential cluster: taut band, hypersensitive spot, referred sensation."""
        return self.taut_band and self.hypersensitive_spot and bool(self.referred_sensation)


class NeedleSize(models.Model):
    """A needle the clinic stocks: diameter by length."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="needles")
    diameter_mm = models.DecimalField(max_digits=3, decimal_places=2)
    length_mm = models.PositiveSmallIntegerField()
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["diameter_mm", "length_mm"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "diameter_mm", "length_mm"], name="needle_size_unique"
            )
        ]

    def __str__(self) -> str:
        return self.words(self.diameter_mm, self.length_mm)

    @staticmethod
    def words(diameter_mm: Decimal, length_mm: int) -> str:
        return f"{diameter_mm:.2f} x {length_mm} mm"


class CoTreatment(models.TextChoices):
    MANUAL_THERAPY = "manual-therapy", "Manual therapy"
    EXERCISE = "exercise", "Exercise"
    MASSAGE = "massage", "Massage"
    HEAT = "heat", "Heat"
    OTHER = "other", "Other"


class PatientPosition(models.TextChoices):
    PRONE = "prone", "Lying face down (prone)"
    SUPINE = "supine", "Lying on the back (supine)"
    SIDE_LYING = "side-lying", "Lying on the side"
    SITTING = "sitting", "Sitting"
    HALF_LYING = "half-lying", "Half-lying, supported"


class Antisepsis(models.TextChoices):
    ALCOHOL = "alcohol", "Alcohol"
    CHLORHEXIDINE = "chlorhexidine", "Chlorhexidine in alcohol"
    IODINE = "iodine", "Povidone-iodine"
    NONE = "none", "None (clean, visibly intact skin)"


class NeedlingSession(SignedRecord):
    """One needling visit (FHIR Encounter with its Procedures)."""

    FHIR_TYPE = "Encounter"

    class ScreeningStatus(models.TextChoices):
        UNCHANGED = "unchanged", "Unchanged since the last screening"
        CHANGED = "changed", "Changed, and the screening was updated"

    episode = models.ForeignKey(
        "patients.EpisodeOfCare", on_delete=models.PROTECT, related_name="sessions"
    )
    practitioner = models.ForeignKey(
        "accounts.Practitioner", on_delete=models.PROTECT, related_name="sessions"
    )
    performed_at = models.DateTimeField(default=timezone.now)
    screening = models.ForeignKey(
        Screening, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    screening_status = models.CharField(
        "health screening at the start of the session",
        max_length=10,
        choices=ScreeningStatus.choices,
        blank=True,
    )
    clean_technique = models.BooleanField(
        "clean technique",
        default=False,
        help_text="Hands cleaned, skin prepared, sterile single-use needles.",
    )
    needles_opened = models.PositiveSmallIntegerField(null=True, blank=True)
    needles_removed = models.PositiveSmallIntegerField(
        "needles removed and disposed of", null=True, blank=True
    )
    # The count of needles opened follows the rows until the clinician types another number.
    needles_opened_by_hand = models.BooleanField(default=False)
    # What boards expect a dry-needling note to hold beyond the rows (clinical review, §6).
    consent_confirmed = models.BooleanField(
        "the patient agreed to needling at this session", default=False
    )
    patient_position = models.CharField(max_length=12, choices=PatientPosition.choices, blank=True)
    gloves = models.BooleanField("gloves worn", default=False)
    antisepsis = models.CharField(
        "skin antisepsis", max_length=15, choices=Antisepsis.choices, blank=True
    )
    guide_tube = models.BooleanField("needles with guide tubes", default=False)
    needle_brand = models.CharField("needle brand", max_length=100, blank=True)
    needle_lot = models.CharField("needle lot number", max_length=50, blank=True)
    sharps_disposed = models.BooleanField(
        "needles disposed of in a sharps container", default=False
    )
    haemostasis = models.BooleanField("pressure applied for haemostasis", default=False)
    soreness_after = models.PositiveSmallIntegerField(
        "soreness right after needling (0-10)", null=True, blank=True,
        validators=[MaxValueValidator(10)],
    )  # fmt: skip
    stim_device = models.CharField("stimulation device", max_length=100, blank=True)
    co_treatments = models.JSONField(default=list, blank=True)
    co_treatment_note = models.CharField(max_length=300, blank=True)
    note = models.TextField("clinical note", blank=True)
    cpt_code = models.CharField("CPT code", max_length=5, blank=True)
    consent = models.ForeignKey(
        Consent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-performed_at", "-id"]
        indexes = [
            # The dashboard counts a clinic's signed sessions by week from the index alone,
            # without reading each session's row (its notes make the rows wide).
            models.Index(
                fields=["episode", "signed_at", "performed_at"], name="session_episode_signed"
            ),
            # The home page: a practitioner's sessions of today, and their drafts (a few among
            # thousands signed), each read from an index rather than the clinic's sessions, in
            # the order they are listed (a page of drafts read through the other index would
            # walk every signed session of the practitioner to find them).
            models.Index(fields=["practitioner", "performed_at"], name="session_practitioner_day"),
            models.Index(
                fields=["practitioner", "performed_at"],
                condition=Q(signed_at__isnull=True),
                name="session_drafts_in_time",
            ),
            # A record of a session reaches its clinic through the session's episode: the
            # clinic's queues (effects awaiting review, open red flags) join thousands of
            # sessions by id for their episode alone, read here rather than from the wide
            # rows (at 20,000 patients on PostgreSQL, the effects awaiting review were
            # counted in 36 ms, now 11 ms).
            models.Index(fields=["id", "episode"], name="session_episode_of_id"),
            # An episode's sessions in time: its page's latest sessions, and the last signed
            # one a visit starts from, read from the newest end rather than sorted from all
            # of them (at 2,000 sessions on SQLite 1.4 ms and 0.65 ms, now 0.09 and 0.02 ms).
            models.Index(fields=["episode", "performed_at", "id"], name="session_episode_newest"),
        ]

    def __str__(self) -> str:
        return f"Needling session {self.performed_at:%Y-%m-%d}"

    @property
    def patient_id(self) -> int:
        return self.episode.patient_id

    @property
    def needle_count_matches(self) -> bool:
        return self.needles_opened is not None and self.needles_opened == self.needles_removed


class Technique(models.TextChoices):
    STATIC = "static", "Static (needle retained)"
    PISTONING = "pistoning", "Fast-in fast-out (pistoning)"
    SPARROW_PECKING = "sparrow-pecking", "Sparrow pecking (small up-down movements)"
    ROTATION = "rotation", "Rotation"
    WINDING = "winding", "Winding (one-way rotation until the tissue grasps)"
    ELECTRICAL = "electrical-stimulation", "Electrical stimulation"


class Angle(models.TextChoices):
    PERPENDICULAR = "perpendicular", "Perpendicular to the skin"
    OBLIQUE = "oblique", "Oblique"
    TANGENTIAL = "tangential", "Tangential (nearly flat)"


class Approach(models.TextChoices):
    """How the needle was kept from the structure at risk."""

    PINCER = "pincer", "Pincer grip, muscle lifted away"
    ONTO_RIB = "onto-rib", "Flat palpation, aimed onto a rib"
    ONTO_SCAPULA = "onto-scapula", "Aimed onto the scapula"
    ONTO_LAMINA = "onto-lamina", "Aimed onto the lamina"
    ONTO_BONE = "onto-bone", "Aimed onto other bone"
    AWAY = "away", "Aimed away from the structure at risk"


class Waveform(models.TextChoices):
    BIPHASIC_SYMMETRIC = "biphasic-symmetric", "Biphasic, symmetric"
    BIPHASIC_ASYMMETRIC = "biphasic-asymmetric", "Biphasic, asymmetric"
    MONOPHASIC = "monophasic", "Monophasic"


# The quick pick of a row's findings covers this many twitch responses; more are entered
# in the row's own editor.
QUICK_TWITCHES = 5


def response_value(twitches: int, familiar: bool, tolerance: str) -> str:
    return f"{twitches}:{'yes' if familiar else 'no'}:{tolerance}"


def response_label(twitches: int, familiar: bool, tolerance: str) -> str:
    twitch = "no twitch" if twitches == 0 else f"{twitches} twitch{'es' if twitches > 1 else ''}"
    pain = "familiar pain" if familiar else "pain not familiar"
    tolerated = {"good": "tolerated well", "fair": "tolerated fairly", "poor": "tolerated poorly"}
    return f"{twitch.capitalize()}, {pain}, {tolerated.get(tolerance, tolerance)}"


def response_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Today's findings of a row as one choice each, grouped by tolerance: a row is charted
    with one pick, and typing its first letter or digit finds it."""
    groups = []
    for tolerance, heading in (
        ("good", "Tolerated well"),
        ("fair", "Tolerated fairly"),
        ("poor", "Tolerated poorly"),
    ):
        options = [
            (response_value(n, familiar, tolerance), response_label(n, familiar, tolerance))
            for n in range(QUICK_TWITCHES + 1)
            for familiar in (True, False)
        ]
        groups.append((heading, options))
    return groups


def parse_response(value: str) -> tuple[int, bool, str]:
    """The quick-pick value back as (twitch responses, familiar pain, tolerance)."""
    try:
        twitches, familiar, tolerance = value.split(":")
        parsed = int(twitches), {"yes": True, "no": False}[familiar], tolerance
    except (ValueError, KeyError):
        raise ValueError(value) from None
    if not 0 <= parsed[0] <= QUICK_TWITCHES or tolerance not in ("good", "fair", "poor"):
        raise ValueError(value)
    return parsed


class Insertion(ChoiceLabels):
    """Needling of one muscle on one side in a session (FHIR Procedure)."""

    FHIR_TYPE = "Procedure"

    class Depth(models.TextChoices):
        SUPERFICIAL = "superficial", "Superficial"
        DEEP = "deep", "Deep"

    class Tolerance(models.TextChoices):
        GOOD = "good", "Good"
        FAIR = "fair", "Fair"
        POOR = "poor", "Poor"

    session = models.ForeignKey(
        NeedlingSession, on_delete=models.PROTECT, related_name="insertions"
    )
    muscle = models.CharField(max_length=60, choices=muscle_choices)
    side = models.CharField(max_length=5, choices=SIDES, blank=True)
    needles = models.PositiveSmallIntegerField(default=1)
    needle_size = models.ForeignKey(NeedleSize, on_delete=models.PROTECT, related_name="+")
    # No default: the depth is the clinician's decision for each muscle, never preselected.
    depth = models.CharField(max_length=12, choices=Depth.choices)
    depth_mm = models.PositiveSmallIntegerField("depth (mm)", null=True, blank=True)
    technique = models.CharField(max_length=25, choices=Technique.choices)
    retention_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    frequency_hz = models.DecimalField(
        "frequency (Hz)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    intensity_ma = models.DecimalField(
        "intensity (mA)", max_digits=4, decimal_places=1, null=True, blank=True
    )
    # Today's findings: empty (None, "") until the clinician records them; signing asks.
    angle = models.CharField("needle angle", max_length=15, choices=Angle.choices, blank=True)
    direction = models.CharField(
        "direction", max_length=120, blank=True, help_text="For example: medial to lateral."
    )
    approach = models.CharField(
        "safety approach", max_length=15, choices=Approach.choices, blank=True
    )
    ultrasound_guided = models.BooleanField("ultrasound guidance", default=False)
    ultrasound_depth_mm = models.DecimalField(
        "depth to rib or pleura by ultrasound (mm)", max_digits=4, decimal_places=1,
        null=True, blank=True,
    )  # fmt: skip
    # Electrical stimulation: the paired needle's muscle (the current's path) and the settings.
    lead_to_muscle = models.CharField(
        "paired needle in (muscle)", max_length=60, choices=muscle_choices, blank=True
    )
    lead_to_side = models.CharField("paired needle side", max_length=5, choices=SIDES, blank=True)
    waveform = models.CharField(max_length=20, choices=Waveform.choices, blank=True)
    pulse_width_us = models.PositiveSmallIntegerField("pulse width (µs)", null=True, blank=True)
    stimulation_minutes = models.PositiveSmallIntegerField(
        "stimulation time (minutes)", null=True, blank=True
    )
    twitch_responses = models.PositiveSmallIntegerField(
        "twitch responses elicited", null=True, blank=True
    )
    familiar_pain = models.BooleanField("familiar pain reproduced", null=True, blank=True)
    tolerance = models.CharField(max_length=5, choices=Tolerance.choices, blank=True)
    # The safety engine's verdict when the row was added, with its reasons.
    safety_verdict = models.CharField(max_length=15, default="allowed")
    safety_reasons = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["id"]
        # Covers the dashboard's most-needled muscles: the muscles of each session read
        # from the index alone, not from each row.
        indexes = [models.Index(fields=["session", "muscle"], name="insertion_session_muscle")]
        constraints = [
            models.CheckConstraint(condition=Q(needles__gte=1), name="insertion_needles_min_1"),
            models.CheckConstraint(
                condition=~Q(safety_verdict="contraindicated"),
                name="insertion_never_contraindicated",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.muscle} {self.side} x{self.needles}".replace("  ", " ")

    @property
    def findings_recorded(self) -> bool:
        return (
            self.twitch_responses is not None
            and self.familiar_pain is not None
            and bool(self.tolerance)
        )

    @property
    def response(self) -> str:
        """Today's findings as one quick-pick value (see `response_choices`), or ""."""
        if not self.findings_recorded:
            return ""
        return response_value(self.twitch_responses, self.familiar_pain, self.tolerance)

    @property
    def response_display(self) -> str:
        if not self.findings_recorded:
            return ""
        return response_label(self.twitch_responses, self.familiar_pain, self.tolerance)

    @property
    def engine_technique(self) -> str:
        """The safety engine's technique: electrical stimulation or plain dry needling."""
        return (
            "electrical-stimulation" if self.technique == Technique.ELECTRICAL else "dry-needling"
        )


class AdverseEvent(ChoiceLabels):
    """An unwanted effect during or after a session (FHIR AdverseEvent)."""

    FHIR_TYPE = "AdverseEvent"

    class Onset(models.TextChoices):
        DURING = "during", "During the session"
        WITHIN_24H = "within-24h", "Within 24 hours"
        LATER = "later", "Later than 24 hours"

    class Severity(models.TextChoices):
        MILD = "mild", "Mild: short, reversible, function intact"
        MODERATE = "moderate", "Moderate: limits daily activities or needs a clinician"
        SEVERE = "severe", "Severe: needs urgent care"
        SERIOUS = "serious", "Serious: hospital stay, lasting disability or death"

    class DurationUnit(models.TextChoices):
        MINUTES = "minutes", "minutes"
        HOURS = "hours", "hours"
        DAYS = "days", "days"
        WEEKS = "weeks", "weeks"

    class Action(models.TextChoices):
        NONE = "none", "None"
        SELF_CARE = "self-care", "Self-care"
        CLINICIAN = "clinician", "Seen by a clinician"
        EMERGENCY = "emergency-department", "Emergency department"
        HOSPITAL = "hospital", "Hospital admission"

    class Outcome(models.TextChoices):
        # FHIR AdverseEvent outcome codes.
        RESOLVED = "resolved", "Resolved"
        RECOVERING = "recovering", "Recovering"
        ONGOING = "ongoing", "Ongoing"
        SEQUELAE = "resolvedWithSequelae", "Resolved with lasting effects"
        FATAL = "fatal", "Fatal"
        UNKNOWN = "unknown", "Unknown"

    session = models.ForeignKey(
        NeedlingSession, on_delete=models.PROTECT, related_name="adverse_events"
    )
    event_type = models.CharField("type", max_length=20, choices=adverse_event_choices)
    onset = models.CharField(max_length=12, choices=Onset.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    duration_value = models.PositiveSmallIntegerField("duration", null=True, blank=True)
    duration_unit = models.CharField(max_length=8, choices=DurationUnit.choices, blank=True)
    action_taken = models.CharField(max_length=25, choices=Action.choices)
    outcome = models.CharField(max_length=25, choices=Outcome.choices)
    muscles = models.JSONField("muscles involved", default=list, blank=True)
    description = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Removal is never a delete: the event is marked entered in error, with the reason.
    entered_in_error_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["recorded_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_event_type_display()} ({self.severity})"

    @property
    def patient_id(self) -> int:
        return self.session.episode.patient_id

    @property
    def entered_in_error(self) -> bool:
        return bool(self.entered_in_error_reason)

    @property
    def is_major(self) -> bool:
        return knowledge.severity_class(self.now.severity) == "major"

    @cached_property
    def latest_follow_up(self) -> "AdverseEventFollowUp | None":
        # Reads the follow-ups prefetched with the event where a page lists many.
        follow_ups = list(self.follow_ups.all())
        return follow_ups[-1] if follow_ups else None

    @cached_property
    def now(self) -> "AdverseEvent":
        """The event as it stands: as first recorded, with its latest follow-up's values
        (an unsaved copy, for pages and forms; the rows themselves never change)."""
        latest = self.latest_follow_up
        if latest is None:
            return self
        current = copy.copy(self)
        for name in FOLLOW_UP_FIELDS:
            setattr(current, name, getattr(latest, name))
        return current


def severity_now() -> models.Expression:
    """An adverse event's severity as it stands (its latest follow-up's, else as recorded),
    as SQL, for figures that count events by severity."""
    from django.db.models import F, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    latest = (
        AdverseEventFollowUp.objects.filter(event=OuterRef("pk"))
        .order_by("-recorded_at", "-id")
        .values("severity")[:1]
    )
    return Coalesce(Subquery(latest), F("severity"))


# What a follow-up records again; what happened (type, onset, muscles) is corrected by marking
# the event entered in error and recording it again.
FOLLOW_UP_FIELDS = (
    "severity", "duration_value", "duration_unit", "action_taken", "outcome", "description",
)  # fmt: skip


class AdverseEventFollowUp(models.Model):
    """A later look at an adverse event: its severity, duration, action and outcome as known
    then. A record of its own, so what was recorded before stays as it was; the event is
    what its latest follow-up says (FHIR AdverseEvent, one resource per version)."""

    FHIR_TYPE = "AdverseEvent"
    AUDIT_TYPE = "AdverseEvent/FollowUp"

    event = models.ForeignKey(AdverseEvent, on_delete=models.PROTECT, related_name="follow_ups")
    severity = models.CharField(max_length=10, choices=AdverseEvent.Severity.choices)
    duration_value = models.PositiveSmallIntegerField("duration", null=True, blank=True)
    duration_unit = models.CharField(
        max_length=8, choices=AdverseEvent.DurationUnit.choices, blank=True
    )
    action_taken = models.CharField(max_length=25, choices=AdverseEvent.Action.choices)
    outcome = models.CharField(max_length=25, choices=AdverseEvent.Outcome.choices)
    description = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["recorded_at", "id"]

    def __str__(self) -> str:
        return f"Follow-up of {self.event} on {self.recorded_at:%Y-%m-%d}"

    @property
    def patient_id(self) -> int:
        return self.event.patient_id


class AftercareIssue(models.Model):
    """Aftercare advice given to the patient for a session (printed or handed over).

    A row of its own, because aftercare is often given after the session is signed.
    """

    FHIR_TYPE = "Communication"

    session = models.ForeignKey(
        NeedlingSession, on_delete=models.PROTECT, related_name="aftercare_issues"
    )
    template = models.ForeignKey(DocumentTemplate, on_delete=models.PROTECT, related_name="+")
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["issued_at", "id"]

    def __str__(self) -> str:
        return f"Aftercare issued {self.issued_at:%Y-%m-%d}"


class Addendum(models.Model):
    """A later note on a signed record, or the marking of a record as entered in error."""

    class Kind(models.TextChoices):
        ADDENDUM = "addendum", "Addendum"
        ENTERED_IN_ERROR = "entered-in-error", "Entered in error"

    assessment = models.ForeignKey(
        Assessment, on_delete=models.PROTECT, null=True, blank=True, related_name="addenda"
    )
    session = models.ForeignKey(
        NeedlingSession, on_delete=models.PROTECT, null=True, blank=True, related_name="addenda"
    )
    discharge = models.ForeignKey(
        "outcomes.Discharge",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="addenda",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.ADDENDUM)
    reason = models.CharField(max_length=300)
    text = models.TextField(blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    written_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["written_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(assessment__isnull=False, session__isnull=True, discharge__isnull=True)
                    | Q(assessment__isnull=True, session__isnull=False, discharge__isnull=True)
                    | Q(assessment__isnull=True, session__isnull=True, discharge__isnull=False)
                ),
                name="addendum_on_one_record",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.written_at:%Y-%m-%d}"
