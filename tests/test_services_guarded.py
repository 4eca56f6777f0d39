"""Two promises over every public write, found by looking, not by a list someone keeps:

- an actor of another clinic (for the portal, another patient) is refused, and nothing is
  written;
- when the audit write fails, the write it describes leaves no row of any table behind.

A new service is tried as soon as it exists. Its arguments are built by name from a charted
clinic (`episode`, `session`, `insertion` ...); a service that also needs plain values gets
them in `VALUES`, and the discovery test fails, naming it, until it has them.
"""

import datetime as dt
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

import needlechart
from needlechart.accounts.models import DryNeedlingCredential, Role
from needlechart.audit import services as audit
from needlechart.charting import services
from tests import factories
from tests.test_access import (
    charted,  # noqa: F401 - the charted clinics, as a fixture
    draft_letter,
    issued_note,
    signed_letter,
)

# Modules that only read or present: their functions take the user as `user`, or are pages.
NOT_SERVICES = ("views", "selectors", "urls", "migrations", "management", "templatetags")


def _modules() -> list[str]:
    """Every module of the apps, but for the demo (it calls the services), the knowledge
    package (no actor) and the modules that only read or present."""
    names = []
    for info in pkgutil.walk_packages(needlechart.__path__, "needlechart."):
        parts = info.name.split(".")
        if parts[1] in ("demo", "knowledge", "settings") or any(
            word in part for part in parts for word in NOT_SERVICES
        ):
            continue
        names.append(info.name)
    return names


MODULES = _modules()
# Not writes of a record: the audit trail itself, and reads that take the actor.
NOT_WRITES = {"record", "record_each", "record_together", "record_read_out", "patient_of",
              "sign_problems", "sign_checks", "once", "authorize", "held"}  # fmt: skip


def discovered() -> dict[str, Callable]:
    found = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for function_name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != name or function_name.startswith("_"):
                continue
            if (
                "actor" in inspect.signature(function).parameters
                and function_name not in NOT_WRITES
            ):
                parts = name.split(".")
                label = parts[1] if parts[-1] == "services" else parts[-1]
                if parts[1] != label and parts[-2] != "services":
                    label = f"{parts[1]}.{label}"
                found[f"{label}.{function_name}"] = function
    return found


SERVICES = discovered()
TODAY = dt.date.today()

# Records by parameter name, from clinic A's charted records.
RECORDS: dict[str, Callable[[Any], Any]] = {
    "patient": lambda w: w.patient_a,
    "episode": lambda w: w.episode_a,
    "session": lambda w: w.chart_a.session,
    "assessment": lambda w: w.chart_a.assessment,
    "insertion": lambda w: w.chart_a.insertion,
    "finding": lambda w: w.chart_a.finding,
    "observation": lambda w: w.chart_a.observation,
    "event": lambda w: w.chart_a.event,
    "consent": lambda w: w.chart_a.consent,
    "template": lambda w: services.current_template(clinic=w.clinic_a, kind="consent"),
    "size": lambda w: w.chart_a.needle,
    "practitioner": lambda w: w.practitioner_a,
    "credential": lambda w: DryNeedlingCredential.objects.filter(
        practitioner=w.practitioner_a
    ).first(),
    "staff": lambda w: w.assistant,
    "record": lambda w: w.chart_a.signed_session,
    "check_in": lambda w: w.chart_a.check_in,
    "effect": lambda w: w.chart_a.effect,
    "questionnaire": lambda w: w.chart_a.questionnaire,
    "document": lambda w: issued_note(w),
    "letter": lambda w: draft_letter(w, True),
}


