"""FHIR R4 at /fhir/: the CapabilityStatement, needlechart's CodeSystems, and read and search
of the clinic's records, with Patient/{id}/$everything.

A request authenticates with an API token (`Authorization: Bearer ...`, as /api/) or a
signed-in staff session. The token's scopes and the staff member's role limit what it reads
as they do in the API and the pages; another clinic's record is a 404; every read is audited.
Every answer is `application/fhir+json`, every error an OperationOutcome (middleware.py
turns what the layers beneath the view answer into one too).
"""

import json
from collections.abc import Callable
from functools import wraps
from importlib.metadata import version
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from needlechart.accounts import rules
from needlechart.accounts.models import User
from needlechart.api import services as api_services
from needlechart.api.auth import TokenThrottle
from needlechart.api.models import ApiToken
from needlechart.audit import services as audit
from needlechart.audit.context import api_token
from needlechart.fhir import codes, questionnaires, reads, resources
from needlechart.patients import selectors as patient_selectors

FHIR_JSON = "application/fhir+json"
PAGE = 50
# The Bulk Data Access guide's operations ($export).
BULK_DATA = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition"
LONGEST_PAGE = 500
# Parameters every search takes beside its own.
PAGING = ("_count", "_offset")


class FhirError(Exception):
    def __init__(self, status: int, code: str, text: str, headers: dict[str, str] | None = None):
        super().__init__(text)
        self.status, self.code, self.text, self.headers = status, code, text, headers or {}


def respond(body: dict[str, Any], status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type=f"{FHIR_JSON}; charset=utf-8",
    )


def operation_outcome(status: int, code: str, text: str) -> HttpResponse:
    return respond(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}],
        },
        status,
    )


def _error(error: FhirError) -> HttpResponse:
    response = operation_outcome(error.status, error.code, error.text)
    for name, value in error.headers.items():
        response[name] = value
    return response


View = Callable[..., HttpResponse]


def fhir_view_for(*methods: str) -> Callable[[View], View]:
    """A view answering `methods` only (405 otherwise); errors as OperationOutcomes. The
    view answers a missing sign-in itself, with a 401, instead of the sign-in page."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = operation_outcome(
                    405, "not-supported", f"{request.method} is not supported here."
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, *args, **kwargs)
            except FhirError as error:
                return _error(error)

        return login_not_required(csrf_exempt(wrapped))

    return decorate


# Reads: GET and HEAD.
fhir_view = fhir_view_for("GET", "HEAD")


# --- who asks ----------------------------------------------------------------------------------


def _token_of(request: HttpRequest) -> ApiToken | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, secret = header.partition(" ")
    found = api_services.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise FhirError(401, "login", "A valid, unexpired and unrevoked API token is required.")
    return found


def user_of(request: HttpRequest) -> tuple[User, ApiToken | None]:
    """The staff member the request acts as, and its token if it came with one."""
    token = _token_of(request)
    if token is not None:
        request.user = token.user
        request.auth = token  # type: ignore[attr-defined]  # the throttle counts by token
        api_token.set(token.name)
        throttle = TokenThrottle(settings.API_RATE)
        if not throttle.allow_request(request):
            wait = int(throttle.wait() or 1)
            raise FhirError(429, "throttled", "Too many requests; try again later.",
                            {"Retry-After": str(max(wait, 1))})  # fmt: skip
        return token.user, token
    user = request.user
    if user.is_authenticated and rules.has_role(user, rules.STAFF_ROLES):
        return user, None
    raise FhirError(401, "login", "Sign in, or send an API token: Authorization: Bearer <token>.")


def scope(token: ApiToken | None, kind: reads.ResourceType) -> None:
    """A token without the type's read scope may not ask for it at all: 403."""
    if token is not None and not kind.scopes() & set(token.scopes):
        needed = " or ".join(sorted(kind.scopes()))
        raise FhirError(403, "forbidden", f"This token lacks the {needed} scope.")


def role(user: User, kind: reads.ResourceType) -> None:
    """The staff member's role, as the pages check it (front desk reads no clinical record)."""
    if not rules.has_role(user, kind.roles):
        raise FhirError(
            403, "forbidden", f"{user.get_role_display()} staff may not read {kind.name}."
        )


def _type(name: str) -> reads.ResourceType:
    if name not in reads.TYPES:
        raise FhirError(404, "not-supported", f"This server does not serve {name} resources.")
    return reads.TYPES[name]


def _in_clinic_time(user: User) -> Any:
    # Dates in searches and in resources are the clinic's days, for tokens too.
    return resources.in_clinic_time(user.clinic.timezone)


# --- reads -------------------------------------------------------------------------------------


def _find(user: User, kind: reads.ResourceType, resource_id: str) -> tuple[reads.Source, Any]:
    for source in kind.sources:
        pk = source.pk_of(resource_id)
        if pk is not None:
            row = source.rows(user).filter(pk=pk).first()
            if row is not None:
                return source, row
    raise FhirError(404, "not-found", f"{kind.name}/{resource_id} is not known.")


