"""When a patient is asked how they are after a session, and when a review questionnaire is
due: computed from the session and the plan, so nothing has to be scheduled ahead."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import OuterRef, QuerySet, Subquery

from needlechart import knowledge
from needlechart.charting.models import Addendum, NeedlingSession
from needlechart.outcomes.models import CarePlan, Observation, Timing
from needlechart.patients.models import EpisodeOfCare
from needlechart.portal.models import CheckIn


@dataclass(frozen=True)
class Slot:
    """One check-in of one session: due some hours after it, open for a window."""

    session: NeedlingSession
    hours: int
    due_at: dt.datetime
    closes_at: dt.datetime
    answered: CheckIn | None

    def is_open(self, now: dt.datetime) -> bool:
        return self.answered is None and self.due_at <= now < self.closes_at

    def state(self, now: dt.datetime) -> str:
        if self.answered is not None:
            return "answered"
        if now < self.due_at:
            return "upcoming"
        return "open" if now < self.closes_at else "closed"


def _in_error(session: NeedlingSession) -> bool:
    # Reads prefetched addenda when the caller loaded them.
    return any(a.kind == Addendum.Kind.ENTERED_IN_ERROR for a in session.addenda.all())


def slots(session: NeedlingSession, now: dt.datetime) -> list[Slot]:
    """The check-ins of a signed session, answered or not. The extra (72 h) check-in exists
    once the last regular answer says the soreness has not settled."""
    if not session.is_signed or _in_error(session):
        return []
    plan = knowledge.checkin_plan()
    answers = {c.hours: c for c in session.check_ins.all()}
    hours = list(plan.hours)
    last = answers.get(plan.hours[-1])
    if last is not None and knowledge.needs_extra_checkin(last.soreness, last.symptoms):
        hours.append(plan.extra_hours)
    window = dt.timedelta(hours=plan.window_hours)
    # Hours after the session in real time: across a clock change, not by the wall clock.
    performed = session.performed_at.astimezone(dt.UTC)
    result = []
    for h in hours:
        due = performed + dt.timedelta(hours=h)
        result.append(Slot(session, h, due, due + window, answers.get(h)))
    return result


# How many days before the plan's review date the patient is asked for their ratings, and
# for how many days after it the questionnaire stays open.
REVIEW_OPENS_DAYS = 3
REVIEW_CLOSES_DAYS = 7


@dataclass(frozen=True)
class ReviewWindow:
    plan: CarePlan
    opens_on: dt.date
    closes_on: dt.date

    def is_open(self, today: dt.date) -> bool:
        return self.opens_on <= today <= self.closes_on


def review_window(plan: CarePlan | None) -> ReviewWindow | None:
    if plan is None:
        return None
    return ReviewWindow(
        plan,
        plan.review_on - dt.timedelta(days=REVIEW_OPENS_DAYS),
        plan.review_on + dt.timedelta(days=REVIEW_CLOSES_DAYS),
    )


# The ratings a patient gives at a plan review.
REVIEW_CODES = ("psfs-activity", "groc")


def review_answers(episode: EpisodeOfCare | OuterRef) -> QuerySet[Observation]:
    return Observation.objects.filter(episode=episode, timing=Timing.HOME, code__in=REVIEW_CODES)


def last_review_answer() -> Subquery:
    """When the episode's patient last gave review ratings, as an annotation of a plan: a
    scan over many plans asks once, not once per plan."""
    answers = review_answers(OuterRef("episode")).order_by("-recorded_at")
    return Subquery(answers.values("recorded_at")[:1])


def answered_in(window: ReviewWindow, last_answer: dt.datetime | None, tz: dt.tzinfo) -> bool:
    """Whether ratings given at `last_answer` belong to this window."""
    return last_answer is not None and last_answer >= dt.datetime.combine(
        window.opens_on, dt.time(0), tz
    )


def review_answered(episode: EpisodeOfCare, window: ReviewWindow, tz: dt.tzinfo) -> bool:
    """Whether the patient already gave their review ratings in this window."""
    last = review_answers(episode).order_by("-recorded_at").values_list("recorded_at", flat=True)
    return answered_in(window, last.first(), tz)
