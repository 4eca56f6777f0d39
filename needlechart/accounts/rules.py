"""Who may do what: roles, and the dry-needling qualification rule later issues gate on."""

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from needlechart.accounts.models import DryNeedlingCredential, Practitioner, Role, User
from needlechart.db.prepared import prepared

# Roles grouped by what they may touch; docs/access.md is the full matrix.
# Service accounts act only through the API (they never sign in to a page), and their
# tokens' scopes say which areas they read and write; what no scope can give them is a
# person's act: needling, and putting a name to a record (SIGNING_ROLES).
STAFF_ROLES = frozenset(Role)
CLINICAL_READ_ROLES = frozenset({Role.CLINIC_ADMIN, Role.PRACTITIONER, Role.ASSISTANT,
                                 Role.SERVICE})  # fmt: skip
CLINICAL_WRITE_ROLES = frozenset({Role.CLINIC_ADMIN, Role.PRACTITIONER, Role.SERVICE})
NEEDLING_ROLES = frozenset({Role.CLINIC_ADMIN, Role.PRACTITIONER})
# Who puts their name to a record: signs a session, an assessment, a letter or a discharge
# summary, writes an addendum (entered in error too), witnesses a consent. A signature
# answers for what it signs, so it is a person's: never a service account's.
SIGNING_ROLES = frozenset({Role.CLINIC_ADMIN, Role.PRACTITIONER})
ADMIN_ROLES = frozenset({Role.CLINIC_ADMIN})

# A credential expiring within this many days is flagged on the practitioners page.
EXPIRY_WARNING_DAYS = 60


def has_role(user: User, roles: Iterable[Role]) -> bool:
    return bool(user.is_authenticated and user.clinic_id and user.role in roles)


class QualificationStatus(enum.Enum):
    QUALIFIED = "qualified"
    EXPIRING = "expiring"
    LAPSED = "lapsed"
    NONE = "none"
    # Whatever the credentials: the account is inactive or its role may not needle.
    NOT_PERMITTED = "not-permitted"


@dataclass(frozen=True)
class Qualification:
    status: QualificationStatus
    # The last day of the longest-running current credential; None if it never expires.
    valid_until: dt.date | None = None

    @property
    def is_current(self) -> bool:
        return self.status in (QualificationStatus.QUALIFIED, QualificationStatus.EXPIRING)

    def days_left(self, on: dt.date) -> int | None:
        return None if self.valid_until is None else (self.valid_until - on).days


def credential_is_current(credential: DryNeedlingCredential, on: dt.date) -> bool:
    return credential.completed_on <= on and (
        credential.expires_on is None or on <= credential.expires_on
    )


def qualification(credentials: Iterable[DryNeedlingCredential], on: dt.date) -> Qualification:
    """Summarise a practitioner's credentials on a date; takes prefetched rows, no query."""
    credentials = list(credentials)
    current = [c for c in credentials if credential_is_current(c, on)]
    if not current:
        return Qualification(
            QualificationStatus.LAPSED if credentials else QualificationStatus.NONE
        )
    if any(c.expires_on is None for c in current):
        return Qualification(QualificationStatus.QUALIFIED)
    until = max(c.expires_on for c in current if c.expires_on is not None)
    expiring = (until - on).days <= EXPIRY_WARNING_DAYS
    status = QualificationStatus.EXPIRING if expiring else QualificationStatus.QUALIFIED
    return Qualification(status, until)


def needling_status(
    practitioner: Practitioner,
    on: dt.date,
    credentials: Iterable[DryNeedlingCredential] | None = None,
) -> Qualification:
    """The practitioner's standing for needling on a date: account, role and credentials.

    Uses `practitioner.credentials.all()`, so prefetch credentials for lists; `credentials`:
    the practitioner's, where the caller has read them already.
    """
    user = practitioner.user
    if not (user.is_active and has_role(user, NEEDLING_ROLES)):
        return Qualification(QualificationStatus.NOT_PERMITTED)
    return qualification(_credentials(practitioner) if credentials is None else credentials, on)


def credentials_of(practitioner: Practitioner) -> list[DryNeedlingCredential]:
    """The practitioner's credentials, read now."""
    return list(_credentials_of(practitioner.pk))


def _credentials(practitioner: Practitioner) -> Iterable[DryNeedlingCredential]:
    """As a list prefetched them (Django keeps a prefetch in `_prefetched_objects_cache`),
    else read by a query compiled once: each page says whether its reader may needle."""
    if "credentials" in getattr(practitioner, "_prefetched_objects_cache", {}):
        return practitioner.credentials.all()
    return _credentials_of(practitioner.pk)


@prepared
def _credentials_of(practitioner_id: int) -> QuerySet:
    return DryNeedlingCredential.objects.filter(practitioner_id=practitioner_id)


def is_qualified_to_needle(practitioner: Practitioner, on: dt.date | None = None) -> bool:
    """True when the practitioner's account is active, may needle and holds a current credential.

    `on` defaults to today in the active time zone (the clinic's, during a request).
    """
    return needling_status(practitioner, on or timezone.localdate()).is_current
