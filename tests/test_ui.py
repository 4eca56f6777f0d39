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


def _as_written(reference: str, tag: str, context: dict, zone: str) -> tuple[str, str]:
    """What the reference template and the tag write from the same context, in a time zone,
    their white space as a browser reads it."""
    from django.utils import timezone

    with timezone.override(zone):
        return (
            _spaced(ENGINE.from_string(reference).render(Context(context))),
            _spaced(ENGINE.from_string(tag).render(Context(context))),
        )


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


# charting/timeline.html's loop as it was, the reference `{% timeline_entries %}` is held to.
TIMELINE_TEMPLATE = """{% for e in entries %}
  <li class="timeline-item timeline-item--{{ e.kind }}{% if e.in_error %} struck{% endif %}">
    <time datetime="{{ e.when|date:'c' }}">{{ e.when|date:"Y-m-d H:i" }}</time>
    <span class="kind">{{ e.kind }}</span>
    {% if e.url %}<a href="{{ e.url }}">{{ e.title }}</a>{% else %}{{ e.title }}{% endif %}
    <span class="muted">{{ e.detail }}{% if e.in_error %} · entered in error{% endif %}</span>
  </li>
  {% endfor %}"""


@pytest.mark.parametrize("zone", ["UTC", "Australia/Adelaide", "America/St_Johns"])
def test_the_timeline_entries_read_as_the_template_wrote_them(zone):
    import datetime as dt

    from needlechart.charting.selectors import Entry

    utc = dt.UTC
    entries = [
        Entry(dt.datetime(2026, 3, 4, 23, 45, 12, 5, tzinfo=utc), "session",
              'Needling session: 2 muscles & "more"', "signed, CPT 20561", "/sessions/7/"),
        Entry(dt.datetime(2026, 10, 4, 16, 30, tzinfo=utc), "adverse-event",
              "Adverse event: <b>bruising</b>", "mild, during", "/events/3/?a=1&b=2", True),
        Entry(dt.datetime(2025, 1, 1, tzinfo=utc), "addendum", "Addendum", "a <reason>", None),
        Entry(dt.datetime(2024, 2, 29, 12, 0, tzinfo=utc), "screening", "Health screening",
              "no factors", "", True),
    ]  # fmt: skip
    expected, written = _as_written(
        TIMELINE_TEMPLATE, "{% timeline_entries entries %}", {"entries": entries}, zone
    )
    assert written == expected
    assert "&lt;b&gt;bruising&lt;/b&gt;" in written and "struck" in written
    assert (
        ENGINE.from_string("{% timeline_entries entries %}").render(Context({"entries": []})) == ""
    )


def test_a_link_by_id_is_the_link_reverse_gives(settings):
    from django.urls import NoReverseMatch, clear_script_prefix, reverse, set_script_prefix

    from needlechart.links import id_url

    names = ["charting:session", "charting:assessment", "patients:episode", "charting:consent",
             "charting:adverse_event_edit", "charting:screening", "patients:episode_edit"]  # fmt: skip
    for name in names:
        for pk in (1, 42, 2_147_483_647):
            assert id_url(name, pk) == reverse(name, args=[pk])
    # Served below a path, the links are too.
    set_script_prefix("/clinic-a/")
    try:
        assert id_url("charting:session", 5) == reverse("charting:session", args=[5])
        assert id_url("charting:session", 5).startswith("/clinic-a/")
    finally:
        clear_script_prefix()
    assert id_url("charting:session", 5) == "/sessions/5/"
    # A view that takes no id is refused as reverse() refuses it.
    with pytest.raises(NoReverseMatch):
        id_url("home", 1)


