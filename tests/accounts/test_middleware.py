from django.conf import settings
from django.test import Client
from django.test.signals import template_rendered
from django.urls import reverse
from django.utils import timezone


def test_a_page_is_shown_in_its_clinics_zone_and_the_zone_ends_with_the_answer(world):
    """Chatham is 12 h 45 min ahead of UTC or more: its day is another day for a good part
    of every UTC day. A page read there must not leave that zone behind for what the same
    thread runs next, which would then take Chatham's date for today."""
    world.clinic_a.timezone = "Pacific/Chatham"
    world.clinic_a.save(update_fields=["timezone"])
    zones_rendered_in = []

    def rendered(**kwargs):
        zones_rendered_in.append(timezone.get_current_timezone_name())

    client = Client()
    client.force_login(world.practitioner)
    template_rendered.connect(rendered, dispatch_uid="zone-seen")
    try:
        response = client.get(reverse("patients:list"))
    finally:
        template_rendered.disconnect(dispatch_uid="zone-seen")

    assert response.status_code == 200
    assert zones_rendered_in and set(zones_rendered_in) == {"Pacific/Chatham"}
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE
