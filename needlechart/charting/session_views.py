"""The needling session page: started in one step, charted in place.

Every part of a draft session (the checklist, each row, each measure, the needle count, the
signing card) saves on its own. With htmx the page sends the change and swaps in only the
parts it affects, so it keeps its scroll position and focus; without JavaScript each part is
a plain form that posts and comes back to the same place on the page.
"""

import functools
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import json_script
from django.utils.safestring import SafeString, mark_safe
from django_htmx.http import HttpResponseClientRedirect

from needlechart import knowledge
from needlechart.accounts import access, rules
from needlechart.accounts.sessions import confirmed_recently
from needlechart.charting import selectors, services
from needlechart.charting.forms import (
    InsertionForm,
    RowResponseForm,
    SessionDetailsForm,
    SessionStartForm,
)
from needlechart.charting.models import Insertion, NeedlingSession
from needlechart.forms import posted, record_id, submit
from needlechart.patients import selectors as patient_selectors
from needlechart.records import STALE

episode_scope = patient_selectors.episode_in_clinic
# Structures under a muscle for which the row form suggests the shallow approach.
SHALLOW_STRUCTURES = {"lung-pleura", "major-vessel", "nerve", "neuraxis"}


def _back(session: NeedlingSession, part: str) -> HttpResponse:
    """Without JavaScript: back to the session, at the part that was saved."""
    return redirect(reverse("charting:session", args=[session.pk]) + f"#{part}")


def muscle_advice() -> dict[str, dict[str, Any]]:
    """For each muscle with a structure at risk: the advice from its data, and whether the
    row form should suggest the superficial approach."""
    advice = {}
    for muscle in knowledge.muscles():
        if muscle.structures_at_risk:
            structures = {s.structure for s in muscle.structures_at_risk}
            advice[muscle.slug] = {
                "text": " ".join(s.detail for s in muscle.structures_at_risk),
                "shallow": bool(structures & SHALLOW_STRUCTURES),
            }
    return advice


def _row_form(
    session: NeedlingSession,
    data: Any = None,
    initial: dict | None = None,
    *,
    focus: bool = False,
) -> InsertionForm:
    form = InsertionForm(data, clinic=session.episode.patient.clinic, initial=initial)
    if focus:
        # After a row is added the muscle list takes the focus, for the next row; never on
        # the page's first view, which starts at the top with the safety signals.
        form.fields["muscle"].widget.attrs["autofocus"] = True
    return form


def _blank_row_fields(session: NeedlingSession, *, focus: bool = False) -> SafeString:
    """The fields of an empty row form, written once per clinic catalogue: the form offers
    every muscle twice, and building and writing it was a fifth of the draft session page,
    the same at every view. Keyed by the clinic's active needle sizes as read now, so a size
    added or retired shows at once."""
    clinic = session.episode.patient.clinic
    sizes = tuple((s.pk, str(s)) for s in services.needle_sizes(clinic) if s.active)
    return _row_fields_for(clinic.pk, sizes, focus)


@functools.lru_cache(maxsize=256)
def _row_fields_for(clinic_id: int, sizes: tuple[tuple[int, str], ...], focus: bool) -> SafeString:
    form = InsertionForm(clinic=clinic_id)
    # The sizes of the key, not read again: what is written is what the key says.
    form.fields["needle_size"].choices = [("", form.fields["needle_size"].empty_label), *sizes]
    if focus:
        form.fields["muscle"].widget.attrs["autofocus"] = True
    return mark_safe(render_to_string("charting/_row_fields.html", {"form": form}))  # noqa: S308


def _edit_form_focused(row: Insertion, data: Any = None) -> InsertionForm:
    form = _edit_form(row, data)
    form.fields["muscle"].widget.attrs["autofocus"] = True
    return form


def _edit_form(row: Insertion, data: Any = None) -> InsertionForm:
    return InsertionForm(
        data, clinic=row.session.episode.patient.clinic, instance=row, prefix=f"row{row.pk}"
    )