def _values(name: str, w: Any) -> dict[str, Any]:
    """The plain values a valid call of each service needs (records come from RECORDS)."""
    review = TODAY + dt.timedelta(days=14)
    return {
        "accounts.clinic_update": {"phone": "+353 1 555 0199"},
        "api.service_account_create": {"name": "Booking"},
        "api.token_create": {
            "user": w.practitioner, "name": "Billing", "scopes": ["patients:read"],
            "expires_on": TODAY + dt.timedelta(days=30),
        },
        "accounts.credential_create": {
            "course": "Advanced", "provider": "Academy", "hours": Decimal(27),
            "completed_on": dt.date(2025, 1, 1), "expires_on": None, "today": TODAY,
        },
        "accounts.credential_update": {"today": TODAY, "course": "Renamed"},
        "accounts.staff_create": {
            "username": "sean", "email": "sean@example.org", "first_name": "Sean",
            "last_name": "Nolan", "role": "assistant", "profession": "",
        },
        "accounts.staff_update": {
            "email": "andy@example.org", "first_name": "Andrew", "last_name": "Assist",
            "role": "assistant", "is_active": True, "profession": "",
        },
        "patients.patient_create": {
            "given_name": "Nora", "family_name": "Quinn", "birth_date": dt.date(1975, 3, 2),
            "sex": "female",
        },
        "patients.patient_update": {"phone": "+353 1 555 0100"},
        "patients.episode_create": {
            "condition_code": "M54.50", "referral_source": "self",
            "care_manager": w.practitioner_a,
        },
        "patients.episode_update": {"referral_detail": "Dr Byrne"},
        "patients.patients_import": {"patients": [], "source": "test"},
        "patients.episodes_import": {"episodes": [], "source": "test"},
        "outcomes.discharge": {"reason": "goals-met", "summary": "Settled."},
        "outcomes.observation_enter_in_error": {"reason": "Wrong patient"},
        "outcomes.plan_create": {
            "planned_sessions": 4, "frequency": "weekly", "review_on": review,
            "goals": [{"description": "Less pain", "code": "nprs", "target": 3,
                       "target_date": review}], "therapies": [],
        },
        "portal.checkin_answer": {
            "session": w.chart_a.signed_session, "hours": 48, "soreness": 2, "symptoms": [],
        },
        "portal.consent_sign": {"signed_name": "Ann Smith", "confirmed": True},
        "portal.diary_add": {"pain": 4},
        "portal.privacy.erase": {"parts": ["contact", "diary"], "reason": "Written request"},
        "portal.effect_confirm": {
            "event_type": "bruising", "onset": "within-24h", "severity": "mild", "action_taken": "self-care",
            "outcome": "recovering",
        },
        "portal.effect_dismiss": {"reason": "Not related"},
        "portal.questionnaire_confirm": {"factors": []},
        "portal.questionnaire_dismiss": {"reason": "Answered in clinic"},
        "portal.questionnaire_submit": {"factors": []},
        "portal.review_submit": {"activities": {}, "groc": 3},
        "addenda.addendum_add": {"reason": "Clarification", "text": "Later note."},
        "adverse_events.adverse_event_enter_in_error": {"reason": "Duplicate"},
        "adverse_events.adverse_event_record": {
            "event_type": "headache", "onset": "within-24h", "severity": "mild",
            "action_taken": "none", "outcome": "resolved",
        },
        "adverse_events.adverse_event_update": {"outcome": "recovering"},
        "assessment.assessment_update": {"note": "Better"},
        "assessment.finding_add": {"muscle": "soleus", "side": "left", "taut_band": True},
        "assessment.pain_mark_remove": {"region": "calf-left"},
        "assessment.pain_mark_set": {"region": "calf-right", "intensity": 4, "quality": ""},
        "catalogue.needle_size_add": {"diameter_mm": Decimal("0.18"), "length_mm": 13},
        "catalogue.template_new_version": {"kind": "consent", "title": "New", "body": "Text."},
        "consent.consent_record": {
            "signed_name": "Ann Smith", "confirmed": True, "channel": "clinic",
        },
        "consent.consent_sign": {"signed_name": "Ann Smith", "confirmed": True},
        "consent.consent_withdraw": {"reason": "Changed her mind"},
        "outcomes.measurements.observation_add": {
            "code": "nprs", "value": 3, "timing": "after", "session": w.chart_a.session,
            "assessment": None,
        },
        "outcomes.measurements.home_observation_add": {"code": "nprs", "value": 4},
        "rows.insertion_add": {
            "muscle": "soleus", "side": "right", "needles": 1, "needle_size": w.chart_a.needle,
            "depth": "deep", "technique": "pistoning",
        },
        "rows.insertion_update": {"needles": 2},
        "screening.screening_record": {"factors": []},
        "session.session_start": {"screening_status": "unchanged", "consent_confirmed": True},
        "session.session_update": {"note": "Tolerated well"},
        "documents.document_issue": {"kind": "session-note"},
        "documents.document_send": {"recipient": "patient"},
        "documents.letters.letter_start": {"kind": "progress-report"},
        "documents.letters.letter_update": {"body": "Better."},
        "documents.letters.letter_addendum_add": {"reason": "Phone call", "text": "Later."},
        "documents.letters.wording_new_version": {
            "kind": "progress-report", "salutation": "Hello {recipient},", "opening": "News.",
            "closing": "Regards,",
        },
    }.get(name, {})  # fmt: skip


def _actor(name: str, w: Any) -> Any:
    """Who may make each write in clinic A."""
    if name in PORTAL_OWN:
        return w.patient_user
    if name.startswith(
        ("accounts.", "catalogue.", "portal.privacy.", "api.", "documents.letters.wording")
    ) or name.endswith("_import"):
        return w.admin
    return w.practitioner


# Portal services the patient makes on their own record.
PORTAL_OWN = {
    *(f"portal.{name}" for name in ("checkin_answer", "consent_sign", "diary_add",
                                    "questionnaire_submit", "review_submit")),
    "outcomes.measurements.home_observation_add",
}  # fmt: skip
# Records a service needs that are only valid in one state (a draft, a pending report ...).
SPECIAL_RECORDS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "session.session_sign": {"session": lambda w: w.chart_a.ready_session},
    "aftercare.aftercare_issue": {"session": lambda w: w.chart_a.signed_session},
    "assessment.assessment_sign": {"assessment": lambda w: w.chart_a.assessment},
    "outcomes.discharge": {"episode": lambda w: w.discharge_episode},
    "portal.invitation_create": {"patient": lambda w: w.invitee},
    "api.token_revoke": {"token": lambda w: _api_token(w)},
    "api.service_account_deactivate": {"account": lambda w: _service_account(w)},
    "documents.letters.letter_addendum_add": {"letter": signed_letter},
    "documents.letters.letter_reissue": {"letter": signed_letter},
}


