import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from needlechart.accounts.models import Clinic, DryNeedlingCredential, User
from needlechart.audit.models import AuditEvent
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.patients.services import _next_mrn
from tests import factories

TODAY = "2026-11-24"
NEEDLECHART = Path(sys.executable).parent / "needlechart"


def _demo(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _snapshot() -> list[tuple]:
    patients = Patient.objects.order_by("clinic__name", "mrn").values_list(
        "clinic__name",
        "mrn",
        "given_name",
        "family_name",
        "birth_date",
        "sex",
        "phone",
        "email",
        "address",
    )
    episodes = EpisodeOfCare.objects.order_by("patient__clinic__name", "patient__mrn", "id")
    staff = User.objects.order_by("username").values_list(
        "username",
        "clinic__name",
        "role",
        "first_name",
        "last_name",
        "email",
        "practitioner__profession",
        "practitioner__registration_number",
    )
    credentials = DryNeedlingCredential.objects.order_by(
        "practitioner__user__username"
    ).values_list("practitioner__user__username", "course", "hours", "completed_on", "expires_on")
    return [
        *patients,
        *episodes.values_list(
            "patient__mrn", "condition_code", "body_area", "onset_date", "status",
            "referral_source", "care_manager__user__username", "period_start", "period_end",
        ),
        *staff,
        *credentials,
    ]  # fmt: skip


def test_the_demo_is_the_same_for_the_same_seed_and_different_for_another(db):
    _demo("--patients", "30", "--seed", "7", "--today", TODAY)
    first = _snapshot()
    _demo("--patients", "30", "--seed", "7", "--today", TODAY)
    assert _snapshot() == first
    assert Clinic.objects.filter(is_demo=True).count() == 2  # rebuilt, not added
    _demo("--patients", "30", "--seed", "8", "--today", TODAY)
    assert _snapshot() != first


def test_the_demo_fills_a_clinic_with_staff_patients_episodes_and_their_audit_rows(db):
    output = _demo("--patients", "25", "--today", TODAY)
    clinic = Clinic.objects.get(name__startswith="Riverside")
    assert clinic.patients.count() == 25
    assert EpisodeOfCare.objects.filter(patient__clinic=clinic).count() >= 25
    assert set(User.objects.filter(clinic=clinic).values_list("role", flat=True)) == {
        "clinic_admin", "practitioner", "assistant", "front_desk",
    }  # fmt: skip
    assert (
        AuditEvent.objects.filter(clinic=clinic, action="create", object_type="Patient").count()
        == 25
    )
    assert "demo-practitioner" in output and "needlechart-demo" in output
    demo_user = User.objects.get(username="demo-practitioner")
    assert demo_user.check_password("needlechart-demo")


def test_demo_clinics_have_contact_details_and_record_numbers_of_their_own(db):
    _demo("--patients", "12", "--today", TODAY)
    for clinic in Clinic.objects.filter(is_demo=True):
        assert clinic.phone and clinic.email and clinic.address, clinic.name
    mrns = list(Patient.objects.values_list("mrn", flat=True))
    assert len(mrns) == len(set(mrns))  # so `needlechart chart MRN` needs no --clinic
    # A patient added later in either clinic still gets a free number.
    for clinic in Clinic.objects.filter(is_demo=True):
        assert not Patient.objects.filter(mrn=_next_mrn(clinic)).exists()


def test_the_demo_covers_every_qualification_state(db):
    from needlechart.accounts.rules import QualificationStatus, qualification

    _demo("--patients", "5", "--today", TODAY)
    today = dt.date.fromisoformat(TODAY)
    statuses = {
        qualification(user.practitioner.credentials.all(), today).status
        for user in User.objects.filter(
            clinic__name__startswith="Riverside", practitioner__isnull=False
        )
    }
    assert {
        QualificationStatus.QUALIFIED,
        QualificationStatus.EXPIRING,
        QualificationStatus.LAPSED,
    } <= statuses


def test_the_demo_refuses_a_database_with_real_clinic_data(db):
    real = factories.clinic("Real Physio")
    patient = factories.patient(real)
    with pytest.raises(CommandError, match="refusing to run: the database holds real clinic data"):
        _demo("--patients", "5")
    assert list(Patient.objects.all()) == [patient]
    assert not Clinic.objects.filter(is_demo=True).exists()


def test_if_empty_builds_once_and_then_only_prints_the_logins(db):
    _demo("--if-empty", "--patients", "5", "--today", TODAY)
    first = _snapshot()
    output = _demo("--if-empty", "--patients", "50", "--seed", "99")
    assert _snapshot() == first
    assert "demo-admin" in output


def test_a_large_demo_shows_a_progress_bar(db):
    err = io.StringIO()
    call_command("demo", "--patients", "600", "--today", TODAY, stdout=io.StringIO(), stderr=err)
    assert "608/608" in err.getvalue()
    assert Patient.objects.count() == 608


def test_create_clinic_makes_a_clinic_with_an_admin_who_must_set_a_password(db):
    out = io.StringIO()
    call_command(
        "create-clinic", "--name", "Harbour Physio", "--timezone", "Europe/Dublin",
        "--admin-username", "owner", "--admin-email", "owner@example.org", stdout=out,
    )  # fmt: skip
    owner = User.objects.get(username="owner")
    assert owner.clinic.name == "Harbour Physio" and owner.role == "clinic_admin"
    assert not owner.has_usable_password()
    assert "needlechart changepassword owner" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timezone", "Mars/Olympus"], "timezone: 'Mars/Olympus' is not a known time zone"),
        (["--admin-email", "nope"], "email: Enter a valid email address."),
    ],
)
def test_create_clinic_refuses_bad_input_and_saves_nothing(db, args, message):
    base = {"--name": "X", "--timezone": "UTC", "--admin-username": "owner",
            "--admin-email": "owner@example.org"}  # fmt: skip
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    with pytest.raises(CommandError, match=message):
        call_command("create-clinic", *[v for pair in base.items() for v in pair])
    assert not Clinic.objects.exists() and not User.objects.exists()


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(DEBUG="1", NEEDLECHART_DATA_DIR=str(tmp_path))
    return subprocess.run(
        [str(NEEDLECHART), *args], env=env, capture_output=True, text=True, check=False
    )


