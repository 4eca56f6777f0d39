"""Two people, two tabs, a double click: no change is lost without a word, no record is made
twice, and a signed record keeps what it was signed with."""

import re
import threading

import pytest
from django.db import connection, connections
from django.urls import reverse

from needlechart.charting import services
from needlechart.charting.models import Assessment, Consent, NeedlingSession
from needlechart.outcomes import measurements
from needlechart.outcomes.models import CarePlan, Observation
from needlechart.patients.models import Patient
from tests.charting.conftest import row
from tests.conftest import client_for

HTMX = {"HTTP_HX_REQUEST": "true"}


def _was(page: str, element_id: str | None = None) -> str:
    """The values a page showed, as its form sends them back."""
    pattern = r'<input type="hidden" name="was"[^>]*value="([^"]+)"'
    if element_id:
        pattern = rf'<input type="hidden" name="was" id="{element_id}" value="([^"]+)"'
    return re.search(pattern, page).group(1)


def _patient_post(world, **changes) -> dict:
    p = world.patient_a
    data = {"given_name": p.given_name, "family_name": p.family_name,
            "birth_date": p.birth_date.isoformat(), "sex": p.sex, "mrn": p.mrn, "phone": p.phone,
            "email": p.email, "address": p.address}  # fmt: skip
    data.update(changes)
    return data


def test_two_tabs_editing_a_patient_refuse_the_older_page_and_say_what_changed(world):
    url = reverse("patients:edit", args=[world.patient_a.pk])
    first, second = client_for(world.front_desk), client_for(world.practitioner)
    was_first = _was(first.get(url).content.decode())
    was_second = _was(second.get(url).content.decode())
    response = first.post(url, _patient_post(world, phone="+353 1 555 0100", was=was_first))
    assert response.status_code == 302
    response = second.post(url, _patient_post(world, email="ann.smith@example.net", was=was_second))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Someone saved this record after you opened it" in page
    assert "phone is now “+353 1 555 0100”" in page
    world.patient_a.refresh_from_db()
    assert (
        world.patient_a.phone == "+353 1 555 0100"
        and world.patient_a.email != "ann.smith@example.net"
    )


def test_saving_the_same_change_twice_is_not_a_conflict(world):
    url = reverse("patients:edit", args=[world.patient_a.pk])
    first, second = client_for(world.front_desk), client_for(world.practitioner)
    was_first, was_second = (_was(c.get(url).content.decode()) for c in (first, second))
    first.post(url, _patient_post(world, phone="+353 1 555 0100", was=was_first))
    response = second.post(url, _patient_post(world, phone="+353 1 555 0100", was=was_second))
    assert response.status_code == 302


def test_two_tabs_editing_an_episode_refuse_the_older_page(world):
    url = reverse("patients:episode_edit", args=[world.episode_a.pk])
    client = client_for(world.practitioner)
    form = client.get(url).context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data["care_manager"] = world.practitioner_a.pk
    client.post(url, {**data, "referral_detail": "Dr Byrne"})
    response = client.post(url, {**data, "status": "onhold"})
    assert "Someone saved this record after you opened it" in response.content.decode()
    world.episode_a.refresh_from_db()
    assert world.episode_a.referral_detail == "Dr Byrne" and world.episode_a.status == "active"


def test_two_tabs_saving_the_plan_keep_both_versions_apparent(world):
    from needlechart.outcomes import services as outcomes

    plan = {"planned_sessions": 4, "frequency": "weekly", "goals": [
        {"description": "Less pain", "code": "nprs", "target": 3,
         "target_date": world.episode_a.period_start.replace(year=2027)}], "therapies": []}  # fmt: skip
    import datetime as dt

    review = dt.date.today() + dt.timedelta(days=10)
    outcomes.plan_create(actor=world.practitioner, episode=world.episode_a, review_on=review,
                         based_on=0, **plan)  # fmt: skip
    with pytest.raises(Exception) as refused:
        outcomes.plan_create(actor=world.practitioner, episode=world.episode_a, review_on=review,
                             based_on=0, **plan)  # fmt: skip
    assert "the plan is now version 1" in str(refused.value)
    assert CarePlan.objects.filter(episode=world.episode_a).count() == 1


