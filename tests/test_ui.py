"""A form's field with its label, errors and help, written by `{% form_field %}`, reads as
the template it replaced wrote it."""

import pytest
from django import forms
from django.template import Context, Engine, Template

from needlechart.charting.forms import InsertionForm, SessionDetailsForm
from tests import charts
from tests.test_widgets import DATA, INPUT_DATA, Inputs, Tricky

# includes/field.html as it was, the reference the tag is held to.
FIELD_TEMPLATE = """{% if field.is_hidden %}{{ field }}{% else %}
<div class="field{% if field.errors %} field--error{% endif %}{% if field.widget_type == 'checkbox' %} field--checkbox{% endif %}">
  {% if field.widget_type == 'checkbox' %}
    {% control field %}
    <label for="{{ field.id_for_label }}">{{ field.label }}</label>
  {% else %}
    <label for="{{ field.id_for_label }}">{{ field.label }}{% if field.field.required %} <span class="required" aria-hidden="true">*</span><span class="visually-hidden">(required)</span>{% endif %}</label>
    {% control field %}
  {% endif %}
  {% if field.errors %}<ul class="errors" id="{{ field.auto_id }}_errors">{% for error in field.errors %}<li>{{ error }}</li>{% endfor %}</ul>{% endif %}
  {% if field.help_text %}<p class="help" id="{{ field.auto_id }}_helptext">{{ field.help_text }}</p>{% endif %}
</div>
{% endif %}"""

ENGINE = Engine(builtins=["needlechart.ui"])
REFERENCE = ENGINE.from_string(FIELD_TEMPLATE)
TAG = ENGINE.from_string("{% form_field field %}")


def _spaced(html: str) -> str:
    """Runs of white space as one space: what a browser makes of them between tags."""
    return " ".join(html.split())


def _both(field: forms.BoundField) -> tuple[str, str]:
    context = Context({"field": field})
    return _spaced(REFERENCE.render(context)), _spaced(TAG.render(context))


class Described(forms.Form):
    told = forms.CharField(label='Pain "now" & <then>', help_text="0 to 10 <b>only</b>")
    optional = forms.IntegerField(required=False, help_text="Leave empty if not measured")
    agreed = forms.BooleanField(label="I agree & sign", help_text="Ticking signs it")
    ticked = forms.BooleanField(required=False)
    unlabelled = forms.CharField(label="")
    side = forms.ChoiceField(choices=[("", "No side"), ("left", "Left")], required=False)


@pytest.mark.parametrize("data", [None, {"told": "x", "optional": "y"}, {"agreed": ""}])
def test_each_kind_of_field_reads_as_the_template_wrote_it(data):
    for form_class, bound in ((Described, data), (Tricky, DATA if data else None)):
        form = form_class(bound)
        for name in form.fields:
            expected, written = _both(form[name])
            assert written == expected, name
    with_errors = Described({"optional": "y"})
    expected, written = _both(with_errors["optional"])
    assert 'class="field field--error"' in written and "<li>Enter a whole number.</li>" in written
    assert written == expected


@pytest.mark.parametrize("data", [None, INPUT_DATA])
def test_inputs_hidden_fields_and_auto_ids_read_as_the_template_wrote_them(data):
    for form in (Inputs(data), Inputs(data, auto_id=False), Inputs(data, prefix="row7")):
        for name in form.fields:
            expected, written = _both(form[name])
            assert written == expected, name
    hidden = _both(Inputs()["hidden"])[1]
    assert hidden.startswith('<input type="hidden"') and "<label" not in hidden


def test_the_session_forms_read_as_the_template_wrote_them(world, needle):
    clinic = world.clinic_a
    session = charts.build(world.practitioner, world.episode_a, signed=False).session
    for form in (
        InsertionForm(clinic=clinic),
        InsertionForm({"muscle": "nowhere", "depth": "deep"}, clinic=clinic),
        InsertionForm(clinic=clinic, instance=session.insertions.first(), prefix="row1"),
        SessionDetailsForm(instance=session, initial={"co_treatments": session.co_treatments}),
    ):
        for name in form.fields:
            expected, written = _both(form[name])
            assert written == expected, name


def test_no_template_includes_the_field_template_any_more():
    """Each form's field is written by the tag: an include would render the old template."""
    from pathlib import Path

    templates = Path(__file__).resolve().parent.parent / "needlechart" / "templates"
    assert not (templates / "includes" / "field.html").exists()
    users = [p.name for p in templates.rglob("*.html") if "includes/field.html" in p.read_text()]
    assert users == []


def test_the_tag_needs_no_load():
    Template("{% form_field field %}")  # a builtin of the app's engine, as `control` is
