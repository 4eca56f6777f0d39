"""The audit trail pages for clinic admins: the whole clinic, one patient, and CSV."""

import csv

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
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = name_events(page.object_list)
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
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = name_events(page.object_list)
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
