"""Template helpers available in every template (registered as a builtin library)."""

import datetime as dt
import functools
from typing import Any

from django import template
from django.forms import BoundField
from django.http import QueryDict
from django.template.defaultfilters import capfirst, floatformat
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.links import id_url, ids_url, slug_url
from needlechart.widgets import text

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


_REQUIRED = (
    ' <span class="required" aria-hidden="true">*</span>'
    '<span class="visually-hidden">(required)</span>'
)


@register.simple_tag
def form_field(field: BoundField) -> SafeString:
    """A form's field with its label, its errors and its help, for the template of any form.

    Written in Python rather than as an included template: a form page includes one per
    field (the draft session page, where a clinician charts each visit, 35), and the
    template's own work was a tenth of that page. A test compares it with the template it
    replaced, for every kind of field.
    """
    if field.is_hidden:
        return mark_safe(str(field))  # noqa: S308 (the widget's own rendered HTML)
    errors = field.errors
    checkbox = field.widget_type == "checkbox"
    widget = control(field)
    label_for = text(field.id_for_label)
    if checkbox:
        head = f'{widget} <label for="{label_for}">{text(field.label)}</label>'
    else:
        required = _REQUIRED if field.field.required else ""
        head = f'<label for="{label_for}">{text(field.label)}{required}</label> {widget}'
    tail = ""
    if errors:
        items = "".join(f"<li>{text(error)}</li>" for error in errors)
        tail += f'<ul class="errors" id="{text(field.auto_id)}_errors">{items}</ul> '
    if field.help_text:
        tail += f'<p class="help" id="{text(field.auto_id)}_helptext">{text(field.help_text)}</p> '
    classes = (
        "field" + (" field--error" if errors else "") + (" field--checkbox" if checkbox else "")
    )
    return mark_safe(f'<div class="{classes}"> {head} {tail}</div>')  # noqa: S308 (escaped above)


# The main navigation: (view, label, who sees it, when it is the current page). Who: "all"
# staff, or the context's flag from accounts.context_processors.role.
_NAV = (
    ("home", "Today", "can_read_clinical", lambda name, ns: name == "home"),
    ("patients:list", "Patients", "all", lambda name, ns: ns == "patients"),
    ("outcomes:dashboard", "Dashboard", "can_write_clinical",
     lambda name, ns: ns == "outcomes" and name == "dashboard"),
    ("reference:body_chart", "Body chart", "all", lambda name, ns: ns == "reference"),
    ("accounts:practitioners", "Practitioners", "all", lambda name, ns: name == "practitioners"),
    ("accounts:staff", "Staff", "is_clinic_admin", lambda name, ns: name == "staff"),
    ("charting:clinic", "Clinic", "is_clinic_admin",
     lambda name, ns: name in ("clinic", "clinic_document", "clinic_needles")),
    ("audit:list", "Audit trail", "is_clinic_admin", lambda name, ns: ns == "audit"),
)  # fmt: skip


_CURRENT = ' aria-current="page"'


@functools.lru_cache(maxsize=1024)
def _nav(flags: frozenset[str], name: str | None, ns: str | None, prefix: str) -> SafeString:
    """The navigation's items for one set of flags on one page, written once per process.
    `prefix`: the script prefix the links carry, part of the key."""
    return mark_safe(  # noqa: S308 (fixed labels and reversed links)
        "\n        ".join(
            f'<li><a href="{text(reverse(view))}"'
            f"{_CURRENT if current(name, ns) else ''}>{label}</a></li>"
            for view, label, who, current in _NAV
            if who == "all" or who in flags
        )
    )


@register.simple_tag(takes_context=True)
def main_nav(context: template.Context) -> SafeString:
    """The staff pages' main navigation, the current page marked. Written in Python and kept
    per page and role: every staff page shows it, and its eight links through the template
    cost each page about half a millisecond."""
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    flags = frozenset(
        flag
        for flag in ("can_read_clinical", "can_write_clinical", "is_clinic_admin")
        if context.get(flag)
    )
    return _nav(
        flags,
        match.url_name if match else None,
        match.namespace if match else None,
        get_script_prefix(),
    )


