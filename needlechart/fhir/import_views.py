"""POST /fhir/: a transaction or collection Bundle of Patients with their Conditions and
Observations, imported whole or refused whole (imports.py)."""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse

from needlechart.accounts import rules
from needlechart.fhir import imports
from needlechart.fhir.idempotency import idempotent
from needlechart.fhir.views import FHIR_JSON, FhirError, fhir_view_for, respond, user_of

# Importing writes patients and their clinical records: both write scopes.
WRITE_SCOPES = ("patients:write", "clinical:write")
STATUS = {"created": "201 Created", "found": "200 OK", "skipped": "200 OK"}


def _refused(refused: imports.Refused) -> HttpResponse:
    return respond(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {"severity": "error", "code": "invalid", "diagnostics": str(problem),
                 "expression": [problem.expression()]}
                for problem in refused.problems
            ],
        },
        422,
    )  # fmt: skip


def _entry(result: imports.Result) -> dict[str, Any]:
    response: dict[str, Any] = {"status": STATUS[result.outcome]}
    if result.location:
        response["location"] = result.location
    if result.note:
        response["outcome"] = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "warning", "code": "not-supported",
                       "diagnostics": result.note}],
        }  # fmt: skip
    return {"response": response}


@fhir_view_for("POST")
@idempotent
def transaction(request: HttpRequest) -> HttpResponse:
    user, token = user_of(request)
    if token is not None:
        missing = [scope for scope in WRITE_SCOPES if scope not in token.scopes]
        if missing:
            raise FhirError(403, "forbidden", f"This token lacks the {' and '.join(missing)} "
                            "scope.")  # fmt: skip
    if not rules.has_role(user, rules.ADMIN_ROLES):
        raise FhirError(403, "forbidden", "Only a clinic admin imports records.")
    kind = request.content_type or ""
    if kind not in (FHIR_JSON, "application/json"):
        raise FhirError(415, "not-supported", f"Send the Bundle as {FHIR_JSON}.")
    try:
        bundle = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise FhirError(400, "invalid", "The body is not JSON.") from None
    try:
        entries = imports.bundle_entries(bundle)
        results = imports.resources_import(actor=user, entries=entries, source="fhir")
    except imports.Refused as refused:
        return _refused(refused)
    return respond(
        {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [_entry(result) for result in results],
        }
    )
