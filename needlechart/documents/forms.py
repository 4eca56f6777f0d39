from django import forms

from needlechart.documents.models import Letter


class WordingForm(forms.Form):
    salutation = forms.CharField(
        max_length=200, help_text="{recipient} is replaced by the name the letter is to."
    )
    opening = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    closing = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class LetterForm(forms.ModelForm):
    class Meta:
        model = Letter
        fields = Letter.EDITABLE
        widgets = {
            "opening": forms.Textarea(attrs={"rows": 4}),
            "body": forms.Textarea(attrs={"rows": 10}),
            "closing": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {"body": "What you want the referrer to know; printed after the opening."}


class LetterAddendumForm(forms.Form):
    reason = forms.CharField(max_length=300, help_text="Why the signed letter needs it.")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="Addendum")