@register.simple_tag
def timeline_entries(entries: list) -> SafeString:
    """The timeline's entries, one list item each, as its template wrote them (a test
    compares the two). Written in Python: 50 entries through the template's loop were a
    third of the page's time."""
    items = []
    for e in entries:
        when = timezone.localtime(e.when) if timezone.is_aware(e.when) else e.when
        struck = " struck" if e.in_error else ""
        title = f'<a href="{text(e.url)}">{text(e.title)}</a>' if e.url else text(e.title)
        error = " · entered in error" if e.in_error else ""
        items.append(
            f'<li class="timeline-item timeline-item--{text(e.kind)}{struck}"> '
            f'<time datetime="{when.isoformat()}">'
            f"{when.year:04d}-{when.month:02d}-{when.day:02d} {when.hour:02d}:{when.minute:02d}"
            f'</time> <span class="kind">{text(e.kind)}</span> {title} '
            f'<span class="muted">{text(e.detail)}{error}</span> </li>'
        )
    return mark_safe(" ".join(items))  # noqa: S308 (escaped above)


@register.simple_tag
def within_session_rows(within: list, latest: int | None) -> SafeString:
    """The within-session table's row groups, a `<tbody>` per measure with its latest
    `latest` sessions, as its template wrote them (a test compares the two). Written in
    Python: twenty rows through the template's loop were a tenth of the measurements
    page's time."""
    groups = []
    for w in within:
        rows, unit = list(w.rows[-latest:]) if latest else list(w.rows), text(w.unit)
        head = text(w.label)
        if len(w.rows) > 1:
            shown = (
                f" over {len(w.rows)} sessions; the latest {len(rows)} here"
                if len(rows) < len(w.rows)
                else ""
            )
            plus = "+" if w.mean > 0 else ""
            head += (
                f'<br><span class="muted">mean {plus}{floatformat(w.mean, "-1")} {unit}{shown}'
                "</span>"
            )
        cells = []
        for number, (row, change) in enumerate(rows):
            first = f'<th scope="rowgroup" rowspan="{len(rows)}">{head}</th>' if number == 0 else ""
            when = timezone.localtime(row.when) if timezone.is_aware(row.when) else row.when
            plus = "+" if row.immediate > 0 else ""
            badge = status_badge(change.classification, capfirst(change.classification))
            cells.append(
                f" <tr> {first} "
                f'<td><a href="{id_url("charting:session", row.session_id)}">{ymd(when)}</a></td>'
                f"<td>{floatformat(row.before, '-1')}</td><td>{floatformat(row.after, '-1')}</td> "
                f"<td>{plus}{floatformat(row.immediate, '-1')} {unit} {badge}</td> </tr>"
            )
        groups.append(f"<tbody>{''.join(cells)}</tbody>")
    return mark_safe("".join(groups))  # noqa: S308 (escaped above)


def _csrf_input(context: template.Context) -> str:
    """`{% csrf_token %}` as the template writes it, for forms written in Python."""
    token = context.get("csrf_token")
    if not token or token == "NOTPROVIDED":  # noqa: S105 (Django's mark of no token)
        return ""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)


@register.simple_tag(takes_context=True)
def measurement_rows(
    context: template.Context, measures: list, can_write: bool, page_number: int
) -> SafeString:
    """The measurements page's table rows, newest first, with the form that marks a
    measurement entered in error where the clinician may, as its template wrote them (a test
    compares the two). Written in Python: fifty rows through the template's loop were half
    of the page's time."""
    from needlechart.outcomes.models import instrument_name

    csrf = None
    page = f'<input type="hidden" name="page" value="{page_number}">' if page_number > 1 else ""
    rows = []
    for o in measures:
        if o.session_id:
            where = f' · <a href="{id_url("charting:session", o.session_id)}">session</a>'
        elif o.assessment_id:
            where = f' · <a href="{id_url("charting:assessment", o.assessment_id)}">assessment</a>'
        else:
            where = ""
        action = ""
        if o.entered_in_error_reason:
            action = f"entered in error: {text(o.entered_in_error_reason)}"
        elif can_write and not o.session_id and not o.assessment_id:
            if csrf is None:
                csrf = _csrf_input(context)
            action = (
                f' <form method="post" action="{id_url("outcomes:measurement_error", o.pk)}" '
                f'class="inline-form">{csrf}{page}<label class="visually-hidden" '
                f'for="reason-{o.pk}">Reason</label><input id="reason-{o.pk}" name="reason" '
                'placeholder="reason" required maxlength="300"><button type="submit" '
                'class="link">Entered in error</button></form>'
            )
        when = (
            timezone.localtime(o.recorded_at) if timezone.is_aware(o.recorded_at) else o.recorded_at
        )
        rows.append(
            f'<tr class="{"struck" if o.entered_in_error_reason else ""}"> '
            f"<td>{ymd(when)}</td><td>{text(instrument_name(o.code))}</td>"
            f"<td>{text(measure_what(o))}</td> <td>{text(o.get_timing_display())}{where}</td> "
            f"<td>{floatformat(o.value, '-2')}</td><td>{text(o.recorded_by)}</td> "
            f"<td>{action}</td> </tr>"
        )
    return mark_safe(" ".join(rows))  # noqa: S308 (escaped above)