def _last_rom(session: NeedlingSession) -> Any:
    """The movement measured last in the episode, which a follow-up usually measures again."""
    return (
        session.episode.observations.filter(code="rom")
        .exclude(entered_in_error_reason__gt="")
        .order_by("-recorded_at", "-id")
        .only("component", "side")
        .first()
    )


def session_context(request: HttpRequest, session: NeedlingSession, **extra: Any) -> dict:
    """Everything the session page and its parts show, in a fixed number of queries."""
    rows = list(session.insertions.all())
    in_error = selectors.is_in_error(session)
    editable = not session.is_signed and not in_error
    observations = list(session.observations.all())
    safety = extra.pop("safety", None) or selectors.safety(session.episode)
    live: dict[int, tuple[str, list[dict]]] = {}
    if editable and rows:
        # A draft is re-screened on every view, so a screening updated since a row was
        # added shows at once; the stored verdict is fixed only when the session is signed.
        result = services.screen_plan(safety.screening, [services.plan_item(r) for r in rows])
        for row, item in zip(rows, result.items, strict=True):
            reasons = [x.as_json() for x in item.reasons if x.verdict != "allowed"]
            live[row.pk] = (item.verdict, reasons)
    for row in rows:
        row.shown_verdict, row.shown_reasons = live.get(
            row.pk, (row.safety_verdict, row.safety_reasons)
        )
    cpt = session.cpt_code if session.is_signed else knowledge.suggest_cpt([r.muscle for r in rows])
    last_rom = _last_rom(session) if editable else None
    aftercare = sorted(session.aftercare_issues.all(), key=lambda i: i.issued_at)
    can_needle = rules.has_role(request.user, rules.NEEDLING_ROLES)
    # The forms show only while the practitioner can still chart the session; a signed
    # session's page does not build them (a form of a hundred muscles costs milliseconds).
    charting = editable and can_needle
    context = {
        "episode": session.episode,
        "patient": session.episode.patient,
        "safety": safety,
        "session": session,
        "rows": rows,
        "muscle_count": len({r.muscle for r in rows}),
        "total_needles": sum(r.needles for r in rows),
        "cpt": cpt,
        "editable": editable,
        "in_error": in_error,
        "can_write": rules.has_role(request.user, rules.CLINICAL_WRITE_ROLES),
        "can_needle": can_needle,
        # The signing checks over what the page has read (signing itself reads it all again).
        "sign_problems": services.sign_checks(
            request.user,
            session,
            (safety.consent, safety.consent_problem),
            safety.screening,
            rows,
            qualified=lambda practitioner, day: selectors.qualified_on(
                request.user, practitioner, day
            ),
            screen=services.screen_plan,
        )
        if editable
        else [],
        "nprs": {o.timing: o for o in observations if o.code == "nprs"},
        "observations": observations,
        "rom_last": last_rom,
        "rom_last_label": _movement_label(last_rom.component) if last_rom else "",
        "nprs_forms": [
            ("before", "Pain before needling, NPRS 0-10"),
            ("after", "Pain after needling, NPRS 0-10"),
        ],
        "qualified": selectors.qualified_on(
            request.user, session.practitioner, timezone.localdate(session.performed_at)
        ),
        "aftercare_issue": aftercare[0] if aftercare else None,
        # An empty row form, written once (a form with values or errors comes in `extra`).
        "row_fields": _blank_row_fields(session)
        if charting and "row_form" not in extra and "row_fields" not in extra
        else None,
        "assessed": _assessed(session, rows) if editable else [],
        "details_form": SessionDetailsForm(
            instance=session, initial={"co_treatments": session.co_treatments}
        )
        if charting
        else None,
        "conduct_fields": CONDUCT_FIELDS,
    }
    nprs = context["nprs"]
    if "before" in nprs and "after" in nprs:
        context["nprs_change"] = nprs["after"].value - nprs["before"].value
    context.update(extra)
    return context


