"""The role x page matrix in docs/access.md, checked against every URL of the app."""

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from needlechart.accounts.models import DryNeedlingCredential, Practitioner, User
from needlechart.audit.models import AuditEvent
from needlechart.charting import services
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AftercareIssue,
    Assessment,
    Consent,
    ConsentWithdrawal,
    Insertion,
    NeedlingSession,
    PainMark,
    Screening,
)
from needlechart.documents import services as document_services
from needlechart.documents.models import Letter, LetterTemplate
from needlechart.outcomes.models import Observation
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.portal import services as portal_services
from needlechart.portal.models import CheckIn, HealthQuestionnaire, Invitation, ReportedEffect
from tests import charts, factories
from tests.conftest import World, client_for

DOC = Path(__file__).resolve().parent.parent / "docs" / "access.md"
ROLES = ["anonymous", "front desk", "assistant", "practitioner", "clinic admin", "patient"]


def _table(heading_word: str) -> list[list[str]]:
    """The rows of the first markdown table after the heading containing `heading_word`."""
    text = DOC.read_text()
    section = text[text.index(f"## {heading_word}") :]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
            rows.append(cells)
        elif rows:
            break
    return [row for row in rows[1:] if not set(row[0]) <= {"-"}]


PAGES = {row[0]: row for row in _table("Pages")}
WRITES = {row[0]: row for row in _table("Writes")}


def _url_names(patterns: list, namespace: str = "") -> set[str]:
    names = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= _url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(f"{namespace}{pattern.name}")
    return names


def test_every_url_of_the_app_is_in_the_matrix():
    # The API's operations take a token, not a sign-in: their access is tested in
    # tests/api and described in docs/api.md. FHIR takes either, and answers in FHIR: its
    # access table is docs/fhir.md, tested in tests/fhir.
    names = {
        n for n in _url_names(get_resolver().url_patterns) if not n.startswith(("api:", "fhir:"))
    }
    assert names == set(PAGES)


# Charts are built this long ago, so that the signed session's 24-hour check-in has
# closed (the fixture answered it) and its 48-hour one is open now.
CHARTED_HOURS_AGO = 54


def _portal_reports(world: World, chart, patient, user) -> None:
    """What a portal patient sends: health answers, and a check-in with a red flag."""
    chart.questionnaire = portal_services.questionnaire_submit(actor=user, factors=[])
    session = chart.signed_session
    chart.check_in = portal_services.checkin_answer(
        actor=user, session=session, hours=24, soreness=4,
        symptoms=["bruising", "breathlessness-chest-pain"],
        now=session.performed_at + dt.timedelta(hours=25),
    )  # fmt: skip
    chart.effect = ReportedEffect.objects.get(session=session, event_type="bruising")


@pytest.fixture
def charted(world) -> World:
    """The world with charted records in both clinics, and portal reports in both."""
    with time_machine.travel(timezone.now() - dt.timedelta(hours=CHARTED_HOURS_AGO)):
        world.chart_a = charts.build(world.practitioner, world.episode_a, signed=True)
        world.chart_b = charts.build(world.other_practitioner, world.episode_b, signed=True)
    world.chart_a.discharge = charts.discharged(world.practitioner, world.clinic_a)
    # Only the practitioner who needles charts the rows: the admin's own draft session.
    world.chart_a.admin_session, _ = services.session_start(
        actor=world.admin, episode=world.episode_a, screening_status="unchanged"
    )
    world.chart_a.admin_row = services.insertion_add(
        actor=world.admin, session=world.chart_a.admin_session, muscle="soleus", side="right",
        needles=1, needle_size=world.chart_a.needle, depth="deep", technique="pistoning",
    )  # fmt: skip
    world.chart_b.discharge = charts.discharged(world.other_practitioner, world.clinic_b)
    world.patient_b.email = "ben@example.org"
    world.patient_b.save()
    world.patient_b_user = factories.portal_account(world.patient_b).user
    _portal_reports(world, world.chart_a, world.patient_a, world.patient_user)
    _portal_reports(world, world.chart_b, world.patient_b, world.patient_b_user)
    # A patient of clinic A with an email address and no portal account yet.
    world.invitee = factories.patient(world.clinic_a, given_name="Cara", email="cara@example.org")
    return world