_VERDICT_BADGES = {
    "contraindicated": ("contraindicated", "Contraindicated"),
    "caution": ("expiring", "Caution"),
}


@register.simple_tag(takes_context=True)
def session_row(context: template.Context, r: Any, oob: bool) -> SafeString:
    """A needling row of the session page, with today's findings and its actions while the
    session is charted, as its template wrote it (a test compares the two). Written in
    Python: a row through its template took about half a millisecond signed and one and a
    half in a draft, and a visit needles several muscles."""
    name = text(r.get_muscle_display())
    side = f" ({text(r.side)})" if r.side else ""
    verdict = getattr(r, "shown_verdict", "")
    reasons = getattr(r, "shown_reasons", None)
    editable = context.get("editable")
    charting = editable and context.get("can_needle")
    link = text(slug_url("reference:muscle", r.muscle))
    query = f"?side={text(r.side)}" if r.side else ""
    technique = [text(r.get_technique_display())]
    if r.retention_minutes:
        technique.append(f", {text(r.retention_minutes)} min")
    if r.frequency_hz:
        technique.append(f", {text(r.frequency_hz)} Hz, {text(r.intensity_ma)} mA")
    if r.lead_to_muscle:
        paired = f" ({text(r.lead_to_side)})" if r.lead_to_side else ""
        technique.append(f"; paired with {text(r.get_lead_to_muscle_display())}{paired}")
    if r.waveform:
        technique.append(f", {text(str(r.get_waveform_display()).lower())}")
    if r.pulse_width_us:
        technique.append(f", {text(r.pulse_width_us)} \u00b5s")
    if r.stimulation_minutes:
        technique.append(f", {text(r.stimulation_minutes)} min")
    technique.append(" ")
    if r.angle or r.approach or r.direction or r.ultrasound_guided:
        placed = [text(r.get_angle_display())]
        if r.direction:
            placed.append(f"{', ' if r.angle else ''}{text(r.direction)}")
        if r.approach:
            placed.append(
                f"{'; ' if r.angle or r.direction else ''}"
                f"{text(str(r.get_approach_display()).lower())}"
            )
        if r.ultrasound_guided:
            placed.append("; ultrasound-guided")
            if r.ultrasound_depth_mm:
                placed.append(f", {floatformat(r.ultrasound_depth_mm, '-1')} mm to rib or pleura")
        technique.append(f'<br><span class="muted">{"".join(placed)}</span>')
    depth = text(r.get_depth_display()) + (f", {text(r.depth_mm)} mm" if r.depth_mm else "")
    if charting:
        session_id = context.get("session").pk
        csrf = _csrf_input(context)
        recorded = r.findings_recorded
        findings_url = ids_url("charting:session_row_findings", session_id, r.pk)
        kept = ""
        if recorded and r.twitch_responses is not None and r.twitch_responses > 5:
            kept = (
                f'<option value="{text(r.response)}" selected>{text(r.response_display)}</option>'
            )
        needs = "" if recorded else ' class="needs-value"'
        findings = (
            f' <form method="post" action="{findings_url}" hx-post="{findings_url}" '
            'hx-trigger="change, submit" hx-sync="this:replace" hx-swap="none" '
            f'class="findings-form"> {csrf}'
            f"{was_input(r, 'twitch_responses,familiar_pain,tolerance', 'was-row', r.pk)} "
            f'<label for="response-{r.pk}" class="visually-hidden">Today\'s findings, '
            f'{name}{side}</label> <select id="response-{r.pk}" name="response"'
            f'{needs}> <option value=""'
            f"{'' if recorded else ' selected'}>Record today's findings\u2026</option> {kept} "
            f"{response_options(r.response)} </select> "
            '<button type="submit" class="button button--small js-hidden">Save<span '
            f'class="visually-hidden"> findings, {name}</span></button> </form> '
        )
        edit_url = ids_url("charting:session_row_edit", session_id, r.pk)
        remove_url = ids_url("charting:session_row_remove", session_id, r.pk)
        actions = (
            f' <a href="{edit_url}#row-{r.pk}" hx-get="{edit_url}" hx-target="#row-{r.pk}" '
            f'hx-swap="outerHTML">Edit<span class="visually-hidden"> {name}{side}</span></a> '
            f'<form method="post" action="{remove_url}" hx-post="{remove_url}" '
            f'hx-swap="none">{csrf}<button type="submit" class="link">Remove<span '
            f'class="visually-hidden"> {name}{side}</span></button></form> '
        )
    else:
        findings = f" {text(r.response_display or 'Not recorded')} "
        actions = ""
    badge = status_badge(*_VERDICT_BADGES.get(verdict, ("active", "Allowed")))
    forbidden = verdict == "contraindicated" and editable
    why = ""
    if reasons or forbidden:
        listed = (
            '<ul class="reasons">'
            + "".join(f"<li>{text(reason.get('text', ''))}</li>" for reason in reasons)
            + "</ul>"
            if reasons
            else ""
        )
        error = (
            '<p class="row-error">Remove this row: the current screening forbids it.</p>'
            if forbidden
            else ""
        )
        why = f' <tr class="reasons-row"><td colspan="7">{listed}{error}</td></tr> '
    swap = ' hx-swap-oob="true"' if oob else ""
    return mark_safe(  # noqa: S308 (escaped above)
        f' <tbody id="row-{r.pk}" class="row--{text(verdict)}"'
        f'{swap}> <tr> <th scope="row"><a href="{link}{query}">'
        f"{name}</a>{side}</th> <td>{text(r.needles)} \u00d7 {text(r.needle_size)}</td> "
        f"<td>{depth}</td> <td>{''.join(technique)}</td> "
        f'<td class="findings-cell">{findings}</td> <td>{badge}</td> '
        f'<td class="row-actions-cell">{actions}</td> </tr>{why} </tbody> '
    )


