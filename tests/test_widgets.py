"""Select lists, input fields, text areas, check boxes and radio buttons written in Python
read exactly as Django's templates write them."""

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from needlechart.charting.forms import InsertionForm, SessionDetailsForm
from needlechart.widgets import FormRenderer, render_choices, render_select
from tests import charts

TEMPLATES = DjangoTemplates()
FAST = FormRenderer()


class Tricky(forms.Form):
    plain = forms.ChoiceField(choices=[("", "Choose"), ("a", "A & B"), ("b", '"quoted" <b>')])
    grouped = forms.ChoiceField(
        choices=[
            ("Neck", [("scalene", "Scalenes"), ("levator", "Levator scapulae")]),
            ("Back", [("multifidus", mark_safe("Multifidus <i>deep</i>"))]),
            ("x<y", "A label after the groups"),
        ]
    )
    numbers = forms.TypedChoiceField(choices=[(1, 1), (2, gettext_lazy("two"))], coerce=int)
    many = forms.MultipleChoiceField(choices=[("a", "A"), ("b", "B"), ("c", "C")])
    maybe = forms.NullBooleanField()
    flagged = forms.ChoiceField(
        choices=[("a", "A")],
        widget=forms.Select(
            attrs={"autofocus": True, "disabled": False, "data-x": "1 < 2", "class": "c"}
        ),
    )


class Choices(forms.Form):
    ticks = forms.MultipleChoiceField(
        choices=[("a", "A & B"), ("b", mark_safe("<i>kept</i>")), ("c", gettext_lazy("lazy"))],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "ticks"}),
    )
    grouped = forms.MultipleChoiceField(
        choices=[("Neck", [("scalene", "Scalenes"), ("levator", "Levator")]), ("x<y", "After")],
        widget=forms.CheckboxSelectMultiple,
    )
    one = forms.ChoiceField(
        choices=[("", "None"), ("1", "One"), (2, '"Two"')], widget=forms.RadioSelect
    )
    grouped_one = forms.ChoiceField(
        choices=[("Back", [("multifidus", "Multifidus")]), ("z", "Z")],
        widget=forms.RadioSelect(attrs={"required": True, "data-x": "1 < 2"}),
    )


class Inputs(forms.Form):
    text = forms.CharField(initial='a "quoted" <b> & c', help_text="Said")
    safe = forms.CharField(initial=mark_safe("<i>kept</i>"))
    number = forms.IntegerField(initial=7)
    decimal = forms.DecimalField(initial="2.50")
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    email = forms.EmailField(required=False)
    ticked = forms.BooleanField(initial=True)
    unticked = forms.BooleanField(required=False)
    hidden = forms.CharField(widget=forms.HiddenInput, initial="x<y")
    secret = forms.CharField(widget=forms.PasswordInput(render_value=True), initial="p&w")
    flagged = forms.CharField(
        widget=forms.TextInput(attrs={"autofocus": True, "disabled": False, "maxlength": 5})
    )
    note = forms.CharField(widget=forms.Textarea, initial="two\nlines <b>")
    blank = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    kept = forms.CharField(widget=forms.Textarea, initial=mark_safe("<i>kept</i>"))


DATA = {"plain": "b", "grouped": "multifidus", "numbers": "2", "many": ["a", "c"], "maybe": "true"}
INPUT_DATA = {
    "note": "0",
    "kept": "",
    "text": "<script>",
    "number": "x",
    "day": "2026-02-30",
    "ticked": "on",
    "email": "a@",
}


def _both(field: forms.BoundField, **attrs) -> tuple[str, str]:
    """The widget as Django's templates render it, and as needlechart's renderer does."""
    written = []
    for renderer in (TEMPLATES, FAST):
        field.form.renderer = renderer
        written.append(field.as_widget(attrs=attrs or None))
    return written[0], written[1]


@pytest.mark.parametrize("data", [None, DATA, {"plain": "<script>", "many": ["z"]}])
def test_each_kind_of_select_reads_as_the_templates_write_it(data):
    form = Tricky(data)
    for name in form.fields:
        expected, written = _both(form[name], **{"aria-invalid": "true", "aria-describedby": ""})
        assert written == expected, name
    assert "<option" in _both(form["grouped"])[1]


@pytest.mark.parametrize("data", [None, INPUT_DATA])
def test_each_kind_of_input_reads_as_the_templates_write_it(data):
    form = Inputs(data)
    for name in form.fields:
        expected, written = _both(form[name], **{"aria-invalid": "true", "aria-describedby": ""})
        assert written == expected, name
        expected, written = _both(form[name])
        assert written == expected, name
    assert "checked" in _both(Inputs()["ticked"])[1]


def test_the_session_forms_read_as_the_templates_write_them(world, needle):
    clinic = world.clinic_a
    data = {"muscle": "upper-trapezius", "side": "left", "depth": "deep", "needle_size": needle.pk}
    session = charts.build(world.practitioner, world.episode_a, signed=False).session
    for form in (
        InsertionForm(clinic=clinic),
        InsertionForm(data, clinic=clinic),
        InsertionForm(clinic=clinic, instance=session.insertions.first(), prefix="row1"),
        SessionDetailsForm(instance=session, initial={"co_treatments": session.co_treatments}),
    ):
        for name in form.fields:
            expected, written = _both(form[name])
            assert written == expected, name
    assert (
        'value="upper-trapezius" selected' in _both(InsertionForm(data, clinic=clinic)["muscle"])[1]
    )


@pytest.mark.parametrize(
    "data", [None, {"ticks": ["a", "c"], "grouped": ["levator", "x<y"], "one": "2"}, {"one": "<"}]
)
@pytest.mark.parametrize("auto_id", ["id_%s", False])
def test_check_boxes_and_radio_buttons_read_as_the_templates_write_them(data, auto_id):
    form = Choices(data, auto_id=auto_id)
    for name in form.fields:
        expected, written = _both(form[name], **{"aria-invalid": "true", "aria-describedby": ""})
        assert written == expected, name
        expected, written = _both(form[name])
        assert written == expected, name
    written = _both(form["ticks"])[1]
    assert written.count("<input") == 3
    assert written.count(" checked") == len((data or {}).get("ticks", []))
    assert ('<label for="id_ticks_0">' in written) is bool(auto_id)


@pytest.mark.parametrize(
    ("form_class", "name", "base", "option", "written_by"),
    [
        (Tricky, "plain", forms.Select, "radio_option", render_select),
        (Choices, "ticks", forms.CheckboxSelectMultiple, "select_option", render_choices),
    ],
)
def test_options_of_their_own_template_render_by_the_templates(
    form_class, name, base, option, written_by
):
    own = type("Own", (base,), {"option_template_name": f"django/forms/widgets/{option}.html"})
    form = form_class()
    form.fields[name].widget = own(choices=form.fields[name].choices)
    expected, written = _both(form[name])
    assert written == expected
    assert written_by(form[name].field.widget.get_context(name, "", {})["widget"]) is None


def test_the_app_renders_its_forms_with_this_renderer():
    from django.forms.renderers import get_default_renderer

    get_default_renderer.cache_clear()
    assert isinstance(get_default_renderer(), FormRenderer)