def _kwargs(world: World, name: str, *, clinic: str) -> dict:
    """URL arguments for a page, using records of clinic A or clinic B."""
    a = clinic == "a"
    chart = world.chart_a if a else world.chart_b
    patient = world.patient_a if a else world.patient_b
    episode = world.episode_a if a else world.episode_b
    practitioner = world.practitioner_a if a else world.practitioner_b
    staff = world.practitioner if a else world.other_practitioner
    credential = DryNeedlingCredential.objects.filter(practitioner=practitioner).first()
    values = {
        "patient_id": patient.pk,
        "episode_id": episode.pk,
        "practitioner_id": practitioner.pk,
        "credential_id": credential.pk,
        "staff_id": staff.pk,
        "slug": "what-is-dry-needling" if name == "portal:learn_page" else "upper-trapezius",
        "kind": "progress-report" if name == "documents:wording" else "consent",
        "table": "responders",
        "discharge_id": chart.discharge.pk,
        "consent_id": chart.consent.pk,
        "assessment_id": chart.assessment.pk,
        "finding_id": chart.finding.pk,
        "observation_id": chart.observation.pk,
        # The patient sees only signed sessions; the staff pages take the draft.
        "session_id": (chart.signed_session if name.startswith("portal:") else chart.session).pk,
        "hours": 48,
        "questionnaire_id": chart.questionnaire.pk,
        "effect_id": chart.effect.pk,
        "check_in_id": chart.check_in.pk,
        "insertion_id": chart.insertion.pk,
        "event_id": chart.event.pk,
        "uidb64": "MQ",
        "token_id": _api_token(world, a).pk,
        "account_id": _service_account(world, a).pk,
        "document_id": _document(world, a).pk if "<document_id>" in PAGES[name][1] else 0,
        "letter_id": draft_letter(world, a).pk if "<letter_id>" in PAGES[name][1] else 0,
        "token": "set-password",
    }
    path = PAGES[name][1]
    return {key: values[key] for key in re.findall(r"<(\w+)>", path)}


def _api_token(world: World, a: bool) -> Any:
    """A token of clinic A or B (made directly: the pages' audit rows are what is counted)."""
    from needlechart.api.models import ApiToken

    clinic = world.clinic_a if a else world.clinic_b
    staff = world.admin if a else world.other_practitioner
    return ApiToken.objects.filter(clinic=clinic).first() or ApiToken.objects.create(
        clinic=clinic, name="Registry", user=staff, scopes=["patients:read"],
        prefix=f"nc_{clinic.pk}", key_hash=f"{clinic.pk:064d}", created_by=staff,
        expires_at=timezone.now() + dt.timedelta(days=30),
    )  # fmt: skip


def _service_account(world: World, a: bool) -> Any:
    """A service account of clinic A or B (made directly, as the API token is)."""
    from needlechart.accounts.models import Role

    clinic = world.clinic_a if a else world.clinic_b
    return User.objects.filter(clinic=clinic, role=Role.SERVICE).first() or User.objects.create(
        clinic=clinic, role=Role.SERVICE, username=f"svc.{clinic.pk}", first_name="Booking"
    )


def _document(world: World, a: bool) -> Any:
    """An issued document of clinic A's or B's patient (made directly, as the API token is:
    issuing one through its page is a write of its own, below)."""
    from needlechart.documents.models import Document

    patient = world.patient_a if a else world.patient_b
    staff = world.practitioner if a else world.other_practitioner
    pdf = b"%PDF-1.7 issued"
    return Document.objects.filter(patient=patient).first() or Document.objects.create(
        patient=patient, kind="record", source_type="Patient", source_id=patient.pk,
        title="Health record", render_version=1, content=pdf, sha256="0" * 64, size=len(pdf),
        issued_by=staff,
    )  # fmt: skip


def draft_letter(world: World, a: bool) -> Letter:
    """A draft progress report letter on clinic A's or B's episode (made directly)."""
    clinic = world.clinic_a if a else world.clinic_b
    episode = world.episode_a if a else world.episode_b
    wording, _ = LetterTemplate.objects.get_or_create(
        clinic=clinic, kind="progress-report", version=1,
        defaults={"salutation": "Dear {recipient},", "opening": "Hello.", "closing": "Bye."},
    )  # fmt: skip
    return Letter.objects.filter(episode=episode).first() or Letter.objects.create(
        episode=episode, kind="progress-report", template=wording, salutation="Dear colleague,",
        created_by=world.practitioner if a else world.other_practitioner,
    )  # fmt: skip


def signed_letter(world: World) -> Letter:
    """Clinic A's letter, signed (made directly: issuing it is a write of its own)."""
    letter = draft_letter(world, True)
    Letter.objects.filter(pk=letter.pk, signed_at__isnull=True).update(signed_at=timezone.now())
    return Letter.objects.get(pk=letter.pk)


def _needled_by_actor(world: World) -> NeedlingSession:
    return world.chart_a.admin_session if world.actor == world.admin else world.chart_a.session


def _row_by_actor(world: World) -> Insertion:
    return world.chart_a.admin_row if world.actor == world.admin else world.chart_a.insertion


def _expected_status(cell: str) -> int:
    return {"login": 302, "200": 200, "302": 302, "403": 403, "404": 404, "405": 405,
            "410": 410}[cell]  # fmt: skip


def _sign_in_page(path: str) -> str:
    return reverse("portal:login") if path.startswith("/portal/") else reverse("login")


def _audit_rows(since: int) -> list[tuple[str, str]]:
    rows = AuditEvent.objects.filter(pk__gt=since).order_by("pk")
    return [(row.action, row.object_type) for row in rows if row.action not in ("login",)]


def _last_audit_id() -> int:
    last = AuditEvent.objects.order_by("-pk").first()
    return last.pk if last else 0


def _shown(response) -> dict[str, int]:
    """How many records of each type the page listed, for the `*` rows of the matrix."""
    context = response.context or {}
    attention = context.get("attention") or {}
    day = context.get("day")  # the home page
    visits = [*day.seen_today, *day.unsigned] if day else []
    return {
        # The patient list's page (a timeline's or a drill-down's page lists other records).
        "Patient": sum(
            isinstance(o, Patient) for o in getattr(context.get("page"), "object_list", [])
        ),
        # The dashboard records the review rows it shows, not the whole list.
        "EpisodeOfCare": len(context.get("episodes") or [])
        + len(context.get("review_shown") or [])
        + (len(day.reviews) if day else 0),
        # A draft seen today is listed once.
        "Encounter": len({v.record.pk for v in visits if v.kind == "session"}),
        "ClinicalImpression": len({v.record.pk for v in visits if v.kind == "assessment"}),
        # Red-flag check-ins, health answers and effects waiting on the dashboard.
        "QuestionnaireResponse/CheckIn": len(attention.get("alerts") or []),
        "QuestionnaireResponse": len(attention.get("questionnaires") or []),
        "ReportedEffect": len(attention.get("effects") or []),
        # Issued documents on the patient page and in the portal.
        "DocumentReference": len(context.get("documents") or []),
    }


def _expected_rows(cell: str, shown: dict[str, int]) -> Counter:
    if cell == "none":
        return Counter()
    rows: Counter = Counter()
    for item in cell.split(";"):
        action, object_type = item.split()
        if object_type.endswith("*"):
            rows[(action, object_type[:-1])] += shown[object_type[:-1]]
        else:
            rows[(action, object_type)] += 1
    return rows