def test_an_in_place_note_from_an_older_page_is_refused_and_shows_the_newer_one(session, world):
    url = reverse("charting:session", args=[session.pk])
    client = client_for(world.practitioner)
    page = client.get(url).content.decode()
    was = _was(page, "was-details")
    details = reverse("charting:session_details", args=[session.pk])
    fields = "co_treatments,co_treatment_note,note"
    ok = client.post(details, {"_fields": fields, "note": "From the first tab", "was": was}, **HTMX)
    assert ok.status_code == 200
    # The first tab's own next save carries the refreshed values: not a conflict with itself.
    again = _was(ok.content.decode(), "was-details")
    assert client.post(details, {"_fields": fields, "note": "First tab, again", "was": again},
                       **HTMX).status_code == 200  # fmt: skip
    stale = client.post(details, {"_fields": fields, "note": "From the second tab", "was": was},
                        **HTMX)  # fmt: skip
    assert stale.status_code == 400
    assert "Someone saved this record after you opened it" in stale.content.decode()
    session.refresh_from_db()
    assert session.note == "First tab, again"


def test_a_row_s_findings_from_an_older_page_are_refused(session, needle, world):
    added = services.insertion_add(actor=world.practitioner, session=session, **row(needle))
    client = client_for(world.practitioner)
    was = _was(client.get(reverse("charting:session", args=[session.pk])).content.decode(),
               f"was-row-{added.pk}")  # fmt: skip
    url = reverse("charting:session_row_findings", args=[session.pk, added.pk])
    assert client.post(url, {"response": "3:yes:fair", "was": was}, **HTMX).status_code == 200
    stale = client.post(url, {"response": "0:no:poor", "was": was}, **HTMX)
    assert stale.status_code == 400
    added.refresh_from_db()
    assert (added.twitch_responses, added.tolerance) == (3, "fair")


def test_a_validly_signed_value_from_another_form_is_refused_as_damaged(session, needle, world):
    """A hidden field copied from another form of the page (a row's, sent to the session's
    note) is signed by us but names fields the session lacks: a clear refusal, no error."""
    added = services.insertion_add(actor=world.practitioner, session=session, **row(needle))
    client = client_for(world.practitioner)
    page = client.get(reverse("charting:session", args=[session.pk])).content.decode()
    details = reverse("charting:session_details", args=[session.pk])
    fields = "co_treatments,co_treatment_note,note"
    for was in (_was(page, f"was-row-{added.pk}"), "not-signed-at-all"):
        refused = client.post(details, {"_fields": fields, "note": "Copied", "was": was}, **HTMX)
        assert refused.status_code == 400
        assert "This form is damaged; reload the page and try again." in refused.content.decode()
    session.refresh_from_db()
    assert session.note != "Copied"


@pytest.mark.parametrize("kind", ["patient", "assessment", "session", "consent", "diary"])
def test_a_double_submitted_create_makes_one_record(world, needle, kind):
    token = "double-submit-token-0001"
    staff = client_for(world.practitioner)
    if kind == "consent" or kind == "session" or kind == "diary":
        services.screening_record(actor=world.practitioner, episode=world.episode_a, factors=[])
    if kind in ("session", "diary"):
        services.consent_sign(
            actor=world.practitioner, patient=world.patient_a, signed_name="Ann Smith",
            template=services.current_template(clinic=world.clinic_a, kind="consent"),
            confirmed=True,
        )  # fmt: skip
    posts = {
        "patient": (staff, reverse("patients:create"),
                    {"given_name": "Nora", "family_name": "Quinn", "birth_date": "1975-03-02",
                     "sex": "female"}, lambda: Patient.objects.filter(family_name="Quinn")),
        "assessment": (staff, reverse("charting:assessment_new", args=[world.episode_a.pk]),
                       {"kind": "initial"}, lambda: Assessment.objects.all()),
        "session": (staff, reverse("charting:session_new", args=[world.episode_a.pk]),
                    {"screening_status": "unchanged", "consent_confirmed": "on"},
                    lambda: NeedlingSession.objects.all()),
        "consent": (staff, reverse("charting:consent", args=[world.patient_a.pk]),
                    {"template": services.current_template(clinic=world.clinic_a,
                                                           kind="consent").pk,
                     "signed_name": "Ann Smith", "confirmed": "on"},
                    lambda: Consent.objects.all()),
        "diary": (client_for(world.patient_user), reverse("portal:diary"), {"pain": 4},
                  lambda: Observation.objects.filter(timing="home")),
    }  # fmt: skip
    client, url, data, records = posts[kind]
    first = client.post(url, {**data, "form_token": token})
    second = client.post(url, {**data, "form_token": token})
    assert records().count() == 1, kind
    # The second press lands where the first did.
    assert second.status_code == first.status_code == 302
    assert second["Location"] == first["Location"]


