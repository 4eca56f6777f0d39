"""Check-ins after a signed session: when they open, what an answer does (pending adverse
events, red-flag advice and alerts), and the clinician's review of what was reported."""

import datetime as dt
import io
import re

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from needlechart.audit.models import AuditEvent
from needlechart.charting import services as charting
from needlechart.charting.models import AdverseEvent, NeedlingSession
from needlechart.portal import alerts, schedule, selectors, services
from needlechart.portal.models import CheckIn, HealthQuestionnaire, ReportedEffect
from tests.conftest import client_for
from tests.portal.conftest import signed_session
from tests.sql import captured, query_plan


def answer(world, session, hours, soreness=2, symptoms=(), now=None, **extra):
    return services.checkin_answer(
        actor=world.patient_user, session=session, hours=hours, soreness=soreness,
        symptoms=list(symptoms), now=now or session.performed_at + dt.timedelta(hours=hours, minutes=5),
        **extra,
    )  # fmt: skip


def test_a_check_in_opens_at_24_hours_and_closes_a_day_later(session_26h, world):
    performed = session_26h.performed_at
    for hours_after, state in [(23, "upcoming"), (24, "open"), (47.9, "open"), (48, "closed")]:
        now = performed + dt.timedelta(hours=hours_after)
        [first, *_] = schedule.slots(session_26h, now)
        assert first.state(now) == state, hours_after
    with pytest.raises(ValidationError, match="not open now"):
        answer(world, session_26h, 24, now=performed + dt.timedelta(hours=23))
    with pytest.raises(ValidationError, match="has closed"):
        answer(world, session_26h, 24, now=performed + dt.timedelta(hours=49))
    assert not CheckIn.objects.exists()


def test_the_72_hour_check_in_appears_only_when_soreness_has_not_settled(
    consented_long_ago, needle
):
    world = consented_long_ago
    settled = signed_session(world, needle, 80)
    sore = signed_session(world, needle, 79, muscle="soleus")
    answer(world, settled, 48, soreness=1)
    answer(world, sore, 48, soreness=5)
    now = timezone.now()
    assert [s.hours for s in schedule.slots(settled, now)] == [24, 48]
    assert [s.hours for s in schedule.slots(sore, now)] == [24, 48, 72]
    answer(world, sore, 72, soreness=2)
    with pytest.raises(ValidationError, match="no check-in at this time"):
        answer(world, settled, 72)


def test_each_reported_effect_waits_for_the_clinician_once_per_type(session_26h, world):
    answer(world, session_26h, 24, soreness=4, symptoms=["bruising", "headache"])
    answer(world, session_26h, 48, soreness=3, symptoms=["bruising"])
    effects = {e.event_type: e for e in ReportedEffect.objects.filter(session=session_26h)}
    assert set(effects) == {"pain-after", "bruising", "headache"}
    assert all(e.status == "pending" for e in effects.values())
    # Reported at 24 and 48 hours: one item, carrying both answers.
    assert "(24 h)" in effects["bruising"].detail and "(48 h)" in effects["bruising"].detail
    assert not AdverseEvent.objects.filter(session=session_26h).exists()


def test_no_soreness_and_no_symptoms_report_no_effect(session_26h, world):
    answer(world, session_26h, 24, soreness=0)
    assert not ReportedEffect.objects.exists()


def test_a_check_in_is_answered_once(session_26h, world):
    answer(world, session_26h, 24)
    with pytest.raises(ValidationError, match="already answered"):
        answer(world, session_26h, 24, soreness=9)
    assert CheckIn.objects.get().soreness == 2


def test_something_else_needs_words_and_unknown_symptoms_are_refused(session_26h, world):
    with pytest.raises(ValidationError) as refused:
        answer(world, session_26h, 24, symptoms=["other"])
    assert "other" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        answer(world, session_26h, 24, symptoms=["itchy-elbow"])
    assert "symptoms" in refused.value.message_dict
    assert not CheckIn.objects.exists()