# One test per page, every role in turn: building the charted world is the slow part.
@pytest.mark.parametrize("name", sorted(PAGES))
def test_each_role_gets_what_the_matrix_promises_on_each_page(charted, name):
    world = charted
    row = PAGES[name]
    for role in ROLES:
        expected = row[2 + ROLES.index(role)]
        client = client_for(world.by_role(role))
        since = _last_audit_id()
        url = reverse(name, kwargs=_kwargs(world, name, clinic="a"))
        response = client.get(url)
        assert response.status_code == _expected_status(expected), (name, role)
        if expected == "login":
            assert response.url.startswith(_sign_in_page(url) + "?"), (name, response.url)
        if expected == "200":
            rows = Counter(_audit_rows(since))
            assert rows == _expected_rows(row[8], _shown(response)), (name, role)
        else:
            assert _audit_rows(since) == [], (name, role)


@pytest.mark.parametrize(
    "name", sorted(name for name, row in PAGES.items() if re.search(r"_id>", row[1]))
)
def test_records_of_another_clinic_are_not_found_for_every_role(charted, name):
    world = charted
    for role in ROLES[1:]:
        client = client_for(world.by_role(role))
        since = _last_audit_id()
        url = reverse(name, kwargs=_kwargs(world, name, clinic="b"))
        # Actions that only accept POST are tried with a POST and with a GET: both are 404,
        # so not even the method gives away that the record exists.
        methods = [client.post, client.get] if "405" in PAGES[name] else [client.get]
        for method in methods:
            assert method(url).status_code == 404, (name, role, method.__name__)
        assert _audit_rows(since) == [], (name, role)


def test_the_front_desk_sees_demographics_but_no_clinical_content(world):
    response = client_for(world.front_desk).get(
        reverse("patients:detail", args=[world.patient_a.pk])
    )
    page = response.content.decode()
    assert "Smith" in page and world.patient_a.mrn in page
    assert "Episodes of care" not in page
    assert world.episode_a.condition_code not in page
    assert reverse("patients:episode", args=[world.episode_a.pk]) not in page


# --- writes -------------------------------------------------------------------------------

Write = Callable[[Client, World], object]


def _patient_form(**changes) -> dict:
    data = {
        "given_name": "Nora",
        "family_name": "Quinn",
        "birth_date": "1975-03-02",
        "sex": "female",
        "mrn": "",
        "phone": "",
        "email": "",
        "address": "",
    }
    data.update(changes)
    return data


def _episode_form(world: World, **changes) -> dict:
    today = timezone.localdate()
    data = {
        "condition_code": "M54.50",
        "body_area": "low-back",
        "onset_date": (today - dt.timedelta(days=40)).isoformat(),
        "referral_source": "physician",
        "referral_detail": "",
        "care_manager": world.practitioner_a.pk,
        "status": "active",
        "period_start": (today - dt.timedelta(days=10)).isoformat(),
    }
    data.update(changes)
    return data


def _credential_form(**changes) -> dict:
    data = {
        "course": "Advanced dry needling",
        "provider": "Academy",
        "hours": "27",
        "completed_on": "2025-06-01",
        "expires_on": "2028-06-01",
        "evidence_note": "",
    }
    data.update(changes)
    return data


def _staff_form(**changes) -> dict:
    data = {
        "first_name": "Sean",
        "last_name": "Nolan",
        "email": "sean@example.org",
        "role": "practitioner",
        "profession": "chiropractor",
        "registration_number": "",
        "registration_body": "",
    }
    data.update(changes)
    return data


