import datetime as dt

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Q
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts.models import TwoFactor
from needlechart.charting.models import (
    AdverseEvent,
    CoTreatment,
    Insertion,
    NeedleSize,
    NeedlingSession,
    PainQuality,
    ReferredSensation,
    Technique,
    TriggerPointFinding,
    parse_response,
    response_choices,
)
from needlechart.charting.selectors import timeline_kinds
from needlechart.forms import DateInput, FieldsOnlyModelForm

SIDE_CHOICES = [("", "Either / both"), ("left", "Left"), ("right", "Right")]


def _region_choices(blank: str = "") -> list[tuple[str, str]]:
    choices = [(r.id, r.display) for r in knowledge.regions()]
    return [("", blank), *choices] if blank else choices


class ScreeningForm(forms.Form):
    """One checkbox per screening factor, with the details its rule needs."""

    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    # Set by the "None of these apply" button: an empty screening is a statement, not a
    # form saved before anything was ticked (the clinician's screening page asks for it).
    none_apply = forms.BooleanField(required=False, widget=forms.HiddenInput)
    explicit_none = False
    # The patient's own questionnaire asks only the details a patient knows (a rule's
    # `patient_params`); the clinician fills in the rest when reviewing the answers.
    patient_facing = False

    def __init__(self, *args, initial_factors: list[dict] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        present = {f["code"]: f for f in initial_factors or []}
        self.groups = []
        for rule in knowledge.factor_rules():
            names = [f"f_{rule.code}"]
            self.fields[f"f_{rule.code}"] = forms.BooleanField(
                label=rule.label, required=False, initial=rule.code in present
            )
            given = present.get(rule.code, {})
            for param in self._params(rule):
                name = f"{rule.code}__{param}"
                self.fields[name] = _param_field(param, given.get(param), rule)
                names.append(name)
            self.groups.append((rule, [self[name] for name in names]))

    def _params(self, rule) -> list[str]:
        if self.patient_facing and rule.patient_params is not None:
            return list(rule.patient_params)
        return list(rule.params)

    def clean(self) -> dict:
        data = super().clean()
        ticked = [rule.label for rule in knowledge.factor_rules() if data.get(f"f_{rule.code}")]
        if not ticked and self.explicit_none and not data.get("none_apply"):
            raise forms.ValidationError(
                "Tick every factor that applies, or choose “None of these apply”."
            )
        if ticked and data.get("none_apply"):
            raise forms.ValidationError(
                f"You ticked {', '.join(ticked)}: untick them, or save the screening with them."
            )
        details = [
            name for name, value in data.items()
            if "__" in name and value not in (None, "", [])
        ]  # fmt: skip
        if data.get("none_apply") and details:
            raise forms.ValidationError(
                "Details are filled in for a factor that is not ticked: tick it and save the "
                "screening, or clear the details."
            )
        self._check_details(data)
        return data

    def _check_details(self, data: dict) -> None:
        """Details the safety engine refuses (an INR target the wrong way round, say) are
        shown beside their field, in the engine's words, which name them."""
        from needlechart.knowledge.safety import parse_factor

        for factor in self._factors(data):
            try:
                parse_factor(factor)
            except (knowledge.InvalidInput, knowledge.UnknownCode) as error:
                name = f"{factor['code']}__{getattr(error, 'param', '')}"
                self.add_error(name if name in self.fields else None, str(error))

    def _factors(self, data: dict) -> list[dict]:
        chosen = []
        for rule in knowledge.factor_rules():
            if not data.get(f"f_{rule.code}"):
                continue
            factor: dict = {"code": rule.code}
            for param in self._params(rule):
                value = data.get(f"{rule.code}__{param}")
                if value not in (None, "", []):
                    factor[param] = value
            chosen.append(factor)
        return chosen

    def factors(self) -> list[dict]:
        """The ticked factors with their details, as the safety engine reads them."""
        return self._factors(self.cleaned_data)


def _param_field(param: str, initial: object, rule=None) -> forms.Field:
    """The field for one detail of a factor; choices come from the rule's data."""
    if param == "limb":
        return forms.ChoiceField(
            label="Limb", choices=[("", "—"), ("arm", "Arm"), ("leg", "Leg")],
            required=False, initial=initial,
        )  # fmt: skip
    if param == "side":
        return forms.ChoiceField(
            label="Side", choices=SIDE_CHOICES, required=False, initial=initial
        )
    if param == "regions":
        return forms.MultipleChoiceField(
            label="Regions", choices=_region_choices(), required=False, initial=initial,
            widget=forms.SelectMultiple(attrs={"size": 4}),
        )  # fmt: skip
    if param == "trimester":
        return forms.TypedChoiceField(
            label="Trimester", choices=[("", "—"), (1, "First"), (2, "Second"), (3, "Third")],
            coerce=int, empty_value=None, required=False, initial=initial,
            error_messages={"invalid_choice": "The trimester must be 1, 2 or 3."},
        )  # fmt: skip
    if param == "inr":
        refused = "The INR must be a number from 0.5 to 15."
        return forms.FloatField(
            label="Latest INR", min_value=0.5, max_value=15, required=False, initial=initial,
            error_messages={"invalid": refused, "min_value": refused, "max_value": refused},
        )  # fmt: skip
    if param == "inr_target":
        if isinstance(initial, list | tuple) and len(initial) == 2:
            initial = f"{initial[0]:g}-{initial[1]:g}"
        return forms.CharField(
            label="INR target range", max_length=20, required=False, initial=initial,
            help_text="As prescribed, for example 2.0-3.0; left empty, the usual 2.0-3.0 applies.",
            widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "2.0-3.0"}),
        )  # fmt: skip
    if param == "platelets":
        refused = "The platelet count must be a number from 0 to 1500 (\u00d710\u2079/L)."
        return forms.FloatField(
            label="Platelet count (\u00d710\u2079/L)", min_value=0, max_value=1500, required=False,
            initial=initial,
            error_messages={"invalid": refused, "min_value": refused, "max_value": refused},
        )  # fmt: skip
    if param in ("drug_class", "severity", "status"):
        label = {"drug_class": "Kind of medicine", "severity": "Severity", "status": "Status"}
        options = rule.choices[param] if rule is not None else {}
        return forms.ChoiceField(
            label=label[param], choices=[("", "—"), *options.items()], required=False,
            initial=initial,
            error_messages={
                "invalid_choice": f"Choose one of the listed values of {label[param].lower()}."
            },
        )  # fmt: skip
    label = {"drug": "Medicine", "detail": "Details"}[param]
    return forms.CharField(label=label, max_length=100, required=False, initial=initial)


