"""The runner over several hosts at once: fake sites on distinct loopback addresses (the Fetcher
paces by host name, so 127.0.0.2 and 127.0.0.3 are two hosts), each recording when requests
arrive. The fetch threads touch no database (pacing in memory, tests/settings.py), so pooled runs
work inside the test's transaction."""

import itertools

import pytest
from pytest_httpserver import HTTPServer

from scraping.models import ItemStatus, JobStatus, JobType, ScrapingJobItem
from scraping.services import runner as runner_module
from scraping.services.jobs import scraping_job_cancel, scraping_job_create
from scraping.services.runner import scraping_job_run
from tests.factories.accounts import UserFactory
from tests.factories.scraping import ScrapingJobFactory, ScrapingJobItemFactory
from tests.fakes.site import FakeSite

pytestmark = pytest.mark.django_db

DELAY = 0.3
# A request arrives at its server a little after its turn, never before it: the fake sites are
# threads of this process, so an arrival is stamped only once the server's thread gets the GIL
# from the fetch threads extracting pages, on a machine make test's other workers load. The gap
# between two arrivals may be short by the earlier one's lateness. Turns are exact; this is the
# slack for lateness: two delays, since CI saw arrivals 0.4 s after their turn, then two in a row
# 0.6 and 0.3 s late (turns 0.6, 0.9, 1.2 s; arrivals 1.227, 1.235, 1.325 s). Unpaced requests
# would still arrive together and fail every pair three or more turns apart.
LATE = 2 * DELAY


@pytest.fixture
def sites():
    """Four fake sites, one per loopback address, 4 pages each."""
    servers, made = [], []
    for number in range(2, 6):
        server = HTTPServer(host=f"127.0.0.{number}", threaded=True)
        server.start()
        servers.append(server)
        made.append(FakeSite(server, pages=4, duplicates=0))
    yield made
    for server in servers:
        server.clear()
        server.stop()


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.AI_BACKEND = "builtin"
    settings.SCRAPING_POLITENESS_DELAY = DELAY
    settings.SCRAPING_PER_HOST_CONCURRENCY = 2
    settings.SCRAPING_CONCURRENCY = 8


def make_job(urls):
    return scraping_job_create(
        user=UserFactory(),
        title="Hosts",
        job_type=JobType.URL_LIST,
        keywords=["solar"],
        configuration={"urls": urls, "crawl_depth": 0},
    )


def host_by_host(sites):
    """Every page, one host after the other: the order a strict in-order runner would follow."""
    return [url for site in sites for url in site.page_urls]


def assert_paced(site):
    """Every pair of requests to the site is at least one delay apart per turn between them."""
    arrivals = sorted(hit.at for hit in site.requests)
    for (i, earlier), (j, later) in itertools.combinations(enumerate(arrivals), 2):
        assert later - earlier >= (j - i) * DELAY - LATE, (
            site.host,
            [round(a - arrivals[0], 3) for a in arrivals],
        )


@pytest.mark.timing
def test_hosts_are_fetched_side_by_side_each_at_its_own_pace(sites):
    job = scraping_job_run(job_id=make_job(host_by_host(sites)).pk)

    assert job.status == JobStatus.COMPLETED
    assert (job.total_items, job.processed_items, job.failed_items) == (16, 16, 0)
    for site in sites:
        assert sorted(site.paths()) == sorted(["/robots.txt", "/pages/1", "/pages/2", "/pages/3", "/pages/4"])
        assert_paced(site)
        assert site.max_in_flight <= 2  # SCRAPING_PER_HOST_CONCURRENCY
    # Overlap: every host was started at once (the URLs list them host after host; in order,
    # the last host would have waited for the first ones' delays), and while one host waited
    # for its next turn the others were being fetched.
    firsts = [min(hit.at for hit in site.requests) for site in sites]
    assert max(firsts) - min(firsts) < DELAY / 2
    everything = sorted((hit.at, site.host) for site in sites for hit in site.requests)
    for site in sites:
        times = [at for at, host in everything if host == site.host]
        others = [at for at, host in everything if host != site.host and times[0] < at < times[-1]]
        # At least pages 1-3 of each of the three other hosts came in between.
        assert len(others) >= 3 * 3, site.host


@pytest.mark.timing
def test_a_slow_host_does_not_hold_up_the_others(settings, sites):
    # Three fetch threads: the slow host may take two (its per-host limit), never the third.
    settings.SCRAPING_CONCURRENCY = 3
    slow, *fast = sites
    slow.latency = 1.0  # every answer, robots.txt included
    job = scraping_job_run(job_id=make_job(host_by_host(sites)).pk)

    assert job.status == JobStatus.COMPLETED
    assert job.processed_items == 16
    assert slow.max_in_flight <= 2
    slow_pages = [hit.at for hit in slow.requests if hit.path.startswith("/pages/")]
    for site in fast:
        assert_paced(site)
        # Every page of the fast hosts arrived before the slow host's last page was asked for.
        assert max(site.times(f"/pages/{n}")[0] for n in range(1, 5)) < max(slow_pages)


def test_items_of_one_host_go_in_the_order_found_and_hosts_take_turns():
    job = ScrapingJobFactory()
    urls = ["http://a.test/1", "http://a.test/2", "http://b.test/1", "http://a.test/3", "http://c.test/1"]
    for url in urls:  # created one after the other: the order found
        ScrapingJobItemFactory(job=job, url=url)
    pending = runner_module._PendingItems(ScrapingJobItem.objects.filter(job=job), per_host=1)

    first = [pending.take() for _ in range(4)]
    # One request per host at a time: a, b, c, then nothing until one is released.
    assert [item.url if item else None for item in first] == [urls[0], urls[2], urls[4], None]
    pending.release(first[1])  # b is done: nothing of b's is left, and a and c are busy
    assert pending.take() is None
    pending.release(first[0])
    assert pending.take().url == urls[1]  # a's next, in the order found


@pytest.mark.timing
def test_cancelling_a_pooled_run_stops_taking_items(settings, sites, monkeypatch):
    settings.SCRAPING_CONCURRENCY = 4
    job = make_job(host_by_host(sites))
    handled = []
    handle = runner_module._JobRun._handle

    def handle_then_cancel(self, item, *args, **kwargs):
        handle(self, item, *args, **kwargs)
        handled.append(item.url)
        if len(handled) == 3:
            scraping_job_cancel(job=job, actor=job.user)

    monkeypatch.setattr(runner_module._JobRun, "_handle", handle_then_cancel)
    result = scraping_job_run(job_id=job.pk)

    assert result.status == JobStatus.CANCELLED
    assert result.completed_at is not None
    statuses = dict(ScrapingJobItem.objects.filter(job=job).values_list("url", "status"))
    requested = {site.url(hit.path) for site in sites for hit in site.requests if hit.path != "/robots.txt"}
    # What was asked for was stored (the fetches in flight finish and are recorded), what was not
    # stays pending; the run started at most one more item per fetch thread after the cancellation.
    assert {statuses[url] for url in requested} == {ItemStatus.STORED}
    assert all(status == ItemStatus.PENDING for url, status in statuses.items() if url not in requested)
    assert 3 <= len(requested) <= 3 + 4
    assert result.processed_items == len(requested)
    assert len(handled) == len(requested)
