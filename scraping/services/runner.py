"""Running one scraping job: claim, expand keywords, discover URLs, fetch and store each, finish.

`scraping_job_run(job_id=...)` is the task body. Every decision is written to the database as it is
made, so a run that dies (worker killed, machine lost) is resumed by running the job again: the
reaper (`scraping_jobs_resume_stale`) puts it back to pending and queues it.

1. Claim: a conditional UPDATE pending -> running (no joins in its filter), attempts + 1. A job that
   is not pending (claimed by another worker, cancelled, finished) is left alone.
2. Keywords are expanded once (`expanded_keywords` null -> `keywords_expand`).
3. Discovery runs once, while the job has no items: the job type's source lists candidate URLs,
   which become `ScrapingJobItem` rows (URL normalised: lower-case scheme and host, no fragment;
   one row per normalised URL and job), at most `max_items`, inserted in one transaction. A
   discovery failure fails the job with its message; a partial one (`SourceError.partial`: some
   inputs failed after others gave URLs) keeps the URLs and leaves the message on the job.
4. Pending items are processed host by host: each host's items in the order they were found,
   the hosts in turns (`_PendingItems`), never more than SCRAPING_PER_HOST_CONCURRENCY of the
   run's requests in flight to one host. Fetching runs in a thread pool (SCRAPING_CONCURRENCY, at
   least the number of hosts a job usually spans, so that every host can be in flight while each
   keeps its politeness delay, which the Fetcher takes turns for cluster-wide). The threads fetch
   and extract (CPU work on the page alone); all database work stays in the job's thread, which
   stores the finished results before starting the hosts' next items. After each batch of
   results one UPDATE of the job writes its counters and progress, is its heartbeat and reads a
   cancellation; without one in the last BEAT_SECONDS, the run writes a heartbeat before starting
   an item. Outcomes:
   - blocked (robots.txt, domain not allowed, language not asked for): the item is `blocked` and
     counts in no counter: it was never the job's to fetch;
   - fetch failed: `failed` with the error and HTTP status; `failed_items` + 1;
   - fetched, and the user already has an artifact with the same SHA-256: `duplicate`, linked to
     it, the job's matching keywords merged into it; `skipped_items` + 1;
   - else the bytes are stored at `artifact_storage_key` (skipped if the key exists: a crash
     between the write and the row) and the Artifact, its ContentExtraction and MetadataTag rows
     are created together with the item's status, in one transaction; `processed_items` + 1.
     A concurrent duplicate (the unique (user, content_hash) constraint) turns into the
     duplicate case.
   Items that follow links (government crawl) add their same-site links as new items, one level
   deeper, while the depth is below `crawl_depth` and the job has fewer than `max_items`.
5. Finish: `completed` (even with some failed items), or `failed` when items failed and none was
   stored or found duplicate; `cancelled` when a cancellation was seen. Counters are recounted
   from the items at the end (a run that died between storing items and writing their counters
   leaves them behind until then).

A run that has worked for half of SCRAPING_JOB_TIMEOUT hands over: the job goes back to pending and
a new task is queued (so no single task outlives the broker's timeout); attempts restart at 0,
since attempts count runs that died, not slices of a long job.
"""

import hashlib
import json
import logging
import re
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import Count, DateTimeField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from scraping.extraction import Extracted, extract
from scraping.fetching import FetchedPage, Fetcher, FetchError, FetchPolicy
from scraping.job_options import JobSettings, job_settings_parse
from scraping.keywords import keywords_expand
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
from scraping.services.notifications import scraping_job_ended_notify
from scraping.services.storage import artifact_bytes_store, artifact_storage_key
from scraping.sources import Candidate, SourceError, source_for

logger = logging.getLogger(__name__)

FetcherFactory = Callable[[FetchPolicy], Fetcher]

