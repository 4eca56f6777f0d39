import datetime as dt

from django import forms
from django.utils import timezone

from needlechart.accounts.models import Role, User
from needlechart.api.models import AREAS, SERVICE_SCOPES, SIGN
from needlechart.api.services import SERVICE_SIGNS_NOTHING
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
        help_text="The staff member the token acts as: it can do no more than their role "
        "allows. A service account's tokens are made from its row below.",
    )
    scopes = forms.MultipleChoiceField(choices=_scope_choices, widget=forms.CheckboxSelectMultiple)
    expires_on = forms.DateField(widget=DateInput(), label="Expires on")

    def __init__(
        self, *args: object, clinic_id: int, account: User | None = None, **kwargs: object
    ) -> None:
        """A token for a person of the clinic; with `account`, for that service account,
        offering only the scopes it may hold (no signing)."""
        super().__init__(*args, **kwargs)
        self.fields["expires_on"].initial = timezone.localdate() + dt.timedelta(days=90)
        if account is None:
            self.fields["user"].queryset = (
                User.objects.filter(clinic_id=clinic_id, is_active=True)
                .exclude(role=Role.SERVICE)
                .order_by("last_name", "first_name")
            )
            return
        self.fields["user"].queryset = User.objects.filter(pk=account.pk)
        self.fields["user"].initial = account.pk
        self.fields["user"].help_text = "A service account: it reads and writes, never signs."
        scopes = self.fields["scopes"]
        scopes.choices = [choice for choice in _scope_choices() if choice[0] in SERVICE_SCOPES]
        scopes.error_messages["invalid_choice"] = SERVICE_SIGNS_NOTHING