def _assessed(session: NeedlingSession, rows: list[Insertion]) -> list[dict[str, str]]:
    """The trigger points of the episode's latest signed assessment not yet needled today:
    one click puts each into the row form."""
    from needlechart.charting.models import Assessment

    latest = (
        Assessment.objects.filter(episode_id=session.episode_id, signed_at__isnull=False)
        .order_by("-performed_at", "-id")
        .prefetch_related("findings")
        .first()
    )
    if latest is None:
        return []
    done = {(r.muscle, r.side) for r in rows}
    return [
        {"muscle": f.muscle, "side": f.side,
         "label": f"{f.get_muscle_display()}{f' ({f.side})' if f.side else ''}"}
        for f in latest.findings.all()
        if (f.muscle, f.side) not in done
    ]  # fmt: skip


def _movement_label(code: str) -> str:
    try:
        return knowledge.rom_movement(code).label
    except knowledge.UnknownCode:
        return ""


@functools.cache
def muscle_advice_script() -> SafeString:
    """The advice as the page's JSON script, written once: the knowledge package does not
    change while the process runs, and the script is a third of the draft page's bytes."""
    return json_script(muscle_advice(), "muscle-advice-data")


def _page(request: HttpRequest, session: NeedlingSession, status: int = 200, **extra: Any):
    context = session_context(request, session, **extra)
    context["muscle_advice_script"] = muscle_advice_script()
    return render(request, "charting/session.html", context, status=status)


def _parts(
    request: HttpRequest,
    session: NeedlingSession,
    parts: list[str],
    *,
    status: int = 200,
    toast: str = "",
    level: str = "success",
    **extra: Any,
) -> HttpResponse:
    """The parts of the page a change touched, swapped in place by htmx (out of band)."""
    fresh = selectors.session_reload(session)
    context = session_context(request, fresh, **extra)
    context.update(
        parts=parts,
        row_parts=[pk for p in parts if (pk := record_id(p.removeprefix("row-"))) is not None],
        was_rows=[pk for p in parts if (pk := record_id(p.removeprefix("was-row-"))) is not None],
        toast=toast,
        toast_level=level,
    )
    return render(request, "charting/_session_parts.html", context, status=status)


def _session_for_write(request: HttpRequest, session_id: int) -> NeedlingSession:
    return selectors.session_get(user=request.user, session_id=session_id)


def _locked(request: HttpRequest, session: NeedlingSession) -> HttpResponse | None:
    """The answer to a change of a signed session or one entered in error, else None.
    (The services refuse too; this says so before any form is read.)"""
    if not session.is_signed and not selectors.is_in_error(session):
        return None
    reason = services.SIGNED if session.is_signed else services.IN_ERROR
    if request.htmx:
        return _parts(request, session, ["rows", "sign"], status=409, toast=reason, level="error")
    messages.error(request, reason)
    return redirect("charting:session", session_id=session.pk)


def _refusal(error: ValidationError) -> str:
    return " ".join(error.messages)


# --- start -------------------------------------------------------------------------------