@fhir_view
def read(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    kind = _type(resource_type)
    user, token = user_of(request)
    scope(token, kind)
    with _in_clinic_time(user):
        source, row = _find(user, kind, resource_id)
        # The role only once the record is known to be the clinic's: another clinic's
        # record is a 404 for every role (docs/access.md).
        role(user, kind)
        reason = source.gone(row)
        if reason:
            raise FhirError(
                410, "deleted", f"{kind.name}/{resource_id} was entered in error: {reason}"
            )
        audit.record(actor=user, action=audit.Action.VIEW, obj=row, patient=source.patient_of(row),
                     detail={"via": "fhir", "resource": f"{kind.name}/{resource_id}"})  # fmt: skip
        return respond(source.to_resource(row))


def _number(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    text = request.GET.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise FhirError(400, "invalid", f"{name} takes a whole number from {low} to {high}.")
    return int(text)


def _conditions(request: HttpRequest, kind: reads.ResourceType) -> list[tuple[reads.Source, Q]]:
    """Each source's condition for the request's parameters; an unknown one is a 400."""
    unknown = sorted(set(request.GET) - set(kind.param_types) - set(PAGING))
    if unknown:
        allowed = ", ".join([*kind.param_types, *PAGING])
        asked = ", ".join(unknown)
        raise FhirError(
            400, "not-supported", f"{kind.name} is not searched by {asked}; it takes {allowed}."
        )
    found = []
    for source in kind.sources:
        query = Q()
        for name in request.GET:
            if name in PAGING:
                continue
            try:
                query &= source.params[name](request.GET.getlist(name))
            except reads.BadParameter as error:
                raise FhirError(400, "invalid", f"{name}: {error}") from None
        found.append((source, query))
    return found


def _bundle(request: HttpRequest, total: int, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": timezone.now().isoformat(timespec="seconds"),
        "total": total,
        "link": [{"relation": "self", "url": request.build_absolute_uri()}],
        "entry": entries,
    }


def _entry(request: HttpRequest, resource: dict[str, Any]) -> dict[str, Any]:
    url = request.build_absolute_uri(f"/fhir/{resource['resourceType']}/{resource['id']}")
    return {"fullUrl": url, "resource": resource, "search": {"mode": "match"}}


@fhir_view
def search(request: HttpRequest, resource_type: str) -> HttpResponse:
    """`_count` a page (50 unless asked, at most 500), `_offset` where it starts; a `next`
    link while rows remain. Sources are read one after the other, each by id."""
    kind = _type(resource_type)
    user, token = user_of(request)
    scope(token, kind)
    role(user, kind)
    count = _number(request, "_count", PAGE, 0, LONGEST_PAGE)
    offset = _number(request, "_offset", 0, 0, 10**9)
    with _in_clinic_time(user):
        chosen = []
        for source, query in _conditions(request, kind):
            queryset = source.rows(user).filter(query)
            if source.search_excludes is not None:
                queryset = queryset.exclude(source.search_excludes)
            chosen.append((source, queryset.order_by("pk")))
        total, skip, page = 0, offset, []
        for source, queryset in chosen:
            size = queryset.count()
            total += size
            if skip >= size:
                skip -= size
                continue
            wanted = count - len(page)
            if wanted > 0:
                page += [(source, row) for row in queryset[skip : skip + wanted]]
            skip = 0
        patients = {id(row): source.patient_of(row) for source, row in page}
        audit.record_each(actor=user, action=audit.Action.LIST, objects=[row for _, row in page],
                          detail={"via": "fhir", "resource": kind.name},
                          patient_of=lambda row: patients[id(row)])  # fmt: skip
        bundle = _bundle(request, total, [_entry(request, s.to_resource(row)) for s, row in page])
    if offset + count < total and count:
        following = request.GET.copy()
        following["_count"] = str(count)
        following["_offset"] = str(offset + count)
        bundle["link"].append(
            {
                "relation": "next",
                "url": request.build_absolute_uri(f"{request.path}?{following.urlencode()}"),
            }
        )
    return respond(bundle)


@fhir_view
def everything(request: HttpRequest, resource_id: str) -> HttpResponse:
    """The patient's whole record in one Bundle: the patient, their clinic, the practitioners
    it names and every clinical resource about them; audited as one export."""
    user, token = user_of(request)
    # The whole record: the patients scope and the clinical one, and a clinical role.
    scope(token, reads.PATIENT)
    scope(token, reads.EPISODE_OF_CARE)
    if not resource_id.isdigit() or len(resource_id) > 18:
        raise FhirError(404, "not-found", f"Patient/{resource_id} is not known.")
    patient = _patient_or_404(user, int(resource_id))
    role(user, reads.EPISODE_OF_CARE)
    with _in_clinic_time(user):
        found: list[dict[str, Any]] = [reads.PATIENT.sources[0].to_resource(patient)]
        for kind in reads.EVERYTHING:
            for source in kind.sources:
                by_patient = source.params.get("patient") or source.params["subject"]
                rows = source.rows(user).filter(by_patient([str(patient.pk)])).order_by("pk")
                found += [source.to_resource(row) for row in rows]
        named = _practitioners_named(found)
        practitioners = reads.PRACTITIONER.sources[0].rows(user).filter(pk__in=named).order_by("pk")
        found += [reads.PRACTITIONER.sources[0].to_resource(p) for p in practitioners]
        found.append(reads.ORGANIZATION.sources[0].to_resource(user.clinic))
        audit.record(actor=user, action=audit.Action.EXPORT, obj=patient,
                     detail={"via": "fhir", "operation": "$everything",
                             "resources": len(found)})  # fmt: skip
        entries = [_entry(request, resource) for resource in found]
    return respond(_bundle(request, len(entries), entries))


def _patient_or_404(user: User, patient_id: int) -> Any:
    from django.http import Http404

    try:
        return patient_selectors.patient_get_unaudited(user=user, patient_id=patient_id)
    except Http404:
        raise FhirError(404, "not-found", f"Patient/{patient_id} is not known.") from None


def _practitioners_named(found: Any) -> set[int]:
    """The ids of the practitioners the resources refer to."""
    if isinstance(found, list):
        return set().union(*(_practitioners_named(item) for item in found))
    if not isinstance(found, dict):
        return set()
    named = set().union(*(_practitioners_named(value) for value in found.values()))
    reference = found.get("reference")
    if isinstance(reference, str) and reference.startswith("Practitioner/"):
        named.add(int(reference.removeprefix("Practitioner/")))
    return named


# --- what the server is ------------------------------------------------------------------------


def _version() -> str:
    return version("needlechart")


@fhir_view
def metadata(request: HttpRequest) -> HttpResponse:
    """The CapabilityStatement: exactly the types, interactions and parameters served."""
    resources = []
    for kind in reads.TYPES.values():
        entry: dict[str, Any] = {
            "type": kind.name,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": name, "type": param_type} for name, param_type in kind.param_types.items()
            ],
        }
        if kind.name == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                },
                {"name": "export", "definition": f"{BULK_DATA}/patient-export"},
            ]
        if kind.name == "Group":
            entry["operation"] = [{"name": "export", "definition": f"{BULK_DATA}/group-export"}]
        resources.append(entry)
    resources += [
        {
            "type": definition,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": "url", "type": "uri"}],
        }
        for definition in DEFINITIONS
    ]
    return respond(
        {
            "resourceType": "CapabilityStatement",
            "id": "needlechart",
            "url": f"{codes.BASE}/CapabilityStatement/needlechart",
            "version": _version(),
            "name": "NeedlechartServer",
            "title": "needlechart FHIR R4 server",
            "status": "active",
            "experimental": False,
            "date": timezone.localdate().isoformat(),
            "publisher": "needlechart",
            "kind": "instance",
            "software": {"name": "needlechart", "version": _version()},
            "implementation": {
                "description": "A clinic's dry-needling records: read, searched, exported "
                "in bulk; patients with their conditions and measurements imported",
                "url": request.build_absolute_uri("/fhir"),
            },
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "documentation": "Authenticate with an API token (Authorization: Bearer) or "
                    "a signed-in staff session. Search pages with _count and _offset. $export "
                    "(system, Patient and Group level, with _type and _since) runs in the "
                    "background (Prefer: respond-async); its files expire. "
                    "POST / imports Patients, Conditions and Observations, refused whole when "
                    "any is invalid.",
                    "security": {
                        "cors": False,
                        "description": "API tokens a clinic admin makes, scoped and expiring; "
                        "every read is audited.",
                    },
                    "resource": resources,
                    # POST /fhir/: a transaction (or collection) Bundle to import.
                    "interaction": [{"code": "transaction"}],
                    "operation": [{"name": "export", "definition": f"{BULK_DATA}/export"}],
                }
            ],
        }
    )