def test_links_by_two_ids_or_a_slug_are_the_links_reverse_gives():
    from django.urls import NoReverseMatch, clear_script_prefix, reverse, set_script_prefix

    from needlechart.links import ids_url, slug_url

    names = ["charting:session_row_findings", "charting:session_row_edit",
             "charting:session_row_remove"]  # fmt: skip
    for name in names:
        for first, second in ((1, 2), (42, 42), (2_147_483_647, 7), (5, 2_147_483_645)):
            assert ids_url(name, first, second) == reverse(name, args=[first, second])
    for muscle in ("upper-trapezius", "gluteus-medius"):
        assert slug_url("reference:muscle", muscle) == reverse("reference:muscle", args=[muscle])
    set_script_prefix("/clinic-a/")
    try:
        assert ids_url(names[0], 3, 4) == reverse(names[0], args=[3, 4])
        assert ids_url(names[0], 3, 4).startswith("/clinic-a/")
        assert slug_url("reference:muscle", "soleus").startswith("/clinic-a/")
    finally:
        clear_script_prefix()
    assert not slug_url("reference:muscle", "soleus").startswith("/clinic-a/")
    # A view of one id is refused as reverse() refuses it.
    with pytest.raises(NoReverseMatch):
        ids_url("charting:session", 1, 2)
    with pytest.raises(NoReverseMatch):
        slug_url("reference:muscle", "not a slug/")


# base.html's navigation as it was, the reference `{% main_nav %}` is held to.
NAV_TEMPLATE = """        {% with name=request.resolver_match.url_name ns=request.resolver_match.namespace %}
        {% if can_read_clinical %}<li><a href="{% url 'home' %}"{% if name == 'home' %} aria-current="page"{% endif %}>Today</a></li>{% endif %}
        <li><a href="{% url 'patients:list' %}"{% if ns == 'patients' %} aria-current="page"{% endif %}>Patients</a></li>
        {% if can_write_clinical %}<li><a href="{% url 'outcomes:dashboard' %}"{% if ns == 'outcomes' and name == 'dashboard' %} aria-current="page"{% endif %}>Dashboard</a></li>{% endif %}
        <li><a href="{% url 'reference:body_chart' %}"{% if ns == 'reference' %} aria-current="page"{% endif %}>Body chart</a></li>
        <li><a href="{% url 'accounts:practitioners' %}"{% if name == 'practitioners' %} aria-current="page"{% endif %}>Practitioners</a></li>
        {% if is_clinic_admin %}
        <li><a href="{% url 'accounts:staff' %}"{% if name == 'staff' %} aria-current="page"{% endif %}>Staff</a></li>
        <li><a href="{% url 'charting:clinic' %}"{% if name == 'clinic' or name == 'clinic_document' or name == 'clinic_needles' %} aria-current="page"{% endif %}>Clinic</a></li>
        <li><a href="{% url 'audit:list' %}"{% if ns == 'audit' %} aria-current="page"{% endif %}>Audit trail</a></li>
        {% endif %}
        {% endwith %}"""


@pytest.mark.parametrize(
    "path", ["/", "/patients/", "/dashboard/", "/practitioners/", "/staff/", "/clinic/",
             "/audit/", "/reference/body-chart/", "/patients/1/timeline/", "/clinic/needles/",
             "/nowhere/"],
)  # fmt: skip
def test_the_navigation_reads_as_the_template_wrote_it_for_every_role_and_page(path):
    import itertools

    from django.test import RequestFactory
    from django.urls import Resolver404, resolve

    request = RequestFactory().get(path)
    try:
        request.resolver_match = resolve(path)
    except Resolver404:
        request.resolver_match = None
    reference = ENGINE.from_string(NAV_TEMPLATE)
    tag = ENGINE.from_string("{% main_nav %}")
    flags = ("can_read_clinical", "can_write_clinical", "is_clinic_admin")
    for values in itertools.product((False, True), repeat=3):
        context = {"request": request, **dict(zip(flags, values, strict=True))}
        expected = _spaced(reference.render(Context(context)))
        assert _spaced(tag.render(Context(context))) == expected, (path, values)
    # Each page of the navigation is marked as the current one, to an admin.
    if path not in ("/patients/1/timeline/", "/nowhere/"):
        admin = {"request": request, **dict.fromkeys(flags, True)}
        assert tag.render(Context(admin)).count('aria-current="page"') == 1, path


