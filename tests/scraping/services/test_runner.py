"""The scraping job runner against a fake web site on a local (threaded) HTTP server.

Jobs go through the real pieces: job settings, the sources, the Fetcher (robots.txt, politeness,
timeouts, retries), extraction and Django's storage. Only the Fetcher's timeout and retry backoff
are shortened, so a hanging page and a 500 do not take seconds each. The runner's fetch threads
touch no database, so pooled runs work inside the test's transaction.
"""

import hashlib
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from core.retry import RetryPolicy
from scraping.fetching import Fetcher
from scraping.models import (
    Artifact,
    ArtifactType,
    ContentExtraction,
    ItemStatus,
    JobStatus,
    JobType,
    MetadataTag,
    ScrapingJob,
    ScrapingJobItem,
)
from scraping.services import jobs as jobs_module
from scraping.services import runner as runner_module
from scraping.services.jobs import (
    scraping_job_cancel,
    scraping_job_create,
    scraping_job_retry,
    scraping_jobs_resume_stale,
)
from scraping.services.runner import scraping_job_run, url_normalise
from scraping.services.storage import artifact_storage_key
from scraping.tasks import run_scraping_job
from tests.factories.accounts import UserFactory
from tests.factories.scraping import ArtifactFactory, ScrapingJobFactory
from tests.fakes.base import make_httpserver  # noqa: F401  (threaded: a hanging page blocks nothing)
from tests.fakes.site import FakeSite

pytestmark = pytest.mark.django_db

FAST_RETRY = RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0, jitter=0.0)
DELAY = 0.08
# Far above a local page's answer even on a loaded CI machine (0.5 s was not: a page arrived
# 0.55 s late once and was fetched twice); the slow page hangs well past it.
TIMEOUT = 1.5
HANG = 4.0


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.AI_BACKEND = "builtin"
    settings.SCRAPING_POLITENESS_DELAY = 0.0
    settings.SCRAPING_CONCURRENCY = 1


@pytest.fixture
def site(httpserver):
    httpserver.clear()
    return FakeSite(httpserver, hang_seconds=HANG)


@pytest.fixture
def fast_fetcher(monkeypatch):
    """The runner's Fetcher with a short timeout and no backoff; records every URL it is asked for."""
    asked: list[str] = []

    class Recording(Fetcher):
        def fetch(self, url):
            asked.append(url)
            return super().fetch(url)

    def build(*, policy, **kwargs):
        return Recording(policy=replace(policy, timeout=TIMEOUT, retry=FAST_RETRY), **kwargs)

    monkeypatch.setattr(runner_module, "Fetcher", build)
    return asked


def make_job(*, user=None, job_type=JobType.URL_LIST, keywords=("solar",), **configuration) -> ScrapingJob:
    """A job created through the service, its run not yet started."""
    configuration.setdefault("crawl_depth", 0)
    return scraping_job_create(
        user=user or UserFactory(),
        title="Solar",
        job_type=job_type,
        keywords=list(keywords),
        configuration=configuration,
    )


def item_statuses(job) -> dict[str, str]:
    return dict(ScrapingJobItem.objects.filter(job=job).values_list("url", "status"))


# The must-show run --------------------------------------------------------------------------------


