"""Signed-in clinicians on the busiest pages, with the app served by gunicorn as in
production (docs/deployment.md), beside the sign-in page as a baseline in the same run.

    .venv/bin/python benchmarks/load.py [--users 50] [--seconds 20] [--think 1.0]
        [--patients 1000] [--keep DIR] [--workers CORES] [--threads 1]

Builds (or reuses, with `--keep DIR`) a demo clinic of `--patients` in SQLite, or uses the
database DATABASE_URL names (a demo is built in it when it holds no clinic). Collects the
static files, starts gunicorn on 127.0.0.1 on a free port with production settings
(DEBUG off, a secret key, behind a TLS proxy: each request says `X-Forwarded-Proto:
https`), and signs in `--users` clients, each with its own session, as the clinicians of
the first demo clinic in turn (the sign-in form with its CSRF token, through django-axes).

Then, for `--seconds`, each client loops over the patient list, a patient's timeline, an
episode page, the dashboard and the sign-in page (GET, the baseline: the least a page
costs), pausing a random 0.5-1.5x `--think` seconds between requests as a person would
(`--think 0` hammers); each starts at a random moment within its first pause. gunicorn
runs as docs/deployment.md advises (a worker per core, one request at a time each;
`--workers` and `--threads` try others). Every request goes to 127.0.0.1 only, and the
run stops by itself.

Prints one table: page, users, requests, errors, p50 ms, p99 ms, base p99 ms (the sign-in
page's), ratio. An error is any answer but 200, or no answer.

Goal (issue 12): 50 users, no errors, every page's p99 under 300 ms on this machine.
"""

import argparse
import http.client
import json
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# The first demo clinic's staff who may open every page measured (the dashboard is for
# practitioners and admins); demo/clinics.py names them.
CLINICIANS = ("demo-practitioner", "demo-admin", "demo-chiro", "demo-trainer")
PASSWORD = "needlechart-demo"  # noqa: S105 - the published demo password
LOGIN = "/accounts/login/"


