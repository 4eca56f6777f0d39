"""Build the demo: remove earlier demo clinics, make the two clinics, and fill them batch by
batch with patients, their charts and, in the first clinic, their portal.

Each batch is first generated in memory (`patients`, `charts`, `outcomes`, `portal`), every
record with its own time, then recorded through the services: the bulk imports, which check
each record with the rules the clinic's own services apply and write its audit rows, and
for the sessions left unsigned the clinic's own charting services, one call at a time. The
demo itself never writes a row. The same seed and the same `today` give the same records.
"""

import datetime as dt
import gc
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import transaction

from needlechart.accounts import services as accounts
from needlechart.accounts.models import Clinic, User
from needlechart.charting.models import Assessment, NeedlingSession
from needlechart.charting.services import imports as charting_imports
from needlechart.demo import clinics, patients
from needlechart.demo.charts import Charts, ClinicChart, EpisodeCharter, EpisodePlan
from needlechart.demo.outcomes import OutcomesCharter
from needlechart.demo.portal import PortalDemo, PortalRows
from needlechart.outcomes import measurements
from needlechart.outcomes import services as outcomes
from needlechart.patients import services as patient_records
from needlechart.portal import services as portal
from needlechart.portal.models import ReportedEffect

# What the audit rows of the imports say the records came from.
SOURCE = "demo"
# Patients generated and recorded at a time.
BATCH = 500


@dataclass(frozen=True)
class DemoResult:
    clinics: list[Clinic]
    patients: int
    episodes: int
    logins: list[tuple[str, str]]
    sessions: int = 0
    portal_accounts: int = 0


@dataclass
class Filled:
    """What a clinic was filled with."""

    patients: int = 0
    episodes: int = 0
    sessions: int = 0
    portal_users: list[User] = field(default_factory=list)


