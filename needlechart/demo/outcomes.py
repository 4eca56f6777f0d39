"""The outcomes of the demo's episodes of care: a treatment plan made at the initial
assessment (for some active episodes a second version after a review), the odd
reassessment during active care, and for finished care the discharge with its measures.

Drawn from the same random stream as the charts, right after each episode's sessions (see
`generate`); nothing here writes to the database.
"""

import datetime as dt
import random
from collections.abc import Sequence
from decimal import Decimal
from typing import TypeVar

from needlechart import knowledge
from needlechart.charting.models import AdverseEvent
from needlechart.demo.charts import CHIRO, PHYSIO, EpisodeCharter, Given, _clamp
from needlechart.outcomes.models import CarePlan, Discharge, PlanGoal, PlanTherapy, Timing
from needlechart.patients.models import EpisodeOfCare

T = TypeVar("T")

Kind = PlanTherapy.Kind
Frequency = CarePlan.Frequency
Reason = Discharge.Reason
# Home exercises by complaint, with their doses.
EXERCISES = {
    "neck": (
        ("Chin tucks", "3 x 10, twice a day"),
        ("Upper trapezius stretch", "3 x 30 s each side, daily"),
        ("Scapular retraction with a band", "3 x 12, daily"),
        ("Thoracic extension over a rolled towel", "2 x 10, daily"),
        ("Levator scapulae stretch", "3 x 30 s, daily"),
    ),
    "low-back": (
        ("Pelvic tilts", "2 x 15, daily"),
        ("Bird dog", "3 x 8 each side, daily"),
        ("Glute bridges", "3 x 12, daily"),
        ("Knee-to-chest stretch", "3 x 30 s each side, daily"),
        ("Cat-camel", "2 x 10, morning and evening"),
    ),
    "shoulder": (
        ("Pendulum swings", "2 x 1 min, twice a day"),
        ("External rotation with a band", "3 x 12, daily"),
        ("Sleeper stretch", "3 x 30 s, daily"),
        ("Wall slides", "2 x 10, daily"),
        ("Scapular setting", "3 x 10 holds of 5 s, daily"),
    ),
    "hip": (
        ("Clamshells", "3 x 15 each side, daily"),
        ("Side-lying hip abduction", "3 x 12, daily"),
        ("Glute bridges", "3 x 12, daily"),
        ("Piriformis stretch", "3 x 30 s, daily"),
        ("Hip flexor stretch in half kneeling", "3 x 30 s, daily"),
    ),
    "calf": (
        ("Eccentric heel drops", "3 x 15, twice a day"),
        ("Calf stretch against a wall", "3 x 30 s, straight and bent knee, daily"),
        ("Seated calf raises", "3 x 15, daily"),
        ("Single-leg balance", "3 x 30 s, daily"),
    ),
    "hamstring": (
        ("Isometric hamstring holds", "5 x 30 s, daily"),
        ("Single-leg glute bridges", "3 x 10, daily"),
        ("Hamstring sliders", "3 x 8, every other day"),
        ("Nordic hamstring curls", "3 x 5, twice a week"),
    ),
    "lateral-elbow": (
        ("Isometric wrist extension", "5 x 45 s, daily"),
        ("Eccentric wrist extension with a 1 kg weight", "3 x 15, daily"),
        ("Wrist extensor stretch", "3 x 30 s, daily"),
        ("Grip squeezes with a soft ball", "3 x 10, daily"),
    ),
}
# Where massage or manipulation is aimed, by complaint.
PARTS = {
    "neck": "neck and upper back",
    "low-back": "low back",
    "shoulder": "shoulder girdle",
    "hip": "hip and buttock",
    "calf": "calf",
    "hamstring": "back of the thigh",
    "lateral-elbow": "forearm",
}
# Named clinicians outside the clinic, by the therapy they give.
OUTSIDE = {
    Kind.PHYSICAL_THERAPY: ("Siobhan Doyle, physiotherapist", "Rafael Santos, physiotherapist"),
    Kind.CHIROPRACTIC: ("Dr Paul Hughes, chiropractor", "Dr Anna Berg, chiropractor"),
    Kind.MASSAGE: ("Ciara Nolan, massage therapist", "Aidan Shaw, sports massage therapist"),
}
THERAPY_WORDS = {
    Kind.PHYSICAL_THERAPY: "physical therapy",
    Kind.HOME_EXERCISE: "a home exercise programme",
    Kind.MASSAGE: "massage",
    Kind.CHIROPRACTIC: "chiropractic care",
}
FREQUENCY_WORDS = {
    Frequency.TWICE_WEEKLY: "twice a week",
    Frequency.WEEKLY: "once a week",
    Frequency.FORTNIGHTLY: "every two weeks",
    Frequency.MONTHLY: "once a month",
}
# Active plans reviewed and changed at the first visit after their review date; the others
# are overdue. Now and then a plan changes before its review date.
REVISED_AFTER_REVIEW = 0.7
REVISED_EARLY = 0.08
# Active episodes with four sessions or more that had a reassessment at one of them.
REASSESSED = 0.5


