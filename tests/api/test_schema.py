"""schemathesis over the API's own OpenAPI schema: generated requests to every operation get
no server error, only statuses and bodies the schema documents, and JSON errors."""

from collections.abc import Iterator

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis import checks

from needlechart.api.models import SCOPES
from tests.api.test_api import _token

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())


@pytest.fixture
def token(world) -> Iterator[str]:
    """Every scope, as a practitioner of clinic A: each operation runs past the checks.
    Requests run in the test's transaction, so Django must not close the connection at
    their end (as its test client also ensures)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield _token(world, SCOPES)
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


@schema.parametrize()
@hypothesis.settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
@pytest.mark.django_db
def test_every_operation_answers_as_its_schema_documents(case, token):
    # The checks of what the API answers: no server error, a documented status, a documented
    # body and content type. Not those that judge the request: the token is added to every
    # case, also those generated without one, and a body a rule refuses is a documented 400.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        excluded_checks=[
            checks.negative_data_rejection,
            checks.positive_data_acceptance,
            checks.missing_required_header,
            checks.ignored_auth,
        ],
    )
