"""Count and time the two visits a clinician charts most, in Chromium, on a demo clinic.

    .venv/bin/python benchmarks/charting_flow.py [--patients 200]

A routine follow-up (the last session's muscles with today's findings, pain before and
after, one range of motion, needle count, aftercare, signing) from the patient's page, and
a first visit from the patient list (new patient, episode, screening, consent, assessment
with three painful regions, two trigger points and baseline measures, a first session of
two muscles, signing). An action is a click, a field filled, an option chosen or a key
press. Beside each, the baseline of the same run: the key presses of the same visit typed
as a free-text note. Prints JSON. Speed is measured here, never in the test suite.
"""

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, seconds: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 (our own local server)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"The server did not answer at {url}")


def _follow_up_patient() -> tuple[int, list[str]]:
    """A demo patient in care with a signed last session and no draft: the routine visit."""
    from needlechart.charting.models import NeedlingSession
    from needlechart.patients.models import EpisodeOfCare

    for episode in EpisodeOfCare.objects.filter(
        status="active", care_manager__user__username="demo-practitioner"
    ).order_by("pk"):
        sessions = NeedlingSession.objects.filter(episode=episode)
        if sessions.filter(signed_at__isnull=True).exists():
            continue
        last = sessions.filter(signed_at__isnull=False).order_by("-performed_at").first()
        if last is not None and 2 <= last.insertions.count() <= 6:
            return episode.patient_id, [r.get_muscle_display() for r in last.insertions.all()]
    raise SystemExit("No demo patient is ready for a follow-up.")


def _free_text(lines: list[str]) -> int:
    """Key presses to type the same visit as a note (one per character, one per new line)."""
    return sum(len(line) + 1 for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="needlechart-flow-")
    env = {**os.environ, "DEBUG": "1", "NEEDLECHART_DATA_DIR": data}
    env.pop("DATABASE_URL", None)
    os.environ.update(
        DEBUG="1", NEEDLECHART_DATA_DIR=data, DJANGO_SETTINGS_MODULE="needlechart.settings"
    )
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    quiet = io.StringIO()
    call_command(
        "demo", "--patients", str(args.patients), "--seed", "1", stdout=quiet, stderr=quiet
    )
    patient_id, muscles = _follow_up_patient()

    from playwright.sync_api import sync_playwright

    from tests.browser.flows import (
        Actions,
        FirstVisit,
        FollowUp,
        chart_first_visit,
        chart_follow_up,
        sign_in,
    )

    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 (our own command)
        [str(ROOT / ".venv/bin/needlechart"), "runserver", "--noreload", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    results = {}
    try:
        _wait_for(f"http://127.0.0.1:{port}/accounts/login/")
        follow_up = FollowUp(
            findings=tuple("2 twitches, familiar pain, tolerated well" for _ in muscles),
            pain_before=6, pain_after=3, rom_degrees=60,
        )  # fmt: skip
        first = FirstVisit(
            given_name="Nora", family_name="Quinn", birth_date="1975-03-02", sex="Female",
            condition="M54.2 Cervicalgia (neck pain)", referral="Self-referred",
            pain=(("neck-posterior-right", "6"), ("shoulder-top-right", "6"),
                  ("temple-right", "4")),
            findings=2, pain_now=6, rom_movement="Cervical rotation", rom_degrees=60,
            needle="0.25 x 40 mm", technique="Fast-in fast-out (pistoning)",
            responses=("2 twitches, familiar pain, tolerated well",
                       "1 twitch, familiar pain, tolerated well"),
        )  # fmt: skip
        follow_note = [
            "Health screening unchanged. Clean technique.",
            *(f"{m}: 2 x 0.30 x 50 mm, deep, pistoning, 2 LTR, familiar pain, tolerated well"
              for m in muscles),
            "NPRS before 6, after 3. Cervical rotation right 60 degrees.",
            f"Needles opened {2 * len(muscles)}, removed {2 * len(muscles)}. Aftercare given.",
        ]  # fmt: skip
        first_note = [
            "Nora Quinn, born 1975-03-02, female. M54.2 neck pain, self-referred.",
            "Screening: no precautions. Consent signed.",
            "Pain: back of neck right 6/10, top of shoulder right 6/10, temple right 4/10.",
            "Active TrP upper trapezius right, levator scapulae right.",
            "NPRS 6. Cervical rotation 60 degrees.",
            "Upper trapezius right: 1 x 0.25 x 40 mm, superficial, pistoning, 2 LTR, familiar.",
            "Levator scapulae right: 1 x 0.25 x 40 mm, superficial, pistoning, 1 LTR, familiar.",
            "Needles opened 2, removed 2. Aftercare given.",
        ]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=FLAGS
            )
            context = browser.new_context(
                base_url=f"http://127.0.0.1:{port}", viewport={"width": 1100, "height": 900}
            )
            page = context.new_page()
            sign_in(page, "demo-practitioner", "needlechart-demo")
            for name, run, note in (
                ("follow_up", lambda a: chart_follow_up(a, patient_id, follow_up), follow_note),
                ("first_visit", lambda a: chart_first_visit(a, first), first_note),
            ):
                actions = Actions(page)
                started = time.perf_counter()
                run(actions)
                results[name] = {
                    "actions": actions.count,
                    "seconds": round(time.perf_counter() - started, 2),
                    "free_text_key_presses": _free_text(note),
                }
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