# --- two database connections at once (PostgreSQL: SQLite serialises every writer) -------

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need a server with concurrent writers"
)


def _in_thread(target, *args) -> threading.Thread:
    def run() -> None:
        try:
            target(*args)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@needs_postgres
def test_two_connections_posting_one_form_at_once_make_one_patient(transactional_db, world):
    from needlechart.patients import services as patients

    results: list[object] = []
    start = threading.Barrier(2)

    def register() -> None:
        start.wait()
        results.append(patients.patient_create(
            actor=world.front_desk, given_name="Nora", family_name="Quinn",
            birth_date="1975-03-02", sex="female", token="two-connections-token-01",
        ))  # fmt: skip

    threads = [_in_thread(register), _in_thread(register)]
    for thread in threads:
        thread.join(timeout=30)
    assert Patient.objects.filter(family_name="Quinn").count() == 1
    assert len({p.pk for p in results}) == 1


@needs_postgres
def test_a_measurement_is_not_removed_from_a_session_being_signed(transactional_db, world, needle):
    from django.db import transaction

    services.screening_record(actor=world.practitioner, episode=world.episode_a, factors=[])
    services.consent_sign(
        actor=world.practitioner, patient=world.patient_a, signed_name="Ann Smith",
        template=services.current_template(clinic=world.clinic_a, kind="consent"), confirmed=True,
    )  # fmt: skip
    session, _ = services.session_start(actor=world.practitioner, episode=world.episode_a,
                                        screening_status="unchanged", consent_confirmed=True,
                                        clean_technique=True)  # fmt: skip
    services.insertion_add(actor=world.practitioner, session=session, **row(needle))
    services.session_update(actor=world.practitioner, session=session, needles_removed=1,
                            sharps_disposed=True)  # fmt: skip
    measured = measurements.observation_add(
        actor=world.practitioner,
        episode=world.episode_a,
        session=session,
        code="nprs",
        value=5,
        timing="before",
    )
    signing, signed = threading.Event(), threading.Event()
    outcome: list[str] = []

    def sign() -> None:
        with transaction.atomic():
            services.session_sign(
                actor=world.practitioner, session=NeedlingSession.objects.get(pk=session.pk)
            )
            signing.set()
            signed.wait(timeout=10)  # hold the lock while the other connection tries

    def remove() -> None:
        signing.wait(timeout=10)
        try:
            measurements.observation_remove(
                actor=world.practitioner, observation=Observation.objects.get(pk=measured.pk)
            )
            outcome.append("removed")
        except Exception as error:
            outcome.append(str(error))

    signer, remover = _in_thread(sign), _in_thread(remove)
    signing.wait(timeout=10)
    remover.join(timeout=1)
    assert remover.is_alive(), "the removal waits for the signing to finish"
    signed.set()
    signer.join(timeout=30)
    remover.join(timeout=30)
    assert "signed and cannot be changed" in outcome[0]
    assert Observation.objects.filter(pk=measured.pk, session=session).exists()


@needs_postgres
def test_two_discharges_of_one_episode_at_once_make_one_and_refuse_the_other(
    transactional_db, world
):
    from django.core.exceptions import ValidationError

    from needlechart.outcomes import services as outcomes
    from needlechart.outcomes.models import Discharge
    from needlechart.patients.models import EpisodeOfCare

    outcome: list[str] = []
    start = threading.Barrier(2)

    def discharge() -> None:
        episode = EpisodeOfCare.objects.get(pk=world.episode_a.pk)
        start.wait()
        try:
            outcomes.discharge(actor=world.practitioner, episode=episode, reason="goals-met",
                               summary="Pain settled; home exercises.")  # fmt: skip
            outcome.append("discharged")
        except ValidationError as error:
            outcome.append(" ".join(error.messages))

    threads = [_in_thread(discharge), _in_thread(discharge)]
    for thread in threads:
        thread.join(timeout=30)
    assert Discharge.objects.filter(episode=world.episode_a).count() == 1
    assert sorted(outcome) == ["This episode is already discharged.", "discharged"]