@pytest.mark.timing
def test_sitemap_job_over_the_fake_site(settings, site, fast_fetcher, django_capture_on_commit_callbacks):
    """30 pages (5 duplicate bodies), a robots.txt disallow, a 404, a 500, a page past the timeout
    and a PDF, run end to end (created, queued on commit, run by django-q in sync mode) with
    fetch threads and a politeness delay."""
    settings.SCRAPING_CONCURRENCY = 4
    settings.SCRAPING_POLITENESS_DELAY = DELAY
    with django_capture_on_commit_callbacks(execute=True):
        job = make_job(job_type=JobType.SITEMAP, sitemap_urls=[site.sitemap_url])
    job.refresh_from_db()

    # Counters are exact: 25 unique pages + the PDF stored, 5 duplicates skipped, the 404, the 500
    # and the slow page failed; the disallowed page is blocked and counted in none of them.
    assert job.status == JobStatus.COMPLETED
    assert (job.total_items, job.processed_items, job.skipped_items, job.failed_items) == (35, 26, 5, 3)
    assert job.progress == 100
    assert job.started_at and job.completed_at and job.attempts == 1
    assert job.expanded_keywords[0] == "solar"

    statuses = item_statuses(job)
    assert statuses[site.disallowed_urls[0]] == ItemStatus.BLOCKED
    assert {statuses[url] for url in site.unique_page_urls} == {ItemStatus.STORED}
    assert {statuses[url] for url in site.duplicate_urls} == {ItemStatus.DUPLICATE}
    assert statuses[site.pdf_url] == ItemStatus.STORED
    failures = {item.url: item for item in ScrapingJobItem.objects.filter(job=job, status=ItemStatus.FAILED)}
    assert set(failures) == {site.missing_url, site.error_url, site.slow_url}
    assert failures[site.missing_url].http_status == 404
    assert failures[site.error_url].http_status == 500
    assert "did not answer within 1.5 s" in failures[site.slow_url].error_message
    assert all(item.error_message for item in failures.values())

    # Robots respected: the disallowed page was never requested; robots.txt read once.
    assert site.count("/private/secret.html") == 0
    assert site.count("/robots.txt") == 1
    # Each page fetched once (the 500 and the slow page were retried: transient).
    assert all(site.count(f"/pages/{n}") == 1 for n in range(1, 31))
    # Politeness: the Fetcher reserves the starts of requests to one host at least DELAY apart, so
    # the k-th request to arrive came no sooner than k * DELAY after the first (arrivals may be late,
    # e.g. a fetch thread waiting for the GIL, never early). Slack for the first one's own lateness.
    arrivals = sorted(hit.at for hit in site.requests)
    assert len(arrivals) >= 38
    assert all(at - arrivals[0] >= k * DELAY - DELAY / 2 for k, at in enumerate(arrivals))

    # The right artifacts, stored once each: one per distinct body, bytes in storage at their key.
    artifacts = list(Artifact.objects.filter(user=job.user))
    assert len(artifacts) == 26
    assert len({a.content_hash for a in artifacts}) == 26
    for artifact in artifacts:
        assert artifact.minio_path == artifact_storage_key(
            user_id=job.user_id, content_hash=artifact.content_hash
        )
        with default_storage.open(artifact.minio_path) as stored:
            body = stored.read()
        assert hashlib.sha256(body).hexdigest() == artifact.content_hash
        assert artifact.file_size == len(body)
        assert artifact.job_id == job.pk
    duplicates = ScrapingJobItem.objects.filter(job=job, status=ItemStatus.DUPLICATE).select_related(
        "artifact"
    )
    for item in duplicates:
        assert item.artifact.source_url == site.duplicate_of[item.url]

    page = Artifact.objects.get(source_url=site.page_urls[0])
    assert page.artifact_type == ArtifactType.WEB_PAGE
    assert page.title and "report 1" in page.title.lower()
    assert "solar" in page.content_text.lower()
    assert "solar" in page.keywords
    tags = set(MetadataTag.objects.filter(artifact=page).values_list("tag_type", "tag_key", "tag_value"))
    assert ("metadata", "author", "Author 1") in tags
    assert ("metadata", "language", "en") in tags
    assert ("metadata", "source", "sitemap") in tags
    assert ("keyword", "matched", "solar") in tags
    assert ("metadata", "domain", site.host) in tags
    assert ContentExtraction.objects.filter(artifact=page).exists()
    for score in ContentExtraction.objects.values_list("confidence_score", flat=True):
        assert score is None or 0 <= score <= 1

    pdf = Artifact.objects.get(source_url=site.pdf_url)
    assert pdf.artifact_type == ArtifactType.PDF
    assert pdf.mime_type == "application/pdf"
    assert "Solar energy report" in pdf.content_text