WRITE_ACTIONS: dict[str, tuple[Write, Callable[[World], object]]] = {
    # name: (perform the write, read back what it should have changed)
    "register a patient": (
        lambda c, w: c.post(reverse("patients:create"), _patient_form()),
        lambda w: Patient.objects.filter(family_name="Quinn").count(),
    ),
    "edit a patient": (
        lambda c, w: c.post(
            reverse("patients:edit", args=[w.patient_a.pk]),
            _patient_form(family_name="Smythe", mrn=w.patient_a.mrn),
        ),
        lambda w: Patient.objects.get(pk=w.patient_a.pk).family_name,
    ),
    "open an episode of care": (
        lambda c, w: c.post(
            reverse("patients:episode_create", args=[w.patient_a.pk]), _episode_form(w)
        ),
        lambda w: EpisodeOfCare.objects.filter(patient=w.patient_a).count(),
    ),
    "edit an episode of care": (
        lambda c, w: c.post(
            reverse("patients:episode_edit", args=[w.episode_a.pk]),
            _episode_form(w, status="onhold"),
        ),
        lambda w: EpisodeOfCare.objects.get(pk=w.episode_a.pk).status,
    ),
    "add a staff member": (
        lambda c, w: c.post(reverse("accounts:staff_create"), _staff_form(username="sean")),
        lambda w: User.objects.filter(username="sean").count(),
    ),
    "edit a staff member": (
        lambda c, w: c.post(
            reverse("accounts:staff_edit", args=[w.assistant.pk]),
            _staff_form(role="assistant", profession="", is_active="on"),
        ),
        lambda w: User.objects.get(pk=w.assistant.pk).first_name,
    ),
    "add a credential": (
        lambda c, w: c.post(
            reverse("accounts:credential_create", args=[w.practitioner_a.pk]), _credential_form()
        ),
        lambda w: DryNeedlingCredential.objects.filter(practitioner=w.practitioner_a).count(),
    ),
    "edit a credential": (
        lambda c, w: c.post(
            reverse(
                "accounts:credential_edit",
                args=[DryNeedlingCredential.objects.get(practitioner=w.practitioner_a).pk],
            ),
            _credential_form(course="Renamed course"),
        ),
        lambda w: DryNeedlingCredential.objects.get(practitioner=w.practitioner_a).course,
    ),
}


def _row_form(w: World) -> dict:
    return {"muscle": "soleus", "side": "left", "needles": 1, "needle_size": w.chart_a.needle.pk,
            "depth": "deep", "technique": "pistoning", "twitch_responses": 0, "tolerance": "good"}  # fmt: skip


