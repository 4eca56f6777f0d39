"""Charting records made elsewhere, each with its own time: an earlier system's, the demo's.

Each record is checked with the rules its service applies, as of its own time and by whoever
made it (the consent signed before the session, the credential valid on the session's day,
the rows screened against the session's screening), and every record gets its audit row.
Records go in bulk, as a clinic's history runs to tens of thousands. The database refuses
rows under a signed record, so records go in unsigned with their rows (and the measurements,
which outcomes imports), are signed after (`signatures_import`, with the signing rules of
`sign_problems`), and what follows a signature comes last (`followups_import`).
"""

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import Practitioner, User
from needlechart.audit import services as audit
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AftercareIssue,
    Assessment,
    Consent,
    CoTreatment,
    DocumentTemplate,
    Insertion,
    NeedlingSession,
    PainMark,
    Screening,
    TriggerPointFinding,
)
from needlechart.charting.services.adverse_events import _check_event
from needlechart.charting.services.assessment import _known_region
from needlechart.charting.services.catalogue import current_template
from needlechart.charting.services.common import IN_ERROR, _muscle, _practitioner_of, clean_text
from needlechart.charting.services.consent import (
    _consent_after,
    status_of,
    training_statement,
)
from needlechart.charting.services.rows import (
    _check_row_values,
    _drop_unused_settings,
    _store_verdict,
    plan_item,
)
from needlechart.charting.services.screening import clean_factors, screen_plan
from needlechart.charting.services.session import sign_checks
from needlechart.db import bulk
from needlechart.patients.models import EpisodeOfCare, Patient

# Rows per query when reading what is already stored about the imported records.
BATCH = 500
# Field checks run here, record by record; unique and check constraints, one query each
# there, are left to the database, which refuses the whole import if one fails.
CHECKED_BY_THE_DATABASE = {"validate_unique": False, "validate_constraints": False}
# The choices checked record by record, made once.
SCREENING_STATUSES = frozenset(NeedlingSession.ScreeningStatus.values)
CO_TREATMENTS = frozenset(CoTreatment.values)


def _imports(actor: User) -> None:
    authorize(actor, roles=rules.ADMIN_ROLES, what="import records")


def _ours(actor: User, patient: Patient) -> None:
    if patient.clinic_id != actor.clinic_id:
        raise ValidationError("This patient is not in your clinic.")


def _day(moment: dt.datetime, patient: Patient) -> dt.date:
    return timezone.localdate(moment, ZoneInfo(patient.clinic.timezone))


def _while_open(episode: EpisodeOfCare, moment: dt.datetime) -> None:
    """As `refuse_if_discharged`, at the record's own time: nothing new after the discharge."""
    if episode.period_end is not None and _day(moment, episode.patient) > episode.period_end:
        raise ValidationError("This episode of care is discharged; it takes addenda only.")


def _not_later(moment: dt.datetime, what: str) -> None:
    if moment > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError(f"{what} cannot be in the future.")


def _audit(
    actor: User, action: str, records: list[Any], source: str, patient_of: Any = None
) -> None:
    audit.record_each(
        actor=actor,
        action=action,
        objects=records,
        detail={"imported": source},
        patient_of=patient_of,
    )


class _Screen:
    """The safety engine's verdicts, remembered: imported rows repeat the same few plans."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, str], knowledge.Screening] = {}

    def __call__(self, screening: Screening, row: Insertion) -> knowledge.Screening:
        item = plan_item(row)
        key = (id(screening), json.dumps(item, sort_keys=True))
        if key not in self._seen:
            self._seen[key] = screen_plan(screening, [item])
        return self._seen[key]


class _Qualified:
    """Whether a practitioner may needle on a day, remembered (see rules.is_qualified_to_needle)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, dt.date], bool] = {}

    def __call__(self, practitioner: Practitioner, day: dt.date) -> bool:
        key = (practitioner.pk, day)
        if key not in self._seen:
            self._seen[key] = rules.is_qualified_to_needle(practitioner, on=day)
        return self._seen[key]


