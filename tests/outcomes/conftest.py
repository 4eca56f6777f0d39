"""A demo clinic the dashboard's tests read."""

import datetime as dt
import io

import pytest
from django.core.management import call_command

from needlechart.accounts.models import Clinic
from needlechart.outcomes.export import charts
from needlechart.patients.models import Patient

TODAY = dt.date(2026, 11, 24)


@pytest.fixture
def demo(db):
    """The demo's Riverside clinic and every one of its patients' chart JSON."""
    call_command("demo", "--patients", "60", "--seed", "3", "--today", TODAY.isoformat(),
                 stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    clinic = Clinic.objects.get(name__startswith="Riverside")
    records = [chart for _, chart in charts(Patient.objects.filter(clinic=clinic))]
    return clinic, records
