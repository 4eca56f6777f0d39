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


@pytest.mark.django_db
def test_the_session_and_body_chart_pages_show_no_template_text(world):
    chart = charts.build(world.practitioner, world.episode_a, signed=True)
    client = client_for(world.practitioner)
    for url in (f"/sessions/{chart.session.pk}/", f"/assessments/{chart.assessment.pk}/"):
        page = client.get(url).content.decode()
        assert "Safety screening" in page
        assert "{#" not in page and "#}" not in page, url
