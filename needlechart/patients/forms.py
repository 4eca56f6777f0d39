import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from needlechart import knowledge
from needlechart.accounts.models import Practitioner
from needlechart.forms import DateInput, FieldsOnlyModelForm
from needlechart.patients.models import EpisodeOfCare, Patient


class PatientSearchForm(forms.Form):
    name = forms.CharField(required=False, max_length=100, label="Name")
    birth_date = forms.DateField(required=False, label="Date of birth", widget=DateInput())
    mrn = forms.CharField(required=False, max_length=32, label="Record number")
    mine = forms.BooleanField(required=False, label="My patients")
    in_care = forms.BooleanField(required=False, label="In care")

    def __init__(self, *args, care: bool, mine: bool, **kwargs) -> None:
        """`care`: the user may see who is in care; `mine`: they may be in charge of care."""
        super().__init__(*args, **kwargs)
        if not care:
            del self.fields["in_care"]
        if not (care and mine):
            del self.fields["mine"]


class PatientForm(FieldsOnlyModelForm):
    class Meta:
        model = Patient
        fields = Patient.EDITABLE
        widgets = {
            "birth_date": DateInput(),
            "address": forms.Textarea(attrs={"rows": 3}),
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
        }

    def __init__(self, *args, creating: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if creating:
            self.fields["mrn"].required = False
            self.fields["mrn"].help_text = "Leave empty to assign the clinic's next number."


NOT_IN_CATALOGUE = (
    "{text} is not an ICD-10-CM code in the needlechart catalogue; choose one from the list."
)
SUGGEST = "{text} is not a code or a description from the list. Did you mean: {matches}?"


class ConditionListInput(forms.TextInput):
    """A text input that offers the catalogue's codes as "CODE description" (a datalist, so the
    browser narrows the list as the clinician types words or a code); other names clinicians
    use ("whiplash") follow each option, for the browser to match too."""

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs={"autocomplete": "off", "spellcheck": "false", **(attrs or {})})
        self.entries: list[knowledge.schema.Condition] = []

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        attrs = dict(attrs or {})
        list_id = f"{attrs.get('id') or name}-conditions"
        attrs["list"] = list_id
        options = format_html_join(
            "",
            '<option value="{}" label="{}"></option>',
            (
                (e.option_label, f"{e.option_label} — {', '.join(e.terms)}" if e.terms else "")
                for e in self.entries
            ),
        )
        return format_html(
            '{}<datalist id="{}">{}</datalist>',
            super().render(name, value, attrs, renderer),
            list_id,
            options,
        )


class ConditionField(forms.CharField):
    """A condition typed or chosen in words or as a code; cleans to the ICD-10-CM code.

    Accepts the code ("M54.2", any case, with or without the dot), the option as the list
    shows it ("M54.2 Cervicalgia (neck pain)") or the description alone. Anything else is
    refused, naming the closest codes the catalogue's search finds."""

    widget = ConditionListInput

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 200)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        # A stored code shows as the list shows it; typed text is shown back as typed.
        try:
            return knowledge.condition(value).option_label
        except knowledge.UnknownCode:
            return value

    def to_python(self, value) -> str:
        text = super().to_python(value)
        if not text:
            return text
        try:
            return knowledge.condition_lookup(text).code
        except knowledge.UnknownCode:
            pass
        matches = knowledge.condition_search(text, on=timezone.localdate(), limit=3)
        if matches:
            listed = "; ".join(entry.option_label for entry in matches)
            raise ValidationError(SUGGEST.format(text=text, matches=listed), code="unknown")
        raise ValidationError(NOT_IN_CATALOGUE.format(text=text), code="unknown")


class EpisodeForm(FieldsOnlyModelForm):
    care_manager = forms.ModelChoiceField(
        queryset=Practitioner.objects.none(), label="Practitioner in charge"
    )
    condition_code = ConditionField(
        label="Condition (ICD-10-CM)",
        help_text="Type a code or words, e.g. M54.2, tennis elbow or plantar, and choose "
        "from the list.",
    )

    class Meta:
        model = EpisodeOfCare
        fields = EpisodeOfCare.EDITABLE
        widgets = {"onset_date": DateInput(), "period_start": DateInput()}

    def __init__(self, *args, practitioners, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["condition_code"].widget.entries = self._conditions()
        if not self.instance.pk:
            self.fields["body_area"].required = False
            self.fields["body_area"].help_text = "Leave empty to use the condition's body area."
        if self.instance.status != EpisodeOfCare.Status.FINISHED:
            # Discharge goes through its own page, with a summary.
            self.fields["status"].choices = [
                c for c in EpisodeOfCare.Status.choices if c[0] != EpisodeOfCare.Status.FINISHED
            ]
        self.fields["care_manager"].queryset = practitioners
        self.fields["care_manager"].label_from_instance = lambda p: (
            f"{p.user.get_full_name() or p.user.username} ({p.get_profession_display()})"
        )

    def _conditions(self) -> list[knowledge.schema.Condition]:
        """Codes valid today, plus an edited episode's own code if it has since retired."""
        entries = list(knowledge.conditions_valid_on(timezone.localdate()))
        current = self.instance.condition_code if self.instance.pk else None
        if current and all(entry.code != current for entry in entries):
            entries.insert(0, knowledge.condition(current))
        return entries

    def clean(self) -> dict:
        data = super().clean()
        code = data.get("condition_code")
        kept = self.instance.pk and code == self.instance.condition_code
        if code and not kept:
            day = data.get("period_start") or timezone.localdate()
            entry = knowledge.condition(code)
            if not entry.valid_on(day):
                self.add_error("condition_code", _not_valid_on(entry, day))
        return data


def _not_valid_on(entry: knowledge.schema.Condition, day: dt.date) -> str:
    """Why a catalogue code cannot open an episode on `day`, and what to do instead."""
    if entry.valid_to and day > entry.valid_to:
        when = f"it was retired after {entry.valid_to:%Y-%m-%d}"
    else:
        when = f"it is valid only from {entry.valid_from:%Y-%m-%d}"
    return (
        f"{entry.option_label}: not valid for an episode opened on {day:%Y-%m-%d}; {when}. "
        "Choose a current code from the list."
    )
