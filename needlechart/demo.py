"""A deterministic demo: two clinics, their staff with credentials, patients, episodes of
care and their charts (see `demo_charts`), and in the first clinic the patient portal of
about a quarter of the patients in care (see `demo_portal`).

The same seed and the same `today` always give the same records. Generated rows are
bulk-inserted with their audit rows (actor: the system) for speed at large sizes.
"""

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db import transaction

from needlechart import demo_charts, demo_portal
from needlechart.accounts.models import (
    Clinic,
    DryNeedlingCredential,
    Practitioner,
    Profession,
    Role,
    User,
)
from needlechart.audit.models import AuditEvent
from needlechart.audit.services import object_type_of
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AftercareIssue,
    Assessment,
    Consent,
    ConsentWithdrawal,
    DocumentTemplate,
    Insertion,
    NeedleSize,
    NeedlingSession,
    PainMark,
    Screening,
    TriggerPointFinding,
)
from needlechart.outcomes.models import CarePlan, Discharge, Observation, PlanGoal, PlanTherapy
from needlechart.patients.models import EpisodeOfCare, Patient, ReferralSource, Sex
from needlechart.portal.models import (
    CheckIn,
    HealthQuestionnaire,
    Invitation,
    PortalAccount,
    Reminder,
    ReportedEffect,
)

DEMO_PASSWORD = "needlechart-demo"  # noqa: S105 - published on purpose, demo data only
BATCH = 500

GIVEN = {
    Sex.FEMALE: [
        "Aoife", "Maria", "Grace", "Sofia", "Hannah", "Priya", "Chloe", "Nora", "Elena",
        "Fatima", "Ruth", "Mei", "Olivia", "Amara", "Lucia", "Ingrid", "Zara", "Clara",
    ],
    Sex.MALE: [
        "Liam", "James", "Tomás", "Noah", "Omar", "Daniel", "Arjun", "Lucas", "Samuel",
        "Mateo", "Kenji", "Ethan", "Felix", "Hugo", "Kwame", "Pavel", "Ravi", "Oscar",
    ],
    Sex.OTHER: ["Alex", "Sam", "Jordan", "Robin"],
}  # fmt: skip
FAMILY = [
    "Murphy", "Kelly", "Walsh", "Byrne", "Smith", "Nguyen", "Okafor", "Garcia", "Rossi",
    "Kowalski", "Patel", "Chen", "Schmidt", "Dubois", "Hansen", "Silva", "Novak", "Cohen",
    "Ahmed", "Larsen", "Moreau", "Brennan", "Fischer", "Costa", "Tanaka", "Mensah", "Reyes",
    "Ivanova", "O'Brien", "Lindqvist",
]  # fmt: skip
STREETS = [
    "Harbour Road", "Mill Lane", "Church Street", "Station Road", "Park Avenue", "Orchard Way",
    "Quay Street", "Meadow Close",
]  # fmt: skip


@dataclass(frozen=True)
class StaffSpec:
    username: str
    first_name: str
    last_name: str
    role: Role
    profession: Profession | None = None
    # Credential validity relative to today: None = no credential; days until expiry.
    credential_expires_in: int | None = None


CLINICS = [
    (
        "Riverside Physio & Sports (demo)",
        "Europe/Dublin",
        [
            StaffSpec(
                "demo-admin", "Orla", "Brennan", Role.CLINIC_ADMIN, Profession.PHYSIOTHERAPIST, 400
            ),
            StaffSpec(
                "demo-practitioner",
                "Daniel",
                "Okafor",
                Role.PRACTITIONER,
                Profession.PHYSIOTHERAPIST,
                700,
            ),
            StaffSpec(
                "demo-chiro", "Lena", "Fischer", Role.PRACTITIONER, Profession.CHIROPRACTOR, 30
            ),
            StaffSpec(
                "demo-trainer",
                "Marcus",
                "Reyes",
                Role.PRACTITIONER,
                Profession.ATHLETIC_TRAINER,
                -20,
            ),
            StaffSpec("demo-assistant", "Niamh", "Walsh", Role.ASSISTANT),
            StaffSpec("demo-frontdesk", "Tom", "Kelly", Role.FRONT_DESK),
        ],
    ),
    (
        "Northside Chiropractic (demo)",
        "Europe/London",
        [
            StaffSpec("demo-b-admin", "Ada", "Moreau", Role.CLINIC_ADMIN),
            StaffSpec(
                "demo-b-practitioner",
                "Kenji",
                "Tanaka",
                Role.PRACTITIONER,
                Profession.CHIROPRACTOR,
                300,
            ),
        ],
    ),
]
SECOND_CLINIC_PATIENTS = 8
# Contact details printed on aftercare sheets and letters; the numbers are reserved for fiction.
CLINIC_CONTACTS = [
    ("+353 1 555 0140", "reception@riverside.example", "14 Quay Street\nDemo Town"),
    ("+44 20 7946 0321", "hello@northside.example", "3 Mill Lane\nDemo City"),
]
# Each demo clinic numbers its records in its own range, so an MRN names one demo patient.
MRN_BLOCK = 500_000


