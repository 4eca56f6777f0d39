"""Each kind of document as HTML from the record's chart, and the HTML as a PDF.

The content comes from the same reads as `needlechart chart --json` and the portal's record
(`outcomes.export.patient_chart`), the plots from the episode page's own drawing path
(`outcomes.plots.progress_plots`). A signed record renders to the same bytes every time: the
PDF's dates are the record's (never "now"), and nothing else in it changes between renders
on the same fonts and WeasyPrint version.
"""

import datetime as dt
import hashlib
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.template.loader import render_to_string
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts.models import User
from needlechart.charting.models import (
    Addendum,
    AftercareIssue,
    Assessment,
    Consent,
    ConsentWithdrawal,
    DocumentTemplate,
    NeedlingSession,
    PainQuality,
    ReferredSensation,
)
from needlechart.documents.models import Kind
from needlechart.outcomes import plots, selectors
from needlechart.outcomes.export import patient_chart, with_chart
from needlechart.outcomes.models import Discharge
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.reference.chart import chart as body_chart
from needlechart.reference.chart import pain_shades

# The layout's version, kept with each document: raise it when a template or the stylesheet
# changes what a document looks like, so that a re-render is compared with its own layout.
RENDER_VERSION = 1
STYLESHEET = Path(__file__).with_name("pdf.css")
# The body chart's pain shades are read from the site's stylesheet, so that an assessment
# report shades its regions exactly as the assessment page does.
SITE_STYLESHEET = Path(__file__).parents[1] / "static" / "needlechart" / "needlechart.css"

# The record each kind is made from.
SOURCES: dict[str, type[models.Model]] = {
    Kind.SESSION_NOTE: NeedlingSession,
    Kind.ASSESSMENT_REPORT: Assessment,
    Kind.AFTERCARE: NeedlingSession,
    Kind.CONSENT: Consent,
    Kind.PROGRESS_REPORT: EpisodeOfCare,
    Kind.DISCHARGE_LETTER: Discharge,
    Kind.RECORD: Patient,
}
NOT_SIGNED = "Only a signed session can be issued as a document: sign the session first."
ASSESSMENT_NOT_SIGNED = (
    "Only a signed assessment can be issued as a document: sign the assessment first."
)


@dataclass(frozen=True)
class Rendered:
    kind: str
    title: str
    pdf: bytes
    patient: Patient
    episode: EpisodeOfCare | None
    text_version: int | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()


def patient_of(kind: str, record: models.Model) -> Patient:
    """The patient a kind's record belongs to (the document's clinic is theirs)."""
    if isinstance(record, Patient):
        return record
    if isinstance(record, NeedlingSession | EpisodeOfCare):
        episode = record if isinstance(record, EpisodeOfCare) else record.episode
        return episode.patient
    if isinstance(record, Discharge | Assessment):
        return record.episode.patient
    return record.patient


def episode_of(kind: str, record: models.Model) -> EpisodeOfCare | None:
    """The episode a kind's record belongs to; None for the whole record and a consent."""
    if isinstance(record, EpisodeOfCare):
        return record
    if isinstance(record, NeedlingSession | Discharge | Assessment):
        return record.episode
    return None


def check(kind: str, record: models.Model) -> None:
    """Refuse, with a reason a clinician can act on, a record that cannot be issued."""
    if kind not in SOURCES:
        raise ValidationError(f"There is no document kind {kind!r}.")
    if not isinstance(record, SOURCES[kind]):
        raise ValidationError(f"A {Kind(kind).label.lower()} is not made from this record.")
    if isinstance(record, NeedlingSession | Assessment):
        what = "session" if isinstance(record, NeedlingSession) else "assessment"
        if record.signed_at is None:
            raise ValidationError(NOT_SIGNED if what == "session" else ASSESSMENT_NOT_SIGNED)
        if record.addenda.filter(kind=Addendum.Kind.ENTERED_IN_ERROR).exists():
            raise ValidationError(f"This {what} was marked entered in error.")
    if (
        kind == Kind.PROGRESS_REPORT
        and not record.sessions.filter(signed_at__isnull=False).exists()
    ):
        raise ValidationError("A progress report needs at least one signed session.")


