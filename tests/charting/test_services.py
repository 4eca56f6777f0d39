import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from needlechart.accounts.models import DryNeedlingCredential
from needlechart.charting import services
from needlechart.charting.models import Addendum, AdverseEvent, Insertion, NeedlingSession
from needlechart.outcomes import measurements
from needlechart.outcomes.models import Observation
from tests.charts import row


def sign(session, actor):
    return services.session_sign(actor=actor, session=session)


def ready(session, world, needle, rows=(("gastrocnemius", "left"),), opened=None):
    for muscle, side in rows:
        services.insertion_add(
            actor=world.practitioner, session=session, **row(needle, muscle, side)
        )
    count = opened if opened is not None else len(rows)
    services.session_update(
        actor=world.practitioner,
        session=session,
        needles_opened=count,
        needles_removed=count,
        sharps_disposed=True,
    )
    return session


# --- screening and consent ---------------------------------------------------------------


def test_a_screening_stores_factors_as_the_engine_reads_them(world):
    screening = services.screening_record(
        actor=world.practitioner,
        episode=world.episode_a,
        factors=[
            {"code": "lymphedema", "limb": "arm", "side": "left"},
            {"code": "anticoagulant", "drug": "apixaban"},
        ],
    )
    assert screening.factors == [
        {"code": "lymphedema", "limb": "arm", "side": "left"},
        {"code": "anticoagulant", "drug": "apixaban"},
    ]
    assert services.current_screening(world.episode_a) == screening


@pytest.mark.parametrize(
    ("factors", "message"),
    [([{"code": "gout"}], "unknown screening factor"), ([{"code": "lymphedema"}], "needs limb")],
)
def test_a_screening_refuses_factors_the_engine_does_not_understand(world, factors, message):
    with pytest.raises(ValidationError, match=message):
        services.screening_record(
            actor=world.practitioner, episode=world.episode_a, factors=factors
        )


def test_a_consent_covers_needling_until_withdrawn_or_the_text_changes(consented):
    world = consented
    consent, why = services.consent_status(world.patient_a)
    assert consent is not None and why == ""
    services.template_new_version(
        actor=world.admin, kind="consent", title="Consent to dry needling", body="New text " * 30
    )
    consent, why = services.consent_status(world.patient_a)
    assert consent is None and "needs to sign again" in why
    template = services.current_template(clinic=world.clinic_a, kind="consent")
    signed = services.consent_sign(actor=world.practitioner, patient=world.patient_a,
                                   template=template, signed_name="Ann Smith", confirmed=True)  # fmt: skip
    services.consent_withdraw(
        actor=world.practitioner, consent=signed, reason="Prefers exercise only"
    )
    consent, why = services.consent_status(world.patient_a)
    assert consent is None and "withdrew consent" in why
    signed.refresh_from_db()
    assert signed.signed_name == "Ann Smith"  # the signed consent itself never changes


def test_a_consent_needs_the_confirmation_the_typed_name_and_the_current_text(world):
    template = services.current_template(clinic=world.clinic_a, kind="consent")
    with pytest.raises(ValidationError) as refused:
        services.consent_sign(actor=world.practitioner, patient=world.patient_a,
                              template=template, signed_name=" ", confirmed=False)  # fmt: skip
    assert set(refused.value.message_dict) == {"confirmed", "signed_name"}


def test_a_front_desk_user_cannot_witness_consent(world):
    template = services.current_template(clinic=world.clinic_a, kind="consent")
    with pytest.raises(ValidationError, match="Your role may not witness a consent"):
        services.consent_sign(actor=world.front_desk, patient=world.patient_a,
                              template=template, signed_name="Ann Smith", confirmed=True)  # fmt: skip


# --- session rows ------------------------------------------------------------------------


def test_a_session_needs_a_screening_first(world):
    with pytest.raises(ValidationError, match="Record the health screening"):
        services.session_start(
            actor=world.practitioner, episode=world.episode_a, screening_status="unchanged"
        )


def test_a_contraindicated_row_is_refused_with_its_reason(session, needle, world):
    services.screening_record(
        actor=world.practitioner, episode=world.episode_a,
        factors=[{"code": "lymphedema", "limb": "leg", "side": "left"}],
    )  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        services.insertion_add(
            actor=world.practitioner, session=session, **row(needle, "gastrocnemius", "left")
        )
    assert "Contraindicated: Lymphedema (left leg)" in refused.value.message_dict["muscle"][0]
    assert not session.insertions.exists()
    allowed = services.insertion_add(
        actor=world.practitioner, session=session, **row(needle, "gastrocnemius", "right")
    )
    assert allowed.safety_verdict in ("allowed", "caution")