@dataclass(frozen=True)
class DemoResult:
    clinics: list[Clinic]
    patients: int
    episodes: int
    logins: list[tuple[str, str]]
    sessions: int = 0
    portal_accounts: int = 0


def real_clinics() -> list[Clinic]:
    return list(Clinic.objects.filter(is_demo=False))


def demo_logins() -> list[tuple[str, str]]:
    users = User.objects.filter(clinic__is_demo=True, is_active=True).select_related("clinic")
    logins = [
        (user.username, f"{user.get_role_display()}, {user.clinic}")
        for user in users.order_by("clinic_id", "username")
    ]
    account = PortalAccount.objects.filter(
        user__username=demo_portal.SHOWCASE_EMAIL, patient__clinic__is_demo=True
    ).select_related("patient__clinic")
    for patient in (a.patient for a in account):
        logins.append(
            (
                demo_portal.SHOWCASE_EMAIL,
                f"Patient portal (/portal/login/): {patient.full_name}, {patient.clinic}",
            )
        )
    return logins


def _remove_demo_clinics() -> None:
    demo = Clinic.objects.filter(is_demo=True)
    # The demo patients' portal sign-ins belong to no clinic.
    portal_users = list(
        User.objects.filter(portal_account__patient__clinic__in=demo).values_list("pk", flat=True)
    )
    # Demo rows only: real clinics' audit rows are never touched. A portal sign-in's own
    # rows (logging in) have no clinic.
    for events in (
        AuditEvent.objects.filter(clinic__in=demo),
        AuditEvent.objects.filter(user__portal_account__patient__clinic__in=demo),
    ):
        events._raw_delete(events.db)
    # Chart rows go before what they point at (protected foreign keys); raw deletes, as
    # the collector would load every row first and the demo may hold many thousands.
    for rows in (
        ReportedEffect.objects.filter(session__episode__patient__clinic__in=demo),
        CheckIn.objects.filter(session__episode__patient__clinic__in=demo),
        HealthQuestionnaire.objects.filter(patient__clinic__in=demo),
        Invitation.objects.filter(patient__clinic__in=demo),
        Reminder.objects.filter(patient__clinic__in=demo),
        PortalAccount.objects.filter(patient__clinic__in=demo),
        Addendum.objects.filter(assessment__episode__patient__clinic__in=demo),
        Addendum.objects.filter(session__episode__patient__clinic__in=demo),
        Addendum.objects.filter(discharge__episode__patient__clinic__in=demo),
        Discharge.objects.filter(episode__patient__clinic__in=demo),
        PlanGoal.objects.filter(plan__episode__patient__clinic__in=demo),
        PlanTherapy.objects.filter(plan__episode__patient__clinic__in=demo),
        CarePlan.objects.filter(episode__patient__clinic__in=demo),
        AftercareIssue.objects.filter(session__episode__patient__clinic__in=demo),
        AdverseEvent.objects.filter(session__episode__patient__clinic__in=demo),
        Observation.objects.filter(episode__patient__clinic__in=demo),
        Insertion.objects.filter(session__episode__patient__clinic__in=demo),
        PainMark.objects.filter(assessment__episode__patient__clinic__in=demo),
        TriggerPointFinding.objects.filter(assessment__episode__patient__clinic__in=demo),
        NeedlingSession.objects.filter(episode__patient__clinic__in=demo),
        Assessment.objects.filter(episode__patient__clinic__in=demo),
        Screening.objects.filter(episode__patient__clinic__in=demo),
        ConsentWithdrawal.objects.filter(consent__patient__clinic__in=demo),
        Consent.objects.filter(patient__clinic__in=demo),
        DocumentTemplate.objects.filter(clinic__in=demo),
        NeedleSize.objects.filter(clinic__in=demo),
    ):
        rows._raw_delete(rows.db)
    EpisodeOfCare.objects.filter(patient__clinic__in=demo).delete()
    Patient.objects.filter(clinic__in=demo).delete()
    DryNeedlingCredential.objects.filter(practitioner__user__clinic__in=demo).delete()
    Practitioner.objects.filter(user__clinic__in=demo).delete()
    User.objects.filter(clinic__in=demo).delete()
    User.objects.filter(pk__in=portal_users).delete()
    demo.delete()


