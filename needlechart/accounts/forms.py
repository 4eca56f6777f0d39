import datetime as dt
from collections.abc import Iterator

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, UsernameField
from django.utils import timezone

from needlechart.accounts.models import DryNeedlingCredential, Profession, Role, User
from needlechart.forms import DateInput, FieldsOnlyModelForm


class SignInForm(AuthenticationForm):
    # The stock form reads max_length from the model but does not enforce it; an overlong
    # name would reach the lockout log's 255-character column.
    username = UsernameField(
        max_length=User._meta.get_field("username").max_length,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        # Patients sign in to the portal; here they fail like a wrong password would.
        if user.is_patient:
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")


class StaffPasswordResetForm(PasswordResetForm):
    """Reset links for staff only; patients reset theirs from the portal."""

    def get_users(self, email: str) -> Iterator[User]:
        return (u for u in super().get_users(email) if not u.is_patient)


class StaffForm(forms.Form):
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    email = forms.EmailField(help_text="The set-password link is sent here.")
    role = forms.ChoiceField(choices=[c for c in Role.choices if c[0] != Role.SERVICE])
    profession = forms.ChoiceField(
        choices=[("", "Not a clinician"), *Profession.choices],
        required=False,
        help_text="Required for practitioners; clinic admins who treat patients add it too.",
    )
    registration_number = forms.CharField(max_length=50, required=False)
    registration_body = forms.CharField(
        max_length=100, required=False, help_text="e.g. the state board or national regulator."
    )


class StaffCreateForm(StaffForm):
    username = forms.CharField(max_length=150, help_text="Used to sign in.")
    field_order = ["username", "first_name", "last_name", "email", "role", "profession"]

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        User.username_validator(username)
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("This username is already taken.")
        return username


class StaffUpdateForm(StaffForm):
    is_active = forms.BooleanField(
        required=False, label="Active", help_text="Inactive accounts cannot sign in."
    )


class CredentialForm(FieldsOnlyModelForm):
    class Meta:
        model = DryNeedlingCredential
        fields = DryNeedlingCredential.EDITABLE
        widgets = {
            "completed_on": DateInput(),
            "expires_on": DateInput(),
            "evidence_note": forms.Textarea(attrs={"rows": 3}),
        }
        labels = {"hours": "Hours of training", "expires_on": "Expires on"}

    def clean_completed_on(self) -> dt.date:
        completed_on = self.cleaned_data["completed_on"]
        if completed_on > timezone.localdate():
            raise forms.ValidationError("The completion date cannot be in the future.")
        return completed_on

    def clean(self) -> dict:
        data = super().clean()
        completed, expires = data.get("completed_on"), data.get("expires_on")
        if completed and expires and expires <= completed:
            self.add_error("expires_on", "The expiry date must be after the completion date.")
        return data


class ConfirmForm(forms.Form):
    """The password again (or an authenticator code) before signing a record."""

    secret = forms.CharField(
        max_length=200,
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )


class CodeForm(forms.Form):
    """A code from the authenticator app (or, signing in, a recovery code)."""

    code = forms.CharField(
        max_length=20,
        label="Code from your authenticator app",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )
