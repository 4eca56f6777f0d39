"""The REST API (django-ninja): OpenAPI 3 at /api/openapi.json, its docs at /api/docs.

Every operation goes through the same selectors and services as the pages, so clinic
scoping (another clinic's record is 404), roles, the audit trail and the rules of each
record hold here too; the token's scopes narrow what its staff member may do.
"""

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from needlechart.accounts import rules
from needlechart.api import idempotency, writes
from needlechart.api.auth import TokenAuth, TokenThrottle
from needlechart.api.common import ERRORS, PAGE, BodyParser, need
from needlechart.audit import services as audit
from needlechart.patients import selectors as patient_selectors
from needlechart.patients import services as patient_services
from needlechart.patients.models import Patient


class Api(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> Any:
        return idempotency.document(super().get_openapi_schema(**kwargs))


api = Api(
    title="needlechart API",
    version="1",
    description="A clinic's patients, episodes of care and dashboard figures, for the systems "
    "around it. Authenticate with `Authorization: Bearer <token>`; a clinic admin makes "
    "tokens in the app (Clinic, API tokens), each acting as one staff member within its "
    "scopes. Errors are JSON: `detail` says why, `errors` names each field. A POST or PATCH "
    "sent with an `Idempotency-Key` header is done once: a retry with the same key and body "
    "gets the first answer back; the same key with another body is a 409. Keys are kept "
    "24 hours.",
    auth=TokenAuth(),
    throttle=[TokenThrottle(settings.API_RATE)],
    urls_namespace="api",
    parser=BodyParser(),
)


def _error(request: HttpRequest, status: int, detail: str, errors: Any = None) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "errors": errors or {}}, status=status)


@api.exception_handler(ValidationError)
def _refused(request: HttpRequest, error: ValidationError) -> HttpResponse:
    fields = error.message_dict if hasattr(error, "error_dict") else {}
    return _error(request, 400, " ".join(error.messages), fields)


@api.exception_handler(NinjaValidationError)
def _malformed(request: HttpRequest, error: NinjaValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for item in error.errors:
        location = [str(p) for p in item.get("loc", []) if p not in ("body", "query", "path")]
        name = ".".join(location) or "body"
        fields.setdefault(name, []).append(item.get("msg", "invalid"))
    return _error(request, 422, "The request is not in the form this operation takes.", fields)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    # A body refused while parsing (a NUL character in a text) names its field.
    if isinstance(error.__cause__, ValidationError):
        return _refused(request, error.__cause__)
    return _error(request, error.status_code, str(error))


@api.exception_handler(Http404)
def _missing(request: HttpRequest, error: Http404) -> HttpResponse:
    return _error(request, 404, "Not found.")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, error: PermissionDenied) -> HttpResponse:
    return _error(request, 403, str(error) or "Not allowed.")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "A valid, unexpired and unrevoked API token is required.")


# --- patients ----------------------------------------------------------------------------------


class PatientOut(Schema):
    id: int
    mrn: str
    given_name: str
    family_name: str
    birth_date: dt.date
    sex: str
    phone: str
    email: str
    address: str


class PatientIn(Schema):
    given_name: str
    family_name: str
    birth_date: dt.date
    sex: str
    mrn: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""


class PatientPage(Schema):
    count: int
    page: int
    results: list[PatientOut]


@api.get("/patients", response={200: PatientPage, **ERRORS}, tags=["patients"])
def patients(request: HttpRequest, page: int = 1) -> Any:
    """The clinic's patients, 50 a page by family name; each one listed is audited."""
    need(request, "patients:read")
    if page < 1:
        raise ValidationError({"page": "Pages are numbered from 1."})
    chosen = Patient.objects.filter(clinic_id=request.user.clinic_id).order_by(
        "family_name", "given_name", "id"
    )
    rows = list(chosen[(page - 1) * PAGE : page * PAGE])
    audit.record_each(actor=request.user, action=audit.Action.LIST, objects=rows)
    return {"count": chosen.count(), "page": page, "results": rows}


@api.get("/patients/{patient_id}", response={200: PatientOut, **ERRORS}, tags=["patients"])
def patient(request: HttpRequest, patient_id: int) -> Any:
    need(request, "patients:read")
    return patient_selectors.patient_get(user=request.user, patient_id=patient_id)


@api.post("/patients", response={201: PatientOut, **ERRORS}, tags=["patients"])
def patient_create(request: HttpRequest, body: PatientIn) -> Any:
    """Register a patient (an empty record number is generated), as the registration page."""
    need(request, "patients:write", rules.STAFF_ROLES)
    created = patient_services.patient_create(actor=request.user, **body.dict())
    return Status(201, created)


# --- episodes ----------------------------------------------------------------------------------


class EpisodeOut(Schema):
    id: int
    patient_id: int
    condition_code: str
    body_area: str
    status: str
    period_start: dt.date
    period_end: dt.date | None
    care_manager_id: int | None


@api.get(
    "/patients/{patient_id}/episodes", response={200: list[EpisodeOut], **ERRORS}, tags=["clinical"]
)
def patient_episodes(request: HttpRequest, patient_id: int) -> Any:
    need(request, "clinical:read", rules.CLINICAL_READ_ROLES)
    patient = patient_selectors.patient_get_unaudited(user=request.user, patient_id=patient_id)
    return patient_selectors.patient_episodes(user=request.user, patient=patient)


@api.get("/episodes/{episode_id}", response={200: EpisodeOut, **ERRORS}, tags=["clinical"])
def episode(request: HttpRequest, episode_id: int) -> Any:
    need(request, "clinical:read", rules.CLINICAL_READ_ROLES)
    return patient_selectors.episode_get(user=request.user, episode_id=episode_id)


# --- dashboard ---------------------------------------------------------------------------------


@api.get("/dashboard", response={200: dict[str, Any], **ERRORS}, tags=["dashboard"])
def dashboard_figures(
    request: HttpRequest,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    review_page: int = 1,
) -> Any:
    """The dashboard's figures, as `needlechart dashboard --json` prints them, except that the
    episodes due for review come 50 a page (`review_page`, from 1), with their number in
    `review_due_count`; each episode listed is audited."""
    from needlechart.outcomes import dashboard

    need(request, "dashboard:read", rules.CLINICAL_READ_ROLES)
    if date_from and date_to and date_to < date_from:
        raise ValidationError({"date_to": "The end is before the start."})
    if review_page < 1:
        raise ValidationError({"review_page": "Pages are numbered from 1."})
    figures = dashboard.kept_figures(
        dashboard.Filters(clinic=request.user.clinic, date_from=date_from, date_to=date_to)
    )
    # The review list names patients: like the page, a view lists (and audits) one page of
    # it, whatever the clinic's size. The kept figures are shared between views: copied.
    due = figures["review_due"]
    listed = due[(review_page - 1) * PAGE : review_page * PAGE]
    dashboard.record_read_out(
        actor=request.user, detail={"via": "api", "filters": figures["filters"]}, named=listed,
        action=audit.Action.LIST,
    )  # fmt: skip
    return {
        **figures,
        "review_due": listed,
        "review_due_count": len(due),
        "review_page": review_page,
    }


# writes adds its operations to the clinical router.
api.add_router("", writes.router)


def urls() -> tuple[list[Any], str, str]:
    """The API's URLs. They take a token, not a signed-in session: Django's login
    requirement does not apply to them."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        pattern.callback = idempotency.idempotent(pattern.callback)
        pattern.callback.login_required = False
    return patterns, app_name, namespace
