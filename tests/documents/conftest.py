"""A patient charted as the demo charts them: a clinic with its letterhead, two signed
sessions with pain before and after needling, an adverse event, aftercare given, an
addendum, and a discharged episode of another patient."""

from types import SimpleNamespace

import pytest

from needlechart.charting import services
from needlechart.outcomes import measurements
from tests import charts


def _sign(actor, session, before: int, after: int) -> None:
    for timing, value in (("before", before), ("after", after)):
        measurements.observation_add(
            actor=actor, episode=session.episode, session=session, code="nprs", value=value,
            timing=timing,
        )  # fmt: skip
    services.session_update(
        actor=actor, session=session, needles_opened=1, needles_removed=1, sharps_disposed=True
    )
    services.session_sign(actor=actor, session=session)


@pytest.fixture
def signed(world) -> SimpleNamespace:
    clinic = world.clinic_a
    clinic.address, clinic.phone, clinic.email = "4 Quay Street\nGalway", "+353 91 555 0100", ""
    clinic.save()
    actor = world.practitioner
    chart = charts.build(actor, world.episode_a, signed=False)
    # The draft's own "before" rating is 6 (charts.build); its "after" is added here.
    measurements.observation_add(
        actor=actor, episode=world.episode_a, session=chart.session, code="nprs", value=3,
        timing="after",
    )  # fmt: skip
    services.insertion_update(
        actor=actor, insertion=chart.insertion, twitch_responses=2, familiar_pain=True,
        tolerance="good",
    )  # fmt: skip
    services.aftercare_issue(actor=actor, session=chart.session)
    services.session_update(
        actor=actor, session=chart.session, needles_opened=1, needles_removed=1,
        sharps_disposed=True,
    )  # fmt: skip
    services.session_sign(actor=actor, session=chart.session)
    services.addendum_add(
        actor=actor, record=chart.session, reason="Later call",
        text="Bruise settled by the next day.",
    )  # fmt: skip
    second, _ = services.session_start(
        actor=actor, episode=world.episode_a, screening_status="unchanged",
        consent_confirmed=True, clean_technique=True,
    )  # fmt: skip
    services.insertion_add(actor=actor, session=second, **charts.row(chart.needle, "soleus"))
    _sign(actor, second, before=4, after=2)
    draft, _ = services.session_start(
        actor=actor, episode=world.episode_a, screening_status="unchanged",
        consent_confirmed=True, clean_technique=True,
    )  # fmt: skip
    return SimpleNamespace(
        world=world,
        session=chart.session,
        second=second,
        draft=draft,
        consent=chart.consent,
        episode=world.episode_a,
        patient=world.patient_a,
        discharge=charts.discharged(actor, clinic),
    )


@pytest.fixture
def assessed(signed) -> SimpleNamespace:
    """The charted draft assessment signed: a second pain mark, a fuller finding, a baseline
    measure taken with it, a note and an addendum; then a baseline measure recorded after
    it, and a later assessment left as a draft."""
    actor = signed.world.practitioner
    assessment = signed.episode.assessments.get()
    services.pain_mark_set(
        actor=actor, assessment=assessment, region="thigh-posterior-right", intensity=3,
        quality="sharp",
    )  # fmt: skip
    services.finding_add(
        actor=actor, assessment=assessment, muscle="soleus", side="right", taut_band=True,
        hypersensitive_spot=True, referred_sensation="deep-ache", recognised=True,
        jump_sign=True,
    )  # fmt: skip
    measurements.observation_add(
        actor=actor, episode=signed.episode, assessment=assessment, code="nprs", value=7,
        timing="baseline",
    )  # fmt: skip
    services.assessment_update(
        actor=actor, assessment=assessment, note="Worse on stairs; calf tight in the morning."
    )
    services.assessment_sign(actor=actor, assessment=assessment)
    services.addendum_add(
        actor=actor, record=assessment, reason="Phone call", text="Runs twice a week."
    )
    measurements.observation_add(
        actor=actor, episode=signed.episode, code="qol", value=4, timing="baseline"
    )
    draft = services.assessment_start(actor=actor, episode=signed.episode, kind="reassessment")
    return SimpleNamespace(**vars(signed), assessment=assessment, draft_assessment=draft)
