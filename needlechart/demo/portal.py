"""The patient portal in the demo's first clinic.

About a quarter of the patients in care (an active episode, or one finished in the last
four weeks) opened a portal account from an emailed invitation some days before their
first visit. Most answered the health questionnaire, which the practitioner in charge
confirmed into the chart at that visit (the screening "reported by the patient"); a few
have sent newer answers that wait for review. After each signed session they answered
most check-ins (24 and 48 hours, and 72 when the soreness had not settled), soreness
falling over the days and now and then an effect ticked, bruising the commonest. What
each answer reports comes from the portal's own rules (`portal.services.reported_effects`);
older reports are reviewed (confirmed as a mild adverse event, or dismissed with a reason),
recent ones wait on the dashboard. Patients in active care keep a pain diary a few times a
week and some gave their ratings (PSFS, GROC) when their plan's review came near. Exactly
one recent check-in carries a red flag whose alert is still open.

One patient has a fixed login, `clinics.SHOWCASE_EMAIL` with the demo password, chosen (and
her course shaped in `patients`) so that her portal has a check-in open all of today,
earlier answers, a diary and a plan review date.

Decisions come from the demo's own portal random stream, so the charts themselves are the
same as without the portal but for the screenings' source and the adverse events the
clinicians confirmed. Nothing here writes to the database: `generate` hands the records to
the portal services' imports.
"""

import datetime as dt
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from needlechart import knowledge
from needlechart.accounts.models import User
from needlechart.charting import services as charting
from needlechart.charting.models import AdverseEvent, Screening
from needlechart.demo.charts import ClinicChart, EpisodeCharter, EpisodePlan, Given, _clamp
from needlechart.demo.outcomes import OutcomesCharter, _groc, _psfs_now
from needlechart.outcomes.models import Observation, Timing
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.portal import schedule
from needlechart.portal import services as portal
from needlechart.portal.models import (
    CheckIn,
    HealthQuestionnaire,
    Invitation,
    PortalAccount,
    ReportedEffect,
)

# Patients in care with an account; care finished this many days ago still counts.
SHARE = 0.25
RECENTLY_FINISHED_DAYS = 28
# Eligible patients without an account who were sent an invitation lately.
INVITED = 0.08
# The account is opened this many days before the first visit.
OPENED_BEFORE_VISIT = (2, 10)
ANSWERED_QUESTIONNAIRE = 0.9
# Every this-many-th patient in active care (the second first) sent newer health answers
# lately, so that even a small demo has some waiting for review.
NEWER_ANSWERS_EVERY = 4
# Reported effects last reported within this many days still wait for review; of older
# ones, this share too (the clinicians' backlog).
PENDING_DAYS = 3
BACKLOG = 0.1
# Ratings given when the plan's review window has opened.
REVIEW_ANSWERED = 0.6

Status = EpisodeOfCare.Status
UTC = dt.UTC

# The check-in symptom a patient ticks for an adverse event charted at the session.
CHARTED_SYMPTOM = {
    "bruising": "bruising",
    "aggravation": "worse-pain",
    "drowsiness": "tiredness",
    "headache": "headache",
}
# How often a symptom is first ticked at the first check-in, and at a later one.
NEW_FIRST = {
    "bruising": 0.05, "tiredness": 0.035, "worse-pain": 0.03, "headache": 0.02,
    "bleeding": 0.006, "nausea": 0.006, "faintness": 0.003, "other": 0.01,
}  # fmt: skip
NEW_LATER = {"bruising": 0.015, "worse-pain": 0.01, "other": 0.004}
# How often a symptom ticked at one check-in is ticked again at the next: a bruise lasts.
STAYS = {"bruising": 0.7, "other": 0.4}
STAYS_OTHERWISE = 0.25
OTHER_TEXTS = (
    "Slept badly the night after",
    "Itchy skin around a needle site",
    "Felt a little emotional that evening",
    "Muscle twitching near where I was needled",
)
# Soreness (0-10) at the first check-in; it falls at each later one.
FIRST_SORENESS = (8, 16, 22, 20, 14, 10, 6, 3, 1)
# The red flag of the demo, and the muscles after which it is most plausible.
RED_FLAG = "breathlessness-chest-pain"
NEAR_THE_LUNG = {
    "upper-trapezius", "scalenes", "levator-scapulae", "infraspinatus", "supraspinatus",
    "teres-minor", "subscapularis", "pectoralis-minor",
}  # fmt: skip