# Cancelling, retrying, resuming -------------------------------------------------------------------


def test_cancelled_job_stops_at_the_next_item(site, monkeypatch, django_capture_on_commit_callbacks):
    job = make_job(urls=site.page_urls[:10])
    fetched: list[str] = []

    class Cancelling(Fetcher):
        def fetch(self, url):
            fetched.append(url)
            if len(fetched) == 3:
                scraping_job_cancel(job=job, actor=job.user)
            return super().fetch(url)

    result = scraping_job_run(job_id=job.pk, fetcher_factory=lambda policy: Cancelling(policy=policy))
    assert result.status == JobStatus.CANCELLED
    assert result.completed_at is not None
    assert fetched == site.page_urls[:3]
    assert (result.processed_items, result.total_items) == (3, 10)
    statuses = item_statuses(job)
    assert [statuses[url] for url in site.page_urls[3:10]] == [ItemStatus.PENDING] * 7
    assert all(site.count(f"/pages/{n}") == 0 for n in range(4, 11))


def test_cancelling_a_pending_job_means_it_never_runs(site, fast_fetcher):
    job = make_job(urls=site.page_urls[:3])
    scraping_job_cancel(job=job, actor=job.user)
    assert scraping_job_run(job_id=job.pk) is None
    assert fast_fetcher == []
    assert not ScrapingJobItem.objects.filter(job=job).exists()


def test_retry_runs_only_the_failed_items(site, fast_fetcher, django_capture_on_commit_callbacks):
    urls = [*site.page_urls[:3], site.error_url, site.missing_url]
    job = make_job(urls=urls)
    job = scraping_job_run(job_id=job.pk)
    assert job.status == JobStatus.COMPLETED
    assert (job.processed_items, job.failed_items) == (3, 2)

    site.set("/error", "<html><body><p>Recovered page about solar power.</p></body></html>")
    fast_fetcher.clear()
    with django_capture_on_commit_callbacks(execute=True):  # retry queues the run: sync django-q runs it
        scraping_job_retry(job=job, actor=job.user)
    job.refresh_from_db()

    assert sorted(fast_fetcher) == sorted([site.error_url, site.missing_url])
    assert job.status == JobStatus.COMPLETED
    assert (job.total_items, job.processed_items, job.failed_items, job.skipped_items) == (5, 4, 1, 0)
    assert all(site.count(f"/pages/{n}") == 1 for n in range(1, 4))
    assert item_statuses(job)[site.error_url] == ItemStatus.STORED
    assert Artifact.objects.filter(user=job.user).count() == 4


class Crash(BaseException):
    """The worker dying mid-run (not an error the runner could record)."""


def test_a_crash_mid_run_resumes_without_duplicates(site, monkeypatch, django_capture_on_commit_callbacks):
    job = make_job(urls=site.page_urls)  # 30 URLs, the last 5 duplicate bodies
    calls = []

    class Dying(Fetcher):
        def fetch(self, url):
            calls.append(url)
            if len(calls) == 13:
                raise Crash()
            return super().fetch(url)

    with pytest.raises(Crash):
        scraping_job_run(job_id=job.pk, fetcher_factory=lambda policy: Dying(policy=policy))
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # as a killed worker leaves it
    assert job.processed_items == 12
    assert Artifact.objects.filter(user=job.user).count() == 12

    later = timezone.now() + timedelta(seconds=job_timeout() + 1)
    with django_capture_on_commit_callbacks(execute=True):  # the reaper queues it, sync django-q runs it
        assert scraping_jobs_resume_stale(now=later) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.attempts == 2
    assert (job.total_items, job.processed_items, job.skipped_items, job.failed_items) == (30, 25, 5, 0)
    assert Artifact.objects.filter(user=job.user).count() == 25
    # Pages stored before the crash were not fetched again.
    assert all(site.count(f"/pages/{n}") == 1 for n in range(1, 31))