# --- screening, consent, assessment, sessions and their rows --------------------------------


@transaction.atomic
def chart_import(
    *,
    actor: User,
    source: str,
    screenings: list[Screening],
    consents: list[Consent],
    assessments: list[Assessment],
    pain_marks: list[PainMark],
    findings: list[TriggerPointFinding],
    sessions: list[NeedlingSession],
    insertions: list[Insertion],
) -> None:
    """Screenings, consents, assessments with their pain marks and findings, and sessions
    with their rows, as they were made, unsigned (see `signatures_import`). Each is checked
    as its service checks it then: `screening_record`, `consent_sign`, `assessment_start`,
    `pain_mark_set`, `finding_add`, `session_start` (the screening and consent of the day,
    the practitioner qualified on it) and `insertion_add` (each row complete, plausible and
    screened, a contraindicated one refused). Audited."""
    _imports(actor)
    for screening in screenings:
        episode = screening.episode
        _ours(actor, episode.patient)
        authorize(
            screening.recorded_by,
            roles=rules.CLINICAL_WRITE_ROLES,
            patient=episode.patient,
            what="record a screening",
        )
        _while_open(episode, screening.recorded_at)
        _not_later(screening.recorded_at, "A screening")
        screening.factors = clean_factors(screening.factors)
        screening.note = screening.note.strip()
        if screening.source not in Screening.Source.values:
            raise ValidationError({"source": "Say who answered the screening."})
    templates: dict[int, DocumentTemplate] = {}
    for consent in consents:
        _check_consent(actor, consent, templates)
    for assessment in assessments:
        _check_assessment(actor, assessment)
    for mark in pain_marks:
        _known_region(mark.region)
        if not 0 <= mark.intensity <= 10:
            raise ValidationError({"intensity": "Pain intensity runs from 0 to 10."})
        mark.full_clean(exclude=["assessment", "region"], **CHECKED_BY_THE_DATABASE)
    for finding in findings:
        _check_finding(finding)
    newest = _screenings_by_episode(screenings)
    signed = _consents_by_patient(consents)
    qualified = _Qualified()
    for session in sessions:
        _check_session(actor, session, newest, signed, qualified)
    screen = _Screen()
    for row in insertions:
        session = row.session
        _drop_unused_settings(row)
        _check_row_values(session, row)
        result = screen(session.screening, row)
        if result.items[0].verdict == "contraindicated":
            refused = [r.text for r in result.items[0].reasons if r.verdict == "contraindicated"]
            raise ValidationError({"muscle": f"Contraindicated: {' '.join(refused)}"})
        _store_verdict(row, result)
        # The muscles are checked against the catalogue above.
        row.full_clean(
            exclude=["session", "needle_size", "muscle", "lead_to_muscle"],
            **CHECKED_BY_THE_DATABASE,
        )
    for model, records in (
        (Screening, screenings),
        (Consent, consents),
        (Assessment, assessments),
        (PainMark, pain_marks),
        (TriggerPointFinding, findings),
        (NeedlingSession, sessions),
        (Insertion, insertions),
    ):
        bulk.insert(model, records)
    create = audit.Action.CREATE
    for records in (screenings, consents, assessments, sessions):
        _audit(actor, create, records, source)
    _audit(actor, create, pain_marks, source, lambda r: r.assessment.episode.patient)
    _audit(actor, create, findings, source, lambda r: r.assessment.episode.patient)
    _audit(actor, create, insertions, source, lambda r: r.session.episode.patient)