class ClinicianScreeningForm(ScreeningForm):
    explicit_none = True


class ConsentSignForm(forms.Form):
    template = forms.IntegerField(widget=forms.HiddenInput)
    signed_name = forms.CharField(label="Patient's full name, typed by the patient", max_length=200)
    confirmed = forms.BooleanField(
        label="I have read the information above, had the chance to ask questions, and agree "
        "to dry needling.",
        required=False,
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=300, widget=forms.Textarea(attrs={"rows": 2}))


class PainMarkForm(forms.Form):
    region = forms.ChoiceField(label="Painful region", choices=_region_choices("Choose a region"))
    # No intensity is preselected: each mark is the patient's own number.
    intensity = forms.TypedChoiceField(
        label="Intensity (0-10)", choices=[("", "Choose"), *((i, i) for i in range(11))],
        coerce=int, empty_value=None,
    )  # fmt: skip
    quality = forms.ChoiceField(
        choices=[("", "Not described"), *PainQuality.choices], required=False
    )


class FindingForm(FieldsOnlyModelForm):
    referred_regions = forms.MultipleChoiceField(
        choices=_region_choices(), required=False, widget=forms.SelectMultiple(attrs={"size": 5})
    )

    class Meta:
        model = TriggerPointFinding
        fields = [
            "muscle", "side", "location", "taut_band", "hypersensitive_spot",
            "referred_sensation", "referred_regions", "recognised", "jump_sign",
            "twitch_response", "pressure_pain_threshold",
        ]  # fmt: skip
        labels = {"referred_sensation": "Referred sensation felt as"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["referred_sensation"].choices = [("", "None"), *ReferredSensation.choices]


class NoteForm(forms.Form):
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))