@register.simple_tag
def episode_session_rows(sessions: list) -> SafeString:
    """The episode page's table of its latest sessions, a row each, as its template wrote
    them (a test compares the two). Written in Python: twenty rows through the template's
    loop were a tenth of the page's time."""
    rows = []
    for s in sessions:
        muscles, needles = s.muscles or 0, s.needles or 0
        sides = f" on {s.sides} sides" if s.sides and s.sides != s.muscles else ""
        rows.append(
            f'<tr><td><a href="{id_url("charting:session", s.pk)}">'
            f"{ymd(timezone.localtime(s.performed_at))}</a></td><td>{text(str(s.practitioner))}"
            f"</td><td>{muscles} muscle{_plural(muscles)}{sides} ({needles} "
            f"needle{_plural(needles)})</td><td>{text(s.cpt_code or '—')}</td>"
            f"<td>{s.events or 0}</td> <td>{state_badge(s)}</td></tr>"
        )
    return mark_safe(" ".join(rows))  # noqa: S308 (escaped above)


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


@register.simple_tag
def status_badge(value: str, label: str) -> SafeString:
    return format_html('<span class="badge badge--{}">{}</span>', value, label)


_BADGES = {
    (in_error, signed): mark_safe(  # noqa: S308 (fixed text)
        ('<span class="badge badge--lapsed">Entered in error</span>' if in_error else "")
        + (
            '<span class="badge badge--active">Signed</span>'
            if signed
            else '<span class="badge badge--onhold">Draft</span>'
        )
    )
    for in_error in (False, True)
    for signed in (False, True)
}


@register.simple_tag
def state_badge(record: Any) -> SafeString:
    """A note's state: signed or draft, and entered in error."""
    return _BADGES[bool(getattr(record, "in_error", False)), bool(record.is_signed)]


