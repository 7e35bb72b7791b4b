"""A separate worker process for the pacing tests, running the project's own code.

    python -m tests.pacing_worker job <job id>        # scraping_job_run, prints the job's status
    python -m tests.pacing_worker fetch <url>         # one Fetcher.fetch, no retry; prints the outcome
    python -m tests.pacing_worker throttle <url>      # one GET through platform_throttle().call

With PACING_WORKER_GO=<path> the worker loads Django, creates `<path>.ready` and begins its work
only once `<path>` exists, so a test can start workers at moments of its choosing.

It uses the database DATABASE_URL names (the test's database, or a file copy of it on SQLite) with
OUTBOUND_PACING="database", the setting production runs with; the rest is tests.settings.
"""

import os
import sys
import time


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.OUTBOUND_PACING = "database"
    settings.AI_BACKEND = "builtin"
    mode, target = argv
    go = os.environ.get("PACING_WORKER_GO")
    if go:  # started early (Django loaded), the worker begins when the test says so
        from pathlib import Path

        Path(go + ".ready").touch()
        while not os.path.exists(go):
            time.sleep(0.01)
    if mode == "job":
        from scraping.services.runner import scraping_job_run

        job = scraping_job_run(job_id=target)
        print("RESULT", job.status if job is not None else "not-run")
        return 0
    if mode == "fetch":
        from core.retry import RetryPolicy
        from scraping.fetching import Fetcher, FetchError, FetchPolicy

        policy = FetchPolicy(obey_robots=False, retry=RetryPolicy(attempts=1))
        with Fetcher(policy=policy) as fetcher:
            try:
                print("RESULT", fetcher.fetch(target).status)
            except FetchError as exc:
                print("RESULT", exc.reason, exc.status)
        return 0
    if mode == "throttle":
        import httpx

        from core.outbound import platform_throttle
        from core.retry import parse_retry_after

        class RateLimited(Exception):
            def __init__(self, retry_after):
                self.retry_after = retry_after

        def get() -> int:  # test code: the local server is on loopback
            response = httpx.get(target, timeout=10)
            if response.status_code == 429:
                raise RateLimited(parse_retry_after(response.headers.get("retry-after")))
            return response.status_code

        try:
            print("RESULT", platform_throttle().call(target, get, retry_after_of=lambda exc: exc.retry_after))
        except RateLimited:
            print("RESULT", 429)
        return 0
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


# -- for the tests that start workers -------------------------------------------------------------


def worker_env(tmp_path) -> dict[str, str]:
    """The environment for workers sharing the test's database (a `transaction=True` test, so
    they see its rows). SQLite's test database lives in this process's memory: it is copied to a
    file the workers open, after the test has written what they need."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        import sqlite3

        path = tmp_path / "workers.sqlite3"
        connection.ensure_connection()
        target = sqlite3.connect(path)
        connection.connection.backup(target)
        target.close()
        url = f"sqlite:///{path}"
    else:
        auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
        url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings"}


def start(mode: str, target: str, *, env: dict[str, str]):
    import subprocess
    from pathlib import Path

    return subprocess.Popen(
        [sys.executable, "-m", "tests.pacing_worker", mode, target],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process, *, timeout: float = 120) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    results = [line[len("RESULT ") :] for line in out.splitlines() if line.startswith("RESULT ")]
    assert results, (out + err)[-3000:]
    return results[-1]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
