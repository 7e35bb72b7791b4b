"""api_list: `GET /api/v1/captions/images/?status=pending` (a page of 50, bearer token) against a
bare Django view returning the same page from `.values()`, both through gunicorn.

One gunicorn with 2 sync workers (as `manage.py serve` starts it) serves both sides on loopback,
with the benchmark settings and `bench.urls` (the project's URLs plus the bare view). The bare view
(`/bench/images/?owner=<id>`) filters the same owner's pending images in the same order and slices
50 with `.values()` of the columns behind the API serializer's fields: no authentication,
permissions, throttling, filter form, cursor or serializer. The middleware stack is the same.
Before any timing, both answers are checked to hold the same 50 ids in the same order.

Load: C processes, each with its own HTTP/1.1 connection (sync workers close it after every
response, so each request reconnects, on both sides alike), sending requests back to back for a
fixed time; any answer but a 200 fails the run. A warm-up per side, then rounds in which the two
sides run back to back, alternating which goes first (an even number of rounds: each side goes
first in half of them). The line is the median of the rounds' paired ratios: this machine's speed
drifts by a third within one run, and a pair shares its moment (the best round per side, taken
before, could pair a fast minute with a slow one, and read 0.48 to 0.61 from one run to the next).
At small size 8 rounds of 3 s rather than 5 of 4 s: the pairs of one run spread from 0.51 to 0.60,
and a median of more pairs moves less. The API's rate limit is raised for the server through its
setting (RATE_LIMIT_API), so every request is still counted by the throttle (one upsert) but none
is refused.

Targets: requests/s at least half the bare view's; queries per request the same on the first and
on deep pages (following `next`) and for an owner with far fewer images (counted in-process with
the same token).
"""

import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
USER_AGENT = "socialdesk-bench"
API_PATH = "/api/v1/captions/images/?status=pending"
BARE_PATH = "/bench/images/?owner={owner}"
PAGE_SIZE = 50
WEB_WORKERS = 2
CONNECTIONS = 4
WARM_UP_SECONDS = 2.0
DEEP_PAGES = 4
SMALL_OWNER_ROWS = 2_000
# Far above what the load reaches: the throttle still counts every request, it refuses none.
BENCH_API_RATE = "100000000/h"


def _load(job: tuple) -> tuple[int, str | None]:
    """One connection's requests between `start_at` and `end_at` (epoch seconds): (200s, error)."""
    port, path, headers, start_at, end_at = job
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    completed = 0
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        while time.time() < end_at:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                return completed, f"{path} answered {response.status}: {body[:300]!r}"
            completed += 1
    except OSError as exc:
        return completed, f"{path}: {exc!r}"
    finally:
        connection.close()
    return completed, None


def _requests_per_second(pool, *, port: int, path: str, headers: dict, seconds: float) -> float:
    # Every process starts at the same moment, after the pool has handed out the jobs.
    start_at = time.time() + 0.3
    jobs = [(port, path, headers, start_at, start_at + seconds)] * CONNECTIONS
    results = pool.map(_load, jobs)
    errors = [error for _, error in results if error]
    if errors:
        raise RuntimeError(f"api_list: {len(errors)} connection(s) failed; first: {errors[0]}")
    return sum(count for count, _ in results) / seconds


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _get_json(*, port: int, path: str, headers: dict) -> dict:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"api_list: {path} answered {response.status}: {body[:500]!r}")
    return json.loads(body)


class Gunicorn:
    """gunicorn on a free loopback port in a process group of its own, stopped with its workers."""

    def __init__(self, *, env: dict, workers: int = WEB_WORKERS, timeout: int = 30):
        self.port = _free_port()
        self.workers = workers
        self.log = tempfile.NamedTemporaryFile(prefix="bench-api-list-gunicorn-", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"{HOST}:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                str(timeout),
                "--graceful-timeout",
                "5",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, *, timeout: float = 60) -> None:
        """Until both workers answer (each request may reach either; a few in a row make it likely)."""
        deadline = time.monotonic() + timeout
        answered = 0
        while answered < 2 * self.workers:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"api_list: gunicorn exited with {self.process.returncode}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"api_list: gunicorn not ready after {timeout:.0f} s:\n{self.output()}")
            try:
                connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
                connection.request("GET", "/health/live")
                answered += connection.getresponse().status == 200
                connection.close()
            except OSError:
                time.sleep(0.2)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        finally:
            self.log.close()