@register.simple_tag
def response_options(selected: str) -> SafeString:
    """The options of a row's quick pick of today's findings, `selected` chosen: what the
    row's template wrote by a loop, 36 options a row (a test compares the two)."""
    return _response_options(selected if isinstance(selected, str) else str(selected))


@functools.lru_cache(maxsize=128)
def _response_options(selected: str) -> SafeString:
    from needlechart.charting.models import response_choices

    return mark_safe(  # noqa: S308 (escaped here)
        "".join(
            f'<optgroup label="{text(group)}">'
            + "".join(
                f'<option value="{text(value)}"{" selected" if value == selected else ""}>'
                f"{text(label)}</option>"
                for value, label in options
            )
            + "</optgroup>"
            for group, options in response_choices()
        )
    )


@register.filter(name="id_url")
def id_url_filter(pk: int, viewname: str) -> str:
    """`{% url viewname pk %}` for a record's page, without matching the URL patterns anew
    (needlechart.links)."""
    return id_url(viewname, pk)


@register.filter(expects_localtime=True)
def ymd(value: Any) -> str:
    """`date:"Y-m-d"`, the day as every page writes it, in the clinic's zone; empty for
    what is not a date, as the `date` filter leaves it."""
    if isinstance(value, dt.date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    return ""


@register.filter
def thousands(value: int) -> str:
    """A whole number with its thousands marked by commas (10000 -> "10,000")."""
    return f"{value:,}"


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


# The most serious first, as a summary names what matters before what is routine.
SEVERITY_ORDER = {"serious": 0, "severe": 1, "moderate": 2, "mild": 3}


@register.filter
def events_by_kind(events: list[dict[str, Any]]) -> list[str]:
    """A discharge snapshot's adverse events as a summary reads them: each kind and
    severity once, the most serious first, with how many there were. The snapshot keeps one
    entry per event; a long course would otherwise list the same bruise a hundred times."""
    counts: dict[tuple[str, str], int] = {}
    for event in events:
        key = (event.get("type", ""), event.get("severity") or "")
        counts[key] = counts.get(key, 0) + 1
    ordered = sorted(
        counts.items(),
        key=lambda item: (SEVERITY_ORDER.get(item[0][1], len(SEVERITY_ORDER)), -item[1],
                          event_type_name(item[0][0]).lower()),
    )  # fmt: skip
    named = []
    for (kind, severity), count in ordered:
        about = [severity] if severity else []
        if count > 1:
            about.append(f"{count} times")
        named.append(
            f"{event_type_name(kind)} ({', '.join(about)})" if about else event_type_name(kind)
        )
    return named


@register.simple_tag(takes_context=True)
def safety_signals(context: template.Context, patient: object) -> list:
    """The patient's safety signals for the signed-in clinician (none for other roles): what
    the patient reported from the portal first, then the consent and who may needle.

    The page layer joins the two apps here, so that charting need not read the portal. The
    consent standing is the page's own where it shows the safety banner for this patient
    (`safety`), so the header and the banner read it once and cannot disagree."""
    from needlechart.charting.selectors import Safety
    from needlechart.charting.selectors import safety_signals as chart_signals
    from needlechart.portal.selectors import portal_signals

    request = context.get("request")
    if request is None or patient is None:
        return []
    safety = context.get("safety")
    consent = None
    if isinstance(safety, Safety) and context.get("patient") is patient:
        consent = (safety.consent, safety.consent_problem)
    # Staff without clinical access see no portal signals: their red flags are not read.
    clinical = rules.has_role(request.user, rules.CLINICAL_READ_ROLES)
    red_flags = _red_flags(context, patient) if clinical else None
    return [
        *portal_signals(user=request.user, patient=patient, red_flags=red_flags),
        *chart_signals(user=request.user, patient=patient, consent=consent),
    ]


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, name: str, value: object) -> str:
    """The page's query string with `name` set to `value`, its other parameters kept (where
    the page goes next, the page of another list): for a link that changes one of them."""
    request = context.get("request")
    query = request.GET.copy() if request is not None else QueryDict(mutable=True)
    query[name] = str(value)
    return query.urlencode()


