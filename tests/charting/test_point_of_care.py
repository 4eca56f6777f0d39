"""The session page's parts, saved one at a time: in place (htmx) and as plain forms."""

import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from needlechart.charting import services
from needlechart.charting.models import AftercareIssue, Insertion, Screening
from needlechart.patients.models import EpisodeOfCare
from tests.charting.conftest import row
from tests.conftest import client_for

HTMX = {"HTTP_HX_REQUEST": "true"}


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def copied(session, needle, world):
    """A draft session with two rows whose findings are not recorded yet."""
    first = services.insertion_add(
        actor=world.practitioner, session=session,
        **row(needle, "gastrocnemius", twitch_responses=None, familiar_pain=None, tolerance=""),
    )  # fmt: skip
    second = services.insertion_add(
        actor=world.practitioner, session=session,
        **row(needle, "soleus", needles=2, twitch_responses=None, familiar_pain=None,
              tolerance=""),
    )  # fmt: skip
    return session, first, second


def test_a_row_s_findings_save_in_place_and_the_signing_card_follows(copied, world):
    session, first, _ = copied
    client = client_for(world.practitioner)
    url = reverse("charting:session_row_findings", args=[session.pk, first.pk])
    response = client.post(url, {"response": "3:yes:fair"}, **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    # The signing card comes back to be swapped in place, not a whole page; the pick itself
    # stays where the clinician is.
    assert 'id="sign" hx-swap-oob="true"' in page and f'id="row-{first.pk}"' not in page
    assert "<html" not in page
    assert "Gastrocnemius (left): record today" not in page
    assert "Soleus (left): record today" in page
    first.refresh_from_db()
    assert (first.twitch_responses, first.familiar_pain, first.tolerance) == (3, True, "fair")


def test_without_scripts_each_part_posts_and_comes_back_to_its_place(copied, world):
    session, first, _ = copied
    client = client_for(world.practitioner)
    url = reverse("charting:session_row_findings", args=[session.pk, first.pk])
    response = client.post(url, {"response": "0:no:good"})
    assert response.status_code == 302
    assert response["Location"] == reverse("charting:session", args=[session.pk]) + (
        f"#row-{first.pk}"
    )
    first.refresh_from_db()
    assert (first.twitch_responses, first.familiar_pain, first.tolerance) == (0, False, "good")


@pytest.mark.parametrize("value", ["", "7:maybe:good", "2:yes:excellent", "x", "1:yes"])
def test_a_bad_quick_pick_is_refused_and_changes_nothing(copied, world, value):
    session, first, _ = copied
    client = client_for(world.practitioner)
    url = reverse("charting:session_row_findings", args=[session.pk, first.pk])
    response = client.post(url, {"response": value}, **HTMX)
    assert response.status_code == 400
    assert "Choose today's findings from the list." in html.unescape(response.content.decode())
    first.refresh_from_db()
    assert first.twitch_responses is None and not first.findings_recorded


def test_a_row_removed_elsewhere_is_told_not_a_server_error(copied, world):
    session, first, _ = copied
    client = client_for(world.practitioner)
    services.insertion_remove(actor=world.practitioner, insertion=first)
    for name, data in [
        ("charting:session_row_findings", {"response": "1:yes:good"}),
        ("charting:session_row_update", {}),
        ("charting:session_row_remove", {}),
    ]:
        url = reverse(name, args=[session.pk, first.pk])
        response = client.post(url, data, **HTMX)
        assert response.status_code == 409, name
        assert services.ROW_GONE in response.content.decode()
        response = client.post(url, data, follow=True)
        assert services.ROW_GONE in messages_of(response), name
    assert client.get(reverse("charting:session_row_edit", args=[session.pk, first.pk]),
                      **HTMX).status_code == 409  # fmt: skip


def test_the_needle_count_follows_the_rows_unless_typed(copied, world):
    session, _, second = copied
    session.refresh_from_db()
    assert session.needles_opened == 3 and not session.needles_opened_by_hand
    client = client_for(world.practitioner)
    details = reverse("charting:session_details", args=[session.pk])
    client.post(details, {"_fields": "needles_opened", "needles_opened": "5"}, **HTMX)
    services.insertion_remove(actor=world.practitioner, insertion=second)
    session.refresh_from_db()
    assert session.needles_opened == 5 and session.needles_opened_by_hand
    # Clearing it lets it follow the rows again.
    client.post(details, {"_fields": "needles_opened", "needles_opened": ""}, **HTMX)
    session.refresh_from_db()
    assert session.needles_opened == 1 and not session.needles_opened_by_hand
    # A partial save leaves the other details as they were.
    assert session.clean_technique


def test_a_row_edited_in_place_is_rescreened_and_audited_with_old_and_new_values(copied, world):
    from needlechart.audit.models import AuditEvent

    session, first, _ = copied
    client = client_for(world.practitioner)
    data = {f"row{first.pk}-{k}": v for k, v in {
        "muscle": "soleus", "side": "right", "needles": 4, "needle_size": first.needle_size_id,
        "depth": "superficial", "depth_mm": 8, "technique": "pistoning",
    }.items()}  # fmt: skip
    response = client.post(
        reverse("charting:session_row_update", args=[session.pk, first.pk]), data, **HTMX
    )
    assert response.status_code == 200
    first.refresh_from_db()
    assert (first.muscle, first.side, first.needles, first.depth) == (
        "soleus", "right", 4, "superficial"
    )  # fmt: skip
    event = AuditEvent.objects.filter(action="update", object_type="Procedure").latest("pk")
    assert event.detail["before"]["muscle"] == "gastrocnemius"
    assert event.detail["after"]["muscle"] == "soleus"
    session.refresh_from_db()
    assert session.needles_opened == 6


def test_signing_with_aftercare_given_records_it_once(ready_to_sign, world):
    session = ready_to_sign
    client = client_for(world.practitioner)
    response = client.post(
        reverse("charting:session_sign", args=[session.pk]), {"aftercare": "given"}, **HTMX
    )
    assert response.status_code == 200 and response["HX-Redirect"]
    session.refresh_from_db()
    assert session.is_signed
    assert AftercareIssue.objects.filter(session=session).count() == 1
    # A second press, from the sheet or a stale page, answers and records nothing.
    response = client.post(reverse("charting:aftercare", args=[session.pk]), follow=True)
    assert any("already recorded as given" in m for m in messages_of(response))
    assert AftercareIssue.objects.filter(session=session).count() == 1


@pytest.fixture
def ready_to_sign(copied, world):
    session, first, second = copied
    for insertion in (first, second):
        services.insertion_update(
            actor=world.practitioner, insertion=insertion, twitch_responses=1,
            familiar_pain=True, tolerance="good",
        )  # fmt: skip
    services.session_update(
        actor=world.practitioner, session=session, needles_removed=3, sharps_disposed=True
    )
    return session


def test_a_screening_with_nothing_ticked_needs_none_of_these_apply(world):
    client = client_for(world.practitioner)
    url = reverse("charting:screening", args=[world.episode_a.pk])
    response = client.post(url, {})
    assert response.status_code == 200
    assert "or choose “None of these apply”" in response.content.decode()
    assert not Screening.objects.filter(episode=world.episode_a).exists()
    response = client.post(url, {"f_diabetes": "on", "none_apply": "on"})
    assert "untick them" in response.content.decode()
    client.post(url, {"none_apply": "on"})
    assert Screening.objects.get(episode=world.episode_a).factors == []


def test_signing_the_consent_returns_to_the_episode_being_treated(world, needle):
    client = client_for(world.practitioner)
    template = services.current_template(clinic=world.clinic_a, kind="consent")
    response = client.post(
        reverse("charting:consent", args=[world.patient_a.pk]),
        {"template": template.pk, "signed_name": "Ann Smith", "confirmed": "on"},
    )
    assert response["Location"] == reverse("patients:episode", args=[world.episode_a.pk])


def test_a_new_patient_goes_on_to_an_episode_whose_body_area_follows_the_condition(world):
    client = client_for(world.practitioner)
    response = client.post(
        reverse("patients:create"),
        {"given_name": "Nora", "family_name": "Quinn", "birth_date": "1975-03-02",
         "sex": "female", "then": "episode"},
    )  # fmt: skip
    match = re.fullmatch(r"/patients/(\d+)/episodes/new/", response["Location"])
    assert match
    response = client.post(
        response["Location"],
        {"condition_code": "M54.2", "referral_source": "self",
         "care_manager": world.practitioner_a.pk, "status": "active",
         "period_start": timezone.localdate().isoformat()},
    )  # fmt: skip
    episode = EpisodeOfCare.objects.get(patient_id=match.group(1))
    assert episode.body_area == "neck"
    assert response["Location"] == reverse("charting:screening", args=[episode.pk])


def test_the_front_desk_registers_a_patient_without_the_clinical_next_step(world):
    response = client_for(world.front_desk).post(
        reverse("patients:create"),
        {"given_name": "Nora", "family_name": "Quinn", "birth_date": "1975-03-02",
         "sex": "female", "then": "episode"},
    )  # fmt: skip
    assert re.fullmatch(r"/patients/\d+/", response["Location"])


def test_copied_rows_keep_no_findings_and_a_contraindicated_copy_is_skipped(copied, world, needle):
    session, first, _ = copied
    services.insertion_update(
        actor=world.practitioner, insertion=first, twitch_responses=2, familiar_pain=True,
        tolerance="good",
    )  # fmt: skip
    second = Insertion.objects.exclude(pk=first.pk).get(session=session)
    services.insertion_update(
        actor=world.practitioner, insertion=second, twitch_responses=0, familiar_pain=False,
        tolerance="fair",
    )  # fmt: skip
    services.session_update(
        actor=world.practitioner, session=session, needles_removed=3, sharps_disposed=True
    )
    services.session_sign(actor=world.practitioner, session=session)
    services.screening_record(
        actor=world.practitioner, episode=world.episode_a,
        factors=[{"code": "lymphedema", "limb": "leg", "side": "left"}],
    )  # fmt: skip
    again, skipped = services.session_start(
        actor=world.practitioner, episode=world.episode_a, screening_status="changed", consent_confirmed=True,
        from_last=True,
    )  # fmt: skip
    assert all(s.startswith(("Gastrocnemius", "Soleus")) for s in skipped)
    for copy in again.insertions.all():
        assert not copy.findings_recorded


def test_two_parts_saved_at_once_do_not_undo_each_other(session, world):
    from needlechart.charting.models import NeedlingSession

    first_tab = NeedlingSession.objects.get(pk=session.pk)
    second_tab = NeedlingSession.objects.get(pk=session.pk)
    services.session_update(actor=world.practitioner, session=first_tab, clean_technique=False)
    services.session_update(actor=world.practitioner, session=second_tab, note="Tolerated well")
    session.refresh_from_db()
    assert session.note == "Tolerated well" and session.clean_technique is False


@pytest.mark.parametrize("value", ["", "4.567", "ten"])
def test_a_refused_measurement_in_place_is_answered_next_to_its_field(session, world, value):
    client = client_for(world.practitioner)
    response = client.post(
        reverse("outcomes:observation_add", args=[world.episode_a.pk]),
        {"code": "nprs", "timing": "before", "session": session.pk, "slot": "nprs-before",
         "value": value},
        **HTMX,
    )  # fmt: skip
    assert response.status_code == 400
    assert 'id="slot-error-nprs-before"' in response.content.decode()
    assert not session.observations.exists()


def test_a_change_to_a_signed_assessment_from_a_stale_tab_is_told_in_place(world):
    assessment = services.assessment_start(actor=world.practitioner, episode=world.episode_a)
    services.pain_mark_set(actor=world.practitioner, assessment=assessment,
                           region="calf-left", intensity=5, quality="")  # fmt: skip
    services.assessment_sign(actor=world.practitioner, assessment=assessment)
    response = client_for(world.practitioner).post(
        reverse("charting:assessment_pain", args=[assessment.pk]),
        {"region": "calf-right", "intensity": 4},
        **HTMX,
    )
    assert response.status_code == 409
    assert "signed and cannot be changed" in response.content.decode()
    assert assessment.pain_marks.count() == 1


def test_an_in_place_save_after_the_sign_in_expired_goes_to_the_sign_in_page(session):
    response = client_for(None).post(
        reverse("charting:session_details", args=[session.pk]),
        {"_fields": "note", "note": "x"},
        **HTMX,
    )
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_without_scripts_a_row_opens_in_its_editor_with_its_values(copied, world):
    session, first, _ = copied
    response = client_for(world.practitioner).get(
        reverse("charting:session_row_edit", args=[session.pk, first.pk])
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert f'name="row{first.pk}-muscle"' in page and "Save row" in page


def test_without_scripts_a_refused_needle_count_says_why_and_keeps_the_note(session, world):
    services.session_update(actor=world.practitioner, session=session, note="Kept")
    response = client_for(world.practitioner).post(
        reverse("charting:session_details", args=[session.pk]),
        {"_fields": "needles_opened", "needles_opened": "-3"},
    )
    assert response.status_code == 400
    assert any("Needles opened" in m for m in messages_of(response))
    assert "Kept" in response.content.decode()
    session.refresh_from_db()
    assert session.note == "Kept" and session.needles_opened is None


def test_none_of_these_apply_is_refused_with_a_factor_s_details_filled_in(world):
    response = client_for(world.practitioner).post(
        reverse("charting:screening", args=[world.episode_a.pk]),
        {"none_apply": "on", "anticoagulant__drug": "apixaban"},
    )
    assert "Details are filled in for a factor that is not ticked" in html.unescape(
        response.content.decode()
    )
    assert not Screening.objects.filter(episode=world.episode_a).exists()
