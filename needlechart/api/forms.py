import datetime as dt

from django import forms
from django.utils import timezone

from needlechart.accounts.models import User
from needlechart.api.models import AREAS, SIGN
from needlechart.forms import DateInput


def _scope_choices() -> list[tuple[str, str]]:
    return [
        (f"{area}:{mode}", f"{label}: {'read' if mode == 'read' else 'read and change'}")
        for area, label in AREAS.items()
        for mode in ("read", "write")
    ] + [(SIGN, "Sign needling sessions in the staff member's name")]


class ServiceAccountForm(forms.Form):
    name = forms.CharField(
        max_length=150, label="System", help_text="e.g. Booking: named so in the audit trail."
    )


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="The system that will use it, e.g. Billing.")
    user = forms.ModelChoiceField(
        queryset=User.objects.none(),
        label="Acts as",
        help_text="A staff member or a service account: the token can do no more than its "
        "role allows. A service account's token reads and writes patients only.",
    )
    scopes = forms.MultipleChoiceField(choices=_scope_choices, widget=forms.CheckboxSelectMultiple)
    expires_on = forms.DateField(widget=DateInput(), label="Expires on")

    def __init__(self, *args: object, clinic_id: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = User.objects.filter(
            clinic_id=clinic_id, is_active=True
        ).order_by("last_name", "first_name")
        self.fields["expires_on"].initial = timezone.localdate() + dt.timedelta(days=90)