def _weighted_sample(rng: random.Random, weights: dict[T, int], count: int) -> list[T]:
    pool = dict(weights)
    chosen = []
    for _ in range(min(count, len(pool))):
        item = rng.choices(list(pool), weights=list(pool.values()))[0]
        del pool[item]
        chosen.append(item)
    return chosen


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _groc(rng: random.Random, change: str) -> int:
    """A global rating of change (-7..+7) that fits how the pain went."""
    if change == "improved":
        return rng.choices(range(2, 8), weights=[1, 3, 5, 5, 3, 1])[0]
    if change == "worse":
        return rng.choices(range(-4, 1), weights=[1, 2, 3, 2, 1])[0]
    return rng.choices(range(-2, 4), weights=[1, 2, 4, 3, 2, 1])[0]


def _pgic(rng: random.Random, change: str) -> int:
    """A patient global impression of change (1 very much better .. 7 very much worse)."""
    if change == "improved":
        return rng.choices([1, 2, 3], weights=[3, 5, 2])[0]
    if change == "worse":
        return rng.choices([4, 5, 6], weights=[3, 4, 1])[0]
    return rng.choices([2, 3, 4, 5], weights=[1, 3, 5, 1])[0]


def _qol(rng: random.Random, baseline: int, change: str) -> int:
    """A quality-of-life rating (0-10) later in the course, following the pain."""
    if change == "improved":
        return _clamp(max(baseline + 2, rng.randint(6, 9)))
    return _clamp(
        baseline - rng.randint(1, 2) if change == "worse" else baseline + rng.randint(-1, 1)
    )


def _rom_now(rng: random.Random, code: str, baseline: int, change: str) -> int:
    """Degrees of a movement later in the course: most of the lost range back, or about
    the same."""
    reference = knowledge.rom_movement(code).reference
    if change == "improved":
        return round(min(reference, baseline + reference * rng.uniform(0.1, 0.3)))
    return max(0, baseline + rng.randint(-5, 5))


def _psfs_now(rng: random.Random, baseline: int, change: str) -> int:
    """An activity's rating later in the course, following the pain."""
    if change == "improved":
        return _clamp(baseline + rng.randint(3, 6))
    return _clamp(
        baseline - rng.randint(0, 2) if change == "worse" else baseline + rng.randint(-1, 2)
    )