def _check_consent(actor: User, consent: Consent, templates: dict[int, DocumentTemplate]) -> None:
    """As `consent_record`: the clinic's current text, the patient's typed name, a witness
    of the clinic when signed there."""
    patient = consent.patient
    _ours(actor, patient)
    _not_later(consent.signed_at, "A consent")
    if patient.clinic_id not in templates:
        templates[patient.clinic_id] = current_template(
            clinic=patient.clinic, kind=DocumentTemplate.Kind.CONSENT
        )
    if consent.template_id != templates[patient.clinic_id].pk:
        raise ValidationError({"template": "A consent is signed against the current text."})
    if len((consent.signed_name or "").strip()) < 2:
        raise ValidationError({"signed_name": "The patient types their full name to sign."})
    consent.signed_name = clean_text(consent.signed_name, "signed_name", max_length=200)
    if consent.channel == Consent.Channel.CLINIC:
        authorize(
            consent.witnessed_by,
            roles=rules.CLINICAL_WRITE_ROLES,
            patient=patient,
            what="witness a consent",
        )
    elif consent.channel != Consent.Channel.PORTAL or consent.witnessed_by_id is not None:
        raise ValidationError("A consent is witnessed in the clinic or signed in the portal.")
    consent.practitioner_training = training_statement(
        patient=patient, witness=consent.witnessed_by
    )


def _check_assessment(actor: User, assessment: Assessment) -> None:
    """As `assessment_start`: by a practitioner of the clinic, in an open episode."""
    episode = assessment.episode
    _ours(actor, episode.patient)
    user = assessment.practitioner.user
    authorize(
        user, roles=rules.CLINICAL_WRITE_ROLES, patient=episode.patient, what="assess patients"
    )
    if _practitioner_of(user) != assessment.practitioner or assessment.created_by_id != user.pk:
        raise ValidationError("An assessment is made by its practitioner.")
    if assessment.kind not in Assessment.Kind.values:
        raise ValidationError({"kind": "Choose the kind of assessment."})
    if assessment.signed_at is not None:
        raise ValidationError("Records are signed after their rows are in (signatures_import).")
    _not_later(assessment.performed_at, "An assessment")
    _while_open(episode, assessment.performed_at)


def _check_finding(finding: TriggerPointFinding) -> None:
    """As `finding_add`: a known muscle and its side, known regions of referral."""
    entry = _muscle(finding.muscle)
    if entry.sided and finding.side not in ("left", "right"):
        raise ValidationError({"side": "Choose the side for this muscle."})
    for region in finding.referred_regions:
        _known_region(region)
    if finding.referred_regions and not finding.referred_sensation:
        raise ValidationError({"referred_sensation": "Say what the referred sensation felt like."})
    finding.full_clean(
        exclude=["assessment", "muscle", "referred_regions"], **CHECKED_BY_THE_DATABASE
    )


def _screenings_by_episode(screenings: list[Screening]) -> dict[int, list[Screening]]:
    by_episode: dict[int, list[Screening]] = {}
    for screening in screenings:
        by_episode.setdefault(screening.episode.pk, []).append(screening)
    return by_episode


def _consents_by_patient(consents: list[Consent]) -> dict[int, list[Consent]]:
    """The consents of each patient, stored and imported, oldest first."""
    patients = list({consent.patient.pk for consent in consents})
    by_patient: dict[int, list[Consent]] = {}
    for start in range(0, len(patients), BATCH):
        stored = Consent.objects.filter(patient__in=patients[start : start + BATCH])
        for consent in stored.select_related("withdrawal"):
            by_patient.setdefault(consent.patient_id, []).append(consent)
    for consent in consents:
        by_patient.setdefault(consent.patient.pk, []).append(consent)
    for signed in by_patient.values():
        signed.sort(key=lambda c: c.signed_at)
    return by_patient