def _staff(
    clinic: Clinic, clinic_index: int, specs: list[StaffSpec], today: dt.date, password: str
) -> list[Practitioner]:
    practitioners = []
    for number, spec in enumerate(specs, start=1):
        user = User(
            clinic=clinic,
            username=spec.username,
            first_name=spec.first_name,
            last_name=spec.last_name,
            email=f"{spec.username}@demo.needlechart.invalid",
            role=spec.role,
        )
        user.password = password
        user.save()
        if spec.profession is None:
            continue
        practitioner = Practitioner.objects.create(
            user=user,
            profession=spec.profession,
            registration_number=f"DEMO-{clinic_index + 1}{number:03d}",
            registration_body="Demo registration board",
        )
        if spec.role in (Role.CLINIC_ADMIN, Role.PRACTITIONER):
            practitioners.append(practitioner)
        if spec.credential_expires_in is not None:
            expires = today + dt.timedelta(days=spec.credential_expires_in)
            DryNeedlingCredential.objects.create(
                practitioner=practitioner,
                course="Dry needling level 1 and 2",
                provider="Demo Institute of Manual Therapy",
                hours=Decimal("54.0"),
                completed_on=expires - dt.timedelta(days=3 * 365),
                expires_on=expires,
                evidence_note="Demo data: certificate not seen.",
                recorded_by=user,
            )
    return practitioners


def _patient(rng: random.Random, clinic: Clinic, number: int, today: dt.date) -> Patient:
    sex = rng.choices([Sex.FEMALE, Sex.MALE, Sex.OTHER], weights=[52, 46, 2])[0]
    given = rng.choice(GIVEN[sex])
    family = rng.choice(FAMILY)
    born = today - dt.timedelta(days=rng.randint(18 * 365, 85 * 365))
    handle = f"{given}.{family}".lower().replace("'", "").replace("á", "a")
    return Patient(
        clinic=clinic,
        mrn=f"{number:06d}",
        given_name=given,
        family_name=family,
        birth_date=born,
        sex=sex,
        phone=f"+353 1 {rng.randint(200, 999)} {rng.randint(1000, 9999)}",
        email=f"{handle}{number}@example.invalid",
        address=f"{rng.randint(1, 120)} {rng.choice(STREETS)}\nDemo Town",
    )


# How many days before today a patient's newest episode had its last visit, by status:
# active care was seen lately, care on hold some weeks ago.
LAST_VISIT = {
    EpisodeOfCare.Status.ACTIVE: (1, 10),
    EpisodeOfCare.Status.ON_HOLD: (21, 75),
    EpisodeOfCare.Status.FINISHED: (5, 240),
}
# An older, discharged episode ended this many days before the newer one began.
BETWEEN_EPISODES = (30, 150)


# The demo patient of the portal is in active care, her last session two days ago: its
# first check-in (24 h) stays open until the time of that session today, the next (48 h)
# opens then, so whoever signs in today has one to answer.
SHOWCASE_VISITS = 4
SHOWCASE_LAST_VISIT = 2


def _episodes(
    rng: random.Random,
    patient: Patient,
    ctx: demo_charts.ClinicChart,
    today: dt.date,
    showcase: bool = False,
) -> list[demo_charts.EpisodePlan]:
    plans = []
    until = today
    for index in range(1 if rng.random() < 0.7 else 2):
        shaped = showcase and index == 0
        complaint, code, sides = demo_charts.pick_complaint(rng, today)
        # The older episode of two is discharged; the newer one is usually active.
        status = (
            EpisodeOfCare.Status.FINISHED
            if index == 1
            else rng.choices(
                [
                    EpisodeOfCare.Status.ACTIVE,
                    EpisodeOfCare.Status.ON_HOLD,
                    EpisodeOfCare.Status.FINISHED,
                ],
                weights=[70, 10, 20],
            )[0]
        )
        if shaped:
            status = EpisodeOfCare.Status.ACTIVE
        # Care on hold stopped after a visit or three; other courses run three to eight.
        visits = rng.randint(1, 3) if status == EpisodeOfCare.Status.ON_HOLD else rng.randint(3, 8)
        low, high = BETWEEN_EPISODES if index else LAST_VISIT[status]
        last = until - dt.timedelta(days=rng.randint(low, high))
        if shaped:
            visits = max(visits, SHOWCASE_VISITS)
            last = today - dt.timedelta(days=SHOWCASE_LAST_VISIT)
        days = demo_charts.visit_days(rng, visits, last)
        start = days[0]
        end = None
        if status == EpisodeOfCare.Status.FINISHED:
            # Discharged before today: nothing is recorded as happening today or later.
            end = min(today - dt.timedelta(days=1), days[-1] + dt.timedelta(days=rng.randint(0, 7)))
        episode = EpisodeOfCare(
            patient=patient,
            condition_code=code,
            body_area=complaint.body_area,
            onset_date=max(patient.birth_date, start - dt.timedelta(days=rng.randint(3, 120))),
            referral_source=rng.choice(ReferralSource.values),
            status=status,
            care_manager=ctx.in_charge(rng, complaint, start),
            period_start=start,
            period_end=end,
        )
        plans.append(demo_charts.EpisodePlan(episode, complaint, sides, days))
        until = start
    return plans