@register.simple_tag(takes_context=True)
def open_red_flags(context: template.Context, patient: object) -> int:
    """Red flags the patient reported after a session that no clinician has acknowledged:
    the banner and the start of a session show them above the screening verdict."""
    return len(_red_flags(context, patient)) if patient is not None else 0


def _red_flags(context: template.Context, patient: Any) -> Any:
    """The patient's open red-flag check-ins, read once per request: the header's signals
    and the banner below it both show them. Tags run as the page renders, after the view's
    writes, so a request's reading is the page's."""
    from needlechart.portal.selectors import open_red_flag_check_ins

    request = context.get("request")
    if request is None:
        return open_red_flag_check_ins(patient)
    read = request.__dict__.setdefault("_open_red_flags", {})
    if patient.pk not in read:
        read[patient.pk] = open_red_flag_check_ins(patient)
    return read[patient.pk]


@register.simple_tag
def session_reports(session: object) -> dict:
    """What the patient reported after this session from the portal (check-ins, effects)."""
    from needlechart.portal.selectors import session_reports as reports

    return reports(session) if session is not None else {}


@register.simple_tag
def answers_waiting(patient: object) -> list:
    """Health answers the patient sent from the portal that no clinician has reviewed."""
    from needlechart.portal.selectors import pending_questionnaires

    return pending_questionnaires(patient) if patient is not None else []


@register.filter
def latest(rows: list, count: int | None) -> list:
    """The last `count` of a list in time order (all of it for 0 or none): a page lists the
    latest sessions, whatever the history."""
    return list(rows[-count:]) if count else list(rows)


@register.filter
def rom_name(component: str) -> str:
    """A range-of-motion movement in words ("cervical-rotation" -> "Cervical rotation")."""
    return knowledge.component_label("rom", component)


@register.filter
def measure_what(measure: object) -> str:
    """What a measurement or plan goal measured, in words, with its side:
    "Cervical rotation (left)". Takes a record or a dict with code, component and side."""

    def field(name: str) -> str:
        value = measure.get(name) if isinstance(measure, dict) else getattr(measure, name, "")
        return str(value or "")

    words = knowledge.component_label(field("code"), field("component"))
    side = field("side")
    if side:
        return f"{words} ({side})" if words else side.capitalize()
    return words


@register.simple_tag
@functools.cache
def rom_movement_options() -> SafeString:
    """The options of the movement field's list: every range-of-motion movement, head to
    foot, each with its normal value. The same on every page: written once per process (a
    template loop over the 37 movements took about 0.4 ms a field)."""
    return format_html_join(
        "",
        '<option value="{}" label="{}"></option>',
        ((m.label, m.option_label) for m in knowledge.rom_movements()),
    )


@register.filter
def latest_rating(series: Any) -> str:
    """A global rating's latest value as the clinician reads it, with its words and date:
    "+4 Moderately better (2026-11-30)". Empty for a series without points."""
    points = getattr(series, "points", None)
    if not points:
        return ""
    last = points[-1]
    try:
        instrument = knowledge.instrument(series.code)
    except knowledge.UnknownCode:
        instrument = None
    # A scale running through zero (GROC, -7 to +7) shows its sign.
    number = f"{last.value:+g}" if instrument and instrument.minimum < 0 else f"{last.value:g}"
    words = next(
        (lv.label for lv in (instrument.levels if instrument else []) if lv.value == last.value), ""
    )
    day = f"({timezone.localtime(last.when):%Y-%m-%d})"
    return " ".join(part for part in (number, words, day) if part)


@register.simple_tag
def form_token() -> SafeString:
    """A create form's one-time token: sent twice, the form still creates one record."""
    import secrets

    return format_html(
        '<input type="hidden" name="form_token" value="{}">', secrets.token_urlsafe(24)
    )


@register.simple_tag
def was_input(
    record: object, fields: str, element_id: str, suffix: object = "", oob: bool = False
) -> SafeString:
    """The values an in-place form shows, signed, sent back with its edit so that a change
    made meanwhile by someone else is refused rather than overwritten."""
    from needlechart.records import snapshot

    return format_html(
        '<input type="hidden" name="was" id="{}" value="{}"{}>',
        f"{element_id}-{suffix}" if suffix != "" else element_id,
        snapshot(record, [f for f in fields.split(",") if f]),
        mark_safe(' hx-swap-oob="true"') if oob else "",
    )