def test_a_red_flag_shows_urgent_advice_at_once_and_alerts_the_practitioner(
    session_26h, world, django_capture_on_commit_callbacks
):
    client = client_for(world.patient_user)
    url = reverse("portal:check_in", args=[session_26h.pk, 24])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"soreness": 3, "symptoms": ["breathlessness-chest-pain", "bruising"]}
        )
    assert response.url == reverse("portal:session", args=[session_26h.pk])
    page = client.get(response.url).content.decode()
    assert 'role="alert"' in page and "Get urgent care now" in page
    assert "emergency" in page.lower()
    [alert] = mail.outbox
    assert set(alert.to) == {"paula@example.org"}
    assert "Urgent" in alert.subject
    assert reverse("charting:session", args=[session_26h.pk]) in alert.body
    # Nothing that names the patient or what they reported leaves by email.
    patient = world.patient_a
    for secret in (patient.mrn, patient.given_name, patient.family_name, patient.phone,
                   "breath", "chest", "bruis"):  # fmt: skip
        assert not secret or secret.lower() not in (alert.subject + alert.body).lower(), secret
    check_in = CheckIn.objects.get()
    sent = AuditEvent.objects.get(action="send", object_id=str(check_in.pk))
    assert sent.patient == patient and sent.detail["to"] == ["paula@example.org"]
    assert check_in.red_flags == ["breathlessness-chest-pain"]
    assert check_in.alert_emailed_at is not None
    effect = ReportedEffect.objects.get(event_type="pneumothorax")
    assert effect.red_flag and effect.status == "pending"


def test_the_alert_stays_on_the_dashboard_and_session_until_acknowledged(session_26h, world):
    check_in = answer(world, session_26h, 24, symptoms=["infection-signs"])
    staff = client_for(world.practitioner)
    dashboard = staff.get(reverse("outcomes:dashboard")).content.decode()
    assert "Red flags reported by patients" in dashboard and "Ann Smith" in dashboard
    session_page = staff.get(reverse("charting:session", args=[session_26h.pk])).content.decode()
    assert "Red flag at the 24-hour check-in" in session_page
    staff.post(reverse("portal:alert_acknowledge", args=[check_in.pk]))
    check_in.refresh_from_db()
    assert check_in.alert_acknowledged_by == world.practitioner
    assert (
        "Red flags reported by patients"
        not in staff.get(reverse("outcomes:dashboard")).content.decode()
    )
    with pytest.raises(ValidationError, match="already been acknowledged"):
        services.alert_acknowledge(actor=world.practitioner, check_in=check_in)
    # The patient's page now says the clinic saw it, instead of the urgent advice.
    page = client_for(world.patient_user).get(reverse("portal:session", args=[session_26h.pk]))
    assert "Your clinic saw what you told us" in page.content.decode()
    assert "Get urgent care now" not in page.content.decode()


def test_an_alert_email_that_failed_is_sent_by_the_next_reminder_run(session_26h, world, settings):
    settings.EMAIL_BACKEND = "tests.portal.failing_mail.Backend"
    check_in = answer(world, session_26h, 24, symptoms=["numbness-weakness"])
    failed = alerts.send_red_flag_alert(check_in.pk)
    assert not failed and failed.reason == (
        "the mail server closed the connection (the mail server is down)"
    )
    check_in.refresh_from_db()
    assert check_in.alert_emailed_at is None
    # The reminder run tries again, still in vain, and says so.
    with pytest.raises(CommandError, match="the mail server closed the connection"):
        call_command("send-reminders", "--json", stdout=io.StringIO())
    check_in.refresh_from_db()
    assert check_in.alert_emailed_at is None
    settings.EMAIL_BACKEND = "tests.mail.Backend"
    call_command("send-reminders", "--json", stdout=io.StringIO())
    check_in.refresh_from_db()
    assert check_in.alert_emailed_at is not None
    assert [m.subject for m in mail.outbox if "Urgent" in m.subject]