def render(kind: str, record: models.Model, *, as_of: dt.datetime, letter: Any = None) -> Rendered:
    """The document of `kind` for `record`; `as_of` dates the kinds that are not one signed
    record (a progress report, the whole record): the time they are issued. A `letter`
    (documents.Letter) puts the clinician's salutation, words and closing around it."""
    check(kind, record)
    patient = patient_of(kind, record)
    loaded = with_chart(Patient.objects.filter(pk=patient.pk)).get()
    chart = patient_chart(loaded)
    clinic = loaded.clinic
    tz = zoneinfo.ZoneInfo(clinic.timezone)
    build = _BUILDERS[kind]
    context, dated, episode, text_version = build(record, chart, tz, as_of)
    if letter is not None:
        text_version = letter.template.version
        context["letter_addenda"] = _letter_addenda(letter, tz)
    title = context["title"]
    context.update(
        clinic=clinic,
        patient=chart["patient"],
        born=loaded.birth_date,
        created=_stamp(dated),
        dated=dated.astimezone(tz),
        kind=kind,
        letter=letter,
    )
    logo = Logo(bytes(clinic.logo), clinic.logo_type) if clinic.logo_type else None
    context["logo"] = LOGO_URL if logo else ""
    with timezone.override(tz):
        html = render_to_string(f"documents/pdf/{kind}.html", context)
    return Rendered(kind, title, _pdf(html, logo), patient, episode, text_version)


# The one address a document may load: the clinic's logo, from the clinic's row.
LOGO_URL = "logo:clinic"


@dataclass(frozen=True)
class Logo:
    content: bytes
    media_type: str


