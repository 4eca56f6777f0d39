"""Template helpers available in every template (registered as a builtin library)."""

from django import template
from django.forms import BoundField
from django.utils.html import format_html
from django.utils.safestring import SafeString

from needlechart import knowledge

register = template.Library()


@register.simple_tag
def control(field: BoundField) -> SafeString:
    """The field's widget, described by its help text and its errors for screen readers."""
    described_by = []
    if field.help_text:
        described_by.append(f"{field.auto_id}_helptext")
    if field.errors:
        described_by.append(f"{field.auto_id}_errors")
    attrs = {"aria-describedby": " ".join(described_by)} if described_by else {}
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)


@register.simple_tag
def status_badge(value: str, label: str) -> SafeString:
    return format_html('<span class="badge badge--{}">{}</span>', value, label)


@register.filter
def region_names(ids: list[str]) -> str:
    """Body-chart region ids as the names clinicians read ("calf-left" -> "Calf (left)")."""
    names = []
    for region_id in ids or []:
        try:
            names.append(knowledge.region(region_id).display)
        except knowledge.UnknownCode:
            names.append(region_id)  # kept visible rather than hidden if the atlas changes
    return ", ".join(names)


@register.filter
def get_item(mapping: dict, key: str) -> object:
    return mapping.get(key, key) if mapping else key


@register.filter
def muscle_name(slug: str) -> str:
    try:
        return knowledge.muscle(slug).name
    except knowledge.UnknownCode:
        return slug


@register.filter
def symptom_name(code: str) -> str:
    """A check-in symptom as the clinician reads it."""
    try:
        return knowledge.symptom(code).clinician_label
    except knowledge.UnknownCode:
        return code


@register.filter
def event_type_name(code: str) -> str:
    return knowledge.adverse_event_types().get(code, code)