def _check_session(
    actor: User,
    session: NeedlingSession,
    screenings: dict[int, list[Screening]],
    consents: dict[int, list[Consent]],
    qualified: _Qualified,
) -> None:
    """As `session_start` at the session's time: the screening then current, confirmed; a
    consent signed before and not withdrawn; the practitioner qualified that day."""
    episode, at = session.episode, session.performed_at
    patient = episode.patient
    _ours(actor, patient)
    practitioner = session.practitioner
    user = practitioner.user
    authorize(user, roles=rules.NEEDLING_ROLES, patient=patient, what="chart needling")
    if _practitioner_of(user) != practitioner or session.created_by_id != user.pk:
        raise ValidationError("A session is charted by the practitioner who needles.")
    if session.signed_at is not None:
        raise ValidationError("Records are signed after their rows are in (signatures_import).")
    _not_later(at, "A session")
    _while_open(episode, at)
    then = [s for s in screenings.get(episode.pk, []) if s.recorded_at <= at]
    if not then or session.screening is not max(then, key=lambda s: s.recorded_at):
        raise ValidationError("Record the health screening before the first session.")
    if session.screening_status not in SCREENING_STATUSES:
        raise ValidationError(
            {"screening_status": "Confirm whether the health screening is unchanged."}
        )
    signed = [
        c for c in consents.get(patient.pk, []) if c.signed_at <= at + dt.timedelta(minutes=1)
    ]
    if not signed or hasattr(signed[-1], "withdrawal") or _consent_after(signed[-1], at):
        raise ValidationError("No needling without a current consent.")
    if not qualified(practitioner, _day(at, patient)):
        raise ValidationError(
            "You are not qualified to needle on the session date: the dry-needling "
            "credential is missing or has lapsed."
        )
    unknown = set(session.co_treatments) - CO_TREATMENTS
    if unknown:
        raise ValidationError({"co_treatments": f"Unknown co-treatment: {sorted(unknown)[0]}"})
    session.full_clean(
        exclude=["episode", "practitioner", "screening", "consent", "created_by", "signed_by"],
        **CHECKED_BY_THE_DATABASE,
    )


# --- signing ------------------------------------------------------------------------------


@transaction.atomic
def signatures_import(
    *,
    actor: User,
    source: str,
    assessments: list[tuple[Assessment, dt.datetime]],
    sessions: list[tuple[NeedlingSession, dt.datetime]],
) -> None:
    """Sign imported records, each by its practitioner at the time given, once their rows
    and measurements are in: an assessment as `assessment_sign` signs it (a pain mark or a
    finding to sign), a session as `session_sign` does, refused with what `sign_problems`
    finds (the consent, screening, checklist, rows, findings and needle count) and given
    its CPT code, consent and screening. Audited.

    What `sign_problems` reads one session at a time (the patient's newest consent, the
    episode's newest screening, the rows) is read here for all the sessions in a few
    queries, and the same checks run on it (`sign_checks`)."""
    _imports(actor)
    _check_assessment_signatures(actor, assessments)
    rows, consents, screenings = _signing_records([session for session, _ in sessions])
    qualified = _Qualified()
    screen = _ScreenPlan()
    templates: dict[int, DocumentTemplate] = {}
    for session, signed_at in sessions:
        patient = session.episode.patient
        _ours(actor, patient)
        user = session.practitioner.user
        if signed_at < session.performed_at:
            raise ValidationError("A session is signed after it began.")
        consent = consents.get(patient.pk)
        screening = screenings.get(session.episode.pk)
        session_rows = rows.get(session.pk, [])
        if patient.clinic_id not in templates:
            templates[patient.clinic_id] = current_template(
                clinic=patient.clinic, kind=DocumentTemplate.Kind.CONSENT
            )
        problems = sign_checks(
            user,
            session,
            status_of(consent, templates[patient.clinic_id]),
            screening,
            session_rows,
            qualified=qualified,
            screen=screen,
        )
        if problems:
            raise ValidationError(problems)
        # As `session_sign` fixes them: the code of the rows, the consent and screening in
        # force (those the checks have just accepted).
        session.cpt_code = knowledge.suggest_cpt([row.muscle for row in session_rows]) or ""
        session.consent_id = consent.pk if consent is not None else None
        session.screening_id = screening.pk if screening is not None else None
        session.signed_at, session.signed_by = signed_at, user
    bulk.update(Assessment, [a for a, _ in assessments], ["signed_at", "signed_by"])
    bulk.update(
        NeedlingSession,
        [s for s, _ in sessions],
        ["signed_at", "signed_by", "cpt_code", "consent", "screening"],
    )
    _audit(actor, audit.Action.SIGN, [a for a, _ in assessments], source)
    _audit(actor, audit.Action.SIGN, [s for s, _ in sessions], source)