# How often a run waiting on its fetch threads refreshes its heartbeat and looks for a cancellation.
POLL_SECONDS = 10.0
# Before starting an item the run writes its heartbeat (and reads a cancellation) unless it did
# within this many seconds: recording each batch of results does it too (`_record_progress`).
BEAT_SECONDS = 1.0
# Pending items read at a time to choose the next host from (see _PendingItems).
PENDING_WINDOW = 1000
# The interpreter's thread switch interval while fetch threads run (default 5 ms). The job thread
# makes ~8 database round trips per stored page, and after each it waits for the GIL while a
# fetch thread extracts a page: up to a whole interval each time. At 1 ms the job's thread spent
# 32 ms a stored page instead of 47 in `scrape_many_hosts` (docs/performance.md). Only lowered.
SWITCH_INTERVAL = 0.001
# Item metadata key (never copied into tags) marking a candidate whose links the run follows.
FOLLOW_KEY = "_follow_links"
KEYWORD_MAX_CHARS = 100
TITLE_MAX_CHARS = 500
MIME_MAX_CHARS = 100
TAG_KEY_MAX_CHARS = 100
INSERT_BATCH = 500
# Page types a government crawl or a paper source turns into its own artifact type.
DOCUMENT_TYPES = {ArtifactType.WEB_PAGE, ArtifactType.PDF}


# URLs ---------------------------------------------------------------------------------------------


def url_normalise(url: str) -> str | None:
    """Lower-case scheme and host, no fragment, "/" for an empty path; None for what is not an
    absolute http(s) URL (such a candidate is dropped)."""
    try:
        parts = urlsplit(url.strip())
    except (ValueError, AttributeError):
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    netloc = parts.netloc
    host_start = netloc.rfind("@") + 1
    netloc = netloc[:host_start] + netloc[host_start:].lower()
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def url_hash(normalised_url: str) -> str:
    return hashlib.sha256(normalised_url.encode()).hexdigest()


