"""The demo's two clinics and the people a user of the demo signs in as (README lists them):
the staff of each clinic, with their roles and dry-needling credentials, and one patient
of the first clinic in the portal. The clinics are made as a new clinic makes itself: the
clinic with its first admin, who fills in its details, adds the staff and records their
credentials, through the accounts services.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from needlechart.accounts import services as accounts
from needlechart.accounts.models import Clinic, Practitioner, Profession, Role, User
from needlechart.portal.models import PortalAccount

# Published in README: every demo login uses it.
DEMO_PASSWORD = "needlechart-demo"  # noqa: S105 - published on purpose, demo data only
# The demo patient's portal sign-in (the username is the email address, lower-cased).
SHOWCASE_EMAIL = "demo-patient@example.invalid"


@dataclass(frozen=True)
class StaffSpec:
    username: str
    first_name: str
    last_name: str
    role: Role
    profession: Profession | None = None
    # Credential validity relative to today: None = no credential; days until expiry.
    credential_expires_in: int | None = None


@dataclass(frozen=True)
class ClinicSpec:
    name: str
    timezone: str
    # The clinic admin first.
    staff: tuple[StaffSpec, ...]
    # Printed on aftercare sheets and letters; the numbers are reserved for fiction.
    phone: str
    email: str
    address: str


CLINICS = (
    ClinicSpec(
        "Riverside Physio & Sports (demo)",
        "Europe/Dublin",
        (
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
            # Her credential expires within 60 days; his lapsed 20 days ago.
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
        ),
        "+353 1 555 0140",
        "reception@riverside.example",
        "14 Quay Street\nDemo Town",
    ),
    ClinicSpec(
        "Northside Chiropractic (demo)",
        "Europe/London",
        (
            StaffSpec("demo-b-admin", "Ada", "Moreau", Role.CLINIC_ADMIN),
            StaffSpec(
                "demo-b-practitioner",
                "Kenji",
                "Tanaka",
                Role.PRACTITIONER,
                Profession.CHIROPRACTOR,
                300,
            ),
        ),
        "+44 20 7946 0321",
        "hello@northside.example",
        "3 Mill Lane\nDemo City",
    ),
)
SECOND_CLINIC_PATIENTS = 8
# Each demo clinic numbers its records in its own range, so an MRN names one demo patient.
MRN_BLOCK = 500_000


@dataclass(frozen=True)
class DemoClinic:
    clinic: Clinic
    # The admin, who imports the clinic's records.
    admin: User
    staff: list[User]
    # Those who may take charge of care and needle, in the order of the specs.
    practitioners: list[Practitioner]
    first_mrn: int


def clinic_build(index: int, spec: ClinicSpec, today: dt.date) -> DemoClinic:
    """One demo clinic with its staff and their credentials, as of `today`."""
    head = spec.staff[0]
    clinic, admin = accounts.clinic_create(
        name=spec.name,
        timezone=spec.timezone,
        admin_username=head.username,
        admin_email=_email(head),
        admin_first_name=head.first_name,
        admin_last_name=head.last_name,
        is_demo=True,
    )
    accounts.clinic_update(actor=admin, phone=spec.phone, email=spec.email, address=spec.address)
    staff = []
    for number, person in enumerate(spec.staff, start=1):
        profile = {
            "profession": person.profession,
            "registration_number": f"DEMO-{index + 1}{number:03d}" if person.profession else "",
            "registration_body": "Demo registration board" if person.profession else "",
        }
        if person is head:
            if person.profession:
                accounts.staff_update(
                    actor=admin, staff=admin, email=admin.email, first_name=admin.first_name,
                    last_name=admin.last_name, role=Role.CLINIC_ADMIN, is_active=True, **profile,
                )  # fmt: skip
            staff.append(admin)
            continue
        user = accounts.staff_create(
            actor=admin, username=person.username, email=_email(person),
            first_name=person.first_name, last_name=person.last_name, role=person.role,
            **profile,
        )  # fmt: skip
        staff.append(user)
    for person, user in zip(spec.staff, staff, strict=True):
        if person.credential_expires_in is None:
            continue
        expires = today + dt.timedelta(days=person.credential_expires_in)
        accounts.credential_create(
            actor=admin,
            practitioner=Practitioner.objects.get(user=user),
            course="Dry needling level 1 and 2",
            provider="Demo Institute of Manual Therapy",
            hours=Decimal("54.0"),
            completed_on=expires - dt.timedelta(days=3 * 365),
            expires_on=expires,
            evidence_note="Demo data: certificate not seen.",
            today=today,
        )
    by_user = {
        p.user_id: p
        for p in Practitioner.objects.filter(user__clinic=clinic)
        .select_related("user__clinic")
        .prefetch_related("credentials")
    }
    practitioners = [
        by_user[user.pk]
        for user in staff
        if user.pk in by_user and user.role in (Role.CLINIC_ADMIN, Role.PRACTITIONER)
    ]
    return DemoClinic(clinic, admin, staff, practitioners, 1 + index * MRN_BLOCK)


def _email(person: StaffSpec) -> str:
    return f"{person.username}@demo.needlechart.invalid"


def real_clinics() -> list[Clinic]:
    return list(Clinic.objects.filter(is_demo=False))


def demo_logins() -> list[tuple[str, str]]:
    """Who a user of the demo can sign in as, and what they are."""
    users = User.objects.filter(clinic__is_demo=True, is_active=True).select_related("clinic")
    logins = [
        (user.username, f"{user.get_role_display()}, {user.clinic}")
        for user in users.order_by("clinic_id", "username")
    ]
    accounts_ = PortalAccount.objects.filter(
        user__username=SHOWCASE_EMAIL, patient__clinic__is_demo=True
    ).select_related("patient__clinic")
    for patient in (account.patient for account in accounts_):
        logins.append(
            (
                SHOWCASE_EMAIL,
                f"Patient portal (/portal/login/): {patient.full_name}, {patient.clinic}",
            )
        )
    return logins
