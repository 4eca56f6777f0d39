"""The demo's patients and their episodes of care: names, birth dates and contact details,
one or two complaints each, and when their visits fell.

Drawn from the demo's one random stream (see `generate`); nothing here writes to the
database.
"""

import datetime as dt
import random

from needlechart.accounts.models import Clinic
from needlechart.demo.charts import ClinicChart, EpisodePlan, pick_complaint, visit_days
from needlechart.patients.models import EpisodeOfCare, Patient, ReferralSource, Sex

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


def patient(rng: random.Random, clinic: Clinic, number: int, today: dt.date) -> Patient:
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


def episodes(
    rng: random.Random,
    patient: Patient,
    ctx: ClinicChart,
    today: dt.date,
    showcase: bool = False,
) -> list[EpisodePlan]:
    plans = []
    until = today
    for index in range(1 if rng.random() < 0.7 else 2):
        shaped = showcase and index == 0
        complaint, code, sides = pick_complaint(rng, today)
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
        days = visit_days(rng, visits, last)
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
        plans.append(EpisodePlan(episode, complaint, sides, days))
        until = start
    return plans