def _site(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


# Claiming -----------------------------------------------------------------------------------------


def scraping_job_run(
    *,
    job_id,
    fetcher_factory: FetcherFactory | None = None,
    time_budget: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ScrapingJob | None:
    """Claim the pending job and run it to its end (or hand over after `time_budget` seconds,
    default half of SCRAPING_JOB_TIMEOUT). Returns the job as it ended, or None when there was
    nothing to claim (a redelivered message, a cancelled or finished job).

    `fetcher_factory(policy)` builds the run's Fetcher (tests pass one with a short timeout or a
    recording sleep); `clock` measures the budget.
    """
    now = timezone.now()
    claimed = ScrapingJob.objects.filter(pk=job_id, status=JobStatus.PENDING).update(
        status=JobStatus.RUNNING,
        started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())),
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    if not claimed:
        logger.info("Scraping job %s is not pending (claimed, cancelled or finished): nothing to do", job_id)
        return None
    job = ScrapingJob.objects.select_related("user").get(pk=job_id)
    if time_budget is None:
        time_budget = float(django_settings.SCRAPING_JOB_TIMEOUT) / 2
    run = _JobRun(
        job=job,
        fetcher_factory=fetcher_factory or (lambda policy: Fetcher(policy=policy)),
        deadline=clock() + time_budget,
        clock=clock,
    )
    run.run()
    job.refresh_from_db()
    return job


def _job_settings(job: ScrapingJob) -> JobSettings:
    values = dict(job.configurations.values_list("config_key", "config_value"))
    return job_settings_parse(job_type=job.job_type, values=values)


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _jsonable(value: Any) -> Any:
    """Source metadata may hold dates or other objects; a JSON column takes their text."""
    return json.loads(json.dumps(value, default=str))


def _confidence(value) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return min(max(number, Decimal(0)), Decimal(1)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def keywords_matched(*, keywords: Iterable[str], text: str) -> list[str]:
    """The keywords found in `text`, case-insensitively, as whole words (so "art" does not match
    "party"), in the keywords' order."""
    found = []
    for keyword in keywords:
        pattern = r"(?<!\w)" + r"\s+".join(re.escape(part) for part in keyword.split()) + r"(?!\w)"
        if keyword.strip() and re.search(pattern, text, re.IGNORECASE):
            found.append(keyword)
    return found


def _host(url: str) -> str:
    """The host as the Fetcher paces it (core.pacing keys: the host name, without the port)."""
    return (urlsplit(url).hostname or "").lower()


class _PendingItems:
    """The job's pending items, handed out host by host.

    Items are read in the order they were found (created_at, pk), PENDING_WINDOW at a time, and
    each host's items go out in that order. `take()` chooses the host: the fewest of this run's
    requests in flight to it first, then the one whose last item was handed out longest ago
    (hosts not started yet first, in the order found): a round robin over the hosts. A host that
    already has `per_host` requests in flight is passed over (the Fetcher would only park a
    thread on it). So a job over one host goes in the order found, and a job over many keeps
    every host busy at its own pace instead of queueing its pages behind one host's delay.
    """

    def __init__(self, items, *, per_host: int):
        self.items = items
        self.per_host = max(1, per_host)
        self.queues: dict[str, deque[tuple[int, ScrapingJobItem]]] = {}
        self.load: Counter[str] = Counter()
        self.taken: set = set()  # pks handed out and not yet released
        self.turns = 0
        self.last_turn: dict[str, int] = {}  # host -> `turns` when its last item was handed out
        self.unread = True  # the database may hold pending items not in `queues`

    def add_later(self) -> None:
        """Items were added (followed links): read them at the next take that needs them."""
        self.unread = True

    def take(self) -> ScrapingJobItem | None:
        item = self._choose()
        if item is None and self.unread:
            self._read()
            item = self._choose()
        if item is not None:
            host = _host(item.url)
            self.load[host] += 1
            self.turns += 1
            self.last_turn[host] = self.turns
            self.taken.add(item.pk)
        return item

    def release(self, item: ScrapingJobItem) -> None:
        """The item is closed: its host has one request fewer in flight."""
        self.load[_host(item.url)] -= 1
        self.taken.discard(item.pk)

    def _read(self) -> None:
        rows = list(
            self.items.filter(status=ItemStatus.PENDING)
            .exclude(pk__in=list(self.taken))
            .order_by("created_at", "pk")[:PENDING_WINDOW]
        )
        self.queues = {}
        for position, item in enumerate(rows):
            self.queues.setdefault(_host(item.url), deque()).append((position, item))
        self.unread = len(rows) == PENDING_WINDOW

    def _choose(self) -> ScrapingJobItem | None:
        best_host, best_key = None, None
        for host, queue in self.queues.items():
            busy = self.load[host]
            if busy >= self.per_host:
                continue
            key = (busy, self.last_turn.get(host, 0), queue[0][0])
            if best_key is None or key < best_key:
                best_host, best_key = host, key
        if best_host is None:
            return None
        queue = self.queues[best_host]
        _position, item = queue.popleft()
        if not queue:
            del self.queues[best_host]
        return item


class _JobRun:
    """One claimed job, run in the claiming thread; only fetching and extracting go to the pool."""

    def __init__(
        self,
        *,
        job: ScrapingJob,
        fetcher_factory: FetcherFactory,
        deadline: float,
        clock: Callable[[], float],
    ):
        self.job = job
        self.fetcher_factory = fetcher_factory
        self.deadline = deadline
        self.clock = clock
        self.items = ScrapingJobItem.objects.filter(job_id=job.pk)
        self.rows = ScrapingJob.objects.filter(pk=job.pk)
        self.cancelled = False
        self.stopped = False
        self.handed_over = False
        self.beaten_at: float | None = None  # time.monotonic() of the last heartbeat written
        self.total = 0  # the job's items, and those no longer pending (for progress)
        self.done = 0
        self.unsaved: Counter[str] = Counter()  # counter increments not yet written to the job
        self.closed_counter: str | None = None  # the counter of the item closed last

    # The whole run --------------------------------------------------------------------------------

    def run(self) -> None:
        fetcher = None
        try:
            self.settings = _job_settings(self.job)
            self.keywords = self._expand_keywords()
            policy = FetchPolicy(
                obey_robots=self.settings.follow_robots,
                allowed_domains=frozenset(self.settings.allowed_domains),
            )
            self.policy = policy
            fetcher = self.fetcher_factory(policy)
            self.fetcher = fetcher
            if not self.items.exists():
                try:
                    self._discover()
                except Exception as exc:
                    logger.warning("Scraping job %s: discovery failed: %s", self.job.pk, exc)
                    self._fail(f"Finding URLs failed: {_error_text(exc)}")
                    return
            self._process()
        except Exception as exc:
            logger.exception("Scraping job %s failed unexpectedly", self.job.pk)
            self._fail_safely(_error_text(exc))
            return
        finally:
            if fetcher is not None:
                fetcher.close()
        # BaseException (the worker being killed, a crash) leaves the job running: the reaper
        # resumes it from its items.
        self._finish()

    # Steps ----------------------------------------------------------------------------------------

    def _expand_keywords(self) -> list[str]:
        if self.job.expanded_keywords is not None:
            return list(self.job.expanded_keywords)
        expanded = (
            keywords_expand(keywords=self.job.keywords, user=self.job.user) if self.job.keywords else []
        )
        self.rows.filter(expanded_keywords__isnull=True).update(
            expanded_keywords=expanded, updated_at=timezone.now()
        )
        self.job.expanded_keywords = expanded
        return list(expanded)

    def _discover(self) -> None:
        source = source_for(self.job.job_type)
        candidates: dict[str, ScrapingJobItem] = {}
        warning = None
        found = source.discover(settings=self.settings, keywords=self.keywords, fetcher=self.fetcher)
        try:
            for seen, candidate in enumerate(found, start=1):
                if len(candidates) >= self.settings.max_items:
                    break
                item = self._item_for(candidate)
                if item is not None:
                    candidates.setdefault(item.url_hash, item)
                if seen % 100 == 0 and not self._beat():
                    return  # cancelled while searching: nothing is stored, the job ends cancelled
        except SourceError as exc:
            # Some inputs failed after others yielded URLs: keep those, say what failed.
            if not exc.partial or not candidates:
                raise
            warning = _error_text(exc)
        with transaction.atomic():
            self._insert(list(candidates.values()))
            total = self.items.count()
            extra = {"error_message": warning} if warning else {}
            self.rows.update(total_items=total, updated_at=timezone.now(), **extra)
        logger.info("Scraping job %s found %d URLs", self.job.pk, total)

    def _item_for(self, candidate: Candidate) -> ScrapingJobItem | None:
        url = url_normalise(candidate.url)
        if url is None:
            logger.info("Scraping job %s: dropped a candidate that is not an http(s) URL", self.job.pk)
            return None
        metadata = _jsonable(dict(candidate.metadata or {}))
        if candidate.follow_links:
            metadata[FOLLOW_KEY] = True
        keyword = (candidate.keyword or "")[:KEYWORD_MAX_CHARS] or None
        return ScrapingJobItem(
            job_id=self.job.pk,
            url=url,
            url_hash=url_hash(url),
            source=(candidate.source or self.job.job_type)[:50],
            depth=max(0, int(candidate.depth or 0)),
            keyword=keyword,
            metadata=metadata,
        )

    def _insert(self, items: list[ScrapingJobItem]) -> None:
        for start in range(0, len(items), INSERT_BATCH):
            # ignore_conflicts: a URL the job already has (uq_scraping_job_items_job_url) is skipped.
            ScrapingJobItem.objects.bulk_create(items[start : start + INSERT_BATCH], ignore_conflicts=True)

    # Processing -----------------------------------------------------------------------------------

    def _process(self) -> None:
        concurrency = max(1, int(getattr(django_settings, "SCRAPING_CONCURRENCY", 1)))
        pool = ThreadPoolExecutor(concurrency, thread_name_prefix="scrape") if concurrency > 1 else None
        switch_interval = sys.getswitchinterval()
        if pool is not None:
            sys.setswitchinterval(min(switch_interval, SWITCH_INTERVAL))
        pending = self.pending = _PendingItems(self.items, per_host=self.policy.per_host_concurrency)
        self.total = self.items.count()
        self.done = self.total - self.items.filter(status=ItemStatus.PENDING).count()
        in_flight: dict[Future, ScrapingJobItem] = {}
        try:
            while True:
                while not self._stopping() and len(in_flight) < concurrency:
                    if self.clock() >= self.deadline:
                        self.handed_over = True
                        break
                    item = pending.take()
                    if item is None:
                        break
                    if self._beat_due() and not self._beat():
                        break
                    if pool is None:
                        self._handle(item, self._fetch(item.url))
                        self._record_progress()
                        pending.release(item)
                    else:
                        in_flight[pool.submit(self._fetch_in_thread, item.url)] = item
                if not in_flight:
                    break
                done, _ = wait(in_flight, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                # The results are stored and recorded (which reads a cancellation) before the
                # hosts' next items start.
                for future in done:
                    item = in_flight.pop(future)
                    self._handle(item, *future.result())
                    pending.release(item)
                if done:
                    self._record_progress()
                else:
                    self._beat()
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                sys.setswitchinterval(switch_interval)

    def _stopping(self) -> bool:
        return self.cancelled or self.stopped or self.handed_over

    def _beat_due(self) -> bool:
        # time.monotonic, not self.clock: the injected clock measures the time budget only.
        return self.beaten_at is None or time.monotonic() - self.beaten_at >= BEAT_SECONDS

    def _beat(self) -> bool:
        """Heartbeat; False (and the run stops taking items) when the job was cancelled or is no
        longer running. The same UPDATE reads the flags, so nothing is overwritten."""
        now = timezone.now()
        if self.rows.filter(status=JobStatus.RUNNING, cancel_requested=False).update(
            heartbeat_at=now, updated_at=now
        ):
            self.beaten_at = time.monotonic()
            return True
        self._read_stop()
        return False

    def _read_stop(self) -> None:
        """The job is no longer running-and-wanted: say whether it was cancelled or taken back."""
        state = self.rows.values("status", "cancel_requested").first() or {}
        if state.get("status") == JobStatus.RUNNING and state.get("cancel_requested"):
            self.cancelled = True
        else:
            self.stopped = True

    def _fetch(self, url: str) -> FetchedPage | FetchError:
        try:
            return self.fetcher.fetch(url)
        except FetchError as exc:
            return exc

    def _fetch_in_thread(self, url: str) -> tuple[FetchedPage | FetchError, Extracted | None]:
        """Fetch, and extract what was fetched: extraction is CPU work on the page alone, and
        here it overlaps the job thread's database round trips instead of adding to them."""
        try:
            result = self._fetch(url)
            extracted = None
            if isinstance(result, FetchedPage):
                try:
                    extracted = extract(result)
                except Exception:  # extract() does not raise; should it, the job thread retries
                    logger.exception("Scraping job %s: extracting %s failed", self.job.pk, url)
            return result, extracted
        finally:
            db_connection.close()  # this thread's own connection, should anything have opened one

    def _handle(
        self,
        item: ScrapingJobItem,
        result: FetchedPage | FetchError,
        extracted: Extracted | None = None,
    ) -> None:
        if isinstance(result, FetchError):
            status = ItemStatus.BLOCKED if result.blocked else ItemStatus.FAILED
            self._close_item(
                item,
                status=status,
                error=_error_text(result),
                http_status=result.status,
                counter="failed_items" if status == ItemStatus.FAILED else None,
            )
            self._count_closed()
            return
        try:
            self._store(item, result, extracted)
        except Exception as exc:
            logger.exception("Scraping job %s: processing %s failed", self.job.pk, item.url)
            self._close_item(
                item,
                status=ItemStatus.FAILED,
                error=f"Processing failed: {_error_text(exc)}",
                http_status=result.status,
                counter="failed_items",
            )
        self._count_closed()

    def _count_closed(self) -> None:
        """Counted once the item's outcome has committed (a close rolled back with its
        transaction is redone and counted then): the last close is the item's outcome."""
        self.done += 1
        if self.closed_counter:
            self.unsaved[self.closed_counter] += 1
        self.closed_counter = None

    def _record_progress(self) -> None:
        """The job's counters and progress for the items closed since the last call, in one
        UPDATE that is also the heartbeat and reads a cancellation (as `_beat` does): a run stops
        at the item after the ones during which it was cancelled, without a query of its own.
        Progress is the run's own count: nobody else closes this job's items."""
        now = timezone.now()
        fields: dict[str, Any] = {
            "progress": min(100, self.done * 100 // max(self.total, 1)),
            "updated_at": now,
            **{counter: F(counter) + number for counter, number in self.unsaved.items() if number},
        }
        self.unsaved.clear()
        if self.rows.filter(status=JobStatus.RUNNING, cancel_requested=False).update(
            **fields, heartbeat_at=now
        ):
            self.beaten_at = time.monotonic()
        else:
            self.rows.update(**fields)
            self._read_stop()

    def _close_item(
        self,
        item: ScrapingJobItem,
        *,
        status: str,
        counter: str | None,
        error: str | None = None,
        http_status: int | None = None,
        artifact: Artifact | None = None,
    ) -> None:
        """The item's outcome. The job's counter and progress follow in `_record_progress`, once
        per batch of results (a crash in between leaves them behind; every run's end recounts
        them from the items)."""
        self.items.filter(pk=item.pk).update(
            status=status,
            error_message=error,
            http_status=http_status,
            artifact=artifact,
            attempts=F("attempts") + 1,
            updated_at=timezone.now(),
        )
        self.closed_counter = counter

    # Storing ----------------------------------------------------------------------------------------

    def _store(self, item: ScrapingJobItem, page: FetchedPage, extracted: Extracted | None = None) -> None:
        content_hash = hashlib.sha256(page.content).hexdigest()
        user_id = self.job.user_id
        existing = Artifact.objects.filter(user_id=user_id, content_hash=content_hash).first()
        if existing is None:
            extracted = extracted or extract(page)
            refusal = self._language_refusal(extracted)
            if refusal:
                self._close_item(
                    item, status=ItemStatus.BLOCKED, error=refusal, http_status=page.status, counter=None
                )
                return
            key = artifact_storage_key(user_id=user_id, content_hash=content_hash)
            artifact_bytes_store(key=key, content=page.content)
            try:
                with transaction.atomic():
                    artifact = self._create_artifact(
                        item, page, extracted, content_hash=content_hash, key=key
                    )
                    self._close_item(
                        item,
                        status=ItemStatus.STORED,
                        http_status=page.status,
                        artifact=artifact,
                        counter="processed_items",
                    )
            except IntegrityError:
                # Another run stored the same bytes for this user first (uq_artifacts_user_content_hash).
                existing = Artifact.objects.filter(user_id=user_id, content_hash=content_hash).first()
                if existing is None:
                    raise
        if existing is not None:
            self._link_duplicate(item, page, existing)
        if item.metadata.get(FOLLOW_KEY) and item.depth < self.settings.crawl_depth:
            self._follow(item, extracted or extract(page))

    def _language_refusal(self, extracted: Extracted) -> str | None:
        wanted = {code.split("-")[0].lower() for code in self.settings.languages}
        if not wanted or not extracted.language:
            return None  # an unknown language is kept: the filter narrows, it does not guess
        language = extracted.language.split("-")[0].lower()
        return None if language in wanted else f"Language {extracted.language} was not asked for."

    def _artifact_type(self, page: FetchedPage) -> str:
        sniffed = page.artifact_type
        if self.job.job_type == JobType.PAPER and sniffed in DOCUMENT_TYPES:
            return ArtifactType.PAPER
        if self.job.job_type == JobType.GOVERNMENT_DOC and sniffed in DOCUMENT_TYPES:
            return ArtifactType.GOVERNMENT_DOC
        return sniffed

    def _create_artifact(
        self, item: ScrapingJobItem, page: FetchedPage, extracted: Extracted, *, content_hash: str, key: str
    ) -> Artifact:
        metadata = {k: v for k, v in (item.metadata or {}).items() if not k.startswith("_")}
        text = extracted.text or ""
        title = metadata.get("title") if isinstance(metadata.get("title"), str) else None
        title = (title or extracted.title or "").strip()[:TITLE_MAX_CHARS] or None
        description = extracted.description or next(
            (metadata[k] for k in ("abstract", "summary", "content") if isinstance(metadata.get(k), str)),
            None,
        )
        matched = keywords_matched(keywords=self.keywords, text=f"{title or ''}\n{text}")
        artifact = Artifact.objects.create(
            job_id=self.job.pk,
            user_id=self.job.user_id,
            artifact_type=self._artifact_type(page),
            source_url=page.url,
            title=title,
            description=description,
            content_hash=content_hash,
            file_size=len(page.content),
            mime_type=(page.content_type or "")[:MIME_MAX_CHARS] or None,
            minio_path=key,
            content_text=text,
            keywords=matched,
        )
        ContentExtraction.objects.bulk_create(
            ContentExtraction(
                artifact=artifact,
                extraction_type=str(extraction.get("extraction_type") or "unknown")[:50],
                extracted_data=_jsonable(extraction.get("extracted_data")),
                confidence_score=_confidence(extraction.get("confidence_score")),
            )
            for extraction in extracted.extractions
        )
        MetadataTag.objects.bulk_create(
            MetadataTag(
                artifact=artifact, tag_type=tag_type, tag_key=tag_key[:TAG_KEY_MAX_CHARS], tag_value=value
            )
            for tag_type, tag_key, value in self._tags(item, page, extracted, matched, metadata)
        )
        return artifact

    def _tags(
        self,
        item: ScrapingJobItem,
        page: FetchedPage,
        extracted: Extracted,
        matched: list[str],
        metadata: dict,
    ) -> Iterable[tuple[str, str, str]]:
        facts = {
            "author": extracted.author,
            "published": extracted.published,
            "language": extracted.language,
            "domain": urlsplit(page.url).hostname,
            "source": item.source,
            "canonical_url": extracted.canonical_url,
            "search_keyword": item.keyword,
        }
        for key, value in facts.items():
            if value:
                yield "metadata", key, str(value)
        for keyword in matched:
            yield "keyword", "matched", keyword
        for key, value in metadata.items():
            if value in (None, "", [], {}):
                continue
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = ", ".join(value)
            yield "source", str(key), value if isinstance(value, str) else json.dumps(value)

    def _link_duplicate(self, item: ScrapingJobItem, page: FetchedPage, existing: Artifact) -> None:
        with transaction.atomic():
            artifact = Artifact.objects.select_for_update().get(pk=existing.pk)
            text = f"{artifact.title or ''}\n{artifact.content_text or ''}"
            merged = list(
                dict.fromkeys(
                    [*(artifact.keywords or []), *keywords_matched(keywords=self.keywords, text=text)]
                )
            )
            if merged != (artifact.keywords or []):
                Artifact.objects.filter(pk=artifact.pk).update(keywords=merged, updated_at=timezone.now())
            self._close_item(
                item,
                status=ItemStatus.DUPLICATE,
                http_status=page.status,
                artifact=artifact,
                counter="skipped_items",
            )

    def _follow(self, item: ScrapingJobItem, extracted: Extracted) -> None:
        """Queue the page's same-site links one level deeper, up to max_items in all."""
        room = self.settings.max_items - self.items.count()
        if room <= 0:
            return
        site = _site(item.url)
        found: dict[str, ScrapingJobItem] = {}
        for link in extracted.links:
            if len(found) >= room:
                break
            if _site(link) != site:
                continue
            child = self._item_for(
                Candidate(
                    url=link,
                    source=item.source,
                    keyword=item.keyword,
                    depth=item.depth + 1,
                    follow_links=True,
                )
            )
            if child is not None and child.url_hash != item.url_hash:
                found.setdefault(child.url_hash, child)
        if not found:
            return
        with transaction.atomic():
            self._insert(list(found.values()))
            total = self.items.count()
            self.rows.update(total_items=total, updated_at=timezone.now())
        self.total = total
        self.pending.add_later()

    # Ending -----------------------------------------------------------------------------------------

    def _fail(self, message: str) -> None:
        now = timezone.now()
        # Recounted as at the finish: counters of a batch not yet recorded are not lost.
        counts = self._counts()
        if self.rows.filter(status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED,
            error_message=message,
            completed_at=now,
            heartbeat_at=now,
            updated_at=now,
            total_items=sum(counts.values()),
            processed_items=counts[ItemStatus.STORED],
            skipped_items=counts[ItemStatus.DUPLICATE],
            failed_items=counts[ItemStatus.FAILED],
        ):
            scraping_job_ended_notify(job_id=self.job.pk, failed=True)

    def _fail_safely(self, message: str) -> None:
        try:
            self._fail(message)
        except Exception:
            # The database itself failed; the reaper takes the job back later.
            logger.exception("Scraping job %s could not record its failure", self.job.pk)

    def _counts(self) -> dict[str, int]:
        counts = dict.fromkeys(ItemStatus.values, 0)
        for status, number in (
            self.items.order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
        ):
            counts[status] = number
        return counts

    def _finish(self) -> None:
        now = timezone.now()
        running = self.rows.filter(status=JobStatus.RUNNING)
        counts = self._counts()
        total = sum(counts.values())
        counters = {
            "total_items": total,
            "processed_items": counts[ItemStatus.STORED],
            "skipped_items": counts[ItemStatus.DUPLICATE],
            "failed_items": counts[ItemStatus.FAILED],
            "heartbeat_at": now,
            "updated_at": now,
        }
        if self.stopped:
            return  # taken back by the reaper meanwhile: the next run finishes it
        if self.cancelled:
            running.update(**counters, status=JobStatus.CANCELLED, completed_at=now)
            logger.info("Scraping job %s cancelled", self.job.pk)
            return
        if self.handed_over and counts[ItemStatus.PENDING]:
            if running.filter(cancel_requested=False).update(
                **{**counters, "heartbeat_at": None}, status=JobStatus.PENDING, attempts=0
            ):
                from scraping.services.jobs import scraping_job_queue

                transaction.on_commit(lambda: scraping_job_queue(self.job.pk), robust=True)
                logger.info("Scraping job %s hands over to a new task", self.job.pk)
            return
        settled = counts[ItemStatus.STORED] + counts[ItemStatus.DUPLICATE]
        if counts[ItemStatus.FAILED] and not settled:
            first = self.items.filter(status=ItemStatus.FAILED).order_by("created_at", "pk").first()
            message = f"All {counts[ItemStatus.FAILED]} fetched items failed"
            message += f"; the first: {first.error_message}" if first and first.error_message else "."
            if running.update(**counters, status=JobStatus.FAILED, error_message=message, completed_at=now):
                scraping_job_ended_notify(job_id=self.job.pk, failed=True)
        elif running.update(**counters, status=JobStatus.COMPLETED, progress=100, completed_at=now):
            scraping_job_ended_notify(job_id=self.job.pk, failed=False)
        logger.info("Scraping job %s ended: %s", self.job.pk, counts)