class OutcomesCharter:
    """The outcomes of one charted episode: its treatment plan, made at the initial
    assessment and for some active episodes changed at a review; a reassessment now and
    then during active care; and for finished care the discharge with its measures."""

    def __init__(self, charter: EpisodeCharter) -> None:
        self.charter, self.lead, self.first = charter, charter.lead, charter.first
        self.baseline, self.found = charter.baseline, charter.found
        self.responder = charter.responder
        self.rng, self.ctx, self.out = charter.rng, charter.ctx, charter.out
        self.episode, self.complaint = charter.episode, charter.complaint
        self.given = charter.given
        # The latest version, its goals and therapies.
        self.plan: CarePlan
        self.goals: list[PlanGoal] = []
        self.therapies: list[PlanTherapy] = []

    def chart(self) -> None:
        plan = self.plan = self._first_plan()
        status = self.episode.status
        if status == EpisodeOfCare.Status.ACTIVE:
            review = self._review_visit(plan)
            if review is not None:
                self._revised_plan(plan, review)
            self._reassessment(review)
        elif status == EpisodeOfCare.Status.FINISHED:
            self._discharge()

    def _change(self, value: int) -> str:
        """Whether pain at `value` is an important improvement on the baseline, or worse."""
        return knowledge.classify_change(
            "nprs", self.baseline, value, condition=self.episode.condition_code
        ).classification

    # The plan.

    def _first_plan(self) -> CarePlan:
        """Version 1, made by the practitioner in charge at the initial assessment."""
        rng, lead = self.rng, self.lead
        visits = len(self.charter.plan.visit_days)
        if self.episode.status == EpisodeOfCare.Status.FINISHED:
            planned = visits + rng.choice((-1, 0, 0, 1))
        else:  # care still running or paused: planned for more than given so far
            planned = visits + rng.choice((0, 1, 1, 2))
        frequency = rng.choices(
            [Frequency.WEEKLY, Frequency.TWICE_WEEKLY, Frequency.FORTNIGHTLY], weights=[8, 1, 1]
        )[0]
        planned = max(3, min(6, planned))
        # Reviewed about when the planned sessions are done: four to seven weeks.
        review_on = self.first.date() + dt.timedelta(
            days=max(28, min(49, 7 * planned + rng.randint(0, 7)))
        )
        kinds = _weighted_sample(
            rng,
            {
                Kind.HOME_EXERCISE: 6,
                Kind.PHYSICAL_THERAPY: 4 if lead.profession == PHYSIO else 2,
                Kind.MASSAGE: 2,
                Kind.CHIROPRACTIC: 4 if lead.profession == CHIRO else 1,
            },
            rng.choices([1, 2], weights=[45, 55])[0],
        )
        names = [knowledge.muscle(m).name.lower() for m in self.found]
        needling = f"Dry needling of {_and(names)}" if names else "Dry needling"
        plan = CarePlan(
            episode=self.episode,
            version=1,
            planned_sessions=planned,
            frequency=frequency,
            review_on=review_on,
            note=(
                f"{needling}, {FREQUENCY_WORDS[frequency]}, "
                f"with {_and([THERAPY_WORDS[k] for k in kinds])}."
            ),
            created_by=lead.user,
            created_at=self.first + dt.timedelta(minutes=37),
        )
        self.out.care_plans.append(plan)
        self.goals = self._goals(plan)
        self.out.plan_goals += self.goals
        self.therapies = [self._therapy(plan, kind) for kind in kinds]
        self.out.plan_therapies += self.therapies
        return plan

    def _goals(self, plan: CarePlan) -> list[PlanGoal]:
        """Pain down to 2-3 by the review; often a PSFS activity of the baseline up to 7-9,
        sometimes the movement measured at baseline."""
        rng, review = self.rng, plan.review_on
        target = max(0, min(rng.choice((2, 3)), self.baseline - 2))
        goals = [
            PlanGoal(
                plan=plan,
                description=f"Pain {target}/10 or less on most days",
                code="nprs",
                target=Decimal(target),
                target_date=review,
            )
        ]
        later = review + dt.timedelta(days=rng.choice((0, 7, 14)))
        if self.charter.psfs and rng.random() < 0.8:
            activity, value = rng.choice(self.charter.psfs)
            target = max(rng.randint(7, 9), value + 3)
            goals.append(
                PlanGoal(
                    plan=plan,
                    description=f"{activity}: {target}/10 or better",
                    code="psfs-activity",
                    component=activity,
                    target=Decimal(target),
                    target_date=later,
                )
            )
        if self.charter.rom and rng.random() < 0.4:
            code, value = self.charter.rom
            movement = knowledge.rom_movement(code)
            reference = round(movement.reference)
            target = min(reference, max(value + 10, round(reference * rng.uniform(0.85, 1))))
            goals.append(
                PlanGoal(
                    plan=plan,
                    description=f"{movement.label} ({self.charter.side}) to {target}°",
                    code="rom",
                    component=code,
                    target=Decimal(target),
                    target_date=later,
                )
            )
        return goals

    def _therapy(self, plan: CarePlan, kind: str) -> PlanTherapy:
        rng, key = self.rng, self.complaint.key
        if kind == Kind.HOME_EXERCISE:
            exercises = rng.sample(EXERCISES[key], rng.randint(2, 4))
            return PlanTherapy(
                plan=plan,
                kind=kind,
                provider="Patient at home",
                frequency=rng.choice(("Daily", "Daily, about 15 minutes", "Daily, 10-20 minutes")),
                exercises=[{"name": name, "dose": dose} for name, dose in exercises],
                note=rng.choice(("", "Stop any exercise that brings on the familiar pain.")),
            )
        provider = self._provider(kind)
        if kind == Kind.PHYSICAL_THERAPY:
            own = provider == str(self.lead)
            frequency = (
                "At each needling visit" if own else rng.choice(("Once a week", "Every two weeks"))
            )
            note = rng.choice(
                ("Manual therapy and graded loading.", "Posture and movement retraining.")
            )
        elif kind == Kind.MASSAGE:
            frequency = rng.choice(
                ("Every two weeks", "Once a month", "Once a week for three weeks")
            )
            note = f"Soft tissue massage to the {PARTS[key]}."
        else:
            frequency = rng.choice(("Once a week", "Every two weeks"))
            note = f"Joint mobilisation and manipulation of the {PARTS[key]} as needed."
        return PlanTherapy(plan=plan, kind=kind, provider=provider, frequency=frequency, note=note)

    def _provider(self, kind: str) -> str:
        """The practitioner in charge if of the right profession, else a colleague who is,
        else a named clinician outside the clinic."""
        if kind in (Kind.PHYSICAL_THERAPY, Kind.CHIROPRACTIC):
            profession = PHYSIO if kind == Kind.PHYSICAL_THERAPY else CHIRO
            if self.lead.profession == profession:
                return str(self.lead)
            colleagues = [p for p in self.ctx.practitioners if p.profession == profession]
            if colleagues:
                return str(self.rng.choice(colleagues))
        return self.rng.choice(OUTSIDE[kind])

    def _review_visit(self, plan: CarePlan) -> Given | None:
        """The session at which an active episode's plan was reviewed and changed, if any:
        mostly the first on or after the review date; a plan left as it was past its review
        date is overdue."""
        rng = self.rng
        due = [g for g in self.given[1:] if g.at.date() >= plan.review_on]
        if due:
            return due[0] if rng.random() < REVISED_AFTER_REVIEW else None
        if len(self.given) >= 3 and rng.random() < REVISED_EARLY:
            return rng.choice(self.given[2:])
        return None

    def _revised_plan(self, first: CarePlan, review: Given) -> None:
        """Version 2 after the review: more sessions, the goals given more time, and more
        exercise when the pain has not come down as hoped."""
        rng = self.rng
        number = self.given.index(review) + 1
        improving = self._change(review.before) == "improved"
        day = review.at.date()
        planned = min(10, max(first.planned_sessions, number) + rng.randint(2, 3))
        if improving:
            frequency = rng.choice((first.frequency, Frequency.FORTNIGHTLY))
            decision = (
                f"Good progress; {_plural(planned - number, 'more session')} to consolidate, "
                "then discharge to home exercises."
            )
        else:
            frequency = rng.choice((Frequency.WEEKLY, Frequency.TWICE_WEEKLY))
            decision = (
                "Less change than hoped for: needling continued with more exercise; the "
                "diagnosis will be reconsidered if no better by the next review."
            )
        plan = CarePlan(
            episode=self.episode,
            version=2,
            planned_sessions=planned,
            frequency=frequency,
            review_on=day + dt.timedelta(days=7 * (planned - number) + rng.randint(7, 14)),
            note=(
                f"Reviewed at session {number}: pain {self.baseline}/10 at the start, "
                f"{review.before}/10 now. {decision}"
            ),
            created_by=self.lead.user,
            created_at=review.at + dt.timedelta(minutes=rng.randint(40, 60)),
        )
        self.out.care_plans.append(plan)
        self.plan = plan
        later = plan.review_on - first.review_on
        self.goals = [
            PlanGoal(
                plan=plan,
                description=goal.description,
                code=goal.code,
                component=goal.component,
                target=goal.target,
                target_date=goal.target_date + later,
            )
            for goal in self.goals
        ]
        self.out.plan_goals += self.goals
        therapies = [
            PlanTherapy(
                plan=plan,
                kind=t.kind,
                provider=t.provider,
                frequency=t.frequency,
                exercises=t.exercises,
                note="Exercises progressed at the review." if t.exercises else t.note,
            )
            for t in self.therapies
        ]
        kinds = [t.kind for t in therapies]
        if not improving and Kind.HOME_EXERCISE not in kinds and len(kinds) < 2:
            therapies.append(self._therapy(plan, Kind.HOME_EXERCISE))
        self.therapies = therapies
        self.out.plan_therapies += therapies

    # Measures during and at the end of care.

    def _reassessment(self, review: Given | None) -> None:
        """Pain, a global rating of change and a PSFS activity, taken at the start of a
        visit from the fourth session on: at the review, or now and then."""
        rng = self.rng
        if len(self.given) < 4:
            return
        if review is not None and self.given.index(review) >= 3:
            visit = review
        elif rng.random() < REASSESSED:
            visit = rng.choice(self.given[3:])
        else:
            return
        by, at = visit.session.practitioner, visit.at - dt.timedelta(minutes=5)
        change = self._change(visit.before)
        observe = self.charter._observe
        observe(by, at, "nprs", visit.before, Timing.REASSESSMENT)
        observe(by, at, "groc", _groc(rng, change), Timing.REASSESSMENT)
        if self.charter.psfs:
            activity, value = rng.choice(self.charter.psfs)
            observe(by, at, "psfs-activity", _psfs_now(rng, value, change), Timing.REASSESSMENT,
                    component=activity)  # fmt: skip

    def _discharge(self) -> None:
        """The discharge of finished care, after the last session, with its measures."""
        rng, lead, episode = self.rng, self.lead, self.episode
        last = self.given[-1] if self.given else None
        end = episode.period_end
        assert end is not None
        if last is not None and end <= last.at.date():
            at = last.at + dt.timedelta(minutes=rng.randint(95, 130))
        else:
            at = self.ctx.at(end, rng.randint(9, 17), rng.choice((0, 15, 30, 45)))
        before = last.before if last else self.baseline
        if self.responder:
            pain = _clamp(before - rng.choice((0, 1, 1, 2)))
        else:
            pain = _clamp(before + rng.choice((-1, 0, 0, 1)))
        change = self._change(pain)
        # Goals met: the pain came down to its goal, and the activity and movement goals
        # were reached too (their measures below).
        targets = {(g.code, g.component): int(g.target) for g in self.goals}
        if change == "improved" and pain <= targets[("nprs", "")]:
            reason = Reason.GOALS_MET if rng.random() < 0.9 else Reason.PATIENT_CHOICE
        elif change == "improved":
            reason = Reason.PATIENT_CHOICE  # well enough to stop before the goal
        else:
            reason = Reason.PLATEAU if rng.random() < 0.6 else Reason.PATIENT_CHOICE
        reached = {key: 0 for key in targets}
        if reason == Reason.GOALS_MET:
            reached.update(targets)
        observe = self.charter._observe
        observe(lead, at, "nprs", pain, Timing.DISCHARGE)
        observe(lead, at, "groc", _groc(rng, change), Timing.DISCHARGE)
        observe(lead, at, "pgic", _pgic(rng, change), Timing.DISCHARGE)
        observe(lead, at, "qol", _qol(rng, self.charter.qol, change), Timing.DISCHARGE)
        if self.charter.rom:
            code, value = self.charter.rom
            now = max(_rom_now(rng, code, value, change), reached.get(("rom", code), 0))
            observe(lead, at, "rom", now, Timing.DISCHARGE, component=code,
                    side=self.charter.side)  # fmt: skip
        activities = []
        for activity, value in self.charter.psfs:
            now = max(_psfs_now(rng, value, change), reached.get(("psfs-activity", activity), 0))
            activities.append(f"{activity.lower()} {value}/10 then, {now}/10 now")
            observe(lead, at, "psfs-activity", now, Timing.DISCHARGE, component=activity)
        summary = " ".join(
            [
                self._course(),
                f"Pain {self.baseline}/10 at the start, {pain}/10 at discharge"
                + (f"; {'; '.join(activities)}." if activities else "."),
                self._events(),
                self._advice(reason, change),
            ]
        )
        self.out.discharges.append(
            Discharge(
                episode=episode,
                reason=reason,
                summary=summary,
                discharged_by=lead.user,
                discharged_at=at,
            )
        )

    def _course(self) -> str:
        sides = self.charter.plan.sides
        where = "both sides" if len(sides) > 1 else f"{sides[0]} side"
        signed = [g for g in self.given if g.signed_at is not None]
        if not signed:
            return f"{self.complaint.label.capitalize()}, {where}: assessed, not needled."
        weeks = max(1, round((signed[-1].at - signed[0].at).days / 7))
        kinds = list(dict.fromkeys(THERAPY_WORDS[t.kind] for t in self.therapies))
        return (
            f"{self.complaint.label.capitalize()}, {where}: "
            f"{_plural(len(signed), 'dry needling session')} over {_plural(weeks, 'week')}"
            + (f", with {_and(kinds)}." if kinds else ".")
        )

    def _events(self) -> str:
        if not self.charter.events:
            return "No adverse events."
        labels = knowledge.adverse_event_types()
        mild = [e for e in self.charter.events if e.severity == AdverseEvent.Severity.MILD]
        other = [e for e in self.charter.events if e.severity != AdverseEvent.Severity.MILD]
        sentences = []
        if mild:
            kinds = list(dict.fromkeys(labels[e.event_type].lower() for e in mild))
            sentences.append(f"Mild side effects ({_and(kinds)}) settled without treatment.")
        for event in other:
            settled = event.outcome == AdverseEvent.Outcome.RESOLVED
            sentences.append(
                f"A {event.severity} adverse event ({labels[event.event_type].lower()}) was "
                f"reviewed and {'has settled' if settled else 'is settling'}."
            )
        return " ".join(sentences)

    def _advice(self, reason: str, change: str) -> str:
        exercises = any(t.kind == Kind.HOME_EXERCISE for t in self.therapies)
        keep_up = "to keep up the home exercises" if exercises else "to stay active"
        if reason == Reason.GOALS_MET:
            return f"Goals met. Discharged {keep_up}; to return if the pain comes back."
        if reason == Reason.PLATEAU:
            return (
                "No important change in pain and no further improvement expected from "
                "needling. Letter to the GP suggesting a review of the diagnosis and other options."
            )
        if change == "improved":
            return f"Felt well enough to stop treatment. Advised {keep_up}; to return if needed."
        return f"Chose to stop treatment. Advised {keep_up} and to see the GP if no better."