class ObservationForm(forms.Form):
    code = forms.ChoiceField(label="Measure", choices=[])
    component = forms.CharField(label="What was measured", required=False, max_length=100)
    side = forms.ChoiceField(label="Side", choices=SIDE_CHOICES, required=False)
    value = forms.DecimalField(label="Value", max_digits=7, decimal_places=2)
    timing = forms.CharField(widget=forms.HiddenInput)
    assessment = forms.IntegerField(required=False, widget=forms.HiddenInput)
    session = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].choices = [(i.code, i.name) for i in knowledge.instruments()]


class SessionStartForm(forms.Form):
    # Deliberately no default: the clinician asks the patient and says what they answered.
    screening_status = forms.ChoiceField(
        label="Health screening at the start of this session",
        choices=NeedlingSession.ScreeningStatus.choices,
        widget=forms.RadioSelect,
    )
    clean_technique = forms.BooleanField(
        label="Clean technique: hands cleaned, skin prepared, sterile single-use needles",
        required=False,
    )
    consent_confirmed = forms.BooleanField(
        label="The patient agrees to dry needling today (consent confirmed at this session)",
        required=False,
    )
    from_last = forms.BooleanField(
        label="Start from the last session (copy its muscles)", required=False
    )
    performed_at = forms.DateTimeField(
        label="Session date and time",
        required=False,
        help_text="Now, unless you are charting a session that took place earlier.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["performed_at"].initial = timezone.localtime().replace(second=0, microsecond=0)


YES_NO = [("", "Not recorded"), ("yes", "Yes"), ("no", "No")]


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class InsertionForm(FieldsOnlyModelForm):
    """A needling row: where and how (the plan), and today's findings (which may wait)."""

    familiar_pain = forms.TypedChoiceField(
        label="Familiar pain reproduced", choices=YES_NO, coerce=_yes_no, empty_value=None,
        required=False,
    )  # fmt: skip

    class Meta:
        model = Insertion
        fields = [
            "muscle", "side", "needles", "needle_size", "depth", "depth_mm", "technique",
            "retention_minutes", "twitch_responses", "familiar_pain", "tolerance",
            "angle", "direction", "approach", "ultrasound_guided", "ultrasound_depth_mm",
            "frequency_hz", "intensity_ma", "lead_to_muscle", "lead_to_side", "waveform",
            "pulse_width_us", "stimulation_minutes",
        ]  # fmt: skip

    # How the page groups the fields: the plan first, the rest folded until needed.
    GROUPS = (
        ("", ("muscle", "side", "needles", "needle_size", "depth", "depth_mm", "technique",
              "retention_minutes")),
        ("Today's findings", ("twitch_responses", "familiar_pain", "tolerance")),
        ("Angle, approach and ultrasound", ("angle", "direction", "approach",
                                            "ultrasound_guided", "ultrasound_depth_mm")),
        ("Electrical stimulation", ("frequency_hz", "intensity_ma", "lead_to_muscle",
                                    "lead_to_side", "waveform", "pulse_width_us",
                                    "stimulation_minutes")),
    )  # fmt: skip

    def groups(self) -> list[tuple[str, list, bool]]:
        """(heading, bound fields, open): a folded group opens when it holds a value or an
        error, so nothing entered is hidden."""
        result = []
        for heading, names in self.GROUPS:
            fields = [self[name] for name in names]
            filled = any(f.errors or f.value() not in (None, "", False, []) for f in fields)
            always = heading in ("", "Today's findings")
            result.append((heading, fields, always or filled))
        return result

    def __init__(self, *args, clinic, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        sizes = NeedleSize.objects.filter(clinic=clinic, active=True)
        if self.instance.pk:
            # A row keeps its needle even after the clinic retires the size.
            sizes = NeedleSize.objects.filter(clinic=clinic).filter(
                Q(active=True) | Q(pk=self.instance.needle_size_id)
            )
        self.fields["needle_size"].queryset = sizes
        # Nothing preselected: needle, depth and technique are chosen for each muscle.
        self.fields["needle_size"].empty_label = "Choose a needle"
        self.fields["depth"].choices = [("", "Choose the depth"), *Insertion.Depth.choices]
        self.fields["technique"].choices = [("", "Choose the technique"), *Technique.choices]
        self.fields["tolerance"].choices = [("", "Not recorded"), *Insertion.Tolerance.choices]
        for name, blank in (
            ("angle", "Not recorded"),
            ("approach", "Not recorded"),
            ("waveform", "Choose the waveform"),
            ("lead_to_side", "—"),
        ):
            self.fields[name].choices = [("", blank), *self.fields[name].choices[1:]]
        self.fields["lead_to_muscle"].choices = [
            ("", "Choose the muscle"),
            *self.fields["lead_to_muscle"].choices[1:],
        ]
        self.fields["needles"].min_value = 1
        self.fields["needles"].validators.append(MinValueValidator(1))
        self.fields["side"].choices = [("", "—"), *SIDE_CHOICES[1:]]
        self.fields["side"].required = False
        if self.instance.pk and not self.is_bound:
            self.initial["familiar_pain"] = {True: "yes", False: "no"}.get(
                self.instance.familiar_pain, ""
            )


class RowResponseForm(forms.Form):
    """Today's findings of a row in one pick: twitch responses, familiar pain, tolerance."""

    response = forms.ChoiceField(label="Today's findings", choices=[])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["response"].choices = [("", "Record today's findings…"), *response_choices()]

    def findings(self) -> dict:
        twitches, familiar, tolerance = parse_response(self.cleaned_data["response"])
        return {"twitch_responses": twitches, "familiar_pain": familiar, "tolerance": tolerance}


class SessionDetailsForm(FieldsOnlyModelForm):
    co_treatments = forms.MultipleChoiceField(
        choices=CoTreatment.choices, required=False, widget=forms.CheckboxSelectMultiple,
        label="Co-treatments in this visit",
    )  # fmt: skip

    def __init__(self, *args, only: list[str] | None = None, **kwargs) -> None:
        """With `only`, the form edits those fields and leaves the others as they are: the
        page saves one part of the session at a time, in place."""
        super().__init__(*args, **kwargs)
        if only is not None:
            for name in list(self.fields):
                if name not in only:
                    del self.fields[name]

    class Meta:
        model = NeedlingSession
        fields = [
            "clean_technique", "needles_opened", "needles_removed", "co_treatments",
            "co_treatment_note", "note", "consent_confirmed", "patient_position", "gloves",
            "antisepsis", "guide_tube", "needle_brand", "needle_lot", "sharps_disposed",
            "haemostasis", "soreness_after", "stim_device",
        ]  # fmt: skip
        widgets = {"note": forms.Textarea(attrs={"rows": 4})}
        labels = {"co_treatment_note": "Co-treatment details"}


class AdverseEventForm(FieldsOnlyModelForm):
    muscles = forms.MultipleChoiceField(
        choices=[], required=False, widget=forms.CheckboxSelectMultiple, label="Muscles involved"
    )

    class Meta:
        model = AdverseEvent
        fields = [
            "event_type", "onset", "severity", "duration_value", "duration_unit",
            "action_taken", "outcome", "muscles", "description",
        ]  # fmt: skip
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, session: NeedlingSession, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["muscles"].choices = [
            (f"{r.muscle}:{r.side}", f"{r.get_muscle_display()} {r.side}".strip())
            for r in session.insertions.all()
        ]
        self.fields["duration_unit"].choices = [("", "—"), *AdverseEvent.DurationUnit.choices]


class AddendumForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("addendum", "Addendum (a correction or later note)"),
                 ("entered-in-error", "Mark the whole record entered in error")],
        widget=forms.RadioSelect, initial="addendum",
    )  # fmt: skip
    reason = forms.CharField(max_length=300)
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))