@dataclass(frozen=True)
class Confirmed:
    """How a reported effect is recorded when a clinician confirms it."""

    duration: tuple[int, int, str]
    action: str
    # Effects at a needle site name a needled muscle.
    local: bool
    description: str
    # How often the clinician confirms it rather than dismissing it.
    rate: float = 0.5


CONFIRMED = {
    "pain-after": Confirmed((1, 3, "days"), "self-care", True,
                            "Soreness {soreness}/10 at the {hours}-hour check-in; eased with heat "
                            "and gentle movement.", 0.0),
    "bruising": Confirmed((3, 10, "days"), "self-care", True,
                          "Bruise at a needle site, reported at the {hours}-hour check-in; "
                          "fading, no treatment needed.", 0.6),
    "aggravation": Confirmed((1, 3, "days"), "self-care", False,
                             "The usual pain was worse after the session, reported at the "
                             "{hours}-hour check-in; settled with rest and the home exercises.",
                             0.6),
    "headache": Confirmed((2, 12, "hours"), "self-care", False,
                          "Headache after the session, reported at the {hours}-hour check-in; "
                          "settled with rest and water."),
    "drowsiness": Confirmed((2, 8, "hours"), "none", False,
                            "Tired after the session, reported at the {hours}-hour check-in; "
                            "rested at home."),
    "nausea": Confirmed((1, 6, "hours"), "none", False,
                        "Felt queasy after the session, reported at the {hours}-hour check-in; "
                        "settled without treatment.", 0.6),
    "bleeding": Confirmed((5, 20, "minutes"), "self-care", True,
                          "A needle site bled again at home, reported at the {hours}-hour "
                          "check-in; stopped with pressure.", 0.6),
}  # fmt: skip
# Soreness is recorded as an adverse event when it was marked; mild soreness is expected.
SORENESS_CONFIRMED = ((6, 0.7), (4, 0.3))
DISMISSED = {
    "pain-after": (
        "Expected soreness after dry needling, as explained at the visit; settling.",
        "Mild soreness that settled by the next check-in; nothing to record.",
        "Usual post-needling soreness; no action needed.",
    ),
    "bruising": ("Small bruise as expected after needling; no action needed.",),
    "aggravation": ("Phoned the patient: the flare settled the next morning.",),
    "headache": ("Phoned the patient: a headache after a long day at a screen, not the needling.",),
    "drowsiness": ("Tired after a late night, not the session; no action needed.",),
    "nausea": ("Phoned the patient: a stomach bug in the family, not the needling.",),
    "bleeding": ("A spot of blood on removing a plaster; nothing to record.",),
    "fainting": (
        "Phoned the patient: light-headed once on standing up quickly, not since; advised "
        "to eat before the next session.",
    ),
    "other": ("Reviewed with the patient by phone: not an effect of the needling.",),
}
ALREADY_RECORDED = "Already recorded as an adverse event of this session."
QUESTIONNAIRE_NOTES = (
    "Nervous about needles, but keen to try.",
    "Training for a 10 km run in the spring.",
    "I work at a desk all day.",
    "The pain is worst first thing in the morning.",
)
# A change a patient reports in newer answers: the factor and their note.
NEWER_FACTORS = (
    ({"code": "anticoagulant", "drug": "apixaban"}, "My GP started me on apixaban last week."),
    ({"code": "diabetes"}, "Diagnosed with type 2 diabetes at my check-up."),
    ({"code": "metal-allergy"}, "A rash from a watch strap: I may be allergic to nickel."),
)