def job_timeout() -> int:
    from django.conf import settings

    return int(settings.SCRAPING_JOB_TIMEOUT)


def test_a_long_run_hands_over_to_a_new_task(
    site, fast_fetcher, monkeypatch, django_capture_on_commit_callbacks
):
    job = make_job(urls=site.page_urls[:6])
    ticks = iter(range(1000))
    queued = []
    monkeypatch.setattr(jobs_module, "async_task", lambda func, job_id, **kwargs: queued.append(job_id))
    with django_capture_on_commit_callbacks(execute=True):
        job = scraping_job_run(job_id=job.pk, time_budget=2.5, clock=lambda: next(ticks))
    assert job.status == JobStatus.PENDING
    assert job.attempts == 0
    assert job.processed_items == 2
    assert queued == [str(job.pk)]
    job = scraping_job_run(job_id=job.pk)
    assert job.status == JobStatus.COMPLETED
    assert job.processed_items == 6
    assert len(fast_fetcher) == 6


# Discovery, links, duplicates, finishing ----------------------------------------------------------


def test_discovery_failure_fails_the_job(settings, fast_fetcher):
    settings.SCRAPING_SEARCH_URL = ""
    job = make_job(job_type=JobType.WEB_PAGE)
    job = scraping_job_run(job_id=job.pk)
    assert job.status == JobStatus.FAILED
    assert job.error_message.startswith("Finding URLs failed")
    assert job.total_items == 0
    assert job.completed_at is not None


def test_every_item_failing_fails_the_job(site, fast_fetcher):
    job = make_job(urls=[site.missing_url, site.error_url])
    job = scraping_job_run(job_id=job.pk)
    assert job.status == JobStatus.FAILED
    assert job.failed_items == 2
    assert "All 2 fetched items failed" in job.error_message


def test_only_blocked_items_still_complete(site, fast_fetcher):
    job = make_job(urls=site.disallowed_urls)
    job = scraping_job_run(job_id=job.pk)
    assert job.status == JobStatus.COMPLETED
    assert (job.total_items, job.processed_items, job.failed_items, job.skipped_items) == (1, 0, 0, 0)


def test_links_are_followed_on_the_same_site_up_to_max_items(site, fast_fetcher):
    off_site = site.on_other_host(site.page_urls[0])
    site.set(
        "/",
        "<html><body><p>Solar index.</p>"
        + "".join(f'<a href="{url}">p</a>' for url in [off_site, *site.page_urls])
        + "</body></html>",
    )
    job = make_job(urls=[site.url("/")], crawl_depth=1, max_items=8)
    job = scraping_job_run(job_id=job.pk)
    items = list(ScrapingJobItem.objects.filter(job=job).order_by("created_at", "pk"))
    assert job.total_items == len(items) == 8
    assert items[0].depth == 0
    assert [item.depth for item in items[1:]] == [1] * 7
    assert off_site not in {item.url for item in items}
    # Depth 1 reached crawl_depth: the pages' own links (home, next page) were not followed.
    assert job.status == JobStatus.COMPLETED
    assert job.processed_items == 8


def test_duplicate_of_an_earlier_artifact_merges_keywords(site, fast_fetcher):
    user = UserFactory()
    first = make_job(user=user, urls=site.page_urls[:1], keywords=("solar",))
    scraping_job_run(job_id=first.pk)
    original = Artifact.objects.get(user=user)
    assert "market" not in original.keywords
    second = make_job(user=user, urls=site.page_urls[:1], keywords=("market", "nothing-like-this"))
    second = scraping_job_run(job_id=second.pk)
    assert (second.processed_items, second.skipped_items) == (0, 1)
    original.refresh_from_db()
    assert original.keywords[0] == "solar"
    assert "market" in original.keywords  # every fake page speaks of "the solar market report"
    assert "nothing-like-this" not in original.keywords
    assert ScrapingJobItem.objects.get(job=second).artifact_id == original.pk
    # Another user's identical content is theirs to store.
    other = make_job(urls=site.page_urls[:1])
    assert scraping_job_run(job_id=other.pk).processed_items == 1