def test_a_caution_is_stored_on_the_row_with_its_reasons(session, needle, world):
    insertion = services.insertion_add(
        actor=world.practitioner, session=session, **row(needle, "upper-trapezius", "right")
    )
    assert insertion.safety_verdict == "caution"
    assert any("pneumothorax" in r["text"] for r in insertion.safety_reasons)


def test_electrical_stimulation_needs_frequency_intensity_and_the_lead_path(session, needle, world):
    with pytest.raises(ValidationError) as refused:
        services.insertion_add(actor=world.practitioner, session=session,
                               **row(needle, technique="electrical-stimulation"))  # fmt: skip
    assert set(refused.value.message_dict) == {"frequency_hz", "intensity_ma", "lead_to_muscle"}
    with pytest.raises(ValidationError) as refused:
        services.insertion_add(
            actor=world.practitioner, session=session,
            **row(needle, technique="electrical-stimulation", frequency_hz=2, intensity_ma=5,
                  lead_to_muscle="soleus"),
        )  # fmt: skip
    assert set(refused.value.message_dict) == {"lead_to_side"}
    paired = services.insertion_add(
        actor=world.practitioner, session=session,
        **row(needle, technique="electrical-stimulation", frequency_hz=2, intensity_ma=5,
              lead_to_muscle="gastrocnemius", lead_to_side="left", waveform="biphasic-symmetric",
              pulse_width_us=250, stimulation_minutes=15),
    )  # fmt: skip
    assert (paired.lead_to_muscle, paired.pulse_width_us) == ("gastrocnemius", 250)


def test_a_row_of_another_technique_keeps_no_stimulation_settings(session, needle, world):
    plain = services.insertion_add(
        actor=world.practitioner, session=session,
        **row(needle, technique="sparrow-pecking", frequency_hz=2, lead_to_muscle="soleus",
              pulse_width_us=250, ultrasound_depth_mm=12),
    )  # fmt: skip
    assert plain.technique == "sparrow-pecking"
    assert (plain.frequency_hz, plain.lead_to_muscle, plain.pulse_width_us) == (None, "", None)
    assert plain.ultrasound_depth_mm is None  # no ultrasound guidance, no depth from it


def test_an_assistant_records_measurements_but_cannot_needle_or_sign(session, needle, world):
    observation = measurements.observation_add(
        actor=world.assistant, episode=world.episode_a, session=session, code="nprs",
        value=6, timing="before",
    )  # fmt: skip
    assert observation.recorded_by == world.assistant
    with pytest.raises(ValidationError, match="may not chart needling"):
        services.insertion_add(actor=world.assistant, session=session, **row(needle))
    with pytest.raises(ValidationError, match="may not chart needling"):
        sign(session, world.assistant)


# --- signing -----------------------------------------------------------------------------


def test_a_complete_session_signs_with_the_cpt_code_of_its_distinct_muscles(session, needle, world):
    ready(
        session,
        world,
        needle,
        rows=[
            ("gastrocnemius", "left"),
            ("gastrocnemius", "right"),
            ("soleus", "left"),
            ("tibialis-anterior", "left"),
        ],
    )
    signed = sign(session, world.practitioner)
    assert signed.is_signed and signed.cpt_code == "20561"
    assert signed.consent is not None and signed.signed_by == world.practitioner


def test_two_muscles_give_20560(session, needle, world):
    ready(session, world, needle, rows=[("gastrocnemius", "left"), ("soleus", "left")])
    assert sign(session, world.practitioner).cpt_code == "20560"


def test_a_mismatched_needle_count_blocks_signing(session, needle, world):
    ready(session, world, needle)
    services.session_update(
        actor=world.practitioner,
        session=session,
        needles_opened=3,
        needles_removed=2,
        sharps_disposed=True,
    )
    with pytest.raises(ValidationError) as refused:
        sign(session, world.practitioner)
    assert refused.value.messages == [
        "Needle count does not match: 3 opened, 2 removed and disposed of."
    ]


def test_a_missing_consent_blocks_starting_a_session(world, needle):
    services.screening_record(actor=world.practitioner, episode=world.episode_a, factors=[])
    with pytest.raises(ValidationError) as refused:
        services.session_start(actor=world.practitioner, episode=world.episode_a,
                               screening_status="unchanged", consent_confirmed=True, clean_technique=True)  # fmt: skip
    assert refused.value.messages == [
        "No needling without a current consent: No consent to dry needling has been signed."
    ]
    assert not NeedlingSession.objects.exists()