@access.role_required(rules.NEEDLING_ROLES, episode_scope)
def session_new(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = patient_selectors.episode_get(user=request.user, episode_id=episode_id)
    form = SessionStartForm(posted(request))
    if request.method == "POST":
        started = submit(
            form,
            lambda: services.session_start(
                actor=request.user,
                episode=episode,
                token=request.POST.get("form_token", ""),
                **form.cleaned_data,
            ),
        )
        if started is not None:
            session, skipped = started
            for note in skipped:
                messages.warning(request, f"Not copied: {note}")
            if form.cleaned_data["from_last"] and not skipped:
                messages.success(
                    request,
                    "Started from the last session: its muscles and settings are copied; "
                    "record today's findings for each row.",
                )
            return redirect("charting:session", session_id=session.pk)
    readiness = selectors.start_readiness(user=request.user, episode=episode)
    return render(
        request,
        "charting/session_new.html",
        {
            "episode": episode,
            "patient": episode.patient,
            "safety": readiness.safety,
            "can_write": rules.has_role(request.user, rules.CLINICAL_WRITE_ROLES),
            "can_needle": True,
            "form": form,
            "readiness": readiness,
        },
        status=400 if form.is_bound and form.errors else 200,
    )


# --- the page ----------------------------------------------------------------------------


@access.clinical_read(selectors.session_in_clinic)
def session(request: HttpRequest, session_id: int) -> HttpResponse:
    record = selectors.session_get(user=request.user, session_id=session_id)
    # "From the assessment" links put a trigger point's muscle and side into the row form.
    prefill = {
        k: request.GET[f"add_{k}"] for k in ("muscle", "side") if request.GET.get(f"add_{k}")
    }
    if prefill:
        return _page(request, record, row_form=_row_form(record, initial=prefill))
    return _page(request, record)


# --- rows --------------------------------------------------------------------------------


def _row_of(session: NeedlingSession, insertion_id: int) -> Insertion | None:
    for row in session.insertions.all():
        if row.pk == insertion_id:
            row.session = session
            return row
    return None


def _draft_row(
    request: HttpRequest, session_id: int, insertion_id: int
) -> tuple[NeedlingSession, Insertion] | HttpResponse:
    """The draft session and its row for a change, or the answer that refuses it."""
    record = _session_for_write(request, session_id)
    if locked := _locked(request, record):
        return locked
    row = _row_of(record, insertion_id)
    return (record, row) if row is not None else _gone(request, record)


def _answer(
    request: HttpRequest,
    session: NeedlingSession,
    parts: list[str],
    text: str,
    *,
    anchor: str,
    level: str = "success",
    **extra: Any,
) -> HttpResponse:
    """Say what happened: in place with htmx, else as a message back at the same place."""
    if request.htmx:
        status = 400 if level == "error" else 200
        return _parts(request, session, parts, status=status, toast=text, level=level, **extra)
    {"success": messages.success, "warning": messages.warning, "error": messages.error}[level](
        request, text
    )
    return _back(session, anchor)


def _gone(request: HttpRequest, session: NeedlingSession) -> HttpResponse:
    """A row removed in another tab (or never in this session): say so, show the rows."""
    if request.htmx:
        return _parts(
            request, session, ["rows", "sign"], status=409, toast=services.ROW_GONE, level="error"
        )
    messages.error(request, services.ROW_GONE)
    return _back(session, "rows")


@access.role_required(rules.NEEDLING_ROLES, selectors.session_in_clinic)
@access.post_only
def session_row(request: HttpRequest, session_id: int) -> HttpResponse:
    record = _session_for_write(request, session_id)
    if locked := _locked(request, record):
        return locked
    form = _row_form(record, request.POST)
    added = submit(
        form,
        lambda: services.insertion_add(actor=request.user, session=record, **form.cleaned_data),
    )
    if added is None:
        if request.htmx:
            return _parts(request, record, ["rows"], status=400, row_form=form)
        return _page(request, record, status=400, row_form=form)
    caution = added.safety_verdict == "caution"
    text = f"{added.get_muscle_display()} added"
    text += " with a caution: see the row." if caution else "."
    level = "warning" if caution else "success"
    return _answer(
        request, record, ["rows", "sign"], text, anchor="rows", level=level,
        row_fields=_blank_row_fields(record, focus=True),
    )  # fmt: skip


@access.role_required(rules.NEEDLING_ROLES, selectors.session_in_clinic)
def session_row_edit(request: HttpRequest, session_id: int, insertion_id: int) -> HttpResponse:
    """The row as an edit form in place (or back to its plain view with `?cancel`)."""
    record = selectors.session_get(user=request.user, session_id=session_id)
    row = _row_of(record, insertion_id)
    if row is None:
        return _gone(request, record)
    editing = "cancel" not in request.GET and not record.is_signed
    editing = editing and not selectors.is_in_error(record)
    if not request.htmx:
        if not editing:
            return _back(record, f"row-{row.pk}")
        return _page(request, record, edit_row=row.pk, edit_form=_edit_form(row))
    context = session_context(request, record, edit_row=row.pk if editing else None)
    context.update(
        r=next(r for r in context["rows"] if r.pk == row.pk), edit_form=_edit_form_focused(row)
    )
    template = "charting/_session_row_edit.html" if editing else "charting/_session_row.html"
    return render(request, template, context)


@access.role_required(rules.NEEDLING_ROLES, selectors.session_in_clinic)
@access.post_only
def session_row_update(request: HttpRequest, session_id: int, insertion_id: int) -> HttpResponse:
    found = _draft_row(request, session_id, insertion_id)
    if isinstance(found, HttpResponse):
        return found
    record, row = found
    form = _edit_form(row, request.POST)
    saved = submit(
        form,
        lambda: services.insertion_update(actor=request.user, insertion=row, **form.cleaned_data),
    )
    if saved is None:
        if services.ROW_GONE in form.non_field_errors():
            return _gone(request, record)
        if request.htmx:
            context = session_context(request, selectors.session_reload(record), edit_row=row.pk)
            context.update(r=row, edit_form=form)
            return render(request, "charting/_session_row_edit.html", context, status=400)
        return _page(request, record, status=400, edit_row=row.pk, edit_form=form)
    text = f"{saved.get_muscle_display()} saved."
    return _answer(request, record, ["rows", "sign"], text, anchor=f"row-{row.pk}")


@access.role_required(rules.NEEDLING_ROLES, selectors.session_in_clinic)
@access.post_only
def session_row_findings(request: HttpRequest, session_id: int, insertion_id: int) -> HttpResponse:
    """Today's findings of one row, from the quick pick."""
    found = _draft_row(request, session_id, insertion_id)
    if isinstance(found, HttpResponse):
        return found
    record, row = found
    form = RowResponseForm(request.POST)
    anchor = f"row-{row.pk}"
    if not form.is_valid():
        return _answer(request, record, ["rows"], "Choose today's findings from the list.",
                       anchor=anchor, level="error")  # fmt: skip
    try:
        services.insertion_update(
            actor=request.user, insertion=row, was=request.POST.get("was"), **form.findings()
        )
    except ValidationError as refusal:
        if services.ROW_GONE in refusal.messages:
            return _gone(request, record)
        return _answer(request, record, ["rows"], _refusal(refusal), anchor=anchor, level="error")
    name = f"{row.get_muscle_display()}{f' ({row.side})' if row.side else ''}"
    return _answer(
        # The pick itself is not swapped: keyboard users may still be moving through it.
        request, record, ["rows-summary", "sign", f"was-row-{row.pk}"],
        f"Findings saved for {name}.",
        anchor=anchor,
    )  # fmt: skip


@access.role_required(rules.NEEDLING_ROLES, selectors.session_in_clinic)
@access.post_only
def session_row_remove(request: HttpRequest, session_id: int, insertion_id: int) -> HttpResponse:
    found = _draft_row(request, session_id, insertion_id)
    if isinstance(found, HttpResponse):
        return found
    record, row = found
    try:
        services.insertion_remove(actor=request.user, insertion=row)
    except ValidationError as error:
        if services.ROW_GONE in error.messages:
            return _gone(request, record)
        return _answer(request, record, ["rows"], _refusal(error), anchor="rows", level="error")
    text = f"{row.get_muscle_display()} removed."
    return _answer(request, record, ["rows", "sign"], text, anchor="rows")


# --- details, needle count, signing --------------------------------------------------------


DETAIL_PARTS = {
    "clean_technique": ("checklist", ["checklist", "sign"]),
    "consent_confirmed": ("checklist", ["checklist", "sign"]),
    "needles_opened": ("sign", ["sign"]),
    "needles_removed": ("sign", ["sign"]),
    "sharps_disposed": ("sign", ["sign"]),
    "patient_position": ("conduct", ["sign", "was-conduct"]),
}
# The fields of "How the session was run" (the part that saves them is not swapped, so what
# the clinician types next is never replaced).
CONDUCT_FIELDS = (
    "patient_position", "gloves", "antisepsis", "guide_tube", "needle_brand", "needle_lot",
    "haemostasis", "soreness_after", "stim_device",
)  # fmt: skip


@access.role_required(rules.NEEDLING_ROLES, selectors.session_in_clinic)
@access.post_only
def session_details(request: HttpRequest, session_id: int) -> HttpResponse:
    record = _session_for_write(request, session_id)
    if locked := _locked(request, record):
        return locked
    fields = [f for f in request.POST.get("_fields", "").split(",") if f]
    only = [f for f in fields if f in services.SESSION_FIELDS] or None
    form = SessionDetailsForm(request.POST, instance=record, only=only)
    saved = submit(
        form,
        lambda: services.session_update(
            actor=request.user,
            session=record,
            was=request.POST.get("was"),
            **{k: v for k, v in form.cleaned_data.items() if k != "was"},
        ),
    )
    anchor, parts = DETAIL_PARTS.get(only[0] if only else "", ("details", ["sign", "was-details"]))
    if saved is None:
        errors = "; ".join(
            f"{form.fields[f].label if f in form.fields else ''}: {' '.join(e)}".lstrip(": ")
            for f, e in form.errors.items()
        )
        typed = anchor in ("details", "conduct")
        # Refused as stale: the part comes back as it is stored now, with what changed said.
        stale = STALE in errors
        extra = {"details_form": form} if typed and not stale else {}
        if request.htmx:
            # A refused form comes back as posted, with its field's message next to it.
            shown = [*parts, anchor] if typed else parts
            return _parts(request, record, shown, status=400, toast=errors, level="error", **extra)
        # Without scripts: the reason as a message, and the details form as it was posted
        # only when it is the one that was refused (a needle count keeps the note intact).
        messages.error(request, errors)
        return _page(request, record, status=400, **extra)
    if request.htmx:
        return _parts(request, record, parts, toast="Saved.")
    messages.success(request, "Session details saved.")
    return _back(record, anchor)


@access.role_required(rules.NEEDLING_ROLES, selectors.session_in_clinic)
@access.post_only
@confirmed_recently
def session_sign(request: HttpRequest, session_id: int) -> HttpResponse:
    record = _session_for_write(request, session_id)
    if locked := _locked(request, record):
        return locked
    aftercare = request.POST.get("aftercare") == "given"
    try:
        services.session_sign(actor=request.user, session=record, aftercare_given=aftercare)
    except ValidationError as error:
        if request.htmx:
            return _parts(
                request, record, ["sign"], status=400, level="error",
                toast="The session was not signed: see what is missing.",
            )  # fmt: skip
        messages.error(request, "The session was not signed:")
        for message in error.messages:
            messages.error(request, message)
        return _back(record, "sign")
    note = " Aftercare recorded as given." if aftercare else ""
    messages.success(request, f"Session signed (CPT {record.cpt_code}).{note}")
    url = reverse("charting:session", args=[record.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def measure_parts(request: HttpRequest, session: NeedlingSession, **kwargs: Any) -> HttpResponse:
    """After a measurement of a draft session: the list, the pain summary and the signing card."""
    return _parts(request, session, ["observations", "nprs-summary", "sign"], **kwargs)


def aftercare_parts(request: HttpRequest, session: NeedlingSession, **kwargs: Any) -> HttpResponse:
    return _parts(request, session, ["sign", "aftercare"], **kwargs)
