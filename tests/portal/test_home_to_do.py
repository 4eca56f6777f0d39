"""The portal's to-do list: today's pain is asked for until it is added, and again tomorrow."""

import datetime as dt

from django.urls import reverse

from tests.conftest import client_for

ASK = "Add today's pain to your diary"


def _to_do(client) -> str:
    page = client.get(reverse("portal:home")).content.decode()
    return page.split('<ul class="todo-list">')[1].split("</ul>")[0]


def test_the_to_do_list_stops_asking_for_todays_pain_once_it_is_added(world, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 30, 9, 15, tzinfo=dt.UTC), tick=False)
    client = client_for(world.patient_user)
    assert ASK in _to_do(client)
    assert client.post(reverse("portal:diary"), {"pain": "4"}).status_code == 302
    to_do = _to_do(client)
    assert ASK not in to_do
    assert '<li class="done">Today\'s pain is in your diary: 4 out of 10, at 09:15.' in to_do


def test_the_next_day_the_to_do_list_asks_for_the_pain_again(world, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 30, 9, 15, tzinfo=dt.UTC), tick=False)
    client = client_for(world.patient_user)
    client.post(reverse("portal:diary"), {"pain": "4"})
    time_machine.move_to(dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC), tick=False)
    # Signed in afresh: a portal sign-in does not last overnight.
    assert ASK in _to_do(client_for(world.patient_user))


def test_today_is_the_clinics_day_not_the_servers(world, time_machine):
    world.clinic_a.timezone = "Pacific/Auckland"  # 13 hours ahead of UTC in summer
    world.clinic_a.save()
    client = client_for(world.patient_user)
    # 10:30 UTC is 23:30 on 30 November in Auckland.
    time_machine.move_to(dt.datetime(2026, 11, 30, 10, 30, tzinfo=dt.UTC), tick=False)
    client.post(reverse("portal:diary"), {"pain": "6"})
    assert ASK not in _to_do(client)
    # An hour later it is 1 December there: a new day, still 30 November in UTC. (An hour
    # idle ends a session: she signs in again.)
    time_machine.move_to(dt.datetime(2026, 11, 30, 11, 30, tzinfo=dt.UTC), tick=False)
    assert ASK in _to_do(client_for(world.patient_user))


def test_another_patients_entry_does_not_tick_the_list(world, time_machine):
    from tests import factories

    time_machine.move_to(dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC), tick=False)
    other = factories.patient(world.clinic_a, given_name="Ola", email="ola@example.org")
    factories.episode(other, world.practitioner_a)
    client_for(factories.portal_account(other).user).post(reverse("portal:diary"), {"pain": "3"})
    assert ASK in _to_do(client_for(world.patient_user))