def _in_display_order(codes: Sequence[str]) -> list[str]:
    order = {s.code: n for n, s in enumerate(knowledge.symptoms())}
    return sorted(dict.fromkeys(codes), key=order.__getitem__)


@dataclass
class Answered:
    """A session's check-ins and the effects they reported: a red-flag candidate."""

    charter: EpisodeCharter
    given: Given
    check_ins: list[CheckIn]
    effects: list[ReportedEffect]


@dataclass
class PortalRows:
    """What a batch's portal patients did, in insertion order."""

    demo: "PortalDemo"
    users: list[User] = field(default_factory=list)
    accounts: list[PortalAccount] = field(default_factory=list)
    invitations: list[Invitation] = field(default_factory=list)
    questionnaires: list[HealthQuestionnaire] = field(default_factory=list)
    check_ins: list[CheckIn] = field(default_factory=list)
    effects: list[ReportedEffect] = field(default_factory=list)
    home: list[Observation] = field(default_factory=list)
    answered: list[Answered] = field(default_factory=list)

    def finish(self) -> None:
        """Once the batch is charted, before it is saved."""
        self.demo.raise_red_flag(self)


class PortalDemo:
    """The portal of one demo build: its random stream and what it gave once."""

    def __init__(self, rng: random.Random, today: dt.date) -> None:
        self.rng, self.today = rng, today
        self.red_flag: CheckIn | None = None
        # Patients in active care who answered the questionnaire, so far.
        self.answered_in_care = 0

    def choose(
        self,
        ctx: ClinicChart,
        plans: list[EpisodePlan],
        rows: PortalRows,
        showcase: Patient | None = None,
    ) -> None:
        """Give about a quarter of the batch's patients in care an account (the demo
        patient always), and send some of the others an invitation lately."""
        rng = self.rng
        newest: dict[int, EpisodePlan] = {}
        for plan in plans:  # a patient's newest episode comes first
            newest.setdefault(plan.episode.patient.pk, plan)
        recently = self.today - dt.timedelta(days=RECENTLY_FINISHED_DAYS)
        cutoff = ctx.at(self.today, 0, 0)
        for plan in newest.values():
            episode = plan.episode
            if episode.patient is showcase:
                plan.portal = PortalPatient(self, rows, plan, showcase=True)
                continue
            if not episode.patient.email or not (
                episode.status == Status.ACTIVE
                or (episode.status == Status.FINISHED and episode.period_end >= recently)
            ):
                continue
            if rng.random() < SHARE:
                plan.portal = PortalPatient(self, rows, plan)
            elif rng.random() < INVITED:
                sent = cutoff - dt.timedelta(minutes=rng.randint(60, 6 * 24 * 60))
                rows.invitations.append(self._invitation(plan, sent))

    def _invitation(
        self, plan: EpisodePlan, sent: dt.datetime, used: dt.datetime | None = None
    ) -> Invitation:
        patient = plan.episode.patient
        return Invitation(
            patient=patient,
            email=patient.email,
            # A random value, not the hash of any token: nobody holds a link to it.
            token_hash=f"{self.rng.getrandbits(256):064x}",
            created_by=plan.episode.care_manager.user,
            created_at=sent,
            expires_at=sent + dt.timedelta(hours=settings.PORTAL_INVITATION_HOURS),
            used_at=used,
        )

    def raise_red_flag(self, rows: PortalRows) -> None:
        """Once in the demo: a patient in active care ticked a red flag at their latest
        check-in, lately; the alert was emailed and still waits on the dashboard."""
        if self.red_flag is not None:
            return

        def fit(answered: Answered) -> tuple[bool, bool, bool, dt.datetime]:
            latest = answered.check_ins[-1]
            cutoff = answered.charter.cutoff
            return (
                latest.answered_at >= cutoff - dt.timedelta(days=PENDING_DAYS),
                any(row.muscle in NEAR_THE_LUNG for row in answered.given.rows),
                latest.hours == knowledge.checkin_plan().hours[0],
                latest.answered_at,
            )

        candidates = [
            a
            for a in rows.answered
            if a.check_ins[-1].answered_at < a.charter.cutoff - dt.timedelta(minutes=5)
        ]
        if not candidates:
            return
        chosen = max(candidates, key=fit)
        check_in = chosen.check_ins[-1]
        check_in.symptoms = _in_display_order([*check_in.symptoms, RED_FLAG])
        check_in.alert_emailed_at = check_in.answered_at + dt.timedelta(minutes=1)
        # Everything reported after that session waits for the clinician now.
        session = chosen.given.session
        undone = {id(e.adverse_event) for e in chosen.effects if e.adverse_event is not None}
        if undone:
            out = chosen.charter.out
            out.adverse_events = [e for e in out.adverse_events if id(e) not in undone]
            chosen.charter.events[:] = [e for e in chosen.charter.events if id(e) not in undone]
        chosen.effects = portal.reported_effects(chosen.check_ins)
        rows.effects = [e for e in rows.effects if e.session is not session] + chosen.effects
        self.red_flag = check_in