WRITE_ACTIONS.update(
    {
        "record a screening": (
            lambda c, w: c.post(
                reverse("charting:screening", args=[w.episode_a.pk]),
                {"note": "ok", "none_apply": "on"},
            ),
            lambda w: Screening.objects.filter(episode=w.episode_a).count(),
        ),
        "sign a consent": (
            lambda c, w: c.post(
                reverse("charting:consent", args=[w.patient_a.pk]),
                {
                    "template": w.chart_a.consent.template_id,
                    "signed_name": "Ann Smith",
                    "confirmed": "on",
                },
            ),
            lambda w: Consent.objects.filter(patient=w.patient_a).count(),
        ),
        "start an assessment": (
            lambda c, w: c.post(
                reverse("charting:assessment_new", args=[w.episode_a.pk]), {"kind": "initial"}
            ),
            lambda w: Assessment.objects.filter(episode=w.episode_a).count(),
        ),
        "mark pain on the chart": (
            lambda c, w: c.post(
                reverse("charting:assessment_pain", args=[w.chart_a.assessment.pk]),
                {"region": "heel-left", "intensity": 4, "quality": "sharp"},
            ),
            lambda w: PainMark.objects.filter(assessment=w.chart_a.assessment).count(),
        ),
        "record a measurement": (
            lambda c, w: c.post(
                reverse("outcomes:observation_add", args=[w.episode_a.pk]),
                {"code": "nprs", "value": 3, "timing": "after", "session": w.chart_a.session.pk},
            ),
            lambda w: Observation.objects.filter(session=w.chart_a.session).count(),
        ),
        "start a session": (
            lambda c, w: c.post(
                reverse("charting:session_new", args=[w.episode_a.pk]),
                {
                    "screening_status": "unchanged",
                    "clean_technique": "on",
                    "performed_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
                },
            ),
            lambda w: NeedlingSession.objects.filter(episode=w.episode_a).count(),
        ),
        "add a needled muscle": (
            lambda c, w: c.post(
                reverse("charting:session_row", args=[_needled_by_actor(w).pk]), _row_form(w)
            ),
            lambda w: Insertion.objects.filter(session=_needled_by_actor(w)).count(),
        ),
        "edit a needled muscle": (
            lambda c, w: c.post(
                reverse(
                    "charting:session_row_update",
                    args=[_needled_by_actor(w).pk, _row_by_actor(w).pk],
                ),
                {f"row{_row_by_actor(w).pk}-{k}": v for k, v in _row_form(w).items()},
            ),
            lambda w: (
                Insertion.objects.filter(pk=_row_by_actor(w).pk).values_list("muscle", "side").get()
            ),
        ),
        "record today's findings of a needled muscle": (
            lambda c, w: c.post(
                reverse(
                    "charting:session_row_findings",
                    args=[_needled_by_actor(w).pk, _row_by_actor(w).pk],
                ),
                {"response": "3:yes:fair"},
            ),
            lambda w: Insertion.objects.get(pk=_row_by_actor(w).pk).tolerance,
        ),
        "record an adverse event": (
            lambda c, w: c.post(
                reverse("charting:adverse_event_new", args=[w.chart_a.session.pk]),
                {
                    "event_type": "headache",
                    "onset": "within-24h",
                    "severity": "mild",
                    "action_taken": "self-care",
                    "outcome": "resolved",
                },
            ),
            lambda w: AdverseEvent.objects.filter(session=w.chart_a.session).count(),
        ),
        "give aftercare": (
            lambda c, w: c.post(reverse("charting:aftercare", args=[w.chart_a.session.pk])),
            lambda w: AftercareIssue.objects.filter(session=w.chart_a.session).count(),
        ),
        "add an addendum": (
            lambda c, w: c.post(
                reverse("charting:session_addendum", args=[w.chart_a.signed_session.pk]),
                {"kind": "addendum", "reason": "Clarification", "text": "More detail."},
            ),
            lambda w: Addendum.objects.filter(session=w.chart_a.signed_session).count(),
        ),
    }
)


WRITE_ACTIONS.update(
    {
        "record a treatment plan": (
            lambda c, w: c.post(
                reverse("outcomes:plan", args=[w.episode_a.pk]),
                {
                    "planned_sessions": 4, "frequency": "weekly",
                    "review_on": (timezone.localdate() + dt.timedelta(days=30)).isoformat(),
                    "goal-TOTAL_FORMS": 1, "goal-INITIAL_FORMS": 0,
                    "goal-0-description": "Less neck pain", "goal-0-code": "nprs",
                    "goal-0-target": 3,
                    "goal-0-target_date": (timezone.localdate() + dt.timedelta(days=40)).isoformat(),
                    "therapy-TOTAL_FORMS": 0, "therapy-INITIAL_FORMS": 0,
                },
            ),
            lambda w: w.episode_a.care_plans.count(),
        ),
        "record a review measurement": (
            lambda c, w: c.post(
                reverse("outcomes:measurements", args=[w.episode_a.pk]),
                {"code": "groc", "value": 4, "timing": "reassessment"},
            ),
            lambda w: Observation.objects.filter(episode=w.episode_a, code="groc").count(),
        ),
    }
)  # fmt: skip


def _withdraw_consent(w: World) -> None:
    # Written directly: the patient needs no current consent for the portal signature.
    ConsentWithdrawal.objects.create(
        consent=w.chart_a.consent, reason="For the test", recorded_by=w.practitioner
    )