def test_a_consent_withdrawn_during_the_session_blocks_adding_rows_and_signing(
    session, needle, world
):
    ready(session, world, needle)
    consent = world.patient_a.consents.get()
    services.consent_withdraw(actor=world.practitioner, consent=consent, reason="Changed mind")
    with pytest.raises(ValidationError):
        services.insertion_add(actor=world.practitioner, session=session, **row(needle, "soleus"))
    with pytest.raises(ValidationError) as refused:
        sign(session, world.practitioner)
    assert any(m.startswith("No current consent") for m in refused.value.messages)
    session.refresh_from_db()
    assert not session.is_signed


def test_a_lapsed_credential_blocks_signing(session, needle, world):
    ready(session, world, needle)
    DryNeedlingCredential.objects.filter(practitioner=world.practitioner_a).update(
        expires_on=timezone.localdate() - dt.timedelta(days=1),
        completed_on=timezone.localdate() - dt.timedelta(days=900),
    )
    with pytest.raises(ValidationError) as refused:
        sign(session, world.practitioner)
    assert "credential is missing or has lapsed" in refused.value.messages[0]


def test_a_row_contraindicated_by_a_later_screening_blocks_signing(session, needle, world):
    ready(session, world, needle)
    services.screening_record(actor=world.practitioner, episode=world.episode_a,
                              factors=[{"code": "local-infection", "regions": ["calf-left"]}])  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        sign(session, world.practitioner)
    assert refused.value.messages == [
        "Gastrocnemius left: contraindicated by the current screening; remove the row."
    ]


def test_only_the_practitioner_who_needled_signs(session, needle, world):
    ready(session, world, needle)
    with pytest.raises(ValidationError, match="Only the practitioner who needled"):
        sign(session, world.admin)


# --- read-only once signed ---------------------------------------------------------------


@pytest.fixture
def signed(session, needle, world) -> NeedlingSession:
    ready(session, world, needle)
    return sign(session, world.practitioner)


def test_no_service_changes_a_signed_session(signed, needle, world):
    calls = [
        lambda: services.insertion_add(actor=world.practitioner, session=signed, **row(needle, "soleus")),
        lambda: services.insertion_remove(actor=world.practitioner, insertion=signed.insertions.get()),
        lambda: services.session_update(actor=world.practitioner, session=signed, note="changed"),
        lambda: measurements.observation_add(actor=world.practitioner, episode=world.episode_a, session=signed,
                                         code="nprs", value=2, timing="after"),
        lambda: sign(signed, world.practitioner),
    ]  # fmt: skip
    for call in calls:
        with pytest.raises(ValidationError, match="signed and cannot be changed"):
            call()
    signed.refresh_from_db()
    assert signed.note == "" and signed.insertions.count() == 1


def test_the_database_refuses_to_change_a_signed_session_or_its_rows(signed, needle):
    statements = [
        ("UPDATE charting_needlingsession SET note = 'x' WHERE id = %s", [signed.pk]),
        ("UPDATE charting_insertion SET needles = 9 WHERE session_id = %s", [signed.pk]),
    ]
    for sql, params in statements:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    with pytest.raises(DatabaseError), transaction.atomic():
        Insertion.objects.create(session=signed, muscle="soleus", side="left", needle_size=needle,
                                 technique="pistoning")  # fmt: skip
    with pytest.raises(DatabaseError), transaction.atomic():
        Observation.objects.create(episode=signed.episode, session=signed, code="nprs", value=1,
                                   timing="after", recorded_by=signed.created_by)  # fmt: skip
    assert Insertion.objects.get(session=signed).needles == 1


def test_a_signed_session_takes_addenda_and_can_be_marked_entered_in_error(signed, world):
    addendum = services.addendum_add(actor=world.practitioner, record=signed,
                                     reason="Clarification", text="Needled the medial head only.")  # fmt: skip
    assert addendum.session == signed
    services.addendum_add(actor=world.practitioner, record=signed, reason="Wrong patient",
                          kind=Addendum.Kind.ENTERED_IN_ERROR)  # fmt: skip
    assert services.entered_in_error(signed)
    with pytest.raises(ValidationError, match="entered in error"):
        services.addendum_add(actor=world.practitioner, record=signed, reason="x", text="y")