class Client:
    """One signed-in browser: its own cookies, one connection per request."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        origin = f"https://127.0.0.1:{self.port}"
        headers = {
            "X-Forwarded-Proto": "https",
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "Connection": "close",
        }
        body = None
        if form is not None:
            body = urlencode(form)
            headers |= {"Content-Type": "application/x-www-form-urlencoded",
                        "Origin": origin, "Referer": origin + path}  # fmt: skip
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for header in response.msg.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            return response.status, text
        finally:
            connection.close()

    def sign_in(self, username: str) -> None:
        status, page = self.request("GET", LOGIN)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert status == 200 and token, f"sign-in page: {status}"
        form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token[1]}
        status, _ = self.request("POST", LOGIN, form)
        assert status == 302 and "sessionid" in self.cookies, f"sign in as {username}: {status}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare(env: dict[str, str], patients: int, seed: int) -> list[tuple[int, int]]:
    """Migrate, build the demo if the database holds no clinic, collect the static files;
    the (patient, episode) pairs of the first clinic whose episodes have sessions."""
    needlechart = str(BIN / "needlechart")
    for argv in (["migrate", "-v0"],
                 ["demo", "--if-empty", "--patients", str(patients), "--seed", str(seed)],
                 ["collectstatic", "--noinput", "-v0"]):  # fmt: skip
        subprocess.run([needlechart, *argv], env=env, cwd=ROOT, check=True, capture_output=True)  # noqa: S603
    pick = (
        "from django.db.models import Count\n"
        "from needlechart.accounts.models import User\n"
        "from needlechart.patients.models import EpisodeOfCare\n"
        f"clinic = User.objects.get(username={CLINICIANS[0]!r}).clinic_id\n"
        "rows = EpisodeOfCare.objects.filter(patient__clinic_id=clinic)"
        ".annotate(n=Count('sessions')).filter(n__gt=0).order_by('?')[:200]\n"
        "import json; print(json.dumps(list(rows.values_list('patient_id', 'pk'))))"
    )
    done = subprocess.run([needlechart, "shell", "-c", pick], env=env, cwd=ROOT, check=True,  # noqa: S603
                          capture_output=True, text=True)  # fmt: skip
    return [tuple(pair) for pair in json.loads(done.stdout.splitlines()[-1])]


def serve(env: dict[str, str], port: int, workers: int, threads: int, log: Path):
    server = subprocess.Popen(  # noqa: S603
        [str(BIN / "gunicorn"), "needlechart.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads)],
        env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if Client(port).request("GET", LOGIN)[0] == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None:
            sys.exit(f"gunicorn stopped: see {log}")
        time.sleep(0.3)
    server.terminate()
    sys.exit(f"gunicorn did not answer within 60 s: see {log}")


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between requests")
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the demo database here for reuse")
    # As docs/deployment.md advises: one worker per core, one request at a time each.
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    keep = args.keep or Path(tempfile.mkdtemp(prefix="needlechart-load-"))
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50),
           "BEHIND_PROXY": "1", "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING",
           # Connections kept between requests, as docs/deployment.md sets production up.
           "CONN_MAX_AGE": os.environ.get("CONN_MAX_AGE", "60")}  # fmt: skip
    if not os.environ.get("DATABASE_URL"):
        env["NEEDLECHART_DATA_DIR"] = str(keep / f"demo-{args.patients}-seed{args.seed}")
    targets = prepare(env, args.patients, args.seed)
    port = free_port()
    keep.mkdir(parents=True, exist_ok=True)
    server = serve(env, port, args.workers, args.threads, keep / "gunicorn.log")
    try:
        clients = [Client(port) for _ in range(args.users)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda c: c[1].sign_in(CLINICIANS[c[0] % len(CLINICIANS)]),
                          enumerate(clients)))  # fmt: skip
        # Each worker's first pages import and compile what later ones reuse: not timed.
        patient, episode = targets[0]
        warm = ["/patients/", f"/patients/{patient}/timeline/", f"/episodes/{episode}/",
                "/dashboard/", LOGIN]  # fmt: skip
        with ThreadPoolExecutor(max_workers=args.workers * args.threads) as pool:
            list(pool.map(lambda path: clients[0].request("GET", path), warm * args.workers * 2))
        timings: dict[str, list[float]] = {}
        errors: dict[str, int] = {}
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds

        def user(client: Client) -> None:
            rng = random.Random()
            # People arrive over a moment, not on one clock tick: each starts within one
            # pause of the others (else the first page is 50 requests in the same instant).
            time.sleep(args.think * rng.uniform(0, 1))
            while time.monotonic() < deadline:
                patient, episode = rng.choice(targets)
                pages = {"patient list": "/patients/",
                         "timeline": f"/patients/{patient}/timeline/",
                         "episode page": f"/episodes/{episode}/",
                         "dashboard": "/dashboard/",
                         "sign-in page (baseline)": LOGIN}  # fmt: skip
                for name, path in pages.items():
                    if time.monotonic() >= deadline:
                        return
                    start = time.perf_counter()
                    try:
                        status = client.request("GET", path)[0]
                    except OSError:
                        status = 0
                    ms = (time.perf_counter() - start) * 1000
                    with lock:
                        timings.setdefault(name, []).append(ms)
                        errors[name] = errors.get(name, 0) + (status != 200)
                    time.sleep(args.think * rng.uniform(0.5, 1.5))

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.users) as pool:
            list(pool.map(user, clients))
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    base = percentile(timings.get("sign-in page (baseline)", []), 0.99)
    engine = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    total = sum(len(v) for v in timings.values())
    print(f"Load benchmark ({engine}, gunicorn --workers {args.workers} --threads "
          f"{args.threads}): {args.users} users for {elapsed:.0f} s, think {args.think} s, "
          f"{total / elapsed:.0f} requests/s")  # fmt: skip
    print(f"{'page':<26}{'size':>10}{'requests':>10}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'base ms':>9}{'ratio':>8}")  # fmt: skip
    for name, values in timings.items():
        p99 = percentile(values, 0.99)
        print(f"{name:<26}{f'{args.users} users':>10}{len(values):>10}{errors[name]:>8}"
              f"{statistics.median(values):>9.1f}{p99:>9.1f}{base:>9.1f}"
              f"{p99 / base:>7.1f}x")  # fmt: skip
    worst = max(percentile(v, 0.99) for v in timings.values())
    failed = sum(errors.values())
    verdict = "met" if worst < 300 and failed == 0 else "not met"
    print(
        f"Goal (no errors, every p99 under 300 ms): {verdict}; worst p99 {worst:.0f} ms, "
        f"{failed} errors"
    )


if __name__ == "__main__":
    main()
