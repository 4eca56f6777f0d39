"""Every page, staff and portal, names the site's icon, and the icon is served."""

import re
import xml.etree.ElementTree as ET

from django.test import Client
from django.urls import reverse

from tests.conftest import client_for


def _icon(page: str) -> str:
    links = re.findall(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    assert len(links) == 1, links
    return links[0]


def test_staff_and_portal_pages_name_the_icon_and_it_is_served(world):
    pages = [
        Client().get(reverse("login")),
        client_for(world.practitioner).get(reverse("patients:list")),
        Client().get(reverse("portal:login")),
        client_for(world.patient_user).get(reverse("portal:home")),
    ]
    icons = {_icon(response.content.decode()) for response in pages}
    assert len(icons) == 1
    response = Client().get(icons.pop())
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    svg = ET.fromstring(b"".join(response.streaming_content))
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.get("viewBox") == "0 0 32 32"


def test_the_icon_is_found_where_browsers_look_without_a_link(db):
    response = Client().get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("favicon.svg")