def test_addenda_are_for_signed_records_only(session, world):
    with pytest.raises(ValidationError, match="addenda are for signed records"):
        services.addendum_add(actor=world.practitioner, record=session, reason="x", text="y")


def test_adverse_events_are_recorded_after_signing_for_muscles_that_were_needled(signed, world):
    event = services.adverse_event_record(
        actor=world.practitioner, session=signed, event_type="bruising", onset="within-24h",
        severity="mild", duration_value=3, duration_unit="days", action_taken="self-care",
        outcome="resolved", muscles=["gastrocnemius:left"],
    )  # fmt: skip
    assert not event.is_major
    with pytest.raises(ValidationError) as refused:
        services.adverse_event_record(
            actor=world.practitioner, session=signed, event_type="bleeding", onset="during",
            severity="mild", action_taken="none", outcome="resolved", muscles=["deltoid:left"],
        )  # fmt: skip
    assert "muscles" in refused.value.message_dict


def test_start_from_last_session_copies_its_muscles(signed, world):
    second, skipped = services.session_start(
        actor=world.practitioner,
        episode=world.episode_a,
        screening_status="unchanged",
        consent_confirmed=True,
        from_last=True,
    )
    assert skipped == []
    last = world.episode_a.sessions.filter(signed_at__isnull=False).get().insertions.get()
    copy = second.insertions.get()
    plan = ("muscle", "side", "needles", "needle_size_id", "depth", "depth_mm", "technique",
            "retention_minutes", "frequency_hz", "intensity_ma")  # fmt: skip
    assert [getattr(copy, f) for f in plan] == [getattr(last, f) for f in plan]
    # Today's findings are today's: empty, and signing asks for them.
    assert (copy.twitch_responses, copy.familiar_pain, copy.tolerance) == (None, None, "")
    assert last.findings_recorded
    problems = services.sign_problems(world.practitioner, second)
    assert (
        "Gastrocnemius (left): record today's findings (twitch responses, familiar pain, "
        "tolerance)." in problems
    )
    # The needle count follows the copied rows.
    second.refresh_from_db()
    assert second.needles_opened == last.needles and not second.needles_opened_by_hand


# --- each rule that guards signing, on its own -------------------------------------------


def test_signing_needs_clean_technique_confirmed(session, needle, world):
    ready(session, world, needle)
    services.session_update(actor=world.practitioner, session=session, clean_technique=False)
    with pytest.raises(ValidationError) as refused:
        sign(session, world.practitioner)
    assert refused.value.messages == ["Confirm clean technique in the pre-needling checklist."]


def test_signing_needs_at_least_as_many_needles_opened_as_the_rows_used(session, needle, world):
    services.insertion_add(actor=world.practitioner, session=session,
                           **row(needle, "gastrocnemius", needles=3))  # fmt: skip
    services.session_update(actor=world.practitioner, session=session, needles_opened=2,
                            needles_removed=2, sharps_disposed=True)  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        sign(session, world.practitioner)
    assert refused.value.messages == ["Fewer needles opened (2) than recorded in the rows (3)."]


def test_signing_needs_a_row(session, world):
    services.session_update(actor=world.practitioner, session=session, needles_opened=0,
                            needles_removed=0, sharps_disposed=True)  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        sign(session, world.practitioner)
    assert refused.value.messages == ["Record at least one needled muscle."]


def test_signing_twice_refuses_the_second_without_changing_the_first(session, needle, world):
    ready(session, world, needle)
    stale = NeedlingSession.objects.get(pk=session.pk)  # a second tab, opened before signing
    sign(session, world.practitioner)
    first = NeedlingSession.objects.get(pk=session.pk).signed_at
    with pytest.raises(ValidationError, match="signed and cannot be changed"):
        sign(stale, world.practitioner)
    assert NeedlingSession.objects.get(pk=session.pk).signed_at == first


# --- who may chart -----------------------------------------------------------------------


def test_a_colleague_cannot_chart_or_sign_another_practitioners_draft(session, needle, world):
    for call in [
        lambda: services.insertion_add(actor=world.admin, session=session, **row(needle)),
        lambda: services.session_update(actor=world.admin, session=session, note="mine now"),
    ]:
        with pytest.raises(ValidationError, match="Only the practitioner who needled"):
            call()
    session.refresh_from_db()
    assert session.note == "" and not session.insertions.exists()


