"""Reads for the pages that bring several apps together: the patient list with each
patient's standing in care, and a clinician's working day. Scoped to the user's clinic;
every record named is audited as listed."""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import (
    Case,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from needlechart.accounts import rules
from needlechart.accounts.models import Practitioner, User
from needlechart.audit import services as audit
from needlechart.charting.models import Addendum, Assessment, NeedlingSession
from needlechart.db.latest import count_of, counted_page, last_page, page_number
from needlechart.db.prepared import prepared
from needlechart.patients.models import EpisodeOfCare, Patient

PAGE_SIZE = 25
Status = EpisodeOfCare.Status
OPEN = (Status.ACTIVE, Status.ON_HOLD)


@dataclass(frozen=True)
class PatientFilters:
    name: str = ""
    birth_date: dt.date | None = None
    mrn: str = ""
    # Clinical roles only: the signed-in practitioner is in charge of an open episode;
    # the patient has an active episode.
    mine: bool = False
    in_care: bool = False

    @property
    def active(self) -> bool:
        return bool(self.name or self.birth_date or self.mrn or self.mine or self.in_care)


@dataclass(frozen=True)
class CareSummary:
    """Where a patient stands in the clinic's care, for the patient list."""

    status: str  # "active" (in care), "onhold", "none" (not in care)
    practitioner: Practitioner | None
    last_visit: dt.datetime | None
    next_review: dt.date | None

    @property
    def status_label(self) -> str:
        return {"active": "In care", "onhold": "On hold"}.get(self.status, "Not in care")

    @property
    def badge(self) -> str:
        """The badge style: the episode status's own, grey when not in care."""
        return self.status if self.status in OPEN else Status.FINISHED

    @property
    def review_overdue(self) -> bool:
        return self.next_review is not None and self.next_review < timezone.localdate()


def _not_in_error(relation: str) -> Exists:
    """No "entered in error" addendum on the outer session or assessment."""
    return ~Exists(
        Addendum.objects.filter(**{relation: OuterRef("pk")}, kind=Addendum.Kind.ENTERED_IN_ERROR)
    )


def _with_care(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """Annotate each patient's standing in care with subqueries: no query per row."""
    # The episode that speaks for the patient: an active one before one on hold, then the
    # newest.
    current = EpisodeOfCare.objects.filter(patient=OuterRef("pk"), status__in=OPEN).order_by(
        Case(When(status=Status.ACTIVE, then=Value(0)), default=Value(1)), "-period_start", "-id"
    )
    sessions = NeedlingSession.objects.filter(episode__patient=OuterRef("pk")).filter(
        _not_in_error("session")
    )
    assessments = Assessment.objects.filter(episode__patient=OuterRef("pk")).filter(
        _not_in_error("assessment")
    )
    review = EpisodeOfCare.objects.filter(
        patient=OuterRef("pk"), status=Status.ACTIVE, plan_review_on__isnull=False
    )
    return patients.annotate(
        care_status=Subquery(current.values("status")[:1]),
        in_charge_id=Subquery(current.values("care_manager")[:1]),
        last_session_at=Subquery(sessions.order_by("-performed_at").values("performed_at")[:1]),
        last_assessment_at=Subquery(
            assessments.order_by("-performed_at").values("performed_at")[:1]
        ),
        next_review_on=Subquery(review.order_by("plan_review_on").values("plan_review_on")[:1]),
    )


def _attach_care(patients: list[Patient]) -> None:
    """Give each annotated patient its `care` summary; one query for the practitioners."""
    ids = {p.in_charge_id for p in patients if p.in_charge_id}
    practitioners = Practitioner.objects.select_related("user").in_bulk(ids) if ids else {}
    for patient in patients:
        visits = [v for v in (patient.last_session_at, patient.last_assessment_at) if v]
        patient.care = CareSummary(
            status=patient.care_status or "none",
            practitioner=practitioners.get(patient.in_charge_id),
            last_visit=max(visits) if visits else None,
            next_review=patient.next_review_on,
        )


def _patients_matching(
    *, user: User, filters: PatientFilters, care: bool = False
) -> QuerySet[Patient]:
    patients = Patient.objects.filter(clinic_id=user.clinic_id)
    if care:
        patients = _with_care(patients)
        if filters.in_care:
            patients = patients.filter(care_status=Status.ACTIVE)
        if filters.mine:
            patients = patients.filter(
                Exists(
                    EpisodeOfCare.objects.filter(
                        patient=OuterRef("pk"), status__in=OPEN, care_manager__user=user
                    )
                )
            )
    # Every word must appear in the given or family name: "ann smi" finds Ann Smith.
    for word in filters.name.replace(",", " ").split():
        patients = patients.filter(Q(given_name__icontains=word) | Q(family_name__icontains=word))
    if filters.birth_date:
        patients = patients.filter(birth_date=filters.birth_date)
    if filters.mrn:
        patients = patients.filter(mrn__istartswith=filters.mrn.strip())
    return patients.order_by("family_name", "given_name", "id")


@prepared
def _every_patient_count(clinic_id: int) -> QuerySet:
    patients = Patient.objects.filter(clinic_id=clinic_id).order_by()
    return patients.values(n=Func(F("pk"), function="COUNT"))


ORDER = ("family_name", "given_name", "id")


def _shown(chosen: QuerySet, *, care: bool) -> QuerySet[Patient]:
    """The patients of a page chosen by `chosen` (their ids, sliced), with their care worked
    out for them alone. Asked for the page's rows with the care in the select list,
    PostgreSQL works out its five subqueries for every row the offset skips too: the last
    page of 10,000 patients took half a second."""
    patients = Patient.objects.filter(pk__in=chosen)
    if care:
        patients = _with_care(patients)
    return patients.order_by(*ORDER)


@prepared
def _every_patient(clinic_id: int, *, care: bool, offset: int, limit: int) -> QuerySet:
    every = Patient.objects.filter(clinic_id=clinic_id).order_by(*ORDER)
    return _shown(every.values("pk")[offset : offset + limit], care=care)


def _page_number(paginator: Paginator, number: object) -> int:
    """The page asked for as Paginator.get_page reads it: the last for "last" or a number
    past the end, the first for anything else that is not a number."""
    try:
        return paginator.validate_number(number)
    except PageNotAnInteger:
        return 1
    except EmptyPage:
        return paginator.num_pages


def patient_search_page(*, user: User, filters: PatientFilters, page_number: object) -> Page:
    """One page of the clinic's patients; each patient shown gets a `list` audit row.

    Roles that read clinical content also get each patient's `care` (status, practitioner
    in charge, last visit, next plan review) and the "my patients" and "in care" filters;
    the front desk gets the demographics only.
    """
    care = rules.has_role(user, rules.CLINICAL_READ_ROLES)
    if not care:
        filters = PatientFilters(name=filters.name, birth_date=filters.birth_date, mrn=filters.mrn)
    if filters.active:
        matching = _patients_matching(user=user, filters=filters, care=care)
        page = Paginator(matching.values("pk"), PAGE_SIZE).get_page(page_number)
        page.object_list = list(_shown(page.object_list, care=care))
    else:
        # The whole list, as the page opens: its two queries are compiled once.
        [counted] = _every_patient_count(user.clinic_id)
        paginator = Paginator(range(counted["n"]), PAGE_SIZE)
        number = paginator.validate_number(_page_number(paginator, page_number))
        offset = (number - 1) * PAGE_SIZE
        rows = _every_patient(user.clinic_id, care=care, offset=offset, limit=PAGE_SIZE)
        page = Page(rows, number, paginator)
    if care:
        _attach_care(page.object_list)
    audit.record_each(actor=user, action=audit.Action.LIST, objects=page.object_list)
    return page


# --- a practitioner's working day --------------------------------------------------------

# Each list on the home page shows a page of this many rows and says how many there are in
# all, so the page stays bounded however long a list grows, and every row can be reached.
DAY_PAGE = 25


@dataclass(frozen=True)
class Visit:
    """A needling session or an assessment, as the home page lists it."""

    kind: str  # "session" or "assessment"
    record: NeedlingSession | Assessment

    @property
    def label(self) -> str:
        if self.kind == "session":
            return "Needling session"
        return self.record.get_kind_display()

    @property
    def patient(self) -> Patient:
        return self.record.episode.patient

    @property
    def when(self) -> dt.datetime:
        return self.record.performed_at

    @property
    def day(self) -> dt.date:
        """The day it took place, in the clinic's time zone."""
        return timezone.localdate(self.record.performed_at)


@dataclass(frozen=True)
class WorkingDay:
    today: dt.date
    # Whether the lists are the user's own (a practitioner), or the clinic's (an assistant).
    own: bool
    # Each a page of its list (Visit or EpisodeOfCare rows), with the count of all of it.
    seen_today: Page
    unsigned: Page
    reviews: Page

    @property
    def listed(self) -> list[Any]:
        """Every record the page names, once each: what the audit trail records as listed."""
        visits = [*self.seen_today, *self.unsigned]
        records = {(type(v.record), v.record.pk): v.record for v in visits}
        return [*self.reviews, *records.values()]


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The day from midnight to midnight in the active (clinic) time zone."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    return start, timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def _visits(model: type, *, user: User, own: int | None, today: dt.date) -> tuple[QuerySet, ...]:
    """The sessions (or assessments) seen today, and the user's unsigned ones, in time order.

    `own` is the user's practitioner id, or None for staff who see the clinic's (and have no
    notes of their own to sign). Filtering on it (not on the practitioner's user, a join)
    lets the database read both from the practitioner's indexes, not every session of the
    clinic.
    """
    start, end = _day_bounds(today)
    relation = "session" if model is NeedlingSession else "assessment"
    rows = (
        model.objects.filter(episode__patient__clinic_id=user.clinic_id)
        .filter(_not_in_error(relation))
        .select_related("episode__patient", "practitioner__user")
        .order_by("performed_at", "id")
    )
    seen = rows.filter(performed_at__gte=start, performed_at__lt=end)
    if own is None:
        return seen, rows.none()
    drafts = rows.filter(practitioner_id=own, signed_at__isnull=True)
    return seen.filter(practitioner_id=own), drafts


def _visit_page(sessions: QuerySet, assessments: QuerySet, number: object) -> Page:
    """A page of sessions and assessments merged in time order, with the count of both.

    The rows of page n are among the first n pages of each kind, so each kind is read that
    far (one query each, its count with it: at most the whole list, for a page deep in it)
    and the two merged. A page past the end (a list that shrank since its link was
    written) gives the last, from the rows already read."""
    number = page_number(number)
    total, visits = 0, []
    for kind, rows in (("session", sessions), ("assessment", assessments)):
        if rows.query.is_empty():
            continue
        found = list(rows.annotate(listed_total=count_of(rows))[: number * DAY_PAGE])
        total += found[0].listed_total if found else 0
        visits += [Visit(kind, record) for record in found]
    # Each kind was read from its first row, so the total is exact and no page past the
    # last is read: the last page's rows are among those read.
    number = min(number, last_page(total, DAY_PAGE))
    visits.sort(key=lambda v: (v.when, v.kind, v.record.pk))
    shown = visits[(number - 1) * DAY_PAGE : number * DAY_PAGE]
    return Page(shown, number, Paginator(range(total), DAY_PAGE))


def working_day(
    *, user: User, today: dt.date | None = None, pages: Mapping[str, object] | None = None
) -> WorkingDay:
    """A clinician's day: who was seen today, their unsigned notes and the plan reviews due.

    A practitioner sees their own (their sessions and assessments, the episodes they are
    in charge of); staff without a practitioner profile see the clinic's. Each list is a
    page of DAY_PAGE rows, the page asked for in `pages` under the list's name ("seen",
    "unsigned", "reviews"), with the count of all of it. Every record named is audited as
    listed.
    """
    today = today or timezone.localdate()
    pages = pages or {}
    own = Practitioner.objects.filter(user=user).values_list("pk", flat=True).first()
    sessions_today, sessions_unsigned = _visits(NeedlingSession, user=user, own=own, today=today)
    assessments_today, assessments_unsigned = _visits(Assessment, user=user, own=own, today=today)
    episodes = EpisodeOfCare.objects.filter(patient__clinic_id=user.clinic_id, status=Status.ACTIVE)
    if own is not None:
        episodes = episodes.filter(care_manager_id=own)
    # Along the index of active episodes by their current plan's review date: the ones due,
    # not every active episode's plan.
    reviews = (
        episodes.filter(plan_review_on__lte=today)
        .select_related("patient", "care_manager__user")
        .order_by("plan_review_on", "patient__family_name", "patient__given_name", "pk")
    )
    day = WorkingDay(
        today=today,
        own=own is not None,
        seen_today=_visit_page(sessions_today, assessments_today, pages.get("seen")),
        unsigned=_visit_page(sessions_unsigned, assessments_unsigned, pages.get("unsigned")),
        reviews=counted_page(reviews, pages.get("reviews"), DAY_PAGE),
    )
    audit.record_each(actor=user, action=audit.Action.LIST, objects=day.listed)
    return day
