"""Politeness across worker processes: separate Python processes run the project's own code
(`tests/pacing_worker.py`) against the test's database, and a local web site records when each
request arrived. On SQLite the workers open a file copy of the test database; on PostgreSQL the
test database itself (the tests commit, `transaction=True`, so the workers see the jobs)."""

import itertools
import time

import pytest

from scraping.models import JobType
from scraping.services import jobs as jobs_module
from scraping.services.jobs import scraping_job_create
from tests.factories.accounts import UserFactory
from tests.fakes.base import make_httpserver  # noqa: F401  (threaded: workers' requests overlap)
from tests.fakes.site import FakeSite
from tests.pacing_worker import finish, start, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.timing, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(httpserver):
    httpserver.clear()
    return FakeSite(httpserver, pages=8, duplicates=0)


def wait_for(condition, *, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited in vain for {what}"
        time.sleep(0.02)


def test_two_workers_keep_the_crawl_delay_between_every_pair_of_requests(site, tmp_path, monkeypatch):
    site.robots = "User-agent: *\nCrawl-delay: 1\n"
    # The jobs are run by the two workers below, not queued here.
    monkeypatch.setattr(jobs_module, "scraping_job_queue", lambda job_id: None)
    user = UserFactory()
    jobs = [
        scraping_job_create(
            user=user,
            title=f"Solar {n}",
            job_type=JobType.URL_LIST,
            keywords=["solar"],
            configuration={"urls": urls, "crawl_depth": 0},
        )
        for n, urls in enumerate([site.page_urls[:6], site.page_urls[6:8]])
    ]
    env = worker_env(tmp_path)
    go = [tmp_path / "go-1", tmp_path / "go-2"]
    first = start("job", str(jobs[0].pk), env={**env, "PACING_WORKER_GO": str(go[0])})
    second = start("job", str(jobs[1].pk), env={**env, "PACING_WORKER_GO": str(go[1])})
    wait_for(lambda: all(path.with_name(path.name + ".ready").exists() for path in go), what="workers")

    go[0].touch()
    # The second worker begins once the first has read robots.txt and fetched a page, and the
    # first still has five pages to go: their requests interleave.
    wait_for(lambda: len(site.requests) >= 2, what="the first worker's requests")
    go[1].touch()
    assert finish(first) == "completed"
    assert finish(second) == "completed"

    hits = sorted(site.requests, key=lambda hit: hit.at)
    assert sorted(hit.path for hit in hits) == sorted(
        ["/robots.txt", "/robots.txt"] + [f"/pages/{n}" for n in range(1, 9)]
    )
    # The workers' requests interleave (the second robots.txt is the second worker's first
    # request), or this would prove nothing about sharing the pace.
    second_started = [hit.at for hit in hits if hit.path == "/robots.txt"][1]
    assert second_started < max(hit.at for hit in hits if hit.path in {f"/pages/{n}" for n in range(1, 7)})
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(hits)]
    # Crawl-delay: 1 between any two requests, whichever worker sent them. The server sees a
    # request a little after its turn (typically 1 +/- 0.02 s here; slack for a loaded machine);
    # with pacing per process the gaps were 0.28-0.72 s.
    assert min(gaps) >= 0.9, [round(gap, 3) for gap in gaps]


@pytest.mark.parametrize(("mode", "refused"), [("fetch", "http_error 429"), ("throttle", "429")])
def test_a_retry_after_seen_by_one_worker_holds_the_next(site, tmp_path, mode, refused):
    """`fetch`: the scraping Fetcher; `throttle`: the platform throttle (core.outbound)."""
    site.fail_next("/pages/1", status=429, retry_after="3")
    env = worker_env(tmp_path)
    go = tmp_path / "go"
    # The second worker is loaded and waiting before the first one is refused.
    second = start(mode, site.page_urls[1], env={**env, "PACING_WORKER_GO": str(go)})
    wait_for(lambda: go.with_name("go.ready").exists(), what="the second worker")

    assert finish(start(mode, site.page_urls[0], env=env)) == refused
    go.touch()
    assert finish(second) == "200"

    # Told to go at once, the second worker still waits out the Retry-After the first one got.
    assert site.times("/pages/2")[0] - site.times("/pages/1")[0] >= 2.9