def test_a_concurrent_duplicate_becomes_a_duplicate(site, fast_fetcher, monkeypatch):
    job = make_job(urls=site.page_urls[:1])
    real_extract = runner_module.extract

    def racing_extract(page):
        # Another worker stores the same bytes for this user between the check and the insert.
        ArtifactFactory(
            job=None, user=job.user, content_hash=hashlib.sha256(page.content).hexdigest(), keywords=[]
        )
        return real_extract(page)

    monkeypatch.setattr(runner_module, "extract", racing_extract)
    job = scraping_job_run(job_id=job.pk)
    assert job.status == JobStatus.COMPLETED
    assert (job.processed_items, job.skipped_items) == (0, 1)
    assert Artifact.objects.filter(user=job.user).count() == 1


def test_language_filter_blocks_other_languages(site, fast_fetcher):
    job = make_job(urls=site.page_urls[:2], languages=["de"])
    job = scraping_job_run(job_id=job.pk)
    assert set(item_statuses(job).values()) == {ItemStatus.BLOCKED}
    assert job.processed_items == 0
    assert not Artifact.objects.filter(user=job.user).exists()


def test_claim_is_a_no_op_unless_pending(fast_fetcher):
    for status in (JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
        job = ScrapingJobFactory(status=status, attempts=1)
        assert scraping_job_run(job_id=job.pk) is None
        job.refresh_from_db()
        assert (job.status, job.attempts) == (status, 1)
    assert run_scraping_job(str(ScrapingJobFactory(status=JobStatus.COMPLETED).pk)) is None
    assert fast_fetcher == []


def test_task_entry_point_returns_the_status(site, fast_fetcher):
    job = make_job(urls=site.page_urls[:1])
    assert run_scraping_job(str(job.pk)) == JobStatus.COMPLETED


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("HTTPS://Example.ORG/Path?q=A#frag", "https://example.org/Path?q=A"),
        ("http://example.org", "http://example.org/"),
        ("http://User@Example.org:8080/x", "http://User@example.org:8080/x"),
        ("ftp://example.org/file", None),
        ("/relative", None),
    ],
)
def test_url_normalise(raw, normalised):
    assert url_normalise(raw) == normalised


def test_paper_job_stores_papers_with_their_metadata(httpserver, settings, fast_fetcher):
    from tests.fakes.arxiv import FakeArxiv

    httpserver.clear()
    httpserver.expect_request("/robots.txt").respond_with_data("not found", status=404)  # no rules
    fake = FakeArxiv(httpserver)
    fake.add_paper(
        "2401.01234",
        title="Solar cells at scale",
        abstract="How solar cells scale.",
        authors=["Ada Example", "Bo Sample"],
        published="2024-01-05",
        categories=["physics.app-ph"],
        doi="10.1000/xyz",
    )
    settings.ARXIV_API_URL = fake.base_url
    job = make_job(job_type=JobType.PAPER, keywords=("solar",), paper_sources=["arxiv"])
    job = scraping_job_run(job_id=job.pk)
    assert job.status == JobStatus.COMPLETED
    assert job.processed_items == 1
    paper = Artifact.objects.get(user=job.user)
    assert paper.artifact_type == ArtifactType.PAPER
    assert paper.title == "Solar cells at scale"
    assert paper.mime_type == "application/pdf"
    tags = set(MetadataTag.objects.filter(artifact=paper).values_list("tag_type", "tag_key", "tag_value"))
    assert ("source", "doi", "10.1000/xyz") in tags
    assert ("source", "authors", "Ada Example, Bo Sample") in tags
    assert ("metadata", "source", "arxiv") in tags