WRITE_ACTIONS.update(
    {
        "invite a patient to the portal": (
            lambda c, w: c.post(reverse("portal:invite_patient", args=[w.invitee.pk])),
            lambda w: Invitation.objects.filter(patient=w.invitee).count(),
        ),
        "record the patient's health answers": (
            lambda c, w: c.post(
                reverse("portal:questionnaire_review", args=[w.chart_a.questionnaire.pk]),
                {"episode": w.episode_a.pk, "note": "Checked with the patient"},
            ),
            lambda w: Screening.objects.filter(episode=w.episode_a).count(),
        ),
        "dismiss the patient's health answers": (
            lambda c, w: c.post(
                reverse("portal:questionnaire_dismiss", args=[w.chart_a.questionnaire.pk]),
                {"reason": "Answered again in the clinic"},
            ),
            lambda w: HealthQuestionnaire.objects.get(pk=w.chart_a.questionnaire.pk).status,
        ),
        "confirm a reported effect": (
            lambda c, w: c.post(
                reverse("portal:effect_confirm", args=[w.chart_a.effect.pk]),
                {"event_type": "bruising", "onset": "within-24h", "severity": "mild",
                 "action_taken": "self-care", "outcome": "resolved"},
            ),
            lambda w: AdverseEvent.objects.filter(session=w.chart_a.signed_session).count(),
        ),
        "dismiss a reported effect": (
            lambda c, w: c.post(
                reverse("portal:effect_dismiss", args=[w.chart_a.effect.pk]),
                {"reason": "Expected soreness"},
            ),
            lambda w: ReportedEffect.objects.get(pk=w.chart_a.effect.pk).status,
        ),
        "acknowledge a red-flag alert": (
            lambda c, w: c.post(
                reverse("portal:alert_acknowledge", args=[w.chart_a.check_in.pk])
            ),
            lambda w: CheckIn.objects.get(pk=w.chart_a.check_in.pk).alert_acknowledged_at,
        ),
        "answer the health questions": (
            lambda c, w: c.post(reverse("portal:questionnaire"), {"note": ""}),
            lambda w: HealthQuestionnaire.objects.filter(patient=w.patient_a).count(),
        ),
        "sign the consent in the portal": (
            lambda c, w: (_withdraw_consent(w), c.post(reverse("portal:consent"), {
                "template": w.chart_a.consent.template_id, "signed_name": "Ann Smith",
                "confirmed": "on",
            }))[1],
            lambda w: Consent.objects.filter(patient=w.patient_a, channel="portal").count(),
        ),
        "answer a check-in": (
            lambda c, w: c.post(
                reverse("portal:check_in", args=[w.chart_a.signed_session.pk, 48]),
                {"soreness": 1, "symptoms": []},
            ),
            lambda w: CheckIn.objects.filter(session=w.chart_a.signed_session).count(),
        ),
        "add to the pain diary": (
            lambda c, w: c.post(reverse("portal:diary"), {"pain": 4}),
            lambda w: Observation.objects.filter(episode=w.episode_a, timing="home").count(),
        ),
        "give ratings before a review": (
            lambda c, w: c.post(reverse("portal:review"), {"groc": 3}),
            lambda w: Observation.objects.filter(episode=w.episode_a, timing="home").count(),
        ),
        "issue a document": (
            lambda c, w: c.post(
                reverse("documents:issue", args=[w.patient_a.pk]),
                {"kind": "session-note", "record": w.chart_a.signed_session.pk},
            ),
            lambda w: w.patient_a.documents.count(),
        ),
        "start issuing the whole record": (
            lambda c, w: c.post(
                reverse("documents:issue", args=[w.patient_a.pk]),
                {"kind": "record", "record": w.patient_a.pk},
            ),
            # The job's row; the PDF is laid out after the commit (tests/documents).
            lambda w: w.patient_a.document_jobs.count(),
        ),
        "email a document": (
            lambda c, w: c.post(
                reverse("documents:send", args=[issued_note(w).pk]), {"recipient": "patient"}
            ),
            # Read first, before the audit rows are counted: the document is issued here.
            lambda w: issued_note(w).deliveries.count(),
        ),
        "draft a letter": (
            lambda c, w: c.post(
                reverse("documents:letter_new", args=[w.episode_a.pk]),
                {"kind": "progress-report"},
            ),
            lambda w: w.episode_a.letters.count(),
        ),
        "edit a letter": (
            lambda c, w: c.post(
                reverse("documents:letter", args=[draft_letter(w, True).pk]),
                {"recipient": "Dr Byrne", "salutation": "Dear Dr Byrne,", "opening": "Hello.",
                 "body": "Better.", "closing": "Bye."},
            ),
            lambda w: Letter.objects.get(pk=draft_letter(w, True).pk).body,
        ),
        "sign and issue a letter": (
            lambda c, w: c.post(reverse("documents:letter_issue", args=[draft_letter(w, True).pk])),
            lambda w: Letter.objects.get(pk=draft_letter(w, True).pk).signed_at,
        ),
        "add an addendum to a signed letter": (
            lambda c, w: c.post(
                reverse("documents:letter_addendum", args=[signed_letter(w).pk]),
                {"reason": "Phone call", "text": "Back at work."},
            ),
            lambda w: signed_letter(w).addenda.count(),
        ),
        "issue a signed letter again": (
            lambda c, w: c.post(reverse("documents:letter_reissue", args=[signed_letter(w).pk])),
            lambda w: signed_letter(w).documents.count(),
        ),
        "change the letter wording": (
            lambda c, w: c.post(
                reverse("documents:wording", args=["progress-report"]),
                {"salutation": "Hello {recipient},", "opening": "News.", "closing": "Regards,"},
            ),
            lambda w: LetterTemplate.objects.filter(clinic=w.clinic_a).count(),
        ),
    }
)  # fmt: skip