@transaction.atomic
def build_demo(
    *, patients: int, seed: int, today: dt.date, progress: Callable[[int], None] = lambda n: None
) -> DemoResult:
    """Replace any demo clinics with freshly generated ones. Refuses if real clinics exist."""
    if clinics.real_clinics():
        raise ValueError("the database holds real clinic data")
    with _fewer_collections():
        return _build(patients=patients, seed=seed, today=today, progress=progress)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """A batch keeps tens of thousands of new records alive until it is recorded; at its
    default thresholds the garbage collector walks them all again and again (several per
    cent of the build) to find almost nothing. What a batch leaves in cycles (records that
    refer to each other) is collected once it is recorded (`_fill_clinic`), so that memory
    does not grow with the batches."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _build(
    *, patients: int, seed: int, today: dt.date, progress: Callable[[int], None]
) -> DemoResult:
    accounts.demo_clinics_remove()
    rng = random.Random(seed)
    # The portal draws from a stream of its own, so the charts are the same without it.
    portal_demo = PortalDemo(random.Random(f"portal-{seed}"), today)
    made, staff, total = [], [], Filled()
    for index, spec in enumerate(clinics.CLINICS):
        demo = clinics.clinic_build(index, spec, today)
        count = patients if index == 0 else clinics.SECOND_CLINIC_PATIENTS
        filled = _fill_clinic(
            rng, demo, count, today, progress, portal_demo if index == 0 else None
        )
        made.append(demo.clinic)
        staff += demo.staff
        total.patients += filled.patients
        total.episodes += filled.episodes
        total.sessions += filled.sessions
        total.portal_users += filled.portal_users
    accounts.demo_passwords_set(users=staff + total.portal_users, password=clinics.DEMO_PASSWORD)
    return DemoResult(
        made,
        total.patients,
        total.episodes,
        clinics.demo_logins(),
        total.sessions,
        len(total.portal_users),
    )


def _fill_clinic(
    rng: random.Random,
    demo: clinics.DemoClinic,
    count: int,
    today: dt.date,
    progress: Callable[[int], None],
    portal_demo: PortalDemo | None,
) -> Filled:
    """Patients and their charts, in batches; with `portal_demo`, their portal too (the first
    patient is the portal's demo patient)."""
    ctx = ClinicChart(demo.clinic, demo.practitioners)
    filled = Filled()
    for start in range(0, count, BATCH):
        first = demo.first_mrn + start
        numbers = range(first, first + min(BATCH, count - start))
        batch = [patients.patient(rng, demo.clinic, number, today) for number in numbers]
        showcase = batch[0] if portal_demo is not None and start == 0 else None
        if showcase is not None:
            showcase.email = clinics.SHOWCASE_EMAIL
        patient_records.patients_import(actor=demo.admin, patients=batch, source=SOURCE)
        plans = [
            plan
            for patient in batch
            for plan in patients.episodes(rng, patient, ctx, today, patient is showcase)
        ]
        patient_records.episodes_import(
            actor=demo.admin, episodes=[plan.episode for plan in plans], source=SOURCE
        )
        rows = None
        if portal_demo is not None:
            rows = PortalRows(portal_demo)
            portal_demo.choose(ctx, plans, rows, showcase)
        charts = _chart(rng, ctx, plans, today, rows)
        _record(demo.admin, charts, rows)
        filled.patients += len(batch)
        filled.episodes += len(plans)
        filled.sessions += len(charts.sessions)
        filled.portal_users += [account.user for account in rows.accounts] if rows else []
        progress(len(batch))
        # The batch's records, those in cycles too, before the next batch is made.
        del batch, plans, charts, rows
        gc.collect()
    return filled


def _chart(
    rng: random.Random,
    ctx: ClinicChart,
    plans: list[EpisodePlan],
    today: dt.date,
    rows: PortalRows | None,
) -> Charts:
    """Chart every planned episode, a patient's oldest first (their consent comes before
    their first visit): its visits, the portal around them, its outcomes."""
    out = Charts()
    order: dict[int, int] = {}
    for plan in plans:
        order.setdefault(plan.episode.patient.pk, len(order))
    for plan in sorted(plans, key=lambda p: (order[p.episode.patient.pk], p.visit_days[0])):
        charter = EpisodeCharter(rng, ctx, plan, today, out)
        charter.chart()
        if plan.portal is not None:
            plan.portal.after_sessions(charter, charter.first)
        outcome = OutcomesCharter(charter)
        outcome.chart()
        if plan.portal is not None:
            plan.portal.at_home(charter, outcome)
    if rows is not None:
        rows.finish()
    return out


def _record(admin: User, out: Charts, rows: PortalRows | None) -> None:
    """Hand a batch to the services, in the order the clinic made it: accounts before what
    patients sent, records before their rows are signed, sessions signed before what
    followed them, the discharge last (its summary reads everything before it)."""
    if rows is not None:
        portal.portal_accounts_import(
            actor=admin, invitations=rows.invitations, accounts=rows.accounts, source=SOURCE
        )
    charting_imports.chart_import(
        actor=admin,
        source=SOURCE,
        screenings=out.screenings,
        consents=out.consents,
        assessments=out.assessments,
        pain_marks=out.pain_marks,
        findings=out.findings,
        sessions=out.sessions,
        insertions=out.insertions,
    )
    measurements.observations_import(actor=admin, observations=out.observations, source=SOURCE)
    charting_imports.signatures_import(
        actor=admin,
        source=SOURCE,
        assessments=[(r, at) for r, at in out.signatures if isinstance(r, Assessment)],
        sessions=[(r, at) for r, at in out.signatures if isinstance(r, NeedlingSession)],
    )
    charting_imports.followups_import(
        actor=admin,
        source=SOURCE,
        adverse_events=out.adverse_events,
        aftercare=out.aftercare,
        addenda=out.addenda,
    )
    outcomes.plans_import(
        actor=admin,
        plans=out.care_plans,
        goals=out.plan_goals,
        therapies=out.plan_therapies,
        source=SOURCE,
    )
    if rows is not None:
        _record_portal(admin, rows)
    outcomes.discharges_import(actor=admin, discharges=out.discharges, source=SOURCE)


def _record_portal(admin: User, rows: PortalRows) -> None:
    """What the batch's patients sent from the portal, and the clinicians' review of it."""
    portal.questionnaires_import(actor=admin, questionnaires=rows.questionnaires, source=SOURCE)
    effects = portal.checkins_import(actor=admin, check_ins=rows.check_ins, source=SOURCE)
    # The portal's rules made the effects again from the answers; the reviews decided on
    # the generated ones carry over.
    decided = {(id(e.session), e.event_type): e for e in rows.effects}
    reviewed = []
    for effect in effects:
        review = decided[(id(effect.session), effect.event_type)]
        if review.status == ReportedEffect.Status.PENDING:
            continue
        effect.status, effect.reviewed_by, effect.reviewed_at = (
            review.status,
            review.reviewed_by,
            review.reviewed_at,
        )
        effect.adverse_event, effect.dismiss_reason = review.adverse_event, review.dismiss_reason
        reviewed.append(effect)
    portal.effect_reviews_import(actor=admin, effects=reviewed, source=SOURCE)
    measurements.observations_import(actor=admin, observations=rows.home, source=SOURCE)