def _pdf(html: str, logo: Logo | None = None) -> bytes:
    # Imported here: WeasyPrint and its Pango bindings take a while to load, and no command
    # or page but the ones that render should pay for that.
    import weasyprint
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class OnlyTheLogo(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            if logo is not None and url == LOGO_URL:
                return URLFetcherResponse(url, logo.content, {"Content-Type": logo.media_type})
            return super().fetch(url, headers)

    # Everything a document shows is in its HTML and stylesheet, but for the clinic's logo
    # from its row: nothing else is fetched, so no text in a record (escaped as it is) could
    # make the server read a file or a URL.
    nothing = OnlyTheLogo(allowed_protocols=())
    shades = [line for line in SITE_STYLESHEET.read_text().splitlines() if ".is-pain-" in line]
    css = "\n".join([STYLESHEET.read_text(), *shades])
    stylesheet = weasyprint.CSS(string=css, url_fetcher=nothing)
    document = weasyprint.HTML(string=html, url_fetcher=nothing)
    return document.write_pdf(stylesheets=[stylesheet])


def _stamp(moment: dt.datetime) -> str:
    """The PDF's creation and modification date (read by WeasyPrint from the HTML's
    dcterms meta tags): the record's own time to the second, in UTC."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(moment: dt.datetime) -> str:
    """A date as a letter writes it: 3 December 2026."""
    return f"{moment.day} {moment:%B %Y}"


def _local(value: str | None, tz: zoneinfo.ZoneInfo) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value).astimezone(tz) if value else None


def _episode_of(chart: dict[str, Any], episode_id: int) -> dict[str, Any]:
    return next(e for e in chart["episodes"] if e["id"] == episode_id)


def _authors(addenda: list[dict[str, Any]]) -> dict[int, str]:
    ids = {a["author_id"] for a in addenda}
    return {pk: str(user) for pk, user in User.objects.in_bulk(ids).items()} if ids else {}


def _addenda_view(addenda: list[dict[str, Any]], tz: zoneinfo.ZoneInfo) -> list[dict]:
    """A record's addenda with their times in the clinic's zone and their authors' names."""
    authors = _authors(addenda)
    return [
        {**a, "written": _local(a["written_at"], tz), "author": authors.get(a["author_id"])}
        for a in addenda
    ]


def _letter_addenda(letter: Any, tz: zoneinfo.ZoneInfo) -> list[dict[str, Any]]:
    """A signed letter's addenda, printed after it when it is issued again (a draft has
    none: it is edited instead)."""
    if letter.pk is None or letter.signed_at is None:
        return []
    return [
        {"kind": "addendum", "reason": a.reason, "text": a.text, "author": str(a.author),
         "written": a.written_at.astimezone(tz)}
        for a in letter.addenda.select_related("author")
    ]  # fmt: skip


def _session_view(s: dict[str, Any], tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    """A session of the chart with its times in the clinic's zone and its addenda's authors."""
    return {
        **s,
        "performed": _local(s["performed_at"], tz),
        "signed": _local(s["signed_at"], tz),
        "addenda": _addenda_view(s["addenda"], tz),
        "aftercare": [_local(when, tz) for when in s["aftercare_issued"] or []],
    }


def _consents(chart_consents: list[dict[str, Any]], tz: zoneinfo.ZoneInfo) -> list[dict]:
    return [
        {**c, "signed": _local(c["signed_at"], tz), "withdrawn": _local(c["withdrawn_at"], tz)}
        for c in chart_consents
    ]


Built = tuple[dict[str, Any], dt.datetime, EpisodeOfCare | None, int | None]


def _session_note(
    session: NeedlingSession, chart: dict, tz: zoneinfo.ZoneInfo, as_of: dt.datetime
) -> Built:
    episode = _episode_of(chart, session.episode_id)
    s = next(s for s in episode["sessions"] if s["id"] == session.pk)
    view = _session_view(s, tz)
    context = {
        "title": f"Needling session note, {_day(view['performed'])}",
        "episode": episode,
        "session": view,
        "consents": _consents(episode["consents"], tz),
    }
    return context, session.signed_at, session.episode, None


def _assessment_report(
    assessment: Assessment, chart: dict, tz: zoneinfo.ZoneInfo, as_of: dt.datetime
) -> Built:
    episode = _episode_of(chart, assessment.episode_id)
    a = next(a for a in episode["assessments"] if a["id"] == assessment.pk)
    performed = _local(a["performed_at"], tz)
    # The baseline of the course as it stood when the assessment was made: the baseline
    # ratings taken at or before it, not ones recorded later in the episode.
    baseline = [
        m
        for m in episode["measurements"]
        if m["timing"] == "baseline"
        and not m["entered_in_error"]
        and dt.datetime.fromisoformat(m["taken_at"]) <= assessment.performed_at
    ]
    context = {
        "title": f"{assessment.get_kind_display()} report, {_day(performed)}",
        "episode": episode,
        "assessment": {
            **a,
            "performed": performed,
            "signed": _local(a["signed_at"], tz),
            "signer": str(assessment.signed_by),
            "addenda": _addenda_view(a["addenda"], tz),
            "findings": [
                {**f, "referred_sensation": _said(ReferredSensation, f, "referred_sensation")}
                for f in a["findings"]
            ],
        },
        # The chart the assessment page draws, shaded the same way.
        "pain": [_pain_row(m) for m in a["pain"]],
        "chart": body_chart(pain_shades({m["region"]: m["intensity"] for m in a["pain"]})),
        "baseline": [{**m, "taken": _local(m["taken_at"], tz)} for m in baseline],
    }
    return context, assessment.signed_at, assessment.episode, None


def _pain_row(mark: dict[str, Any]) -> dict[str, Any]:
    """A pain mark as a row: the region's name and its side apart (kept as the id if the
    atlas no longer knows it, rather than hidden)."""
    try:
        region = knowledge.region(mark["region"])
    except knowledge.UnknownCode:
        return {**mark, "label": mark["region"], "side": None}
    return {**mark, "label": region.label, "side": region.side, "quality": _said(PainQuality, mark)}


def _said(choices: type[models.TextChoices], row: dict[str, Any], key: str = "quality") -> str:
    """A stored choice in words, as the pages show it ("" stays "", an unknown stays as is)."""
    value = row.get(key) or ""
    return dict(choices.choices).get(value, value)


def _aftercare(
    session: NeedlingSession, chart: dict, tz: zoneinfo.ZoneInfo, as_of: dt.datetime
) -> Built:
    episode = _episode_of(chart, session.episode_id)
    s = next(s for s in episode["sessions"] if s["id"] == session.pk)
    # The wording given for this session, else the clinic's wording when it was signed: a
    # sheet printed again later shows the same advice.
    given = AftercareIssue.objects.filter(session=session).select_related("template")
    issue = given.order_by("issued_at", "pk").first()
    template = (
        issue.template
        if issue is not None
        else DocumentTemplate.objects.filter(
            clinic_id=session.episode.patient.clinic_id,
            kind=DocumentTemplate.Kind.AFTERCARE,
            created_at__lte=session.signed_at,
        )
        .order_by("-version")
        .first()
    )
    if template is None:
        raise ValidationError("The clinic has no aftercare text yet: write it on the clinic page.")
    context = {
        "title": f"Aftercare after dry needling, {_day(_local(s['performed_at'], tz))}",
        "session": _session_view(s, tz),
        "template": template,
    }
    return context, session.signed_at, session.episode, template.version


def _consent(consent: Consent, chart: dict, tz: zoneinfo.ZoneInfo, as_of: dt.datetime) -> Built:
    withdrawal = ConsentWithdrawal.objects.filter(consent=consent).first()
    context = {
        "title": f"Consent to dry needling, signed {_day(consent.signed_at.astimezone(tz))}",
        "consent": consent,
        "template": consent.template,
        "signed": consent.signed_at.astimezone(tz),
        "withdrawal": withdrawal,
    }
    return context, consent.signed_at, None, consent.template.version


def _progress_view(episode: EpisodeOfCare, as_of: dt.datetime) -> dict[str, Any]:
    """The episode's progress up to `as_of` and its plots, drawn as the episode page draws
    them."""
    inputs = selectors.progress_inputs(episode, as_of=as_of)
    current = selectors.progress_of(inputs)
    measures = [(current.pain, current.pain_change)] if current.pain else []
    measures += current.measures
    return {
        "progress": current,
        "measures": [{"series": series, "change": change} for series, change in measures],
        "plots": plots.progress_plots(current, inputs.condition),
    }


def _progress_report(
    episode: EpisodeOfCare, chart: dict, tz: zoneinfo.ZoneInfo, as_of: dt.datetime
) -> Built:
    e = _episode_of(chart, episode.pk)
    # The sessions signed by the report's date: one issued again reads as it was first issued.
    signed = [
        _session_view(s, tz)
        for s in e["sessions"]
        if s["signed_at"] and dt.datetime.fromisoformat(s["signed_at"]) <= as_of
    ]
    context = {
        "title": f"Progress report, {_day(as_of.astimezone(tz))}",
        "episode": e,
        "referral": episode,
        "sessions": [s for s in signed if not s["entered_in_error"]],
        **_progress_view(episode, as_of),
    }
    return context, as_of, episode, None


def _discharge_letter(
    discharge: Discharge, chart: dict, tz: zoneinfo.ZoneInfo, as_of: dt.datetime
) -> Built:
    episode = discharge.episode
    e = _episode_of(chart, episode.pk)
    signed = [s for s in e["sessions"] if s["signed_at"] and not s["entered_in_error"]]
    context = {
        "title": f"Discharge letter, {_day(discharge.discharged_at.astimezone(tz))}",
        "episode": e,
        "referral": episode,
        "discharge": discharge,
        "discharged": discharge.discharged_at.astimezone(tz),
        # The outcomes as they stood at discharge, kept with the discharge itself.
        "snapshot": discharge.snapshot,
        "session_count": len(signed),
        "first_session": _local(signed[0]["performed_at"], tz) if signed else None,
    }
    return context, discharge.discharged_at, episode, None


def _record(patient: Patient, chart: dict, tz: zoneinfo.ZoneInfo, as_of: dt.datetime) -> Built:
    episodes = []
    drafts = 0
    for e in chart["episodes"]:
        drafts += sum(1 for s in e["sessions"] if not s["signed_at"])
        episodes.append(
            {
                **e,
                "signed_sessions": [_session_view(s, tz) for s in e["sessions"] if s["signed_at"]],
                "signed_assessments": [a for a in e["assessments"] if a["signed_at"]],
            }
        )
    context = {
        "title": f"Health record, {_day(as_of.astimezone(tz))}",
        "episodes": episodes,
        # Each episode of the chart carries the patient's consents; a patient with no
        # episode yet may still have signed one.
        "consents": _consents(
            episodes[0]["consents"] if episodes else _patient_consents(patient), tz
        ),
        "drafts": drafts,
    }
    return context, as_of, None, None


def _patient_consents(patient: Patient) -> list[dict[str, Any]]:
    return [
        {"template_version": c.template.version, "signed_at": c.signed_at.isoformat(),
         "signed_name": c.signed_name, "signed_in": c.channel, "withdrawn_at": None}
        for c in patient.consents.select_related("template")
    ]  # fmt: skip


_BUILDERS = {
    Kind.SESSION_NOTE: _session_note,
    Kind.ASSESSMENT_REPORT: _assessment_report,
    Kind.AFTERCARE: _aftercare,
    Kind.CONSENT: _consent,
    Kind.PROGRESS_REPORT: _progress_report,
    Kind.DISCHARGE_LETTER: _discharge_letter,
    Kind.RECORD: _record,
}
