"""What boards expect a dry-needling note to hold, beyond muscles and needles."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from needlechart.charting import services
from needlechart.charting.models import Consent
from tests import factories
from tests.charting.conftest import row
from tests.conftest import client_for

CONDUCT = {
    "patient_position": "prone", "gloves": True, "antisepsis": "chlorhexidine",
    "guide_tube": True, "needle_brand": "Acme", "needle_lot": "L2026-11",
    "haemostasis": True, "soreness_after": 3, "stim_device": "Stim 2",
}  # fmt: skip
STIM = {
    "technique": "electrical-stimulation", "frequency_hz": 2, "intensity_ma": 4,
    "lead_to_muscle": "soleus", "lead_to_side": "left", "waveform": "biphasic-asymmetric",
    "pulse_width_us": 250, "stimulation_minutes": 15,
}  # fmt: skip


def _sign(session, world, needle, **row_extra):
    services.insertion_add(actor=world.practitioner, session=session, **row(needle, **row_extra))
    services.session_update(actor=world.practitioner, session=session, needles_removed=1,
                            sharps_disposed=True, **CONDUCT)  # fmt: skip
    return services.session_sign(actor=world.practitioner, session=session)


def test_signing_asks_for_consent_at_this_session_and_the_sharps_container(session, needle, world):
    services.insertion_add(actor=world.practitioner, session=session, **row(needle))
    services.session_update(actor=world.practitioner, session=session, needles_removed=1,
                            consent_confirmed=False)  # fmt: skip
    problems = services.sign_problems(world.practitioner, session)
    assert "Confirm the patient agreed to needling at this session." in problems
    assert "Confirm the needles went into a sharps container." in problems
    # The one-step "All removed" press records both the count and the sharps disposal.
    client_for(world.practitioner).post(
        reverse("charting:session_details", args=[session.pk]),
        {"_fields": "needles_removed,sharps_disposed", "needles_removed": 1,
         "sharps_disposed": "on"},
    )  # fmt: skip
    services.session_update(actor=world.practitioner, session=session, consent_confirmed=True)
    session.refresh_from_db()
    assert session.sharps_disposed and services.sign_problems(world.practitioner, session) == []


def test_the_next_session_carries_how_the_clinic_works_but_not_today_s_facts(
    session, needle, world
):
    _sign(session, world, needle, angle="oblique", approach="pincer", direction="caudal",
          ultrasound_guided=True, ultrasound_depth_mm=14, **STIM)  # fmt: skip
    again, skipped = services.session_start(
        actor=world.practitioner, episode=world.episode_a, screening_status="unchanged",
        from_last=True,
    )  # fmt: skip
    assert skipped == []
    carried = {f: getattr(again, f) for f in services.SESSION_CARRIED}
    assert carried == {f: CONDUCT[f] for f in services.SESSION_CARRIED}
    # What happened at that visit is not copied: asked again today.
    assert not again.consent_confirmed and not again.sharps_disposed
    assert not again.haemostasis and again.soreness_after is None
    copy = again.insertions.get()
    assert (copy.angle, copy.approach, copy.direction, copy.ultrasound_guided) == (
        "oblique", "pincer", "caudal", True,
    )  # fmt: skip
    assert (copy.lead_to_muscle, copy.waveform, copy.pulse_width_us) == (
        "soleus", "biphasic-asymmetric", 250,
    )  # fmt: skip
    assert copy.ultrasound_depth_mm is None  # measured again each time


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"ultrasound_guided": True, "ultrasound_depth_mm": 400}, "ultrasound_depth_mm"),
        ({**STIM, "pulse_width_us": 5000}, "pulse_width_us"),
        ({**STIM, "stimulation_minutes": 300}, "stimulation_minutes"),
        ({**STIM, "lead_to_muscle": "no-such-muscle"}, "lead_to_muscle"),
    ],
)
def test_implausible_note_values_are_refused_by_field(session, needle, world, extra, field):
    with pytest.raises(ValidationError) as refused:
        services.insertion_add(actor=world.practitioner, session=session,
                               **row(needle, **extra))  # fmt: skip
    assert field in refused.value.message_dict
    assert not session.insertions.exists()


def test_soreness_after_needling_runs_from_0_to_10(session, world):
    with pytest.raises(ValidationError) as refused:
        services.session_update(actor=world.practitioner, session=session, soreness_after=11)
    assert "soreness_after" in refused.value.message_dict


def test_the_consent_states_the_practitioner_s_training_where_the_clinic_asks(world):
    factories.credential(world.practitioner_a, dt.date(2024, 3, 1), None)
    credential = world.practitioner_a.credentials.order_by("-completed_on").first()
    credential.jurisdiction = "Colorado"
    credential.save()
    template = services.current_template(clinic=world.clinic_a, kind="consent")
    client = client_for(world.practitioner)
    page = client.get(reverse("charting:consent", args=[world.patient_a.pk])).content.decode()
    assert "dry-needling training" not in page
    world.clinic_a.consent_states_training = True
    world.clinic_a.save()
    page = client.get(reverse("charting:consent", args=[world.patient_a.pk])).content.decode()
    assert "Dry needling foundations" in page and "Colorado" in page
    client.post(
        reverse("charting:consent", args=[world.patient_a.pk]),
        {"template": template.pk, "signed_name": "Ann Smith", "confirmed": "on"},
    )
    signed = Consent.objects.get(patient=world.patient_a)
    assert "Dry needling foundations" in signed.practitioner_training
    assert "requirements of Colorado" in signed.practitioner_training


def test_an_admin_starts_the_next_consent_version_from_the_shipped_default(world):
    from needlechart import knowledge
    from needlechart.audit.models import AuditEvent
    from needlechart.charting.models import DocumentTemplate

    current = services.current_template(clinic=world.clinic_a, kind="consent")
    services.template_new_version(actor=world.admin, kind="consent", title=current.title,
                                  body="Our own older wording.")  # fmt: skip
    client = client_for(world.admin)
    url = reverse("charting:clinic_document", args=["consent"])
    assert "Start from the default text" in client.get(url).content.decode()
    shipped = knowledge.default_document("consent")
    form = client.get(url + "?start=shipped").context["form"]
    assert form.initial["body"] == shipped.body
    client.post(url, {"title": shipped.title, "body": shipped.body})
    newest = DocumentTemplate.objects.filter(clinic=world.clinic_a, kind="consent").first()
    assert newest.version == 3 and newest.body == shipped.body.strip()
    assert AuditEvent.objects.filter(action="create", object_type="DocumentTemplate").exists()
    assert "Start from the default text" not in client.get(url).content.decode()