def _queries_per_page(*, token: str, pages: int) -> list[int]:
    """Queries of the first page and of `pages - 1` more reached through `next`, in-process."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient(  # an allowed host, and the client the token was made for
        HTTP_AUTHORIZATION=f"Bearer {token}", SERVER_NAME=HOST, HTTP_USER_AGENT=USER_AGENT, REMOTE_ADDR=HOST
    )
    counts: list[int] = []
    url = API_PATH
    for _ in range(pages):
        with CaptureQueriesContext(connection) as context:
            response = client.get(url)
        if response.status_code != 200 or len(response.json()["results"]) != PAGE_SIZE:
            raise RuntimeError(f"api_list: {url} answered {response.status_code}: {response.content[:300]!r}")
        counts.append(len(context.captured_queries))
        next_url = urlsplit(response.json()["next"])
        url = f"{next_url.path}?{next_url.query}"
    return counts


def _token_for(user_id: int) -> str:
    from accounts.models import SessionKind, User
    from accounts.request_meta import RequestMeta
    from accounts.services.sessions import session_create

    # Made for the client that then uses it, as a sign-in is: a token used from elsewhere costs its
    # first request the mismatch's mark and audit row (accounts.services.sessions).
    token, _ = session_create(
        user=User.objects.get(pk=user_id),
        kind=SessionKind.API,
        meta=RequestMeta(user_agent=USER_AGENT, ip_address=HOST),
    )
    return token


def run(*, scale: str) -> None:
    from django.db import connections

    from accounts.models import User
    from bench.data import caption_images
    from bench.report import emit

    # An even number of rounds: each side goes first in half of them.
    rows, rounds, seconds = (1_000_000, 6, 8.0) if scale == "full" else (100_000, 8, 3.0)
    images = caption_images(rows=rows)
    token = _token_for(images.owner_id)

    # Queries per request: deep pages, and an owner with fifty times fewer images.
    deep = _queries_per_page(token=token, pages=DEEP_PAGES)
    small_owner = caption_images(rows=SMALL_OWNER_ROWS)
    try:
        few = _queries_per_page(token=_token_for(small_owner.owner_id), pages=2)
    finally:
        # Its images would otherwise show in the admin changelist benchmark's counts.
        User.objects.filter(pk=small_owner.owner_id).delete()
    counts = deep + few

    connections.close_all()  # the server's workers and the load processes use their own
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "RATE_LIMIT_API": BENCH_API_RATE,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }
    server = Gunicorn(env=env)
    api_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": USER_AGENT}
    bare_path = BARE_PATH.format(owner=images.owner_id)
    bare_headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    sides = {"ours": (API_PATH, api_headers), "baseline": (bare_path, bare_headers)}
    results: dict[str, list[float]] = {"ours": [], "baseline": []}
    try:
        server.wait_ready()
        api_page = _get_json(port=server.port, path=API_PATH, headers=api_headers)["results"]
        bare_page = _get_json(port=server.port, path=bare_path, headers=bare_headers)["results"]
        api_ids, bare_ids = [row["id"] for row in api_page], [row["id"] for row in bare_page]
        if (
            len(api_ids) != PAGE_SIZE
            or api_ids != bare_ids
            or {row["status"] for row in api_page} != {"pending"}
        ):
            raise RuntimeError(f"api_list: the pages differ: API {api_ids[:5]}..., bare {bare_ids[:5]}...")
        with multiprocessing.get_context("spawn").Pool(CONNECTIONS) as pool:
            for path, headers in sides.values():
                _requests_per_second(
                    pool, port=server.port, path=path, headers=headers, seconds=WARM_UP_SECONDS
                )
            for round_number in range(rounds):
                order = ("ours", "baseline") if round_number % 2 == 0 else ("baseline", "ours")
                for side in order:
                    path, headers = sides[side]
                    results[side].append(
                        _requests_per_second(
                            pool, port=server.port, path=path, headers=headers, seconds=seconds
                        )
                    )
    finally:
        server.stop()

    paired = [ours / bare for ours, bare in zip(results["ours"], results["baseline"], strict=True)]
    emit(
        name="api_list",
        ours=statistics.median(results["ours"]),
        baseline=statistics.median(results["baseline"]),
        unit="req/s",
        ratio=statistics.median(paired),
        op=">=",
        target=0.5,
        note=(
            f"API page of {PAGE_SIZE} pending images (bearer token) vs a bare `.values()` view, gunicorn "
            f"{WEB_WORKERS} workers, {CONNECTIONS} connections, {rows} images; median of {rounds} rounds, "
            "the ratio of each round's pair"
        ),
    )
    emit(
        name="api_list_queries",
        ours=max(counts),
        baseline=min(counts),
        unit="q",
        ratio=max(counts) / min(counts),
        op="<=",
        target=1,
        note=(
            f"most vs fewest queries per API page: first and {DEEP_PAGES - 1} deeper pages, "
            f"and an owner of {SMALL_OWNER_ROWS} images"
        ),
    )
    rates = ", ".join(f"{rate:.0f}" for rate in results["ours"])
    bare_rates = ", ".join(f"{rate:.0f}" for rate in results["baseline"])
    print(
        f"# api_list: {rows} images ({images.pending} pending), {rounds} rounds of {seconds:.0f} s per side "
        f"after a {WARM_UP_SECONDS:.0f} s warm-up; req/s per round ours {rates}, bare {bare_rates}, "
        f"pairs {', '.join(f'{ratio:.2f}' for ratio in paired)}; "
        f"queries per page {', '.join(map(str, deep))} (first and deeper), "
        f"{', '.join(map(str, few))} (owner of {SMALL_OWNER_ROWS}); "
        f"images generated in {images.seconds:.1f} s"
    )