# Far enough either way for any record; beyond, a day's start in the clinic's zone, or the
# day after the last, is past what a date holds.
TIMELINE_DATES = [
    MinValueValidator(dt.date(1900, 1, 1), "Enter a date from 1900 onwards."),
    MaxValueValidator(dt.date(9000, 12, 31), "Enter a date before the year 9001."),
]


class TimelineFilterForm(forms.Form):
    # The chart's kinds and those the timeline's providers add (charting/selectors.py).
    kind = forms.ChoiceField(
        choices=lambda: [("", "Everything"), *timeline_kinds()], required=False, label="Show"
    )
    date_from = forms.DateField(
        required=False, widget=DateInput(), label="From", validators=TIMELINE_DATES
    )
    date_to = forms.DateField(
        required=False, widget=DateInput(), label="To", validators=TIMELINE_DATES
    )


class TemplateForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 18}))


class NeedleForm(forms.Form):
    diameter_mm = forms.DecimalField(label="Diameter (mm)", max_digits=3, decimal_places=2)
    length_mm = forms.IntegerField(label="Length (mm)")


class ClinicForm(forms.Form):
    name = forms.CharField(max_length=200)
    phone = forms.CharField(max_length=32, required=False)
    email = forms.EmailField(required=False)
    address = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    review_after_sessions = forms.IntegerField(
        label="Sessions before a review prompt",
        min_value=1,
        max_value=20,
        help_text="An episode without an important improvement in pain after this many "
        "sessions asks for a review.",
    )
    idle_minutes = forms.IntegerField(
        label="Minutes without activity before signing out",
        min_value=5,
        max_value=60,
        initial=15,
        help_text="Staff and patients are signed out after this long without using the app "
        "(5 to 60 minutes), and 12 hours after signing in at most.",
    )
    sign_confirm_minutes = forms.IntegerField(
        label="Minutes after signing in before signing a record asks for the password again",
        min_value=5,
        max_value=720,
        initial=60,
        help_text="Signing a needling session or an assessment later than this after "
        "signing in (or confirming) asks for the password, or an authenticator code, again.",
    )
    retention_years = forms.IntegerField(
        label="Years the clinical record is kept after the last visit",
        min_value=1,
        max_value=100,
        initial=10,
        help_text="As the law where the clinic practises requires. Until then a privacy "
        "request erases only what is not part of the clinical record.",
    )
    two_factor = forms.ChoiceField(
        label="Two-factor sign-in required of",
        choices=TwoFactor.choices,
        help_text="Whom the clinic requires to sign in with a code from an authenticator app "
        "as well as the password; they set it up at their next sign-in.",
    )
    consent_states_training = forms.BooleanField(
        label="The consent states the practitioner's dry-needling training",
        required=False,
        help_text="Where your jurisdiction asks for it: the course, provider, hours and "
        "jurisdiction show above the consent text and are kept with each signature.",
    )
    logo = forms.FileField(
        label="Logo for the letterhead",
        required=False,
        help_text="A PNG or JPEG image of at most 256 KB, printed at the top of every document.",
    )
    remove_logo = forms.BooleanField(label="Remove the logo", required=False)

    def logo_values(self) -> dict:
        """The logo's part of the cleaned data, as clinic_update takes it (and taken out)."""
        upload = self.cleaned_data.pop("logo", None)
        return {
            "logo": upload.read() if upload else None,
            "remove_logo": self.cleaned_data.pop("remove_logo", False),
        }
