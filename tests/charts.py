"""Charted records for the personas' patients: enough of every kind for pages to show."""

import datetime as dt
from types import SimpleNamespace
from typing import Any

from django.utils import timezone

from needlechart.accounts.models import User
from needlechart.charting import services
from needlechart.charting.models import NeedleSize
from needlechart.outcomes import measurements
from needlechart.patients.models import EpisodeOfCare


def build(actor: User, episode: EpisodeOfCare, *, signed: bool) -> SimpleNamespace:
    """Screening, consent, a draft assessment with a finding, a draft session with a row, a
    measurement and an adverse event; and, when `signed`, a signed session too."""
    clinic = episode.patient.clinic
    services.needle_sizes(clinic)
    needle = NeedleSize.objects.filter(clinic=clinic).first()
    services.screening_record(actor=actor, episode=episode, factors=[])
    consent = services.consent_sign(
        actor=actor,
        patient=episode.patient,
        template=services.current_template(clinic=clinic, kind="consent"),
        signed_name=episode.patient.full_name,
        confirmed=True,
    )
    assessment = services.assessment_start(actor=actor, episode=episode)
    services.pain_mark_set(
        actor=actor, assessment=assessment, region="calf-left", intensity=6, quality="aching"
    )
    finding = services.finding_add(
        actor=actor, assessment=assessment, muscle="gastrocnemius", side="left", taut_band=True
    )
    row = {
        "needle_size": needle, "technique": "pistoning", "needles": 1, "depth": "deep",
        "twitch_responses": 1, "familiar_pain": True, "tolerance": "good",
    }  # fmt: skip
    signed_session = None
    if signed:
        signed_session, _ = services.session_start(
            actor=actor,
            episode=episode,
            screening_status="unchanged",
            consent_confirmed=True,
            clean_technique=True,
        )
        services.insertion_add(
            actor=actor, session=signed_session, muscle="soleus", side="left", **row
        )
        services.session_update(
            actor=actor,
            session=signed_session,
            needles_opened=1,
            needles_removed=1,
            sharps_disposed=True,
        )
        services.session_sign(actor=actor, session=signed_session)
    session, _ = services.session_start(
        actor=actor,
        episode=episode,
        screening_status="unchanged",
        consent_confirmed=True,
        clean_technique=True,
    )
    insertion = services.insertion_add(
        actor=actor, session=session, muscle="gastrocnemius", side="left", **row
    )
    observation = measurements.observation_add(
        actor=actor, episode=episode, session=session, code="nprs", value=6, timing="before"
    )
    event = services.adverse_event_record(
        actor=actor, session=session, event_type="bruising", onset="during", severity="mild",
        action_taken="none", outcome="resolved", muscles=["gastrocnemius:left"],
    )  # fmt: skip
    return SimpleNamespace(
        needle=needle,
        consent=consent,
        assessment=assessment,
        finding=finding,
        session=session,
        signed_session=signed_session,
        insertion=insertion,
        observation=observation,
        event=event,
    )


def discharged(actor: User, clinic) -> Any:
    """A second episode of a new patient, charted, signed and discharged."""
    from needlechart.outcomes import services as outcome_services
    from tests import factories

    patient = factories.patient(clinic, given_name="Dana", family_name="Done")
    practitioner = actor.practitioner
    if not practitioner.credentials.exists():
        factories.credential(practitioner, dt.date(2020, 1, 1), None)
    episode = factories.episode(patient, practitioner)
    build(actor, episode, signed=True)
    draft = episode.sessions.filter(signed_at__isnull=True).get()
    services.addendum_add(actor=actor, record=draft, reason="Not needed", kind="entered-in-error")
    return outcome_services.discharge(
        actor=actor,
        episode=episode,
        reason="goals-met",
        summary="Pain settled; exercises continue.",
    )


def row(needle, muscle="gastrocnemius", side="left", technique="pistoning", needles=1, **extra):
    values = {
        "muscle": muscle,
        "side": side,
        "needles": needles,
        "needle_size": needle,
        "depth": "deep",
        "technique": technique,
        "twitch_responses": 2,
        "familiar_pain": True,
        "tolerance": "good",
    }
    values.update(extra)
    return values


FOLLOW_UP_MUSCLES = [
    ("upper-trapezius", "right", 2),
    ("levator-scapulae", "right", 1),
    ("splenius-capitis", "right", 1),
    ("infraspinatus", "right", 2),
]


def follow_up_ready(actor: User, episode: EpisodeOfCare, *, days_ago: int = 7) -> SimpleNamespace:
    """A patient back for a follow-up: screened, consented, and needled `days_ago` in four
    muscles with a range of motion measured, all signed."""
    import time_machine
    from django.utils import timezone

    clinic = episode.patient.clinic
    with time_machine.travel(timezone.now() - dt.timedelta(days=days_ago), tick=False):
        services.needle_sizes(clinic)
        needle = NeedleSize.objects.filter(clinic=clinic, length_mm=40).first()
        services.screening_record(actor=actor, episode=episode, factors=[])
        consent = services.consent_sign(
            actor=actor, patient=episode.patient,
            template=services.current_template(clinic=clinic, kind="consent"),
            signed_name=episode.patient.full_name, confirmed=True,
        )  # fmt: skip
    with time_machine.travel(
        timezone.now() - dt.timedelta(days=days_ago) + dt.timedelta(minutes=5)
    ):
        last, _ = services.session_start(
            actor=actor,
            episode=episode,
            screening_status="unchanged",
            consent_confirmed=True,
            clean_technique=True,
        )
        for muscle, side, needles in FOLLOW_UP_MUSCLES:
            services.insertion_add(
                actor=actor, session=last, muscle=muscle, side=side, needles=needles,
                needle_size=needle, depth="superficial" if muscle == "upper-trapezius" else "deep",
                depth_mm=12, technique="pistoning", twitch_responses=2, familiar_pain=True,
                tolerance="good",
            )  # fmt: skip
        measurements.observation_add(
            actor=actor, episode=episode, session=last, code="rom",
            component="cervical-rotation", side="right", value=55, timing="before",
        )  # fmt: skip
        measurements.observation_add(
            actor=actor, episode=episode, session=last, code="nprs", value=7, timing="before"
        )
        total = sum(n for _, _, n in FOLLOW_UP_MUSCLES)
        services.session_update(
            actor=actor,
            session=last,
            needles_opened=total,
            needles_removed=total,
            sharps_disposed=True,
        )
        services.session_sign(actor=actor, session=last)
    return SimpleNamespace(consent=consent, last=last, needle=needle)


def grow(actor: User, episode: EpisodeOfCare) -> None:
    """More of every kind of record: a charted visit (build) and a new version of the plan,
    with a goal and another therapy."""
    from needlechart.outcomes import services as plans

    build(actor, episode, signed=True)
    today = timezone.localdate()
    plans.plan_create(
        actor=actor, episode=episode, planned_sessions=6,
        frequency="weekly", review_on=today + dt.timedelta(days=30),
        goals=[{"description": "Less pain", "code": "nprs", "target": 2,
                "target_date": today + dt.timedelta(days=60)}],
        therapies=[{"kind": "home-exercise", "provider": "The patient", "frequency": "daily",
                    "exercises": [{"name": "calf stretch", "dose": "3 x 30 s"}]}],
    )  # fmt: skip
