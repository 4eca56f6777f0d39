"""The clinic dashboard: figures over every app's records, the patients behind each figure,
and each table as CSV."""

import csv
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from needlechart.accounts import access
from needlechart.audit import services as audit
from needlechart.outcomes import dashboard
from needlechart.outcomes.forms import DashboardFilterForm
from needlechart.portal import selectors as portal_selectors


def _dashboard_filters(
    request: HttpRequest,
) -> tuple[DashboardFilterForm, dashboard.Filters | None]:
    clinic = request.user.clinic
    form = DashboardFilterForm(request.GET or None, clinic=clinic)
    if not form.is_bound:
        return form, dashboard.Filters(clinic=clinic)
    if not form.is_valid():
        return form, None
    return form, dashboard.Filters(clinic=clinic, **form.cleaned_data)


def _filter_query(form: DashboardFilterForm) -> str:
    """The dashboard's own filters and nothing else, as a query string. Every link carries
    exactly these and adds what it means itself, so a link opens the same list whatever
    page it was followed from."""
    if not form.is_bound or not form.is_valid():
        return ""
    return urlencode([(name, form.data[name]) for name in form.fields if form.data.get(name)])


def _invalid(request: HttpRequest, form: DashboardFilterForm) -> HttpResponse:
    return render(request, "outcomes/dashboard.html", {"form": form, "figures": None}, status=400)


@access.clinical_write()
def dashboard_page(request: HttpRequest) -> HttpResponse:
    form, filters = _dashboard_filters(request)
    if filters is None:
        # What patients reported from the portal needs a clinician whatever the filters say.
        attention = portal_selectors.clinic_attention(request.user)
        return render(
            request,
            "outcomes/dashboard.html",
            {"form": form, "figures": None, "attention": attention},
            status=400,
        )
    figures = dashboard.kept_figures(filters)
    # The review list names patients: the first few are shown, and only those are recorded
    # as listed (with the attention lists', in one write); the rest are a page of the
    # drill-down away.
    shown = figures["review_due"][:REVIEW_SHOWN]
    attention = portal_selectors.clinic_attention(
        request.user, listed_with=dashboard.review_listed(shown)
    )
    query = _filter_query(form)
    return render(
        request,
        "outcomes/dashboard.html",
        {
            "form": form,
            "figures": figures,
            "query": query,
            "weeks_plot": _weeks_plot(figures),
            "attention": attention,
            "review_shown": shown,
        },
    )


def _weeks_plot(figures: dict) -> str | None:
    from needlechart.outcomes.plots import sessions_plot

    return sessions_plot(figures["sessions_per_week"])


def _csv_table(name: str, f: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of one dashboard table."""
    if name == "responders":
        rows = [
            [code, r["display"], r["episodes"], r["responders"], r["rate"], *r["ci"]]
            for code, r in f["responders_by_condition"].items()
        ]
        return ["condition", "display", "episodes", "responders", "rate", "ci_low", "ci_high"], rows
    if name == "adverse-events":
        ours = f["adverse_events"]
        rows = [["this clinic", ours["minor_per_100"], *ours["minor_ci"], ours["major_per_100"],
                 *ours["major_ci"]]]  # fmt: skip
        for r in f["literature"].values():
            rows.append(
                [r["label"], r["minor_per_100"], *r["minor_ci"], r["major_per_100"], *r["major_ci"]]
            )
        header = ["source", "minor_per_100", "minor_ci_low", "minor_ci_high", "major_per_100",
                  "major_ci_low", "major_ci_high"]  # fmt: skip
        return header, rows
    if name == "muscles":
        rows = [
            [m["muscle"], m["name"], m["rows"], m["patients"]] for m in f["most_needled_muscles"]
        ]
        return ["muscle", "name", "rows", "patients"], rows
    if name == "sessions-per-week":
        return ["week", "sessions"], [[w["week"], w["sessions"]] for w in f["sessions_per_week"]]
    if name == "review-due":
        rows = [
            [r["mrn"], r["name"], r["condition"], r["sessions"], r["reason"]]
            for r in f["review_due"]
        ]
        return ["mrn", "name", "condition", "sessions", "reason"], rows
    raise Http404


CSV_TABLES = ("responders", "adverse-events", "muscles", "sessions-per-week", "review-due")


@access.clinical_write()
def dashboard_csv(request: HttpRequest, table: str) -> HttpResponse:
    if table not in CSV_TABLES:
        raise Http404
    form, filters = _dashboard_filters(request)
    if filters is None:
        return render(
            request, "outcomes/dashboard.html", {"form": form, "figures": None}, status=400
        )
    figures = dashboard.kept_figures(filters)
    detail = {"table": table, "filters": figures["filters"]}
    # The one table that names patients: each one in it is recorded as exported, as a bulk
    # export records its patients.
    named = figures["review_due"] if table == "review-due" else []
    dashboard.record_read_out(
        actor=request.user, detail=detail, named=named, action=audit.Action.EXPORT
    )
    header, rows = _csv_table(table, figures)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["'" + c if isinstance(c, str) and c[:1] in "=+-@" else c for c in row])
    return response


# The dashboard names the first of the episodes due for review; the drill-down pages the rest.
REVIEW_SHOWN = 25
DRILLDOWN_PAGE = 50

DRILLDOWNS = {
    "sessions": "Patients with a signed session in the period",
    "episodes": "Episodes with a signed session in the period",
    "active": "Active episodes with a signed session in the period",
    "evaluated": "Episodes whose pain could be compared with the baseline",
    "responders": "Episodes with an important improvement in pain",
    "adverse-events": "Episodes with an adverse event in the period",
    "muscle": "Patients needled in this muscle in the period",
    "review": "Episodes due for review",
}


@access.clinical_write()
def dashboard_patients(request: HttpRequest) -> HttpResponse:
    figure = request.GET.get("figure", "episodes")
    if figure not in DRILLDOWNS:
        raise Http404
    form, filters = _dashboard_filters(request)
    if filters is None:
        return render(
            request, "outcomes/dashboard.html", {"form": form, "figures": None}, status=400
        )
    rows = dashboard.drilldown(
        filters,
        figure,
        condition=request.GET.get("condition", ""),
        muscle=request.GET.get("muscle", ""),
        today=timezone.localdate(),
    )
    page = Paginator(rows.select_related("patient", "care_manager__user"), DRILLDOWN_PAGE).get_page(
        request.GET.get("page")
    )
    episodes = list(page.object_list)
    # Only the patients on the page are listed, so only they are recorded.
    audit.record_each(actor=request.user, action=audit.Action.LIST, objects=episodes)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "outcomes/dashboard_patients.html",
        {
            "title": DRILLDOWNS[figure],
            "episodes": episodes,
            "page": page,
            "query": _filter_query(form),
            "page_query": query.urlencode(),
        },
    )