def issued_note(world: World):
    """A session note of patient A, issued once per test."""
    if not hasattr(world, "issued"):
        world.issued = document_services.document_issue(
            actor=world.practitioner, kind="session-note", record=world.chart_a.signed_session
        )
    return world.issued


def test_every_write_in_the_matrix_is_exercised():
    assert set(WRITE_ACTIONS) == set(WRITES)


@pytest.mark.parametrize("role", ROLES[1:])
@pytest.mark.parametrize("write", sorted(WRITES))
def test_each_write_is_allowed_and_audited_as_the_matrix_promises(charted, write, role):
    world = charted
    world.actor = world.by_role(role)
    allowed_roles = [r.strip() for r in WRITES[write][1].split(",")]
    perform, read_back = WRITE_ACTIONS[write]
    before = read_back(world)
    client = client_for(world.by_role(role))
    since = _last_audit_id()
    response = perform(client, world)
    if role in allowed_roles:
        assert response.status_code == 302, (write, role, getattr(response, "context", None))
        assert read_back(world) != before
        expected = [tuple(item.split()) for item in WRITES[write][2].split(";")]
        assert _audit_rows(since) == expected
    else:
        # Staff and patients each find nothing on the other side: 404, not 403.
        across = (role == "patient") != (allowed_roles == ["patient"])
        assert response.status_code == (404 if across else 403), (write, role)
        assert read_back(world) == before
        assert _audit_rows(since) == []


def test_practitioners_of_one_clinic_cannot_be_put_in_charge_in_another(world):
    client = client_for(world.practitioner)
    response = client.post(
        reverse("patients:episode_create", args=[world.patient_a.pk]),
        _episode_form(world, care_manager=world.practitioner_b.pk),
    )
    assert response.status_code == 200
    assert "care_manager" in response.context["form"].errors
    assert EpisodeOfCare.objects.filter(patient=world.patient_a).count() == 1


def test_staff_without_a_practitioner_profile_is_refused_as_a_practitioner(world):
    assert not Practitioner.objects.filter(user=world.assistant).exists()
    response = client_for(world.admin).post(
        reverse("accounts:staff_create"), _staff_form(username="nopro", profession="")
    )
    assert response.status_code == 200
    assert response.context["form"].errors["profession"] == ["A practitioner needs a profession."]
    assert not User.objects.filter(username="nopro").exists()
