import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from needlechart import knowledge
from needlechart.accounts.models import Practitioner
from needlechart.forms import DateInput
from needlechart.outcomes.models import CarePlan, Discharge, PlanTherapy, Timing


def measure_choices() -> list[tuple[str, str]]:
    return [(i.code, i.name) for i in knowledge.instruments()]


COMPONENT_HELP = (
    "Range of motion: type or choose the movement, e.g. Cervical rotation. PSFS: the "
    "activity. Strength or pressure pain threshold: the muscle or site."
)


class MovementListInput(forms.TextInput):
    """A text input that offers every range-of-motion movement in words (a datalist), each
    with its normal value; other text (a PSFS activity, a muscle) can still be typed."""

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs={"autocomplete": "off", **(attrs or {})})

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        attrs = dict(attrs or {})
        list_id = f"{attrs.get('id') or name}-movements"
        attrs["list"] = list_id
        options = format_html_join(
            "",
            '<option value="{}" label="{}"></option>',
            ((m.label, m.option_label) for m in knowledge.rom_movements()),
        )
        return format_html(
            '{}<datalist id="{}">{}</datalist>',
            super().render(name, value, attrs, renderer),
            list_id,
            options,
        )


def movement_words(code: str | None, component: str | None) -> str:
    """A stored component as the form shows it: a movement by its label, not its code."""
    return knowledge.component_label("rom", component or "") if code == "rom" else component or ""


def clean_movement(form: forms.Form, data: dict) -> None:
    """A range-of-motion component given in words (or as a code) is stored as the code."""
    if data.get("code") != "rom" or "component" in form.errors:
        return
    try:
        data["component"] = knowledge.rom_movement_lookup(data.get("component") or "").code
    except knowledge.UnknownCode:
        form.add_error("component", "Choose the movement from the list, e.g. Cervical rotation.")


class PlanForm(forms.Form):
    planned_sessions = forms.IntegerField(
        label="Planned needling sessions", min_value=1, max_value=30, initial=4,
        help_text="Most episodes plan 3 to 6 sessions.",
    )  # fmt: skip
    frequency = forms.ChoiceField(
        label="Needling frequency", choices=CarePlan.Frequency.choices, initial="weekly"
    )
    review_on = forms.DateField(label="Review date", widget=DateInput())
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    # The plan version this page showed: saving over a newer one is refused, not silent.
    based_on = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


class GoalForm(forms.Form):
    description = forms.CharField(max_length=200, required=False, label="Goal")
    code = forms.ChoiceField(choices=[], label="Measure", required=False)
    component = forms.CharField(
        max_length=100, required=False, label="Activity, movement or muscle",
        help_text=COMPONENT_HELP, widget=MovementListInput(),
    )  # fmt: skip
    target = forms.DecimalField(max_digits=7, decimal_places=2, required=False)
    target_date = forms.DateField(required=False, widget=DateInput())

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].choices = [("", "—"), *measure_choices()]
        if self.initial.get("component"):
            self.initial = {
                **self.initial,
                "component": movement_words(self.initial.get("code"), self.initial["component"]),
            }

    def clean(self) -> dict:
        data = super().clean()
        clean_movement(self, data)
        filled = [
            data.get(k) not in (None, "") for k in ("description", "code", "target", "target_date")
        ]
        if any(filled) and not all(filled):
            for name in ("description", "code", "target", "target_date"):
                if data.get(name) in (None, ""):
                    self.add_error(name, "Needed for a goal.")
        if data.get("target_date") and data["target_date"] < timezone.localdate():
            self.add_error("target_date", "The target date cannot be in the past.")
        return data

    @property
    def goal(self) -> dict | None:
        data = self.cleaned_data
        return dict(data) if data.get("description") else None


class TherapyForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("", "—"), *PlanTherapy.Kind.choices], required=False, label="Therapy"
    )
    provider = forms.CharField(max_length=200, required=False, label="Provided by")
    frequency = forms.CharField(max_length=100, required=False, label="How often")
    exercises = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Exercises and doses",
        help_text="For a home programme: one per line, 'exercise: dose'.",
    )
    note = forms.CharField(max_length=300, required=False)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind"):
            for name in ("provider", "frequency"):
                if not data.get(name):
                    self.add_error(name, "Needed for a therapy.")
        exercises = []
        for line in (data.get("exercises") or "").splitlines():
            if line.strip():
                name, _, dose = line.partition(":")
                if not dose.strip():
                    self.add_error("exercises", f"Give the dose after a colon: {line.strip()!r}")
                exercises.append({"name": name.strip(), "dose": dose.strip()})
        data["exercises"] = exercises
        return data

    @property
    def therapy(self) -> dict | None:
        data = self.cleaned_data
        return dict(data) if data.get("kind") else None


GoalFormSet = forms.formset_factory(GoalForm, extra=3, max_num=10)
TherapyFormSet = forms.formset_factory(TherapyForm, extra=3, max_num=10)


class MeasurementForm(forms.Form):
    code = forms.ChoiceField(label="Measure", choices=[])
    component = forms.CharField(
        label="Activity, movement or muscle", required=False, max_length=100,
        help_text=COMPONENT_HELP, widget=MovementListInput(),
    )  # fmt: skip
    side = forms.ChoiceField(
        choices=[("", "—"), ("left", "Left"), ("right", "Right")], required=False
    )
    value = forms.DecimalField(max_digits=7, decimal_places=2)
    timing = forms.ChoiceField(
        choices=[
            (t.value, t.label) for t in (Timing.REASSESSMENT, Timing.DISCHARGE, Timing.BASELINE)
        ],
        initial=Timing.REASSESSMENT,
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].choices = measure_choices()

    def clean(self) -> dict:
        data = super().clean()
        clean_movement(self, data)
        return data


class DischargeForm(forms.Form):
    reason = forms.ChoiceField(choices=Discharge.Reason.choices)
    summary = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What was done, where the patient got to, and the advice given.",
    )


class DashboardFilterForm(forms.Form):
    date_from = forms.DateField(required=False, widget=DateInput(), label="From")
    date_to = forms.DateField(required=False, widget=DateInput(), label="To")
    practitioner = forms.ModelChoiceField(
        queryset=Practitioner.objects.none(), required=False, empty_label="All practitioners"
    )

    def __init__(self, *args, clinic, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["practitioner"].queryset = Practitioner.objects.filter(
            user__clinic=clinic
        ).select_related("user")

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        for name in ("date_from", "date_to"):
            day = data.get(name)
            if day and not dt.date(1970, 1, 1) <= day <= dt.date(9000, 12, 31):
                self.add_error(name, "Enter a date between 1970 and 9000.")
        return data