def test_a_note_s_state_badge_reads_as_the_template_wrote_it():
    from types import SimpleNamespace

    reference = ENGINE.from_string(
        '{% if record.in_error %}{% status_badge "lapsed" "Entered in error" %}{% endif %}'
        '{% if record.is_signed %}{% status_badge "active" "Signed" %}'
        '{% else %}{% status_badge "onhold" "Draft" %}{% endif %}'
    )
    tag = ENGINE.from_string("{% state_badge record %}")
    records = [
        SimpleNamespace(in_error=in_error, is_signed=signed)
        for in_error in (False, True)
        for signed in (False, True)
    ]
    records.append(SimpleNamespace(is_signed=True))  # a record that is never in error
    for record in records:
        context = Context({"record": record})
        assert tag.render(context) == reference.render(context), record


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "America/St_Johns"])
def test_the_day_of_a_date_reads_as_the_date_filter_wrote_it(zone):
    import datetime as dt

    from django.utils import timezone

    values = [
        dt.datetime(2026, 3, 4, 23, 45, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 31, 12, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 0, 30),  # naive: as it is
        dt.date(2024, 2, 29),
        dt.date(999, 1, 2),
        None,
        "",
        "2026-01-01",
    ]
    reference = ENGINE.from_string(
        '{{ value|date:"Y-m-d" }}|{{ value|date:"Y-m-d"|default:"Not known" }}'
    )
    written = ENGINE.from_string('{{ value|ymd }}|{{ value|ymd|default:"Not known" }}')
    with timezone.override(zone):
        for value in values:
            context = Context({"value": value})
            assert written.render(context) == reference.render(context), value
    with timezone.override("Pacific/Kiritimati"):  # UTC+14: the clinic's day, not UTC's
        assert written.render(Context({"value": values[0]})).startswith("2026-03-05")


def test_a_link_by_id_in_a_template_is_the_url_tag_s():
    from types import SimpleNamespace

    reference = ENGINE.from_string(
        "{% url 'charting:session' s.pk %}|{% url 'patients:detail' s.patient_id %}"
    )
    written = ENGINE.from_string(
        "{{ s.pk|id_url:'charting:session' }}|{{ s.patient_id|id_url:'patients:detail' }}"
    )
    context = Context({"s": SimpleNamespace(pk=12, patient_id=3)})
    assert written.render(context) == reference.render(context) == "/sessions/12/|/patients/3/"


