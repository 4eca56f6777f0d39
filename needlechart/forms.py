"""Shared form plumbing: service errors shown next to the fields they concern."""

from collections.abc import Callable
from typing import TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, QueryDict

T = TypeVar("T")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


# The largest id a PostgreSQL bigint holds has 19 digits; fewer keep every value in range.
ID_DIGITS = 18


def record_id(text: object) -> int | None:
    """A record id as an address or a form sends it: ASCII digits within a database id's
    range, else None. `str.isdigit` alone also takes "²" (which int() refuses) and numbers
    no database column holds, which used to end in a server error."""
    if not isinstance(text, str) or not (text.isascii() and text.isdigit()):
        return None
    return int(text) if len(text) <= ID_DIGITS else None


def add_service_error(form: forms.BaseForm, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form, by field where the form has one."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def submit(form: forms.BaseForm, call: Callable[[], T]) -> T | None:
    """Run a service on a valid form; on a rule it breaks, show why and return None."""
    if not form.is_valid():
        return None
    try:
        return call()
    except ValidationError as error:
        add_service_error(form, error)
        return None


class FieldsOnlyModelForm(forms.ModelForm):
    """A model form that checks its fields but leaves the record alone.

    Services own the write: they validate the whole record and audit what changed,
    which they could not see if the form had already copied its values onto the instance.
    Editing a saved record, the form also carries `was`: the values it showed, so that the
    service refuses the edit if someone changed them meanwhile (see records.snapshot).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            from needlechart.records import snapshot

            shown = [name for name in self.fields if name in self._meta.fields]
            self.fields["was"] = forms.CharField(
                required=False, widget=forms.HiddenInput, initial=snapshot(self.instance, shown)
            )

    def _post_clean(self) -> None:
        pass


def posted(request: HttpRequest) -> QueryDict | None:
    """The form data of a POST (even an empty one), or None to leave a GET form unbound."""
    return request.POST if request.method == "POST" else None


def refused(request: HttpRequest, error: ValidationError) -> None:
    """A service's refusal of a one-button action, shown as messages on the next page."""
    for message in error.messages:
        messages.error(request, message)
