"""Forms of the portal, in plain language: patients read these on a phone."""

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm

from needlechart import knowledge
from needlechart.accounts.models import User
from needlechart.charting.forms import ScreeningForm
from needlechart.charting.models import AdverseEvent


class PortalSignInForm(AuthenticationForm):
    """Patients sign in with their email address. Staff accounts are refused here, as
    patients' accounts are on the staff sign-in page."""

    username = forms.EmailField(
        label="Email address",
        max_length=User._meta.get_field("username").max_length,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def clean_username(self) -> str:
        return self.cleaned_data["username"].lower()

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        if not user.is_patient:
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")


class PortalPasswordResetForm(PasswordResetForm):
    """Sends reset links to portal accounts only; staff reset from the staff sign-in page."""

    def get_users(self, email: str) -> Iterator[User]:
        return (u for u in super().get_users(email) if u.is_patient)


class AccountOpenForm(forms.Form):
    password = forms.CharField(
        label="Choose a password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters. Avoid common words and your name.",
    )
    password_again = forms.CharField(
        label="Type the password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class HealthQuestionsForm(ScreeningForm):
    """The clinician's screening factors, asked as the patient's own questions."""

    # Patients are not asked what only the clinic knows (the INR target, platelet count).
    patient_facing = True

    note = forms.CharField(
        label="Anything else you would like us to know about your health?",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=2000,
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for rule, fields in self.groups:
            self.fields[f"f_{rule.code}"].label = rule.question
            fields[0].label = rule.question  # the bound field copied the label already


class ConsentForm(forms.Form):
    template = forms.IntegerField(widget=forms.HiddenInput)
    signed_name = forms.CharField(
        label="Type your full name to sign",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    confirmed = forms.BooleanField(
        label="I have read this and I agree to dry needling", required=False
    )


SORENESS = [(str(n), str(n)) for n in range(11)]


class CheckInForm(forms.Form):
    soreness = forms.TypedChoiceField(
        label="How sore are the places where the needles went in? (0 = not at all, 10 = the "
        "worst you can imagine)",
        choices=SORENESS,
        coerce=int,
        widget=forms.RadioSelect(attrs={"class": "scale"}),
    )
    symptoms = forms.MultipleChoiceField(
        label="Since your session, have you had any of these?",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    other = forms.CharField(
        label="If something else, what?",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["symptoms"].choices = [(s.code, s.label) for s in knowledge.symptoms()]


class DiaryForm(forms.Form):
    pain = forms.TypedChoiceField(
        label="Your pain right now (0 = no pain, 10 = the worst pain you can imagine)",
        choices=SORENESS,
        coerce=int,
        widget=forms.RadioSelect(attrs={"class": "scale"}),
    )


# The global rating of change, -7 to +7, with anchors in our own words.
GROC_ANCHORS = {
    7: "completely or almost completely better",
    5: "clearly better",
    3: "noticeably better",
    1: "slightly better",
    0: "no change",
    -1: "slightly worse",
    -3: "noticeably worse",
    -5: "clearly worse",
    -7: "much worse",
}
GROC = [
    (str(n), f"{n:+d}: {GROC_ANCHORS[n]}" if n in GROC_ANCHORS else f"{n:+d}")
    for n in range(7, -8, -1)
]
GROC[7] = ("0", f"0: {GROC_ANCHORS[0]}")


class ReviewForm(forms.Form):
    """Each activity the patient named at the start, rated 0-10, and the overall change."""

    groc = forms.ChoiceField(
        label="Overall, how is the problem you came with now, compared with before your "
        "treatment started?",
        choices=GROC,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, activities: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.activities = activities
        for index, name in enumerate(activities):
            self.fields[f"activity_{index}"] = forms.TypedChoiceField(
                label=f"How well can you do this now: {name}? (0 = not at all, 10 = as well "
                "as before the problem)",
                choices=SORENESS,
                coerce=int,
                widget=forms.RadioSelect(attrs={"class": "scale"}),
            )

    def ratings(self) -> dict[str, int]:
        return {name: self.cleaned_data[f"activity_{i}"] for i, name in enumerate(self.activities)}


# --- staff side ----------------------------------------------------------------------------


class ErasureForm(forms.Form):
    parts = forms.MultipleChoiceField(
        label="Erase",
        choices=[],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose what to erase."},
    )
    reason = forms.CharField(
        label="Whose request, and why",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the audit trail with the erasure, e.g. \"The patient's written "
        'request of 2 December: no longer a patient of the clinic."',
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parts"].choices = choices


class ReasonForm(forms.Form):
    reason = forms.CharField(label="Reason", max_length=300)


class EffectConfirmForm(forms.Form):
    """The adverse event as the clinician records it, starting from what the patient said."""

    event_type = forms.ChoiceField(label="Type")
    onset = forms.ChoiceField(choices=AdverseEvent.Onset.choices)
    severity = forms.ChoiceField(choices=AdverseEvent.Severity.choices)
    action_taken = forms.ChoiceField(choices=AdverseEvent.Action.choices)
    outcome = forms.ChoiceField(choices=AdverseEvent.Outcome.choices)
    muscles = forms.MultipleChoiceField(
        label="Muscles involved", required=False, widget=forms.CheckboxSelectMultiple
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args, muscles: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["event_type"].choices = list(knowledge.adverse_event_types().items())
        self.fields["muscles"].choices = muscles