def _audit_created(records: list, clinic: Clinic) -> None:
    AuditEvent.objects.bulk_create(
        AuditEvent(
            clinic=clinic,
            patient_id=getattr(record, "patient_id", None) or record.pk,
            action=AuditEvent.Action.CREATE,
            object_type=object_type_of(record),
            object_id=str(record.pk),
            detail={"source": "demo"},
        )
        for record in records
    )


def _fill_clinic(
    rng: random.Random,
    ctx: demo_charts.ClinicChart,
    count: int,
    today: dt.date,
    progress: Callable[[int], None],
    first_mrn: int = 1,
    portal: demo_portal.PortalDemo | None = None,
) -> tuple[int, int, int, int]:
    """Patients and their charts, in batches; with `portal`, their portal too (the first
    patient is the portal's demo patient)."""
    clinic = ctx.clinic
    episodes_total = sessions_total = accounts_total = 0
    for start in range(0, count, BATCH):
        numbers = range(first_mrn + start, first_mrn + min(count, start + BATCH))
        made = [_patient(rng, clinic, number, today) for number in numbers]
        showcase = made[0] if portal is not None and start == 0 else None
        if showcase is not None:
            showcase.email = demo_portal.SHOWCASE_EMAIL
        patients = Patient.objects.bulk_create(made)
        plans = [plan for p in patients for plan in _episodes(rng, p, ctx, today, p is showcase)]
        episodes = EpisodeOfCare.objects.bulk_create([plan.episode for plan in plans])
        rows = None
        if portal is not None:
            rows = demo_portal.PortalRows(portal)
            portal.choose(ctx, plans, rows, showcase)
        charts = demo_charts.chart_episodes(rng, ctx, plans, today, rows)
        for records in (
            patients,
            episodes,
            charts.screenings,
            charts.consents,
            charts.assessments,
            charts.sessions,
            charts.adverse_events,
            charts.care_plans,
            charts.discharges,
            rows.audited() if rows is not None else [],
        ):
            _audit_created(records, clinic)
        episodes_total += len(episodes)
        sessions_total += len(charts.sessions)
        accounts_total += len(rows.accounts) if rows is not None else 0
        progress(len(patients))
    clinic.next_mrn = first_mrn + count
    clinic.save(update_fields=["next_mrn"])
    return count, episodes_total, sessions_total, accounts_total


@transaction.atomic
def build_demo(
    *, patients: int, seed: int, today: dt.date, progress: Callable[[int], None] = lambda n: None
) -> DemoResult:
    """Replace any demo clinics with freshly generated ones. Refuses if real clinics exist."""
    if real_clinics():
        raise ValueError("the database holds real clinic data")
    _remove_demo_clinics()
    rng = random.Random(seed)
    password = make_password(DEMO_PASSWORD)  # hashed once: hashing is slow on purpose
    # The portal draws from a stream of its own, so the charts are the same without it.
    portal = demo_portal.PortalDemo(random.Random(f"portal-{seed}"), password, today)
    clinics, patient_total, episode_total, session_total, account_total = [], 0, 0, 0, 0
    for index, (name, tz, staff) in enumerate(CLINICS):
        phone, email, address = CLINIC_CONTACTS[index]
        clinic = Clinic.objects.create(
            name=name, timezone=tz, is_demo=True, phone=phone, email=email, address=address
        )
        ctx = demo_charts.ClinicChart(clinic, _staff(clinic, index, staff, today, password))
        count = patients if index == 0 else SECOND_CLINIC_PATIENTS
        made, episodes, sessions, accounts = _fill_clinic(
            rng,
            ctx,
            count,
            today,
            progress,
            first_mrn=1 + index * MRN_BLOCK,
            portal=portal if index == 0 else None,
        )
        clinics.append(clinic)
        patient_total += made
        episode_total += episodes
        session_total += sessions
        account_total += accounts
    return DemoResult(
        clinics, patient_total, episode_total, demo_logins(), session_total, account_total
    )