class _ScreenPlan:
    """The safety engine's verdicts on whole sessions, remembered by screening and plan."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, str], knowledge.Screening] = {}

    def __call__(self, screening: Screening | None, items: list[dict[str, Any]]) -> Any:
        key = (screening.pk if screening is not None else 0, json.dumps(items, sort_keys=True))
        if key not in self._seen:
            self._seen[key] = screen_plan(screening, items)
        return self._seen[key]


def _signing_records(
    sessions: list[NeedlingSession],
) -> tuple[dict[int, list[Insertion]], dict[int, Consent], dict[int, Screening]]:
    """The rows of these sessions, and the newest consent of each patient and screening of
    each episode (what `consent_status` and `current_screening` read), in a few queries."""
    ids = [session.pk for session in sessions]
    patients = list({session.episode.patient.pk for session in sessions})
    episodes = list({session.episode.pk for session in sessions})
    rows = _stored_about(ids)[0]
    consents: dict[int, Consent] = {}
    screenings: dict[int, Screening] = {}
    for start in range(0, max(len(patients), len(episodes)), BATCH):
        stored = Consent.objects.filter(patient__in=patients[start : start + BATCH])
        # Oldest first, so the newest of each patient is the one kept.
        for consent in stored.select_related("template", "withdrawal").order_by("signed_at", "id"):
            consents[consent.patient_id] = consent
        recorded = Screening.objects.filter(episode__in=episodes[start : start + BATCH])
        for screening in recorded.order_by("recorded_at", "id"):
            screenings[screening.episode_id] = screening
    return rows, consents, screenings


def _check_assessment_signatures(
    actor: User, assessments: list[tuple[Assessment, dt.datetime]]
) -> None:
    ids = [assessment.pk for assessment, _ in assessments]
    charted: set[int] = set()
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        for model in (PainMark, TriggerPointFinding):
            charted.update(
                model.objects.filter(assessment__in=batch).values_list("assessment", flat=True)
            )
    for assessment, signed_at in assessments:
        _ours(actor, assessment.episode.patient)
        if assessment.pk not in charted:
            raise ValidationError(
                "Mark at least one painful region or trigger-point finding first."
            )
        if signed_at < assessment.performed_at:
            raise ValidationError("An assessment is signed after it was made.")
        assessment.signed_at, assessment.signed_by = signed_at, assessment.practitioner.user


# --- after signing: adverse events, aftercare, addenda --------------------------------------


@transaction.atomic
def followups_import(
    *,
    actor: User,
    source: str,
    adverse_events: list[AdverseEvent],
    aftercare: list[AftercareIssue],
    addenda: list[Addendum],
) -> None:
    """What was recorded about sessions after them: adverse events as
    `adverse_event_record` takes them (muscles needled that session, a duration with its
    unit), aftercare as `aftercare_issue` records it (the clinic's current advice, once, for
    a session with rows) and addenda as `addendum_add` adds them (to a signed record, with a
    reason), each by a clinician of the clinic at its own time. Audited."""
    _imports(actor)
    sessions = {id(r.session): r.session for r in [*adverse_events, *aftercare]}
    sessions.update({id(a.session): a.session for a in addenda if a.session is not None})
    ids = [session.pk for session in sessions.values()]
    rows, in_error, given = _stored_about(ids)
    for session in sessions.values():
        if session.pk in in_error:
            raise ValidationError(IN_ERROR)
        session._prefetched_objects_cache = {"insertions": rows.get(session.pk, [])}
    for event in adverse_events:
        session = event.session
        patient = session.episode.patient
        _ours(actor, patient)
        authorize(
            event.recorded_by,
            roles=rules.CLINICAL_WRITE_ROLES,
            patient=patient,
            what="record adverse events",
        )
        _not_later(event.recorded_at, "An adverse event")
        _check_event(session, event)
        event.full_clean(exclude=["session", "recorded_by"], **CHECKED_BY_THE_DATABASE)
    templates: dict[int, DocumentTemplate] = {}
    for issue in aftercare:
        _check_aftercare(actor, issue, rows, given, templates)
    for addendum in addenda:
        _check_addendum(actor, addendum)
    for session in sessions.values():
        session._prefetched_objects_cache = {}
    for model, records in (
        (AdverseEvent, adverse_events),
        (AftercareIssue, aftercare),
        (Addendum, addenda),
    ):
        bulk.insert(model, records)
        patient_of = None if model is AdverseEvent else (lambda r: r.session.episode.patient)
        _audit(actor, audit.Action.CREATE, records, source, patient_of)


def _stored_about(
    ids: list[int],
) -> tuple[dict[int, list[Insertion]], set[int], set[tuple[int, int]]]:
    """For these sessions: their rows, those entered in error, and the aftercare given
    (session, text version)."""
    rows: dict[int, list[Insertion]] = {}
    in_error: set[int] = set()
    given: set[tuple[int, int]] = set()
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        for row in Insertion.objects.filter(session__in=batch):
            rows.setdefault(row.session_id, []).append(row)
        in_error.update(
            Addendum.objects.filter(
                session__in=batch, kind=Addendum.Kind.ENTERED_IN_ERROR
            ).values_list("session", flat=True)
        )
        given.update(
            AftercareIssue.objects.filter(session__in=batch).values_list("session", "template")
        )
    return rows, in_error, given


def _check_aftercare(
    actor: User,
    issue: AftercareIssue,
    rows: dict[int, list[Insertion]],
    given: set[tuple[int, int]],
    templates: dict[int, DocumentTemplate],
) -> None:
    """As `aftercare_issue`: the clinic's current advice, once per session and version,
    after needling was charted."""
    session = issue.session
    patient = session.episode.patient
    _ours(actor, patient)
    authorize(
        issue.issued_by, roles=rules.CLINICAL_WRITE_ROLES, patient=patient, what="issue aftercare"
    )
    if not rows.get(session.pk):
        raise ValidationError("Record the needled muscles before issuing aftercare.")
    if patient.clinic_id not in templates:
        templates[patient.clinic_id] = current_template(
            clinic=patient.clinic, kind=DocumentTemplate.Kind.AFTERCARE
        )
    if issue.template_id != templates[patient.clinic_id].pk:
        raise ValidationError("Aftercare records the clinic's current advice.")
    if (session.pk, issue.template_id) in given:
        raise ValidationError("Aftercare was already recorded as given.")
    given.add((session.pk, issue.template_id))
    if issue.issued_at < session.performed_at:
        raise ValidationError("Aftercare is given after the session began.")
    _not_later(issue.issued_at, "Aftercare")


def _check_addendum(actor: User, addendum: Addendum) -> None:
    """As `addendum_add`, for an addendum to a signed session: a reason and the text, by a
    clinician of the clinic, after the signature."""
    session = addendum.session
    if session is None or addendum.kind != Addendum.Kind.ADDENDUM:
        raise ValidationError("Only addenda to signed sessions are imported.")
    patient = session.episode.patient
    _ours(actor, patient)
    authorize(
        addendum.author, roles=rules.CLINICAL_WRITE_ROLES, patient=patient, what="add addenda"
    )
    if not session.is_signed or addendum.written_at < session.signed_at:
        raise ValidationError("A draft can still be edited; addenda are for signed records.")
    if not addendum.reason.strip():
        raise ValidationError({"reason": "Give the reason for the addendum."})
    if not addendum.text.strip():
        raise ValidationError({"text": "Write the addendum."})
    addendum.reason, addendum.text = addendum.reason.strip(), addendum.text.strip()
    _not_later(addendum.written_at, "An addendum")
