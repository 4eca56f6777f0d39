"""The form renderer: Django's, with select lists, input fields, check boxes and radio
buttons written in Python.

Django renders a select list through a template per option. The row form of a session
offers every muscle twice (the muscle needled and the paired one for stimulation), and
rendering those few hundred option templates cost about a third of the draft session page,
the page a clinician charts each visit on. `FormRenderer` writes a plain select list (one
whose options use Django's own option template), an input field (text, number, date,
checkbox, hidden ...), a text area and a list of check boxes or radio buttons (four
templates an option) in Python, to the same text the templates give; every other widget,
and options of a template of their own, render as before. A test compares the two on every
kind of widget written here and on the session's forms.
"""

import functools
from typing import Any

from django.forms.renderers import DjangoTemplates
from django.template.base import render_value_in_context
from django.template.context import Context
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, mark_safe

SELECT = "django/forms/widgets/select.html"
OPTION = "django/forms/widgets/select_option.html"
TEXTAREA = "django/forms/widgets/textarea.html"
# Check boxes and radio buttons: multiple_input.html, each option by input_option.html.
CHOICES = {"django/forms/widgets/checkbox_select.html", "django/forms/widgets/radio.html"}
CHOICE_OPTIONS = {
    "django/forms/widgets/checkbox_option.html", "django/forms/widgets/radio_option.html",
}  # fmt: skip
# The widgets whose template is input.html and nothing else.
INPUTS = {
    f"django/forms/widgets/{kind}.html"
    for kind in (
        "checkbox", "color", "date", "datetime", "email", "file", "hidden", "input",
        "number", "password", "search", "tel", "text", "time", "url",
    )
}  # fmt: skip
# Values as `{{ value }}` writes them in a template whose HTML is escaped.
_ESCAPED = Context(autoescape=True)


def text(value: Any) -> str:
    """`{{ value }}` in a template whose HTML is escaped."""
    if type(value) is str and len(value) <= _SHORT:
        return _escaped(value)
    return render_value_in_context(value, _ESCAPED)


# Short plain text (a select list's values and labels, a field's name and label) is escaped
# once per process: the draft session page writes over a thousand such texts, most of them
# the same muscles' names at every view. Only plain `str`: a safe string of the same text
# must stay as it is, and a lazy one may read differently later.
_SHORT = 80


@functools.lru_cache(maxsize=8192)
def _escaped(value: str) -> str:
    return conditional_escape(value)


def _formatted(value: Any) -> str:
    """`{{ value|stringformat:'s' }}`: the value's text, escaped unless it was safe."""
    written = "%s" % (str(value) if isinstance(value, tuple) else value,)  # noqa: UP031
    # As the filter keeps a safe value safe: it was marked so before it came here.
    return text(mark_safe(written) if isinstance(value, SafeData) else written)  # noqa: S308


def _attrs(attrs: dict[str, Any]) -> str:
    """django/forms/widgets/attrs.html: True as the bare name, False left out."""
    return "".join(
        f" {text(name)}" if value is True else f' {text(name)}="{_formatted(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def render_select(widget: dict[str, Any]) -> str | None:
    """select.html with select_option.html, as the templates write them (then stripped, as
    the renderer strips them); None for options of another template."""
    parts = [f'<select name="{text(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _ in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{text(group_name)}">')
        for option in options:
            if option["template_name"] != OPTION:
                return None
            parts.append(
                f'\n  <option value="{_formatted(option["value"])}"{_attrs(option["attrs"])}>'
                f"{text(option['label'])}</option>\n"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts).strip()


def render_input(widget: dict[str, Any]) -> str:
    """input.html, as the template writes it."""
    value = "" if widget["value"] is None else f' value="{_formatted(widget["value"])}"'
    return (
        f'<input type="{text(widget["type"])}" name="{text(widget["name"])}"{value}'
        f"{_attrs(widget['attrs'])}>"
    )


def render_textarea(widget: dict[str, Any]) -> str:
    """textarea.html, as the template writes it."""
    value = text(widget["value"]) if widget["value"] else ""
    return f'<textarea name="{text(widget["name"])}"{_attrs(widget["attrs"])}>\n{value}</textarea>'


def render_choices(widget: dict[str, Any]) -> str | None:
    """multiple_input.html (check boxes, radio buttons) with each option's input_option.html,
    as the templates write them (then stripped); None for options of another template."""
    attrs = widget["attrs"]
    parts = ["<div"]
    if attrs.get("id"):
        parts.append(f' id="{text(attrs["id"])}"')
    if attrs.get("class"):
        parts.append(f' class="{text(attrs["class"])}"')
    parts.append(">")
    for group_name, options, _ in widget["optgroups"]:
        if group_name:
            parts.append(f"\n  <div><label>{text(group_name)}</label>")
        for option in options:
            if option["template_name"] not in CHOICE_OPTIONS:
                return None
            # Each included template keeps its file's last line break.
            parts.append(f"<div>\n    {_input_option(option)}\n</div>")
        if group_name:
            parts.append("\n  </div>")
    parts.append("\n</div>")
    return "".join(parts).strip()


def _input_option(option: dict[str, Any]) -> str:
    """input_option.html: the input, within its label."""
    written = f"{render_input(option)}\n"
    if option["wrap_label"]:
        target = option["attrs"].get("id")
        opening = f'<label for="{text(target)}">' if target else "<label>"
        written = f"{opening}{written} {text(option['label'])}</label>"
    return f"{written}\n"


class FormRenderer(DjangoTemplates):
    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        if template_name in INPUTS:
            return render_input(context["widget"])
        if template_name == TEXTAREA:
            return render_textarea(context["widget"])
        if template_name == SELECT or template_name in CHOICES:
            write = render_select if template_name == SELECT else render_choices
            written = write(context["widget"])
            if written is not None:
                return written
        return super().render(template_name, context, request=request)