def _service_account(w: Any) -> Any:
    from needlechart.accounts.models import Role, User

    return User.objects.create(clinic=w.clinic_a, role=Role.SERVICE, username="booking@svc")


def _api_token(w: Any) -> Any:
    from django.utils import timezone

    from needlechart.api.models import ApiToken

    return ApiToken.objects.create(
        clinic=w.clinic_a, name="Registry", user=w.practitioner, scopes=["patients:read"],
        prefix="nc_test", key_hash="0" * 64, created_by=w.admin,
        expires_at=timezone.now() + dt.timedelta(days=30),
    )  # fmt: skip


# What a valid call needs first: the patient signs in the portal only a consent they have not.
SETUP: dict[str, Callable[[Any], Any]] = {
    "portal.consent_sign": lambda w: services.template_new_version(
        actor=w.admin, kind="consent", title="Consent, version 2", body="Reworded."
    ),
}


def _kwargs(name: str, function: Callable, w: Any) -> dict[str, Any]:
    values = _values(name, w)
    if name.endswith("_import"):
        # Bulk imports (an earlier system's records, the demo's): an empty batch here.
        values = {p: [] for p in inspect.signature(function).parameters if p != "actor"}
        values["source"] = "test"
    kwargs: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name == "actor" or parameter.kind is parameter.VAR_KEYWORD:
            continue
        if parameter.name in values:
            kwargs[parameter.name] = values[parameter.name]
        elif parameter.name in SPECIAL_RECORDS.get(name, {}):
            kwargs[parameter.name] = SPECIAL_RECORDS[name][parameter.name](w)
        elif parameter.name in RECORDS:
            kwargs[parameter.name] = RECORDS[parameter.name](w)
        elif parameter.default is inspect.Parameter.empty:
            raise LookupError(f"{name}: no value for {parameter.name}")
    kwargs.update({k: v for k, v in values.items() if k not in kwargs})
    return kwargs


def _record_params(function: Callable) -> set[str]:
    return set(inspect.signature(function).parameters) & set(RECORDS)


def _counts() -> dict[str, int]:
    return {m._meta.label: m._base_manager.count() for m in apps.get_models()}


@pytest.fixture
def world_in_use(charted):  # noqa: F811 - the fixture imported above
    """The charted clinics, with a draft session ready to sign and an episode to discharge."""
    w = charted
    chart = w.chart_a
    services.insertion_update(actor=w.practitioner, insertion=chart.insertion, twitch_responses=1,
                              familiar_pain=True, tolerance="good")  # fmt: skip
    services.session_update(actor=w.practitioner, session=chart.session, needles_removed=1,
                            sharps_disposed=True)  # fmt: skip
    chart.ready_session = chart.session
    patient = factories.patient(w.clinic_a, given_name="Dora")
    w.discharge_episode = factories.episode(patient, w.practitioner_a)
    w.other_admin = factories.user(w.clinic_b, "bea", Role.CLINIC_ADMIN)
    return w


def test_every_public_write_is_found_and_has_what_it_needs(world_in_use):
    missing = []
    for name, function in SERVICES.items():
        try:
            _kwargs(name, function, world_in_use)
        except LookupError as error:
            missing.append(str(error))
    assert missing == []
    assert len(SERVICES) >= 45  # the discovery itself works


CROSS = sorted(name for name, f in SERVICES.items() if _record_params(f))


@pytest.mark.parametrize("name", CROSS)
def test_an_actor_of_another_clinic_is_refused_and_nothing_is_written(world_in_use, name):
    w = world_in_use
    function = SERVICES[name]
    kwargs = _kwargs(name, function, w)
    own = _actor(name, w)
    outsider = {w.admin: w.other_admin, w.practitioner: w.other_practitioner,
                w.patient_user: w.patient_b_user}[own]  # fmt: skip
    before = _counts()
    with pytest.raises((ValidationError, PermissionDenied, Http404)):
        function(actor=outsider, **kwargs)
    assert _counts() == before


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_failing_audit_write_leaves_no_row_behind(world_in_use, name, monkeypatch):
    w = world_in_use
    function = SERVICES[name]
    if name in SETUP:
        SETUP[name](w)
    kwargs = _kwargs(name, function, w)
    reached = []

    def audit_down(*args: Any, **kw: Any) -> None:
        reached.append(True)
        raise RuntimeError("the audit trail could not be written")

    monkeypatch.setattr(audit, "record", audit_down)
    monkeypatch.setattr(audit, "record_each", audit_down)
    before = _counts()
    if name.endswith("_import"):
        pytest.skip("imports of nothing write nothing; the demo covers them with records")
    with pytest.raises(RuntimeError, match="audit trail could not be written"):
        function(actor=_actor(name, w), **kwargs)
    assert reached, f"{name} did not reach its audit write with these values"
    assert _counts() == before
