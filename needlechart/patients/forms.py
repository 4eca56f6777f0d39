from django import forms
from django.utils import timezone

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


class EpisodeForm(FieldsOnlyModelForm):
    care_manager = forms.ModelChoiceField(
        queryset=Practitioner.objects.none(), label="Practitioner in charge"
    )

    class Meta:
        model = EpisodeOfCare
        fields = EpisodeOfCare.EDITABLE
        widgets = {"onset_date": DateInput(), "period_start": DateInput()}
        error_messages = {
            "condition_code": {
                "invalid_choice": "%(value)s is not an ICD-10-CM code in the needlechart "
                "catalogue; choose one from the list."
            }
        }

    def __init__(self, *args, practitioners, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["condition_code"].choices = self._conditions()
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

    def _conditions(self) -> list[tuple[str, str]]:
        """Codes valid today, plus an edited episode's own code if it has since retired."""
        entries = list(knowledge.conditions_valid_on(timezone.localdate()))
        current = self.instance.condition_code if self.instance.pk else None
        if current and all(entry.code != current for entry in entries):
            entries.insert(0, knowledge.condition(current))
        return [("", "---------"), *((e.code, f"{e.code} {e.display}") for e in entries)]