class PortalPatient:
    """One patient's portal: decided when they are chosen, made as their chart is."""

    def __init__(
        self, demo: PortalDemo, rows: PortalRows, plan: EpisodePlan, showcase: bool = False
    ) -> None:
        rng = demo.rng
        self.demo, self.rows, self.plan, self.showcase = demo, rows, plan, showcase
        self.answered_questionnaire = showcase or rng.random() < ANSWERED_QUESTIONNAIRE
        self.newer_answers = False
        if not showcase and self.answered_questionnaire and plan.episode.status == Status.ACTIVE:
            demo.answered_in_care += 1
            self.newer_answers = demo.answered_in_care % NEWER_ANSWERS_EVERY == 2
        # Entries a day: from none to most days.
        self.diary = 0.55 if showcase else rng.choices((0, 0.25, 0.4, 0.6), (2, 3, 3, 2))[0]
        self.user: User
        self.opened: dt.datetime

    # Before the first visit, and after each session.

    def after_sessions(self, charter: EpisodeCharter, first: dt.datetime) -> None:
        rng, ctx, episode = self.demo.rng, charter.ctx, charter.episode
        patient = episode.patient
        low, high = OPENED_BEFORE_VISIT
        self.opened = ctx.at(
            first.date() - dt.timedelta(days=rng.randint(low, high)),
            rng.randint(8, 21),
            rng.randrange(60),
        )
        invited = self.opened - dt.timedelta(minutes=rng.randint(20, 40 * 60))
        self.user = User(
            username=patient.email.lower(),
            email=patient.email,
            first_name=patient.given_name,
            last_name=patient.family_name,
            date_joined=self.opened,
        )
        self.rows.users.append(self.user)
        self.rows.accounts.append(
            PortalAccount(patient=patient, user=self.user, created_at=self.opened)
        )
        self.rows.invitations.append(self.demo._invitation(self.plan, invited, self.opened))
        self._questionnaires(charter, first)
        signed = [g for g in charter.given if g.signed_at is not None and g.at > self.opened]
        for given in signed:
            self._session(charter, given, last=given is signed[-1])

    def _reminded(self, due: dt.datetime) -> dt.datetime:
        """When `send-reminders` (run every quarter of an hour) emailed what fell due. The
        reminders themselves are not part of the demo: what is still due today may be sent
        again."""
        return due + dt.timedelta(minutes=self.demo.rng.randint(1, 15))

    def _questionnaires(self, charter: EpisodeCharter, first: dt.datetime) -> None:
        rng, episode = self.demo.rng, charter.episode
        patient, screening = episode.patient, charter.screening
        submitted = None
        if self.answered_questionnaire:
            submitted = min(
                self.opened + dt.timedelta(minutes=rng.randint(5, 30 * 60)),
                first - dt.timedelta(hours=2),
            )
            # Confirmed as the episode's screening by the practitioner in charge.
            assert screening.source == Screening.Source.PATIENT
            self.rows.questionnaires.append(
                HealthQuestionnaire(
                    patient=patient,
                    episode=episode,
                    factors=list(screening.factors),
                    note=rng.choice(QUESTIONNAIRE_NOTES) if rng.random() < 0.3 else "",
                    submitted_at=submitted,
                    status=HealthQuestionnaire.Status.CONFIRMED,
                    reviewed_by=screening.recorded_by,
                    reviewed_at=screening.recorded_at,
                    screening=screening,
                )
            )
        if self.newer_answers:
            self._newer_answers(charter, screening)

    def _newer_answers(self, charter: EpisodeCharter, screening: Screening) -> None:
        """Answers sent lately with something new, waiting for the clinician."""
        rng, episode = self.demo.rng, charter.episode
        had = {f["code"] for f in screening.factors}
        age = episode.patient.age(self.demo.today)
        changes = [
            (factor, note)
            for factor, note in NEWER_FACTORS
            if factor["code"] not in had and (factor["code"] != "anticoagulant" or age >= 45)
        ]
        submitted = charter.cutoff - dt.timedelta(minutes=rng.randint(4 * 60, 5 * 24 * 60))
        if not changes or submitted <= screening.recorded_at:
            return
        factor, note = rng.choice(changes)
        self.rows.questionnaires.append(
            HealthQuestionnaire(
                patient=episode.patient,
                episode=episode,
                factors=charting.clean_factors([*screening.factors, factor]),
                note=note,
                submitted_at=submitted,
            )
        )

    def _session(self, charter: EpisodeCharter, given: Given, last: bool) -> None:
        """The check-ins after one signed session, the effects they reported and the
        clinicians' review of them."""
        check_ins = self._check_ins(charter, given, last)
        if not check_ins:
            return
        effects = portal.reported_effects(check_ins)
        for effect in effects:
            self._review(charter, given, effect, check_ins)
        self.rows.check_ins += check_ins
        self.rows.effects += effects
        if charter.episode.status == Status.ACTIVE and not self.showcase:
            self.rows.answered.append(Answered(charter, given, check_ins, effects))

    def _check_ins(self, charter: EpisodeCharter, given: Given, last: bool) -> list[CheckIn]:
        """The patient's state at each check-in (soreness falling, symptoms fading), and
        the answers they gave while each was open. The demo patient answered every
        check-in but her last session's, which is open today."""
        rng, plan = self.demo.rng, knowledge.checkin_plan()
        session = given.session
        charted = {e.event_type for e in charter.events if e.session is session}
        soreness = rng.choices(range(len(FIRST_SORENESS)), FIRST_SORENESS)[0]
        if charted & {"pain-after", "aggravation"}:
            soreness = _clamp(soreness + 2)
        symptoms: list[str] = []
        other = ""
        answers: list[CheckIn] = []
        performed = given.at.astimezone(UTC)
        hours = list(plan.hours)
        # The extra check-in is appended on the way when the last regular answer asks for it.
        for number, h in enumerate(hours):
            if number == 0:
                symptoms = [
                    CHARTED_SYMPTOM[t]
                    for t in sorted(charted)
                    if t in CHARTED_SYMPTOM and rng.random() < 0.8
                ]
                symptoms += [c for c, p in NEW_FIRST.items() if rng.random() < p]
            else:
                soreness = max(0, soreness - rng.choice((0, 1, 1, 2, 2, 3)))
                symptoms = [s for s in symptoms if rng.random() < STAYS.get(s, STAYS_OTHERWISE)]
                symptoms += [c for c, p in NEW_LATER.items() if rng.random() < p]
            symptoms = _in_display_order(symptoms)
            if "other" in symptoms and not other:
                other = rng.choice(OTHER_TEXTS)
            due = performed + dt.timedelta(hours=h)
            if due >= charter.cutoff:
                break
            reminded = self._reminded(due)
            closes = due + dt.timedelta(hours=plan.window_hours)
            if self.showcase:
                answer = not last
            elif number == 0:
                answer = rng.random() < 0.85
            else:
                answered_before = bool(answers) and answers[-1].hours == hours[number - 1]
                answer = rng.random() < (0.8 if answered_before else 0.45)
            delay = dt.timedelta(minutes=int(rng.expovariate(1 / 150)))
            answered_at = min(reminded + delay, closes - dt.timedelta(minutes=1))
            if not answer or answered_at >= charter.cutoff:
                continue
            answers.append(
                CheckIn(
                    session=session,
                    # As the database keeps it: the audit row names the patient from it.
                    patient_id=charter.episode.patient_id,
                    hours=h,
                    answered_at=answered_at,
                    soreness=soreness,
                    symptoms=symptoms,
                    other=other if "other" in symptoms else "",
                    red_flags=[],
                )
            )
            if h == plan.hours[-1] and knowledge.needs_extra_checkin(soreness, symptoms):
                hours.append(plan.extra_hours)
        return answers

    def _review(
        self,
        charter: EpisodeCharter,
        given: Given,
        effect: ReportedEffect,
        check_ins: list[CheckIn],
    ) -> None:
        """Recent reports wait; older ones were mostly reviewed a few hours after the
        last report: recorded as a mild adverse event, or dismissed with a reason."""
        rng, cutoff = self.demo.rng, charter.cutoff
        if effect.red_flag or effect.last_reported_at >= cutoff - dt.timedelta(days=PENDING_DAYS):
            return
        if rng.random() < BACKLOG:
            return
        at = effect.last_reported_at + dt.timedelta(minutes=rng.randint(40, 26 * 60))
        charted = next(
            (
                e
                for e in charter.events
                if e.session is given.session and e.event_type == effect.event_type
            ),
            None,
        )
        if charted is not None:
            at = max(at, charted.recorded_at + dt.timedelta(minutes=10))
        if at >= cutoff - dt.timedelta(minutes=10):
            return
        effect.reviewed_by = given.session.practitioner.user
        effect.reviewed_at = at
        if charted is not None:
            effect.status, effect.dismiss_reason = ReportedEffect.Status.DISMISSED, ALREADY_RECORDED
            return
        # Finished care: recorded before the discharge, or not at all.
        episode = charter.episode
        before_discharge = episode.period_end is None or at < charter.ctx.at(
            episode.period_end, 0, 0
        )
        soreness = max(c.soreness for c in check_ins)
        if before_discharge and rng.random() < self._confirm_rate(effect.event_type, soreness):
            event = self._adverse_event(charter, given, effect, soreness)
            effect.status, effect.adverse_event = ReportedEffect.Status.CONFIRMED, event
        else:
            effect.status = ReportedEffect.Status.DISMISSED
            effect.dismiss_reason = rng.choice(DISMISSED[effect.event_type])

    @staticmethod
    def _confirm_rate(event_type: str, soreness: int) -> float:
        if event_type == "pain-after":
            return next((rate for least, rate in SORENESS_CONFIRMED if soreness >= least), 0.0)
        shape = CONFIRMED.get(event_type)
        return shape.rate if shape else 0.0

    def _adverse_event(
        self, charter: EpisodeCharter, given: Given, effect: ReportedEffect, soreness: int
    ) -> AdverseEvent:
        rng, shape = self.demo.rng, CONFIRMED[effect.event_type]
        low, high, unit = shape.duration
        duration = rng.randint(low, high)
        ended = given.at + dt.timedelta(**{unit: duration})
        row = rng.choice(given.rows)
        hours = effect.check_in.hours
        event = AdverseEvent(
            session=given.session,
            event_type=effect.event_type,
            onset=(
                AdverseEvent.Onset.WITHIN_24H
                if hours <= knowledge.checkin_plan().hours[0]
                else AdverseEvent.Onset.LATER
            ),
            severity=AdverseEvent.Severity.MILD,
            duration_value=duration,
            duration_unit=unit,
            action_taken=shape.action,
            outcome=(
                AdverseEvent.Outcome.RESOLVED
                if ended < charter.cutoff
                else AdverseEvent.Outcome.RECOVERING
            ),
            muscles=[f"{row.muscle}:{row.side}"] if shape.local else [],
            description=shape.description.format(hours=hours, soreness=soreness),
            recorded_by=effect.reviewed_by,
            recorded_at=effect.reviewed_at,
        )
        charter.events.append(event)
        charter.out.adverse_events.append(event)
        return event

    # Between sessions, at home.

    def at_home(self, charter: EpisodeCharter, outcomes: OutcomesCharter) -> None:
        """The pain diary and the ratings at the plan's review, in active care."""
        episode = charter.episode
        if episode.status != Status.ACTIVE or not charter.given:
            return
        rng, ctx, today = self.demo.rng, charter.ctx, self.demo.today
        visits = [(g.at.date(), g.before) for g in charter.given]
        needled = {g.at.date() for g in charter.given if g.signed_at is not None}
        day = visits[0][0] + dt.timedelta(days=1)
        while day < today:
            if rng.random() < self.diary:
                pain = _pain_between(visits, day) + rng.gauss(0, 0.7)
                if day - dt.timedelta(days=1) in needled and rng.random() < 0.4:
                    pain += 1  # sore the day after needling
                self._home(ctx.at(day, rng.randint(18, 22), rng.randrange(60)), "nprs", pain)
            day += dt.timedelta(days=1)
        self._review_ratings(charter, outcomes)

    def _home(self, at: dt.datetime, code: str, value: float, component: str = "") -> None:
        self.rows.home.append(
            Observation(
                episode=self.plan.episode,
                code=code,
                component=component,
                timing=Timing.HOME,
                value=Decimal(_clamp(value, -7, 7) if code == "groc" else _clamp(value)),
                recorded_by=self.user,
                recorded_at=at,
            )
        )

    def _review_ratings(self, charter: EpisodeCharter, outcomes: OutcomesCharter) -> None:
        """PSFS for the activities measured at the start and a global rating of change,
        a few days into the window the portal opens around the plan's review date."""
        rng, ctx, today = self.demo.rng, charter.ctx, self.demo.today
        plan = outcomes.plan
        window = schedule.review_window(plan)
        assert window is not None
        start = max(window.opens_on, charter.given[0].at.date() + dt.timedelta(days=1))
        end = min(window.closes_on, today - dt.timedelta(days=1))
        if start > end:
            return
        answer = rng.random() < REVIEW_ANSWERED
        if self.showcase and window.closes_on >= today:
            answer = False  # left open for whoever signs in as the demo patient
        if not answer:
            return
        day = start + dt.timedelta(days=rng.randint(0, min(3, (end - start).days)))
        at = ctx.at(day, rng.randint(18, 22), rng.randrange(60))
        earlier = [g for g in charter.given if g.at < at]
        change = outcomes._change(earlier[-1].before if earlier else outcomes.baseline)
        for activity, value in charter.psfs:
            self._home(at, "psfs-activity", _psfs_now(rng, value, change), activity)
        self._home(at, "groc", _groc(rng, change))


def _pain_between(visits: list[tuple[dt.date, int]], day: dt.date) -> float:
    """Pain on a day between visits, on the line between the scores before needling."""
    if day >= visits[-1][0]:
        return visits[-1][1]
    for (a, pain_a), (b, pain_b) in itertools.pairwise(visits):
        if a <= day < b:
            return pain_a + (pain_b - pain_a) * (day - a).days / max((b - a).days, 1)
    return visits[0][1]
