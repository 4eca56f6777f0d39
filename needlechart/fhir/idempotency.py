"""`Idempotency-Key` on FHIR's writes: the Bundle import (`POST /fhir/`) and the `$export`
kick-offs. A retry with the same key gets the first answer back (the same transaction-response,
or the same status URL of the one export started), as the API's writes do; the guard and
the table that keeps answers are the API's (needlechart.api.idempotency). Refusals are
OperationOutcomes."""

from django.http import HttpRequest, HttpResponse

from needlechart.accounts import rules
from needlechart.api import idempotency
from needlechart.fhir.views import View, respond

# The import is a POST; a Bulk Data kick-off a GET that starts a job.
METHODS = ("GET", "POST")
CODES = {409: "conflict", 422: "invalid"}


def _sender(request: HttpRequest) -> tuple[int, str] | None:
    """A valid token's keys are its own, shared with /api/; a signed-in staff member's, when
    no token is sent, are theirs."""
    if request.headers.get("Authorization"):
        return idempotency.token_sender(request)
    user = request.user
    if user.is_authenticated and rules.has_role(user, rules.STAFF_ROLES):
        return user.pk, f"user:{user.pk}"
    return None


def _refuse(status: int, text: str, errors: dict[str, list[str]]) -> HttpResponse:
    code = CODES.get(status, "invalid")
    issues = [
        {"severity": "error", "code": code, "expression": [name],
         "diagnostics": f"{text} {' '.join(problems)}"}
        for name, problems in errors.items()
    ] or [{"severity": "error", "code": code, "diagnostics": text}]  # fmt: skip
    return respond({"resourceType": "OperationOutcome", "issue": issues}, status)


def idempotent(view: View) -> View:
    """Answer the view once per `Idempotency-Key` of its sender."""
    return idempotency.guard(view, methods=METHODS, sender=_sender, refuse=_refuse)
