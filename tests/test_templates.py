"""The templates as a clinician sees them rendered: no template text leaks onto a page."""

import re
from pathlib import Path

import pytest

from tests import charts
from tests.conftest import client_for

TEMPLATES = Path(__file__).resolve().parent.parent / "needlechart" / "templates"


def test_every_comment_tag_closes_on_its_line():
    """Django's `{# #}` comment ends on its own line: one spread over lines is printed on
    the page as it is written (use `{% comment %}` for those)."""
    open_ended = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in TEMPLATES.rglob("*.html")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        for found in re.finditer(r"\{#", line)
        if "#}" not in line[found.end() :]
    ]
    assert open_ended == []


def test_no_htmx_attribute_needs_eval():
    """The pages' htmx config refuses eval, as the Content-Security-Policy does. htmx then
    treats an event filter (`change[...]`) as true, so the trigger fires on every event,
    and ignores `hx-on` and `js:` values: none of them may be written."""
    needs_eval = re.compile(r"""hx-trigger="[^"]*\[|hx-on|hx-vars|hx-vals=["']js:""")
    found = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in TEMPLATES.rglob("*.html")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if needs_eval.search(line)
    ]
    assert found == []


def test_every_link_by_id_names_a_view_of_one_whole_number():
    """`|id_url:'view'` writes a whole number into the view's link (needlechart.links): a
    view whose link takes a text, or more than one value, must keep `{% url %}`."""
    from django.urls import resolve, reverse

    used = {
        (path.relative_to(TEMPLATES), name)
        for path in TEMPLATES.rglob("*.html")
        for name in re.findall(r"\|id_url:'([a-z_:]+)'", path.read_text())
    }
    assert len(used) > 50
    wrong = [
        (str(path), name)
        for path, name in sorted(used)
        if re.findall(r"<(\w+):", resolve(reverse(name, args=[7])).route) != ["int"]
    ]
    assert wrong == []


@pytest.mark.django_db
def test_with_debug_on_the_pages_load_htmx_without_its_debug_script(world, settings):
    """django-htmx's debug script puts any 400 answer in place of the whole page, where an
    in-place save refused answers 400 with its reason for the field."""
    settings.DEBUG = True
    page = client_for(world.practitioner).get("/patients/").content.decode()
    assert "htmx-2.min.js" in page
    assert "django-htmx.js" not in page


@pytest.mark.django_db
def test_the_session_and_body_chart_pages_show_no_template_text(world):
    chart = charts.build(world.practitioner, world.episode_a, signed=True)
    client = client_for(world.practitioner)
    for url in (f"/sessions/{chart.session.pk}/", f"/assessments/{chart.assessment.pk}/"):
        page = client.get(url).content.decode()
        assert "Safety screening" in page
        assert "{#" not in page and "#}" not in page, url