def test_a_practitioner_whose_credential_lapsed_cannot_start_or_add_rows(session, needle, world):
    DryNeedlingCredential.objects.filter(practitioner=world.practitioner_a).update(
        expires_on=timezone.localdate() - dt.timedelta(days=1),
        completed_on=timezone.localdate() - dt.timedelta(days=900),
    )
    with pytest.raises(ValidationError, match="credential is missing or has lapsed"):
        services.insertion_add(actor=world.practitioner, session=session, **row(needle))
    with pytest.raises(ValidationError, match="credential is missing or has lapsed"):
        services.session_start(actor=world.practitioner, episode=world.episode_a,
                               screening_status="unchanged", consent_confirmed=True)  # fmt: skip
    assert NeedlingSession.objects.count() == 1 and not session.insertions.exists()


def test_a_needle_of_another_clinics_catalogue_is_refused(session, world):
    services.needle_sizes(world.clinic_b)
    foreign = world.clinic_b.needles.first()
    with pytest.raises(ValidationError) as refused:
        services.insertion_add(actor=world.practitioner, session=session, **row(foreign))
    assert refused.value.message_dict["needle_size"] == [
        "Choose a needle from the clinic's catalogue."
    ]


def test_only_the_assessing_practitioner_signs_the_assessment(consented):
    world = consented
    assessment = services.assessment_start(actor=world.practitioner, episode=world.episode_a)
    services.pain_mark_set(actor=world.practitioner, assessment=assessment, region="calf-left",
                           intensity=5, quality="aching")  # fmt: skip
    with pytest.raises(ValidationError, match="Only the practitioner who made the assessment"):
        services.assessment_sign(actor=world.admin, assessment=assessment)
    assessment.refresh_from_db()
    assert not assessment.is_signed


# --- copying the last session ------------------------------------------------------------


def test_copying_the_last_session_skips_muscles_a_new_screening_forbids(signed, world):
    services.screening_record(actor=world.practitioner, episode=world.episode_a,
                              factors=[{"code": "local-infection", "regions": ["calf-left"]}])  # fmt: skip
    second, skipped = services.session_start(actor=world.practitioner, episode=world.episode_a,
                                             screening_status="changed", consent_confirmed=True, from_last=True)  # fmt: skip
    assert not second.insertions.exists()
    assert len(skipped) == 1 and skipped[0].startswith("Gastrocnemius")


# --- consent, adverse events, aftercare, measurements ------------------------------------


def test_a_consent_is_withdrawn_once_and_only_with_a_reason(consented):
    world = consented
    consent = world.patient_a.consents.get()
    with pytest.raises(ValidationError) as refused:
        services.consent_withdraw(actor=world.practitioner, consent=consent, reason="  ")
    assert "reason" in refused.value.message_dict
    services.consent_withdraw(actor=world.practitioner, consent=consent, reason="Moving away")
    with pytest.raises(ValidationError, match="already withdrawn"):
        services.consent_withdraw(actor=world.practitioner, consent=consent, reason="Again")
    assert consent.__class__.objects.get(pk=consent.pk).withdrawal.reason == "Moving away"


def test_an_adverse_event_marked_in_error_needs_a_reason_and_then_stays_as_it_is(signed, world):
    event = services.adverse_event_record(
        actor=world.practitioner, session=signed, event_type="bruising", onset="during",
        severity="mild", action_taken="none", outcome="ongoing", muscles=["gastrocnemius:left"],
    )  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        services.adverse_event_enter_in_error(actor=world.practitioner, event=event, reason="")
    assert "reason" in refused.value.message_dict
    services.adverse_event_enter_in_error(actor=world.practitioner, event=event,
                                          reason="Recorded on the wrong session")  # fmt: skip
    with pytest.raises(ValidationError, match="entered in error"):
        services.adverse_event_update(actor=world.practitioner, event=event, outcome="resolved")
    with pytest.raises(ValidationError, match="entered in error"):
        services.adverse_event_enter_in_error(actor=world.practitioner, event=event, reason="x")
    event.refresh_from_db()
    assert event.outcome == "ongoing"
    assert event.entered_in_error_reason == "Recorded on the wrong session"