def test_the_console_command_runs_django_and_our_commands_with_one_line_errors(tmp_path):
    assert _run(tmp_path, "migrate", "-v0").returncode == 0
    assert (tmp_path / "needlechart.sqlite3").exists()
    made = _run(tmp_path, "create-clinic", "--name", "Real", "--admin-username", "o",
                "--admin-email", "o@example.org")  # fmt: skip
    assert made.returncode == 0, made.stderr

    refused = _run(tmp_path, "demo")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "CommandError: refusing to run: the database holds real clinic data ('Real'); "
        "the demo only fills an empty or demo-only database"
    ]
    bad = _run(tmp_path, "demo", "--patients", "0")
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        "needlechart demo: error: argument --patients: must be a whole number of 1 or more, not '0'"
    ]
    far = _run(tmp_path, "demo", "--today", "0001-06-01")
    assert far.returncode == 2 and len(far.stderr.splitlines()) == 1
    assert "from 1950 to today" in far.stderr


def test_every_command_the_docs_name_runs_under_its_name(tmp_path):
    """The commands the README and the issues name, by the names people type (cron runs
    `needlechart send-reminders`)."""
    assert _run(tmp_path, "migrate", "-v0").returncode == 0
    for command in ("send-reminders", "create-clinic", "demo", "chart", "dashboard", "muscles",
                    "regions", "referral", "screen"):  # fmt: skip
        shown = _run(tmp_path, command, "--help")
        assert shown.returncode == 0, (command, shown.stderr)
        assert f"needlechart {command}" in shown.stdout
    due = _run(tmp_path, "send-reminders", "--dry-run", "--json")
    assert due.returncode == 0, due.stderr
    assert json.loads(due.stdout)["reminders"] == []


@pytest.mark.parametrize(
    "args",
    [
        ("chart", "--all", "--clinic", "-1"),
        ("chart", "--all", "--clinic", "99999999999999999999999"),
        ("chart", "--all", "--clinic", "²"),
        ("chart", "--all", "--clinic", "4242"),
        ("chart", "T00001", "--clinic", "0"),
        ("dashboard", "--clinic", "99999999999999999999999"),
        ("dashboard", "--practitioner", "-5"),
        ("send-reminders", "--now", "9999-12-31T23:59"),
        ("send-reminders", "--now", "0001-01-01T00:00"),
        ("demo", "--patients", "99999999999999999999"),
        ("demo", "--patients", "²"),
        ("referral", "calf-left", "--top", "0"),
        ("referral", "calf-left", "--top", "99999999999999999999"),
        ("grant-app-role", "nobody"),
    ],
)
def test_every_command_answers_out_of_range_values_in_one_line(migrated, args):
    """Never a traceback: a non-zero exit and one line saying why."""
    result = _run(migrated, *args)
    assert result.returncode != 0, (args, result.stdout)
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    data = tmp_path_factory.mktemp("commands")
    assert _run(data, "migrate", "-v0").returncode == 0
    return data