def test_the_red_flag_alert_leaves_only_once_the_answer_has_committed(
    session_26h, world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as waiting:
        check_in = answer(world, session_26h, 24, symptoms=["breathlessness-chest-pain"])
        assert mail.outbox == []
    assert mail.outbox == [] and len(waiting) == 1
    waiting[0]()  # the commit
    [alert] = mail.outbox
    assert "Urgent" in alert.subject
    check_in.refresh_from_db()
    assert check_in.alert_emailed_at is not None


class Interrupted(Exception):
    pass


# Transactional: the answer commits or rolls back for real, as on a server.
@pytest.mark.django_db(transaction=True)
def test_an_answer_that_rolls_back_alerts_nobody(session_26h, world):
    with pytest.raises(Interrupted), transaction.atomic():
        answer(world, session_26h, 24, symptoms=["breathlessness-chest-pain"])
        raise Interrupted
    assert not CheckIn.objects.exists() and mail.outbox == []
    answer(world, session_26h, 24, symptoms=["breathlessness-chest-pain"])
    [alert] = mail.outbox
    assert "Urgent" in alert.subject and CheckIn.objects.get().alert_emailed_at is not None


# A check-in whose answer committed must not turn into an error page when the mail server
# fails afterwards: the patient sees the urgent advice, the alert waits for the next run.
@pytest.mark.django_db(transaction=True)
def test_a_mail_server_that_is_down_does_not_lose_the_patients_answer(session_26h, world, settings):
    settings.EMAIL_BACKEND = "tests.portal.failing_mail.Backend"
    client = client_for(world.patient_user)
    response = client.post(
        reverse("portal:check_in", args=[session_26h.pk, 24]),
        {"soreness": 3, "symptoms": ["breathlessness-chest-pain"]},
    )
    assert response.status_code == 302
    check_in = CheckIn.objects.get()
    assert check_in.red_flags and check_in.alert_emailed_at is None


def test_the_clinician_confirms_an_effect_as_an_adverse_event(session_26h, world):
    answer(world, session_26h, 24, soreness=1, symptoms=["bruising"])
    effect = ReportedEffect.objects.get(event_type="bruising")
    staff = client_for(world.practitioner)
    form = staff.get(reverse("portal:effect_confirm", args=[effect.pk]))
    assert form.context["form"].initial["onset"] == "within-24h"
    response = staff.post(
        reverse("portal:effect_confirm", args=[effect.pk]),
        {"event_type": "bruising", "onset": "within-24h", "severity": "mild",
         "action_taken": "self-care", "outcome": "resolved", "muscles": ["gastrocnemius:left"]},
    )  # fmt: skip
    assert response.status_code == 302
    effect.refresh_from_db()
    assert effect.status == "confirmed" and effect.adverse_event.event_type == "bruising"
    assert effect.adverse_event.session == session_26h
    with pytest.raises(ValidationError, match="already been reviewed"):
        services.effect_dismiss(actor=world.practitioner, effect=effect, reason="x")
    assert AdverseEvent.objects.filter(session=session_26h).count() == 1


def test_a_refused_confirmation_keeps_the_effect_pending(session_26h, world):
    answer(world, session_26h, 24, symptoms=["bruising"])
    effect = ReportedEffect.objects.get(event_type="bruising")
    response = client_for(world.practitioner).post(
        reverse("portal:effect_confirm", args=[effect.pk]),
        {"event_type": "bruising", "onset": "within-24h", "severity": "mild",
         "action_taken": "self-care", "outcome": "resolved", "muscles": ["deltoid:left"]},
    )  # fmt: skip
    assert response.status_code == 200
    effect.refresh_from_db()
    assert effect.status == "pending" and not AdverseEvent.objects.exists()


def test_dismissing_an_effect_needs_a_reason(session_26h, world):
    answer(world, session_26h, 24, symptoms=["headache"])
    effect = ReportedEffect.objects.get(event_type="headache")
    client_for(world.practitioner).post(reverse("portal:effect_dismiss", args=[effect.pk]), {})
    effect.refresh_from_db()
    assert effect.status == "pending"
    client_for(world.practitioner).post(
        reverse("portal:effect_dismiss", args=[effect.pk]), {"reason": "Had a cold"}
    )
    effect.refresh_from_db()
    assert (effect.status, effect.dismiss_reason) == ("dismissed", "Had a cold")


def test_the_assistant_sees_reports_but_cannot_review_them(session_26h, world):
    answer(world, session_26h, 24, symptoms=["headache"])
    effect = ReportedEffect.objects.get(event_type="headache")
    page = client_for(world.assistant).get(reverse("charting:session", args=[session_26h.pk]))
    assert "Reported by the patient" in page.content.decode()
    assert "waiting for a clinician" in page.content.decode()
    assert (
        client_for(world.assistant)
        .post(reverse("portal:effect_dismiss", args=[effect.pk]), {"reason": "x"})
        .status_code
        == 403
    )


def test_drafts_and_sessions_entered_in_error_are_not_the_patients(consented_long_ago, needle):
    world = consented_long_ago
    draft, _ = charting.session_start(actor=world.practitioner, episode=world.episode_a,
                                      screening_status="unchanged", consent_confirmed=True)  # fmt: skip
    wrong = signed_session(world, needle, 30)
    charting.addendum_add(actor=world.practitioner, record=wrong, reason="Wrong patient",
                          kind="entered-in-error")  # fmt: skip
    client = client_for(world.patient_user)
    for session in (draft, wrong):
        assert client.get(reverse("portal:session", args=[session.pk])).status_code == 404
        assert (
            client.post(
                reverse("portal:check_in", args=[session.pk, 24]), {"soreness": 1}
            ).status_code
            == 404
        )
    home = client.get(reverse("portal:home")).content.decode()
    assert reverse("portal:session", args=[wrong.pk]) not in home
    assert not CheckIn.objects.exists()


def test_the_home_page_lists_open_check_ins(session_26h, world):
    home = client_for(world.patient_user).get(reverse("portal:home")).content.decode()
    assert reverse("portal:check_in", args=[session_26h.pk, 24]) in home
    with time_machine.travel(session_26h.performed_at + dt.timedelta(hours=49)):
        client = client_for(world.patient_user)
        later = client.get(reverse("portal:home")).content.decode()
    assert reverse("portal:check_in", args=[session_26h.pk, 24]) not in later
    assert reverse("portal:check_in", args=[session_26h.pk, 48]) in later


def test_a_double_submit_from_a_stale_page_is_refused_cleanly(session_26h, world):
    stale = NeedlingSession.objects.prefetch_related("check_ins").get(pk=session_26h.pk)
    list(stale.check_ins.all())  # loaded before either answer, as a page would have
    answer(world, stale, 24, soreness=2)
    with pytest.raises(ValidationError, match="already answered"):
        answer(world, stale, 24, soreness=2)
    assert CheckIn.objects.count() == 1


def _header_signals(page: str) -> list[tuple[str, str, str]]:
    """The patient header's signals: level, text and link."""
    header = page[page.index('<header class="patient-header"') :]
    header = header[: header.index("</header>")]
    return [
        (level, re.sub(r"<[^>]+>", "", text).strip(), link)
        for level, text, link in re.findall(
            r'<li class="signal signal--(\w+)"><strong>[^<]*</strong>(.*?)'
            r'(?:<a href="([^"]*)">[^<]*</a>)?</li>',
            header,
        )
    ]


@pytest.fixture
def many_reports(consented_long_ago, needle, world) -> list[CheckIn]:
    """Six signed sessions, a day and more ago, each answered with soreness, a bruise and a red
    flag: six open red flags, and an effect to confirm for each thing reported (six of them
    red flags)."""
    check_ins = []
    for number in range(6):
        session = signed_session(world, needle, 26 + 30 * (5 - number))
        check_ins.append(
            answer(world, session, 24, symptoms=["breathlessness-chest-pain", "bruising"])
        )
    return check_ins


def test_the_header_names_the_newest_reports_and_counts_the_rest_with_the_next_one_linked(
    many_reports, world
):
    """Every page of the patient shows the header: it names the first few reports of each
    kind, the newest first (red flags first among the effects), and one line counts the rest
    and links to the next, however many pile up unreviewed."""
    listed = selectors.REPORTS_LISTED
    page = client_for(world.practitioner).get(reverse("patients:detail", args=[world.patient_a.pk]))
    signals = _header_signals(page.content.decode())
    flags = [s for s in signals if s[1].startswith("Red flag reported")]
    newest = many_reports[::-1]
    assert [link for _, _, link in flags] == [
        reverse("charting:session", args=[c.session_id]) + "#reports" for c in newest[:listed]
    ]
    rest = 6 - listed
    assert (
        "danger",
        f"{rest} more red flags reported after sessions are not acknowledged. Contact the patient "
        "and review them before any further needling.",
        reverse("charting:session", args=[newest[listed].session_id]) + "#reports",
    ) in signals
    pending = ReportedEffect.objects.filter(status="pending").order_by(
        "-red_flag", "-first_reported_at", "-pk"
    )
    effects = [s for s in signals if s[1].startswith("Unconfirmed adverse event")]
    assert [link for _, _, link in effects] == [
        reverse("portal:effect_confirm", args=[e.pk]) for e in pending[:listed]
    ]
    assert {level for level, _, _ in effects} == {"danger"}  # the red flags come first
    assert (
        "danger",
        f"{pending.count() - listed} more adverse events reported from the portal are not "
        f"confirmed, {pending.filter(red_flag=True).count() - listed} of them red flags.",
        reverse("portal:effect_confirm", args=[pending[listed].pk]),
    ) in signals
    assert len(signals) == 2 * (listed + 1), signals


def test_one_report_past_those_listed_is_named_rather_than_counted(many_reports, world):
    """A line counting a single report says less than the report itself: with one more than
    the header lists, all of them are named. Once none is left past them, no line counts."""
    listed = selectors.REPORTS_LISTED
    for check_in in many_reports[: 6 - (listed + 1)]:
        services.alert_acknowledge(actor=world.practitioner, check_in=check_in)
    red = ReportedEffect.objects.filter(red_flag=True).order_by("first_reported_at", "pk")
    for effect in [*ReportedEffect.objects.filter(red_flag=False), *red[: 6 - (listed + 1)]]:
        services.effect_dismiss(actor=world.practitioner, effect=effect, reason="Settled.")
    staff = client_for(world.practitioner)
    url = reverse("patients:detail", args=[world.patient_a.pk])
    signals = _header_signals(staff.get(url).content.decode())
    assert [text.split(" ")[0] for _, text, _ in signals] == ["Red"] * (listed + 1) + [
        "Unconfirmed"
    ] * (listed + 1)
    assert not [s for s in signals if " more " in s[1]]
    # Still counted, as the banner and the start of a session read it.
    assert (
        "Red flag reported after a session: review before needling"
        in staff.get(reverse("patients:episode", args=[world.episode_a.pk])).content.decode()
    )


def test_the_line_counting_the_rest_warns_when_none_of_them_is_a_red_flag(many_reports, world):
    """Once the red flags are dealt with, the effects left (soreness, bruising) are named as
    warnings, and so is the line that counts the rest: it says "Stop" only for red flags."""
    for check_in in many_reports:
        services.alert_acknowledge(actor=world.practitioner, check_in=check_in)
    for effect in ReportedEffect.objects.filter(red_flag=True):
        services.effect_dismiss(actor=world.practitioner, effect=effect, reason="Seen in clinic.")
    page = client_for(world.practitioner).get(reverse("patients:detail", args=[world.patient_a.pk]))
    signals = _header_signals(page.content.decode())
    left = ReportedEffect.objects.filter(status="pending").order_by("-first_reported_at", "-pk")
    listed = selectors.REPORTS_LISTED
    assert [(level, link) for level, _, link in signals[:listed]] == [
        ("warning", reverse("portal:effect_confirm", args=[e.pk])) for e in left[:listed]
    ]
    assert signals[listed:] == [
        (
            "warning",
            f"{left.count() - listed} more adverse events reported from the portal are not "
            "confirmed.",
            reverse("portal:effect_confirm", args=[left[listed].pk]),
        )
    ]


def test_the_open_alerts_and_answers_waiting_are_read_from_their_own_indexes(world):
    """The clinic's open red-flag alerts and the health answers waiting for review (the home
    page, the dashboard) are found along indexes of those alone, in the order listed: before,
    PostgreSQL read every check-in ever answered (4 ms at 10,000 patients, growing with each)
    and sorted every pending answer to list the first.

    Which table a join starts from depends on the statistics, which a test's few rows (and
    the counts earlier tests' ANALYZE left) do not give as a clinic's would; with those of a
    demo of 10,000 patients both databases start from these indexes. What a test can check:
    that the lists ask for the rows each index holds, and that those are read from it in
    order."""
    with captured() as statements:
        selectors.clinic_attention(world.practitioner)
    waiting = {
        "check_in_open_red_flags": CheckIn.objects.filter(
            alert_acknowledged_at__isnull=True
        ).exclude(red_flags=[]),
        "questionnaire_pending": HealthQuestionnaire.objects.filter(status="pending"),
    }
    for index, rows in waiting.items():
        table = rows.model._meta.db_table
        listed = next(s for s, _ in statements if s.startswith(f'SELECT "{table}"."id"'))
        alone, params = rows.order_by(*INDEXED[index]).values("pk")[:25].query.sql_with_params()
        condition = alone.split(" WHERE ")[1].split(" ORDER BY ")[0].removeprefix("(")
        for term in condition.removesuffix(")").split(" AND "):
            assert term in listed, (term, listed)
        # Any way but sorting: with a test's few rows, the planner's choice between sorting
        # them and reading the index in order turns on the statistics earlier tests left.
        steps = query_plan(alone, params, unsorted=True)
        assert index in steps and "Sort" not in steps and "TEMP B-TREE" not in steps, steps


# The columns of each index, as the lists order by them.
INDEXED = {
    "check_in_open_red_flags": ("answered_at", "id"),
    "questionnaire_pending": ("submitted_at", "id"),
}