def test_a_follow_up_changes_the_outcome_but_not_what_happened(signed, world):
    event = services.adverse_event_record(
        actor=world.practitioner, session=signed, event_type="bruising", onset="during",
        severity="mild", action_taken="none", outcome="ongoing", muscles=["gastrocnemius:left"],
    )  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        services.adverse_event_update(actor=world.practitioner, event=event, event_type="bleeding")
    assert "event_type" in refused.value.message_dict
    services.adverse_event_update(actor=world.practitioner, event=event, outcome="recovering")
    services.adverse_event_update(actor=world.practitioner, event=event, outcome="resolved",
                                  severity="moderate")  # fmt: skip
    event = AdverseEvent.objects.get(pk=event.pk)
    # What was recorded stays as it was; each follow-up is a record of its own.
    assert (event.event_type, event.severity, event.outcome) == ("bruising", "mild", "ongoing")
    assert [(f.outcome, f.severity) for f in event.follow_ups.all()] == [
        ("recovering", "mild"), ("resolved", "moderate"),
    ]  # fmt: skip
    assert (event.now.outcome, event.now.severity, event.now.event_type) == (
        "resolved", "moderate", "bruising",
    )  # fmt: skip
    # A follow-up that changes nothing records nothing.
    services.adverse_event_update(actor=world.practitioner, event=event, outcome="resolved")
    assert event.follow_ups.count() == 2


def test_a_follow_up_from_a_page_that_showed_older_values_is_refused(signed, world):
    from needlechart.records import snapshot

    event = services.adverse_event_record(
        actor=world.practitioner, session=signed, event_type="bruising", onset="during",
        severity="mild", action_taken="none", outcome="ongoing", muscles=["gastrocnemius:left"],
    )  # fmt: skip
    shown = snapshot(event.now, ["outcome", "severity"])
    services.adverse_event_update(actor=world.practitioner, event=event, outcome="recovering")
    with pytest.raises(ValidationError, match="Someone saved this record"):
        services.adverse_event_update(actor=world.practitioner, event=event, was=shown,
                                      severity="moderate")  # fmt: skip
    assert event.follow_ups.count() == 1


def test_aftercare_is_issued_only_for_a_session_with_needled_muscles(session, world):
    with pytest.raises(ValidationError, match="Record the needled muscles"):
        services.aftercare_issue(actor=world.practitioner, session=session)
    assert not session.aftercare_issues.exists()


def test_a_measurement_cannot_point_at_another_episodes_session(session, world):
    other_episode = world.episode_a.patient.episodes.create(
        condition_code=world.episode_a.condition_code, care_manager=world.practitioner_a,
        body_area=world.episode_a.body_area,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="belongs to another episode"):
        measurements.observation_add(actor=world.practitioner, episode=other_episode,
                                 session=session, code="nprs", value=4, timing="before")  # fmt: skip
    assert not Observation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_every_charting_write_runs_in_its_own_transaction(world, needle):
    """Outside a test's wrapping transaction, as in production: each write that locks its
    record must open a transaction itself (PostgreSQL refuses a lock without one)."""
    actor, episode = world.practitioner, world.episode_a
    services.screening_record(actor=actor, episode=episode, factors=[])
    services.consent_sign(actor=actor, patient=world.patient_a, signed_name="Ann Smith",
                          template=services.current_template(clinic=world.clinic_a, kind="consent"),
                          confirmed=True)  # fmt: skip
    assessment = services.assessment_start(actor=actor, episode=episode)
    services.pain_mark_set(actor=actor, assessment=assessment, region="calf-left", intensity=5,
                           quality="aching")  # fmt: skip
    services.pain_mark_set(actor=actor, assessment=assessment, region="heel-left", intensity=2,
                           quality="aching")  # fmt: skip
    services.pain_mark_remove(actor=actor, assessment=assessment, region="heel-left")
    finding = services.finding_add(actor=actor, assessment=assessment, muscle="soleus",
                                   side="left")  # fmt: skip
    services.finding_remove(actor=actor, finding=finding)
    services.assessment_update(actor=actor, assessment=assessment, note="Calf pain on running")
    measurements.observation_add(actor=actor, episode=episode, assessment=assessment, code="nprs",
                             value=5, timing="baseline")  # fmt: skip
    services.assessment_sign(actor=actor, assessment=assessment)
    session, _ = services.session_start(actor=actor, episode=episode,
                                        screening_status="unchanged", consent_confirmed=True, clean_technique=True)  # fmt: skip
    extra = services.insertion_add(actor=actor, session=session, **row(needle, "soleus"))
    services.insertion_remove(actor=actor, insertion=extra)
    ready(session, world, needle)
    measurements.observation_add(actor=actor, episode=episode, session=session, code="nprs", value=3,
                             timing="after")  # fmt: skip
    sign(session, actor)
    session.refresh_from_db()
    assert session.is_signed and list(assessment.pain_marks.values_list("region", flat=True)) == [
        "calf-left"
    ]
