import datetime as dt

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from needlechart.accounts.models import User
from needlechart.audit.models import AuditEvent
from needlechart.forms import DateInput

# Far enough either way for any real trail; beyond, the date arithmetic would overflow.
EARLIEST, LATEST = dt.date(1970, 1, 1), dt.date(9000, 12, 31)
DATE_LIMITS = [
    MinValueValidator(EARLIEST, "Enter a date from 1970 onwards."),
    MaxValueValidator(LATEST, "Enter a date before the year 9001."),
]


class AuditFilterForm(forms.Form):
    date_from = forms.DateField(
        required=False, label="From", widget=DateInput(), validators=DATE_LIMITS
    )
    date_to = forms.DateField(
        required=False, label="To", widget=DateInput(), validators=DATE_LIMITS
    )
    user = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label="User")
    patient_mrn = forms.CharField(required=False, max_length=32, label="Patient record number")
    action = forms.ChoiceField(
        choices=[("", "Any action"), *AuditEvent.Action.choices], required=False
    )

    def __init__(self, *args, clinic_id: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = User.objects.filter(clinic_id=clinic_id).order_by("username")
        self.fields["user"].empty_label = "Anyone"

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def described(self) -> dict[str, str]:
        """The valid filters as plain text, for the audit row that records the search."""
        if not self.is_valid():
            return {}
        return {name: str(value) for name, value in self.cleaned_data.items() if value}
