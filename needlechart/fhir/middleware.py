"""Under /fhir/, every answer is FHIR: what the layers beneath the FHIR views answer in
their own way (the sign-in page for an ended session or a second factor owed, a 404 page for
a patient's portal sign-in, a server error) becomes an OperationOutcome with its status."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from needlechart.fhir.views import FHIR_JSON, operation_outcome

PREFIX = "/fhir/"
CODES = {401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported"}


class FhirErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        status = response.status_code
        # Answers that are not errors pass as they are: the Bulk Data manifest is plain
        # JSON and its files NDJSON.
        if (
            not request.path.startswith(PREFIX)
            or response.get("Content-Type", "").startswith(FHIR_JSON)
            or 200 <= status < 300
        ):
            return response
        if 300 <= status < 400:
            # Sent to sign in again or to give the second factor: the session does not do.
            return operation_outcome(
                401, "login", "The session has ended or needs its second factor: sign in again, "
                "or send an API token (Authorization: Bearer <token>).",
            )  # fmt: skip
        if status >= 500:
            return operation_outcome(status, "exception", "The server could not answer.")
        code = CODES.get(status, "processing")
        return operation_outcome(status, code, response.reason_phrase)