def _definitions(
    name: str, table: dict[str, Any], to_resource: Callable[[Any, str], dict[str, Any]]
) -> tuple[View, View]:
    """The read and the search by `url` of one of needlechart's published definitions (its
    CodeSystems, its Questionnaires): the same on every installation, no sign-in needed."""

    @fhir_view
    def one(request: HttpRequest, definition_id: str) -> HttpResponse:
        found = table.get(definition_id)
        if found is None:
            raise FhirError(404, "not-found", f"{name}/{definition_id} is not known.")
        return respond(to_resource(found, _version()))

    @fhir_view
    def every(request: HttpRequest) -> HttpResponse:
        unknown = sorted(set(request.GET) - {"url"})
        if unknown:
            asked = ", ".join(unknown)
            raise FhirError(400, "not-supported", f"{name} is not searched by {asked}.")
        chosen = [
            found for found in table.values()
            if "url" not in request.GET or found.url in request.GET.getlist("url")
        ]  # fmt: skip
        entries = [_entry(request, to_resource(found, _version())) for found in chosen]
        return respond(_bundle(request, len(entries), entries))

    return one, every


code_system, code_systems = _definitions(
    "CodeSystem", codes.CODE_SYSTEMS, codes.code_system_resource
)
questionnaire, questionnaires_found = _definitions(
    "Questionnaire", questionnaires.QUESTIONNAIRES, questionnaires.questionnaire_resource
)
# What the CapabilityStatement lists beside the clinic's records.
DEFINITIONS = ("CodeSystem", "Questionnaire")