def test_a_row_s_quick_pick_of_findings_reads_as_the_template_wrote_it():
    from needlechart.charting.models import response_choices

    reference = ENGINE.from_string(
        '{% for group, options in response_choices %}<optgroup label="{{ group }}">'
        '{% for value, label in options %}<option value="{{ value }}"'
        "{% if value == selected %} selected{% endif %}>{{ label }}</option>{% endfor %}"
        "</optgroup>{% endfor %}"
    )
    tag = ENGINE.from_string("{% response_options selected %}")
    values = [value for _, options in response_choices() for value, _ in options]
    for selected in ["", values[0], values[-1], values[len(values) // 2], "9:yes:good"]:
        context = Context({"response_choices": response_choices(), "selected": selected})
        written = tag.render(context)
        assert written == reference.render(context), selected
        assert written.count(" selected") == (selected in values)


def test_the_movement_list_reads_as_the_template_wrote_it():
    from needlechart import knowledge

    reference = ENGINE.from_string(
        '{% for m in rom_movements %}<option value="{{ m.label }}" '
        'label="{{ m.option_label }}"></option>{% endfor %}'
    )
    movements = knowledge.rom_movements()
    written = ENGINE.from_string("{% rom_movement_options %}").render(Context())
    assert written == reference.render(Context({"rom_movements": movements}))
    assert written.count("<option ") == len(movements) > 30
    assert '<option value="Cervical rotation" label="Cervical rotation' in written


def test_a_large_count_is_written_with_its_thousands_marked():
    written = ENGINE.from_string("{{ value|thousands }}")
    for value, text in ((6, "6"), (10_000, "10,000"), (1_751_837, "1,751,837")):
        assert written.render(Context({"value": value})) == text


# outcomes/_within_session.html's row groups as they were, the reference
# `{% within_session_rows %}` is held to.
WITHIN_TEMPLATE = """{% for w in within %}{% with rows=w.rows|latest:latest %}<tbody>{% for row, change in rows %}
  <tr>
    {% if forloop.first %}<th scope="rowgroup" rowspan="{{ rows|length }}">{{ w.label }}{% if w.rows|length > 1 %}<br><span class="muted">mean {% if w.mean > 0 %}+{% endif %}{{ w.mean|floatformat:"-1" }} {{ w.unit }}{% if rows|length < w.rows|length %} over {{ w.rows|length }} sessions; the latest {{ rows|length }} here{% endif %}</span>{% endif %}</th>{% endif %}
    <td><a href="{{ row.session_id|id_url:'charting:session' }}">{{ row.when|ymd }}</a></td><td>{{ row.before|floatformat:"-1" }}</td><td>{{ row.after|floatformat:"-1" }}</td>
    <td>{% if row.immediate > 0 %}+{% endif %}{{ row.immediate|floatformat:"-1" }} {{ w.unit }} {% status_badge change.classification change.classification|capfirst %}</td>
  </tr>{% endfor %}</tbody>{% endwith %}{% endfor %}"""


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Chatham"])
@pytest.mark.parametrize("latest", [0, 2, 10])
def test_the_within_session_rows_read_as_the_template_wrote_them(zone, latest):
    import datetime as dt
    from decimal import Decimal
    from types import SimpleNamespace

    from django.utils import timezone

    from needlechart.outcomes.progress import SessionChange

    def measure(label, unit, values):
        rows = [
            (SessionChange(100 + i, dt.datetime(2026, 1, 1 + i, 11, 30, tzinfo=dt.UTC), b, a),
             SimpleNamespace(classification=kind))
            for i, (b, a, kind) in enumerate(values)
        ]  # fmt: skip
        changes = [a - b for b, a, _ in values]
        return SimpleNamespace(
            label=label, unit=unit, rows=rows, mean=round(sum(changes) / len(changes), 1)
        )

    within = [
        measure("Pain <NPRS> & \"more\"", "/10", [(7, 3, "improved"), (6.5, 6.25, "unchanged"),
                                                  (5, 5.04, "worse")]),
        measure("Cervical rotation", "°", [(Decimal("40.00"), Decimal("52.50"), "improved")]),
        measure("Grip", "kg", [(30.0, 28.0, "worse"), (28.0, 28.0, "unchanged"),
                               (27.95, 31.05, "improved")]),
    ]  # fmt: skip
    reference = ENGINE.from_string(WITHIN_TEMPLATE)
    tag = ENGINE.from_string("{% within_session_rows within latest %}")
    context = {"within": within, "latest": latest}
    with timezone.override(zone):
        expected = _spaced(reference.render(Context(context)))
        written = _spaced(tag.render(Context(context)))
    assert written == expected
    assert "Pain &lt;NPRS&gt; &amp; &quot;more&quot;" in written
    assert ("the latest 2 here" in written) == (latest == 2)
    assert tag.render(Context({"within": [], "latest": latest})) == ""


# The episode page's session rows as they were, the reference `{% episode_session_rows %}`
# is held to.
EPISODE_SESSIONS_TEMPLATE = """{% for s in sessions %}
      <tr><td><a href="{{ s.pk|id_url:'charting:session' }}">{{ s.performed_at|ymd }}</a></td><td>{{ s.practitioner }}</td><td>{{ s.muscles|default:0 }} muscle{{ s.muscles|default:0|pluralize }}{% if s.sides and s.sides != s.muscles %} on {{ s.sides }} sides{% endif %} ({{ s.needles|default:0 }} needle{{ s.needles|default:0|pluralize }})</td><td>{{ s.cpt_code|default:"—" }}</td><td>{{ s.events|default:0 }}</td>
        <td>{% state_badge s %}</td></tr>
    {% endfor %}"""


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Chatham", "America/St_Johns"])
def test_the_episode_session_rows_read_as_the_template_wrote_them(zone):
    import datetime as dt
    from types import SimpleNamespace

    def session(pk, at, practitioner, muscles, sides, needles, cpt, events, signed, in_error):
        return SimpleNamespace(
            pk=pk, performed_at=at, practitioner=practitioner, muscles=muscles, sides=sides,
            needles=needles, cpt_code=cpt, events=events, is_signed=signed, in_error=in_error,
        )  # fmt: skip

    sessions = [
        session(7, dt.datetime(2026, 3, 4, 23, 45, tzinfo=dt.UTC), "Dr <Ann> & \"Bo\"", 2, 2, 4,
                "20561", 1, True, False),
        session(8, dt.datetime(2026, 3, 5, 10, 0, tzinfo=dt.UTC), "Ann Lee", 1, 2, 1, "20560",
                0, True, True),
        session(9, dt.datetime(2026, 12, 31, 11, 59, tzinfo=dt.UTC), "Ann Lee", None, None, None,
                "", None, False, False),
        session(10, dt.datetime(2025, 6, 30, 12, 15, tzinfo=dt.UTC), "Ann Lee", 3, 5, 12, None,
                2, False, True),
    ]  # fmt: skip
    expected, written = _as_written(
        EPISODE_SESSIONS_TEMPLATE, "{% episode_session_rows sessions %}", {"sessions": sessions},
        zone,
    )  # fmt: skip
    assert written == expected
    assert "Dr &lt;Ann&gt; &amp; &quot;Bo&quot;" in written
    assert "1 muscle on 2 sides (1 needle)" in written and "0 muscles (0 needles)" in written
    assert ENGINE.from_string("{% episode_session_rows sessions %}").render(Context()) == ""


# outcomes/measurements.html's rows as they were, the reference `{% measurement_rows %}` is
# held to.
MEASUREMENTS_TEMPLATE = """{% for o in measures %}
    <tr class="{% if o.entered_in_error_reason %}struck{% endif %}">
      <td>{{ o.recorded_at|ymd }}</td><td>{{ o.get_code_display }}</td><td>{{ o|measure_what }}</td>
      <td>{{ o.get_timing_display }}{% if o.session_id %} · <a href="{{ o.session_id|id_url:'charting:session' }}">session</a>{% elif o.assessment_id %} · <a href="{{ o.assessment_id|id_url:'charting:assessment' }}">assessment</a>{% endif %}</td>
      <td>{{ o.value|floatformat:"-2" }}</td><td>{{ o.recorded_by }}</td>
      <td>{% if o.entered_in_error_reason %}entered in error: {{ o.entered_in_error_reason }}{% elif can_write and not o.session_id and not o.assessment_id %}
        <form method="post" action="{{ o.pk|id_url:'outcomes:measurement_error' }}" class="inline-form">{% csrf_token %}{% if page.number > 1 %}<input type="hidden" name="page" value="{{ page.number }}">{% endif %}<label class="visually-hidden" for="reason-{{ o.pk }}">Reason</label><input id="reason-{{ o.pk }}" name="reason" placeholder="reason" required maxlength="300"><button type="submit" class="link">Entered in error</button></form>{% endif %}</td>
    </tr>{% endfor %}"""


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Chatham", "America/St_Johns"])
@pytest.mark.parametrize("can_write", [True, False])
@pytest.mark.parametrize("number", [1, 3])
def test_the_measurement_rows_read_as_the_template_wrote_them(zone, can_write, number):
    import datetime as dt
    from decimal import Decimal

    from needlechart.accounts.models import User
    from needlechart.outcomes.models import Observation

    by = User(username="ann", first_name='Ann <b>"Bo"</b>', last_name="& Lee")

    def measure(pk, **fields):
        return Observation(pk=pk, recorded_by=by, **fields)

    at = dt.datetime(2026, 3, 4, 23, 45, 12, tzinfo=dt.UTC)
    measures = [
        measure(1, code="nprs", value=Decimal("7.00"), timing="before", session_id=7,
                recorded_at=at),
        measure(2, code="nprs", value=Decimal("3.50"), timing="after", session_id=7,
                recorded_at=at, entered_in_error_reason="wrong <patient> & \"side\""),
        measure(3, code="rom", component="cervical-rotation", side="left",
                value=Decimal("52.25"), timing="review", assessment_id=4,
                recorded_at=dt.datetime(2026, 12, 31, 11, 59, tzinfo=dt.UTC)),
        measure(4, code="psfs", component="Lifting my <grandchild>", value=Decimal("6.10"),
                timing="review", recorded_at=dt.datetime(2025, 6, 30, 12, 15, tzinfo=dt.UTC)),
        measure(5, code="nprs", value=Decimal("0.00"), timing="baseline", recorded_at=at),
    ]  # fmt: skip
    context = {"measures": measures, "can_write": can_write, "page": {"number": number},
               "csrf_token": "t0ken"}  # fmt: skip
    expected, written = _as_written(
        MEASUREMENTS_TEMPLATE, "{% measurement_rows measures can_write page.number %}", context,
        zone,
    )  # fmt: skip
    assert written == expected
    assert "wrong &lt;patient&gt; &amp; &quot;side&quot;" in written
    assert written.count('name="csrfmiddlewaretoken" value="t0ken"') == (2 if can_write else 0)
    assert ('name="page" value="3"' in written) == (can_write and number == 3)
    empty = ENGINE.from_string("{% measurement_rows measures True 1 %}")
    assert empty.render(Context({"measures": []})) == ""


# charting/_session_row.html as it was, the reference `{% session_row %}` is held to.
SESSION_ROW_TEMPLATE = """{% with name=r.get_muscle_display %}
<tbody id="row-{{ r.pk }}" class="row--{{ r.shown_verdict }}"{% if oob %} hx-swap-oob="true"{% endif %}>
<tr>
  <th scope="row"><a href="{% url 'reference:muscle' r.muscle %}{% if r.side %}?side={{ r.side }}{% endif %}">{{ name }}</a>{% if r.side %} ({{ r.side }}){% endif %}</th>
  <td>{{ r.needles }} \u00d7 {{ r.needle_size }}</td>
  <td>{{ r.get_depth_display }}{% if r.depth_mm %}, {{ r.depth_mm }} mm{% endif %}</td>
  <td>{{ r.get_technique_display }}{% if r.retention_minutes %}, {{ r.retention_minutes }} min{% endif %}{% if r.frequency_hz %}, {{ r.frequency_hz }} Hz, {{ r.intensity_ma }} mA{% endif %}{% if r.lead_to_muscle %}; paired with {{ r.get_lead_to_muscle_display }}{% if r.lead_to_side %} ({{ r.lead_to_side }}){% endif %}{% endif %}{% if r.waveform %}, {{ r.get_waveform_display|lower }}{% endif %}{% if r.pulse_width_us %}, {{ r.pulse_width_us }} \u00b5s{% endif %}{% if r.stimulation_minutes %}, {{ r.stimulation_minutes }} min{% endif %}
    {% if r.angle or r.approach or r.direction or r.ultrasound_guided %}<br><span class="muted">{{ r.get_angle_display }}{% if r.direction %}{% if r.angle %}, {% endif %}{{ r.direction }}{% endif %}{% if r.approach %}{% if r.angle or r.direction %}; {% endif %}{{ r.get_approach_display|lower }}{% endif %}{% if r.ultrasound_guided %}; ultrasound-guided{% if r.ultrasound_depth_mm %}, {{ r.ultrasound_depth_mm|floatformat:"-1" }} mm to rib or pleura{% endif %}{% endif %}</span>{% endif %}</td>
  <td class="findings-cell">
    {% if editable and can_needle %}
    <form method="post" action="{% url 'charting:session_row_findings' session.pk r.pk %}" hx-post="{% url 'charting:session_row_findings' session.pk r.pk %}" hx-trigger="change, submit" hx-sync="this:replace" hx-swap="none" class="findings-form">
      {% csrf_token %}{% was_input r "twitch_responses,familiar_pain,tolerance" "was-row" r.pk %}
      <label for="response-{{ r.pk }}" class="visually-hidden">Today's findings, {{ name }}{% if r.side %} ({{ r.side }}){% endif %}</label>
      <select id="response-{{ r.pk }}" name="response"{% if not r.findings_recorded %} class="needs-value"{% endif %}>
        <option value=""{% if not r.findings_recorded %} selected{% endif %}>Record today's findings\u2026</option>
        {% if r.findings_recorded and r.twitch_responses > 5 %}<option value="{{ r.response }}" selected>{{ r.response_display }}</option>{% endif %}
        {% response_options r.response %}
      </select>
      <button type="submit" class="button button--small js-hidden">Save<span class="visually-hidden"> findings, {{ name }}</span></button>
    </form>
    {% else %}{{ r.response_display|default:"Not recorded" }}{% endif %}
  </td>
  <td>{% if r.shown_verdict == "contraindicated" %}{% status_badge "contraindicated" "Contraindicated" %}{% elif r.shown_verdict == "caution" %}{% status_badge "expiring" "Caution" %}{% else %}{% status_badge "active" "Allowed" %}{% endif %}</td>
  <td class="row-actions-cell">{% if editable and can_needle %}
    <a href="{% url 'charting:session_row_edit' session.pk r.pk %}#row-{{ r.pk }}" hx-get="{% url 'charting:session_row_edit' session.pk r.pk %}" hx-target="#row-{{ r.pk }}" hx-swap="outerHTML">Edit<span class="visually-hidden"> {{ name }}{% if r.side %} ({{ r.side }}){% endif %}</span></a>
    <form method="post" action="{% url 'charting:session_row_remove' session.pk r.pk %}" hx-post="{% url 'charting:session_row_remove' session.pk r.pk %}" hx-swap="none">{% csrf_token %}<button type="submit" class="link">Remove<span class="visually-hidden"> {{ name }}{% if r.side %} ({{ r.side }}){% endif %}</span></button></form>
  {% endif %}</td>
</tr>
{% if r.shown_reasons or r.shown_verdict == "contraindicated" and editable %}
<tr class="reasons-row"><td colspan="7">{% if r.shown_reasons %}<ul class="reasons">{% for reason in r.shown_reasons %}<li>{{ reason.text }}</li>{% endfor %}</ul>{% endif %}{% if r.shown_verdict == "contraindicated" and editable %}<p class="row-error">Remove this row: the current screening forbids it.</p>{% endif %}</td></tr>
{% endif %}
</tbody>
{% endwith %}
"""


def _rows_to_write():
    from decimal import Decimal

    from needlechart.charting.models import Insertion, NeedleSize

    needle = NeedleSize(diameter_mm=Decimal("0.30"), length_mm=50)
    plain = {"needles": 2, "needle_size": needle, "depth": "deep", "technique": "pistoning"}
    reason = {"verdict": "caution", "text": 'Anticoagulants & "bleeding" <risk>'}
    rows = [
        # Today's findings not recorded; allowed.
        Insertion(pk=11, muscle="upper-trapezius", side="left", **plain),
        # Recorded, a caution with its reasons, no side, a depth in mm.
        Insertion(pk=12, muscle="gluteus-medius", side="", depth_mm=45, twitch_responses=2,
                  familiar_pain=True, tolerance="good", **plain),
        # More twitches than the quick pick covers, and stimulation with every setting.
        Insertion(pk=13, muscle="infraspinatus", side="right", needles=4, needle_size=needle,
                  depth="superficial", technique="electrical-stimulation",
                  retention_minutes=10, frequency_hz=Decimal("2.50"),
                  intensity_ma=Decimal("1.00"), lead_to_muscle="teres-minor",
                  lead_to_side="right", waveform="biphasic-symmetric", pulse_width_us=250,
                  stimulation_minutes=15, twitch_responses=9, familiar_pain=False,
                  tolerance="fair"),
        # Where the needle went, guided by ultrasound; contraindicated, with no reasons left.
        Insertion(pk=14, muscle="levator-scapulae", side="both", angle="oblique",
                  direction="caudal & medial", approach="onto-rib", ultrasound_guided=True,
                  ultrasound_depth_mm=Decimal("12.50"), **plain),
        Insertion(pk=15, muscle="quadratus-lumborum", side="right", direction="lateral",
                  ultrasound_guided=True, approach="pincer", **plain),
    ]  # fmt: skip
    shown = [("allowed", []), ("caution", [reason, {"verdict": "caution", "text": "Second"}]),
             ("allowed", []), ("contraindicated", []), ("contraindicated", [reason])]  # fmt: skip
    for row, (verdict, reasons) in zip(rows, shown, strict=True):
        row.shown_verdict, row.shown_reasons = verdict, reasons
    return rows


@pytest.mark.parametrize("oob", [False, True])
@pytest.mark.parametrize(
    "editable, can_needle", [(True, True), (True, False), (False, True), (False, False)]
)
def test_a_session_row_reads_as_the_template_wrote_it(editable, can_needle, oob):
    from types import SimpleNamespace

    reference = ENGINE.from_string(SESSION_ROW_TEMPLATE)
    tag = ENGINE.from_string("{% session_row r oob %}")
    written = {}
    for r in _rows_to_write():
        context = {"r": r, "oob": oob, "editable": editable, "can_needle": can_needle,
                   "session": SimpleNamespace(pk=9), "csrf_token": "t0ken"}  # fmt: skip
        written[r.pk] = _spaced(tag.render(Context(context)))
        assert written[r.pk] == _spaced(reference.render(Context(context))), r.pk
    assert "Anticoagulants &amp; &quot;bleeding&quot; &lt;risk&gt;" in written[12]
    assert ("the current screening forbids it" in written[14]) == editable
    assert ("<form" in written[11]) == (editable and can_needle)
    assert ('hx-swap-oob="true"' in written[11]) == oob


def test_a_snapshot_s_adverse_events_read_as_a_summary_the_most_serious_first():
    from needlechart.ui import events_by_kind

    events = [
        *[{"type": "bruising", "severity": "mild", "session": n} for n in range(40)],
        {"type": "headache", "severity": "mild", "session": 3},
        {"type": "pneumothorax", "severity": "serious", "session": 7},
        {"type": "bleeding", "severity": "mild", "session": 8},
        {"type": "bleeding", "severity": "mild", "session": 9},
        # A kind the catalogue no longer names, with no severity: kept, named by its code.
        {"type": "retired-kind", "severity": None, "session": 9},
        {"type": "retired-kind", "severity": None, "session": 10},
    ]
    assert events_by_kind(events) == [
        "Pneumothorax (serious)", "Bruising (mild, 40 times)", "Bleeding (mild, 2 times)",
        "Headache (mild)", "retired-kind (2 times)",
    ]  # fmt: skip
    template = Template('{{ events|events_by_kind|join:", "|default:"none" }}')
    assert template.render(Context({"events": []})) == "none"
    assert template.render(Context({"events": events[:2]})) == "Bruising (mild, 2 times)"
