"""The audit trail pages for clinic admins: the whole clinic, one patient, and CSV."""

import csv
from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from needlechart.accounts import access
from needlechart.audit import chain
from needlechart.audit import services as audit
from needlechart.audit.names import name_events
from needlechart.pages import trail as selectors
from needlechart.pages.forms import AuditFilterForm
from needlechart.patients import selectors as patient_selectors

PAGE_SIZE = 50
# The trail is counted up to this many events, and paged as far (200 pages).
COUNTED = 10_000


class CountedPaginator(Paginator):
    """Pages of a trail that grows with every page anyone reads: its events are counted up
    to `limit` and no further. Counting all of them took longer than the rest of the page,
    and ever longer (1.75 million events of a large demo clinic: 80 ms on PostgreSQL with
    every row in the index, 180 ms before the table was vacuumed), where counting up to
    the limit reads that many index entries (3 ms).

    Past the limit the page says so, and pages through the newest `limit` events; the
    filters (dates, person, patient, action) reach the older ones, and the CSV has them
    all."""

    def __init__(self, object_list: Any, per_page: int, limit: int) -> None:
        super().__init__(object_list, per_page)
        self.limit = limit

    @cached_property
    def count(self) -> int:
        # COUNT(*) over the first limit + 1 rows: enough to tell whether there are more.
        return self.object_list[: self.limit + 1].count()

    @property
    def capped(self) -> bool:
        """More events match than were counted."""
        return self.count > self.limit

    @cached_property
    def num_pages(self) -> int:
        if self.capped:
            return -(-self.limit // self.per_page)
        return super().num_pages


def _page(events: Any, number: str | None) -> Any:
    page = CountedPaginator(events, PAGE_SIZE, COUNTED).get_page(number)
    page.object_list = name_events(page.object_list)
    return page


def _filters(request: HttpRequest) -> tuple[AuditFilterForm, selectors.AuditFilters | None]:
    """The filter form and its filters; None when the filters are invalid."""
    form = AuditFilterForm(request.GET or None, clinic_id=request.user.clinic_id)
    if not form.is_bound:
        return form, selectors.AuditFilters()
    if form.is_valid():
        return form, selectors.AuditFilters(**form.cleaned_data)
    return form, None


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@access.clinic_admin()
def audit_list(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    if filters is None:
        return render(
            request,
            "audit/audit_list.html",
            {"form": form, "page": None, "verification": None},
            status=400,
        )
    # Reading the trail is itself recorded: it names patients and who saw them.
    audit.record(
        actor=request.user,
        action=audit.Action.VIEW,
        object_type="AuditTrail",
        detail={"filters": form.described()},
    )
    events = selectors.audit_events(user=request.user, filters=filters)
    page = _page(events, request.GET.get("page"))
    return render(
        request,
        "audit/audit_list.html",
        {
            "form": form,
            "page": page,
            "query": _query_without_page(request),
            "verification": chain.last_verification(request.user.clinic_id),
        },
    )


@access.clinic_admin(patient_selectors.patient_in_clinic)
def patient_audit(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Who viewed or changed one patient's record."""
    patient = patient_selectors.patient_get_unaudited(user=request.user, patient_id=patient_id)
    audit.record(
        actor=request.user, action=audit.Action.VIEW, object_type="AuditTrail", patient=patient
    )
    events = selectors.audit_events(
        user=request.user, filters=selectors.AuditFilters(patient=patient)
    )
    page = _page(events, request.GET.get("page"))
    return render(
        request,
        "audit/patient_audit.html",
        {"patient": patient, "page": page, "query": ""},
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@access.clinic_admin()
def audit_export(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    if filters is None:
        return render(
            request,
            "audit/audit_list.html",
            {"form": form, "page": None, "verification": None},
            status=400,
        )
    audit.record(
        actor=request.user,
        action=audit.Action.EXPORT,
        object_type="AuditTrail",
        detail={"filters": form.described()},
    )
    writer = csv.writer(_Echo())
    rows = selectors.audit_csv_rows(selectors.audit_events(user=request.user, filters=filters))
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return StreamingHttpResponse(
        (writer.writerow(row) for row in rows),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
    )
