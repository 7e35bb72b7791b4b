"""Fetching pages and files for scraping jobs: polite, bounded and guarded.

One `Fetcher` serves one job run (`with Fetcher(policy=...) as fetcher:`); it is thread-safe, so a
runner may fetch from several threads. What `fetch(url)` does, hop by hop (redirects are followed
by hand, at most `policy.max_redirects`, and every hop is checked like the first):

1. the URL: http or https with a host, else `invalid_url`;
2. the domain: with `policy.allowed_domains` set, the host must be one of them or a subdomain
   (`example.org` allows `www.example.org`), else `domain` (blocked, not a failure);
3. SSRF: `core.urlguard` refuses hosts on private, loopback, link-local or metadata addresses
   (`private_address`), here before the request and again by the guarded client as it connects;
4. robots.txt (with `policy.obey_robots`): fetched once per origin (scheme://host:port) and kept
   for the Fetcher's life. RFC 9309 reading: a 4xx (404, 403...) means no rules, everything is
   allowed; a 5xx, a timeout or a network failure (after retries) means the whole origin is
   disallowed for this run, because the site may be overloaded and its rules unknown. Rules are
   matched for the product token of `policy.user_agent` (the part before "/") by protego, which
   reads them as RFC 9309 does: `*` matches any characters, `$` ends the path, the longest
   matching rule wins and Allow wins a tie (`urllib.robotparser` knows prefixes only, so
   `Disallow: /*?session=` meant nothing to it). A `Crawl-delay` above the politeness delay is
   honoured, up to `MAX_CRAWL_DELAY` seconds. A page refused by robots is `robots` (blocked);
5. politeness: the starts of two requests to one host (robots.txt included) are at least
   `policy.politeness_delay` seconds apart (or the host's Crawl-delay), across every job, worker
   process and machine: the turns are taken in the database (`core.pacing`), and a Crawl-delay
   read by one job holds for all. At most `policy.per_host_concurrency` requests to one host are
   in flight at once across the Fetcher's threads. A 429/503 with Retry-After pauses the host for
   everyone for that long (capped by the retry policy's `max_delay`);
6. the answer: 3xx follows the Location; 4xx/5xx is `http_error` (408, 429 and 5xx transient,
   with Retry-After); 2xx is read as a stream: a Content-Length above the cap is refused before
   reading, and the read stops as soon as the (decompressed) bytes pass the cap (`too_large`).
   `timeout` bounds connecting and each read; `policy.deadline` (SCRAPING_FETCH_DEADLINE) bounds
   the whole exchange, from connecting to the last byte, headers included, so a server that
   drips a byte a second cannot hold a worker: past it the connection is shut down (`timeout`,
   transient, but not retried within the same fetch: a server that dripped once drips again);
7. transient failures (timeouts, network errors, 408/429/5xx) are retried with `policy.retry`
   through `core.retry` (Retry-After honoured, delays through the injected `sleep`); the final
   error keeps `transient=True` so the caller can record it and try again later;
8. the content is sniffed to an `ArtifactType` (`sniff_artifact_type`); a type we cannot store
   (JSON, XML, archives...) is `unsupported_type` (blocked).

`get_text(url)` is for sources' API and XML calls (search APIs, arXiv, CrossRef, sitemaps,
feeds): the same SSRF guard, redirects, politeness, size cap, timeouts and retries, but neither
robots.txt nor `allowed_domains` is consulted and any content type is returned. Why: those are
machine endpoints the operator configured (an API's robots.txt is written for crawlers of its HTML
pages, and `allowed_domains` restricts which *pages* a job stores, not which APIs find them). A
source that crawls a site's sitemap may still ask `fetcher.robots_allowed(url)` first, and
`fetcher.robots_sitemaps(url)` gives the `Sitemap:` lines of a host's robots.txt.

Errors are `FetchError` with a `reason` (see the class); messages name the host and what happened,
never a query string (it may hold a key) or a stack trace.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx
from django.conf import settings
from protego import Protego

from core import urlguard
from core.pacing import pace_store
from core.retry import RetryPolicy, RetryStats, call_with_retries, parse_retry_after
from scraping.models import ArtifactType

logger = logging.getLogger(__name__)

# Three attempts, 1 s then 2 s apart (Retry-After wins, at most 30 s): the project's policy.
DEFAULT_RETRY = RetryPolicy(attempts=3, base_delay=1.0, max_delay=30.0)
# RFC 9309 asks crawlers to read at least 500 KiB of a robots.txt.
ROBOTS_MAX_BYTES = 512_000
MAX_CRAWL_DELAY = 30.0
# What sniff_artifact_type answers for content a job does not store.
UNSUPPORTED = ""

REASONS = frozenset(
    {
        "timeout",
        "too_large",
        "http_error",
        "network",
        "robots",
        "domain",
        "invalid_url",
        "private_address",
        "unsupported_type",
    }
)
# Not fetched on purpose: the job item is `blocked`, not `failed`.
BLOCKED_REASONS = frozenset({"robots", "domain", "unsupported_type"})


def _default_politeness_delay() -> float:
    return float(getattr(settings, "SCRAPING_POLITENESS_DELAY", 1.0))


def _default_per_host_concurrency() -> int:
    return int(getattr(settings, "SCRAPING_PER_HOST_CONCURRENCY", 2))


def _default_max_bytes() -> int:
    return int(getattr(settings, "SCRAPING_MAX_BYTES", 20_000_000))


def _default_deadline() -> float:
    return float(getattr(settings, "SCRAPING_FETCH_DEADLINE", 60.0))


def _default_user_agent() -> str:
    return str(getattr(settings, "SCRAPING_USER_AGENT", "socialdesk-scraper/1"))


def _domain_of(value: str) -> str:
    value = value.strip().lower()
    if "://" in value:
        value = urlsplit(value).hostname or ""
    return value.strip(".")


@dataclass(frozen=True, kw_only=True)
class FetchPolicy:
    """How one job run fetches. Defaults for delay, concurrency, size and agent come from settings
    (read when the policy is made, so tests can override them)."""

    timeout: float = 15.0
    deadline: float = field(default_factory=_default_deadline)  # one request, start to last byte
    max_bytes: int = field(default_factory=_default_max_bytes)
    max_redirects: int = 5
    politeness_delay: float = field(default_factory=_default_politeness_delay)
    per_host_concurrency: int = field(default_factory=_default_per_host_concurrency)
    obey_robots: bool = True
    allowed_domains: frozenset[str] = frozenset()  # empty: any domain
    user_agent: str = field(default_factory=_default_user_agent)
    retry: RetryPolicy = DEFAULT_RETRY

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError("The fetch timeout must be positive.")
        if not self.deadline > 0 or not math.isfinite(self.deadline):
            raise ValueError("The fetch deadline must be a positive number of seconds.")
        if self.max_bytes < 1:
            raise ValueError("The size cap must be at least one byte.")
        if self.max_redirects < 0:
            raise ValueError("max_redirects cannot be negative.")
        if self.politeness_delay < 0 or not math.isfinite(self.politeness_delay):
            raise ValueError("The politeness delay must be a finite number of seconds >= 0.")
        if self.per_host_concurrency < 1:
            raise ValueError("At least one request per host must be allowed.")
        # Accept any iterable of names (a JobSettings tuple); keep bare, lower-case host names.
        domains = frozenset(d for d in (_domain_of(str(v)) for v in self.allowed_domains) if d)
        object.__setattr__(self, "allowed_domains", domains)

    def domain_allowed(self, host: str) -> bool:
        host = host.lower().strip(".")
        if not self.allowed_domains:
            return True
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)


_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE)


def decode_body(content: bytes, *, charset: str | None, html: bool = False) -> str:
    """Bytes to text: the given charset, else (HTML) a `<meta charset>` in the first 4 KiB, else a
    BOM, else UTF-8, else Windows-1252 with replacement. Never raises."""
    candidates: list[str] = [charset] if charset else []
    if html:
        found = _META_CHARSET_RE.search(content[:4096])
        if found:
            candidates.append(found.group(1).decode("ascii", "ignore"))
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates.append("utf-16")
    candidates.append("utf-8-sig")
    for encoding in candidates:
        try:
            return content.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return content.decode("cp1252", errors="replace")


@dataclass(frozen=True, kw_only=True)
class FetchedPage:
    requested_url: str
    url: str  # final, after redirects
    status: int
    content: bytes
    content_type: str  # lower case, without parameters; "" when the server sent none
    charset: str | None
    headers: dict[str, str]  # lower-case names
    artifact_type: str  # an ArtifactType value, or UNSUPPORTED ("") from get_text

    @property
    def text(self) -> str:
        """The body decoded (see `decode_body`), for HTML, XML, JSON and text."""
        html = self.content_type in ("text/html", "application/xhtml+xml")
        return decode_body(self.content, charset=self.charset, html=html)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def content_hash(self) -> str:
        """SHA-256 of the fetched bytes (Artifact.content_hash)."""
        return hashlib.sha256(self.content).hexdigest()


class FetchError(Exception):
    """A URL that could not (or may not) be fetched; the message is safe to show.

    `reason`: timeout | too_large | http_error | network | robots | domain | invalid_url |
    private_address | unsupported_type. `status`: the HTTP status when there was one.
    `transient`: trying later may work (timeouts, network errors, 408, 429, 5xx).
    `retry_after`: seconds the server asked for. `blocked`: not fetched on purpose (robots,
    domain, unsupported type): the job item is `blocked`, not `failed`.
    After retries, `retry_stats` (a core.retry.RetryStats) says what retrying cost.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        url: str | None = None,
        status: int | None = None,
        transient: bool = False,
        retry_after: float | None = None,
    ):
        if reason not in REASONS:
            raise ValueError(f"Unknown fetch failure reason {reason!r}.")
        super().__init__(message)
        self.reason = reason
        self.url = url
        self.status = status
        self.transient = transient
        self.retry_after = retry_after
        self.blocked = reason in BLOCKED_REASONS
        # Set for a request cut off at its deadline: trying later may work, retrying now would not.
        self.deadline_exceeded = False
        # For core.retry: a GET changes nothing, and statistics are counted by status or reason.
        self.ambiguous = False
        self.retry_reason = str(status) if status else reason


def _host_label(url: str) -> str:
    try:
        return urlsplit(url).hostname or "the server"
    except ValueError:
        return "the server"


def _agent_token(user_agent: str) -> str:
    return (user_agent.split("/", 1)[0].strip() or "*").lower()


class _Robots:
    """One origin's robots.txt as read for this run: its rules, or allow / disallow everything."""

    def __init__(self, *, rules: Protego | None = None, allow_all: bool = False):
        self.rules = rules
        self.allow_all = allow_all

    def can_fetch(self, agent: str, url: str) -> bool:
        if self.rules is None:
            return self.allow_all
        return self.rules.can_fetch(url, agent)

    def crawl_delay(self, agent: str) -> float | None:
        return self.rules.crawl_delay(agent) if self.rules is not None else None

    def site_maps(self) -> list[str]:
        return list(self.rules.sitemaps) if self.rules is not None else []


def _pace_key(host: str) -> str:
    return "scraping:" + host.lower()


class Fetcher:
    """Fetches for one job run; thread-safe; a context manager (closes its connection pool)."""

    def __init__(
        self,
        *,
        policy: FetchPolicy,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.policy = policy
        self._sleep = sleep
        # `clock` times the turns only with OUTBOUND_PACING="local" (tests with fake clocks).
        self._pace = pace_store(clock=clock)
        self._agent = _agent_token(policy.user_agent)
        self._client = urlguard.guarded_client(
            timeout=httpx.Timeout(policy.timeout),
            follow_redirects=False,
            headers={"User-Agent": policy.user_agent},
        )
        self._lock = threading.Lock()
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}
        self._robots: dict[str, _Robots] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self.retry_stats = RetryStats()  # everything retried through this fetcher, for the run

    # -- public --------------------------------------------------------------------------------

    def fetch(self, url: str) -> FetchedPage:
        """A page or file for a job item (module docstring); FetchError otherwise."""
        page = self._with_retries(
            url, max_bytes=self.policy.max_bytes, check_robots=self.policy.obey_robots, check_domain=True
        )
        if page.artifact_type == UNSUPPORTED:
            shown = page.content_type or "none given"
            raise FetchError(
                f"The content at {_host_label(page.url)} is not a type scraping stores "
                f"(content type {shown}).",
                reason="unsupported_type",
                url=page.url,
                status=page.status,
            )
        return page

    def get_text(self, url: str, *, max_bytes: int = 5_000_000) -> FetchedPage:
        """An API answer, sitemap or feed for a source: no robots or domain check (module docstring)."""
        return self._with_retries(
            url, max_bytes=min(max_bytes, self.policy.max_bytes), check_robots=False, check_domain=False
        )

    def robots_allowed(self, url: str) -> bool:
        """Whether robots.txt lets this fetcher's agent fetch `url` (True when robots are not obeyed).

        Raises FetchError for a URL that may not be fetched at all (invalid, private address)."""
        if not self.policy.obey_robots:
            return True
        self._check_url(url, check_domain=False)
        return self._robots_for(url).can_fetch(self._agent, url)

    def robots_sitemaps(self, url: str) -> tuple[str, ...]:
        """The `Sitemap:` URLs in the robots.txt of `url`'s origin (fetched once, cached)."""
        self._check_url(url, check_domain=False)
        return tuple(self._robots_for(url).site_maps() or ())

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- checks --------------------------------------------------------------------------------

    def _check_url(self, url: str, *, check_domain: bool) -> str:
        """The host of a URL that passes the scheme, domain and SSRF checks; FetchError otherwise."""
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            parts.port  # noqa: B018 -- raises ValueError for a port out of range
        except ValueError:
            raise FetchError("The URL is not valid.", reason="invalid_url", url=url) from None
        if parts.scheme not in ("http", "https") or not host:
            raise FetchError(
                "Only http and https URLs with a host name can be fetched.", reason="invalid_url", url=url
            )
        if check_domain and not self.policy.domain_allowed(host):
            raise FetchError(f"The host {host} is not among the allowed domains.", reason="domain", url=url)
        try:
            urlguard.check_url(url, unresolvable_ok=False)
        except urlguard.OutboundRefused as exc:
            reason = exc.reason if exc.reason in ("invalid_url", "private_address") else "network"
            raise FetchError(str(exc), reason=reason, url=url) from None
        return host

    # -- robots.txt ----------------------------------------------------------------------------

    def _robots_for(self, url: str) -> _Robots:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1].lower()}"
        with self._lock:
            parser = self._robots.get(origin)
            if parser is not None:
                return parser
            origin_lock = self._robots_locks.setdefault(origin, threading.Lock())
        # One thread fetches an origin's robots.txt; the others wait for its answer.
        with origin_lock:
            with self._lock:
                parser = self._robots.get(origin)
            if parser is None:
                parser = self._robots_load(origin)
                with self._lock:
                    self._robots[origin] = parser
        return parser

    def _robots_load(self, origin: str) -> _Robots:
        robots_url = origin + "/robots.txt"
        try:
            page = self._with_retries(
                robots_url, max_bytes=ROBOTS_MAX_BYTES, check_robots=False, check_domain=False
            )
        except FetchError as exc:
            if exc.reason == "http_error" and exc.status is not None and 400 <= exc.status < 500:
                return _Robots(allow_all=True)
            logger.info(
                "robots.txt of %s unavailable (%s); the host is treated as disallowed for this run",
                _host_label(robots_url),
                exc.reason,
            )
            return _Robots(allow_all=False)
        parser = _Robots(rules=Protego.parse(page.text))
        try:
            seconds = min(max(float(parser.crawl_delay(self._agent) or 0.0), 0.0), MAX_CRAWL_DELAY)
        except (TypeError, ValueError):
            seconds = 0.0
        # Kept with the host's turns, so every job and worker spaces its requests by it (0
        # forgets a Crawl-delay the site has since dropped).
        self._pace.set_min_interval(_pace_key(urlsplit(origin).hostname or ""), seconds=seconds)
        return parser

    # -- politeness ----------------------------------------------------------------------------

    def _host_slots_of(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            slots = self._host_slots.get(host)
            if slots is None:
                slots = threading.BoundedSemaphore(self.policy.per_host_concurrency)
                self._host_slots[host] = slots
            return slots

    @contextmanager
    def _slot(self, host: str) -> Iterator[None]:
        """Hold one of the host's concurrency slots, starting no sooner than the host's turn."""
        slots = self._host_slots_of(host)
        slots.acquire()
        try:
            wait = self._pace.reserve(_pace_key(host), interval=self.policy.politeness_delay)
            if wait > 0:
                self._sleep(wait)
            yield
        finally:
            slots.release()

    def _pause_host(self, host: str, seconds: float) -> None:
        seconds = min(max(seconds, 0.0), self.policy.retry.max_delay)
        if seconds > 0:
            self._pace.pause(_pace_key(host), seconds=seconds)

    # -- requests ------------------------------------------------------------------------------

    def _with_retries(
        self, url: str, *, max_bytes: int, check_robots: bool, check_domain: bool
    ) -> FetchedPage:
        url = (url or "").strip()
        try:
            page, stats = call_with_retries(
                lambda: self._get(
                    url, max_bytes=max_bytes, check_robots=check_robots, check_domain=check_domain
                ),
                policy=self.policy.retry,
                is_transient=lambda exc: (
                    isinstance(exc, FetchError) and exc.transient and not exc.deadline_exceeded
                ),
                retry_after_of=lambda exc: getattr(exc, "retry_after", None),
                sleep=self._sleep,
            )
        except FetchError as exc:
            stats = getattr(exc, "retry_stats", None)
            if stats is not None:
                self._add_stats(stats)
            raise
        except Exception as exc:  # anything unforeseen from httpx is a network failure, not a crash
            logger.info("Unexpected error fetching from %s: %s", _host_label(url), type(exc).__name__)
            raise FetchError(
                f"{_host_label(url)} could not be fetched ({type(exc).__name__}).", reason="network", url=url
            ) from None
        self._add_stats(stats)
        return page

    def _add_stats(self, stats: RetryStats) -> None:
        with self._lock:
            self.retry_stats.add(stats)

    def _get(self, url: str, *, max_bytes: int, check_robots: bool, check_domain: bool) -> FetchedPage:
        current = url
        status = 0
        for _hop in range(self.policy.max_redirects + 1):
            current = _without_fragment(current)
            host = self._check_url(current, check_domain=check_domain)
            if check_robots and not self._robots_for(current).can_fetch(self._agent, current):
                raise FetchError(
                    f"robots.txt of {host} does not allow fetching this page.", reason="robots", url=current
                )
            result = self._hop(current, host=host, max_bytes=max_bytes)
            if isinstance(result, FetchedPage):
                return FetchedPage(
                    requested_url=url,
                    url=result.url,
                    status=result.status,
                    content=result.content,
                    content_type=result.content_type,
                    charset=result.charset,
                    headers=result.headers,
                    artifact_type=result.artifact_type,
                )
            status, location = result
            current = urljoin(current, location)
        raise FetchError(
            f"Too many redirects from {_host_label(url)} (more than {self.policy.max_redirects}).",
            reason="http_error",
            url=url,
            status=status or None,
        )

    def _hop(self, url: str, *, host: str, max_bytes: int) -> FetchedPage | tuple[int, str]:
        """One request: a page, or (status, location) for a redirect."""
        with self._slot(host), _Watchdog(self.policy.deadline) as watchdog:
            deadline = time.monotonic() + self.policy.deadline
            try:
                # A fresh connection per request (Connection: close), so the watchdog always
                # sees the socket being connected and can end the exchange, headers included.
                with self._client.stream(
                    "GET", url, headers={"Connection": "close"}, extensions={"trace": watchdog.trace}
                ) as response:
                    status = response.status_code
                    if 300 <= status < 400 and status != 304:
                        location = response.headers.get("location", "").strip()
                        if not location:
                            raise FetchError(
                                f"{host} redirected without a location (HTTP {status}).",
                                reason="http_error",
                                url=url,
                                status=status,
                            )
                        return status, location
                    if status >= 300:
                        raise self._status_error(response, url=url, host=host)
                    try:
                        content = _read_capped(
                            response, max_bytes=max_bytes, deadline=deadline, host=host, url=url
                        )
                    except _DeadlinePassed:
                        raise self._deadline_error(url=url, host=host) from None
                    watchdog.disarm()
                    if watchdog.expired:  # a body that ends with the connection may end early
                        raise self._deadline_error(url=url, host=host)
                    content_type, charset = _content_type(response.headers.get("content-type", ""))
                    headers = {k.lower(): v for k, v in response.headers.items()}
                    final = str(response.url)
            except urlguard.OutboundRefused as exc:
                raise FetchError(str(exc), reason=exc.reason, url=url) from None
            except httpx.HTTPError as exc:
                raise self._transport_error(exc, url=url, host=host, expired=watchdog.expired) from None
        return FetchedPage(
            requested_url=url,
            url=final,
            status=status,
            content=content,
            content_type=content_type,
            charset=charset,
            headers=headers,
            artifact_type=sniff_artifact_type(content=content, content_type=content_type, url=final),
        )

    def _transport_error(self, exc: httpx.HTTPError, *, url: str, host: str, expired: bool) -> FetchError:
        if expired:  # the watchdog shut the connection: whatever httpx saw, the deadline passed
            return self._deadline_error(url=url, host=host)
        if isinstance(exc, httpx.TimeoutException):
            return FetchError(
                f"{host} did not answer within {self.policy.timeout:g} s.",
                reason="timeout",
                url=url,
                transient=True,
            )
        if isinstance(exc, httpx.DecodingError):
            return FetchError(f"{host} sent a body that could not be decoded.", reason="http_error", url=url)
        if isinstance(exc, httpx.InvalidURL):
            return FetchError("The URL is not valid.", reason="invalid_url", url=url)
        return FetchError(f"{host} could not be reached.", reason="network", url=url, transient=True)

    def _deadline_error(self, *, url: str, host: str) -> FetchError:
        error = FetchError(
            f"{host} took longer than {self.policy.deadline:g} s in all to answer.",
            reason="timeout",
            url=url,
            transient=True,
        )
        error.deadline_exceeded = True
        return error

    def _status_error(self, response: httpx.Response, *, url: str, host: str) -> FetchError:
        status = response.status_code
        transient = status in (408, 429) or status >= 500
        retry_after = parse_retry_after(response.headers.get("retry-after")) if transient else None
        if retry_after is not None and status in (429, 503):
            self._pause_host(host, retry_after)
        if transient:
            message = f"{host} is unavailable or rate-limiting (HTTP {status}); try again later."
        else:
            message = f"{host} answered HTTP {status}."
        return FetchError(
            message, reason="http_error", url=url, status=status, transient=transient, retry_after=retry_after
        )


class _DeadlinePassed(Exception):
    """The body was still arriving at the request's deadline."""


class _Watchdog:
    """Ends one request at its deadline, wherever it is blocked (connecting, headers, body).

    httpx has no overall timeout: its read timeout restarts with every byte. httpcore reports the
    socket it connects through the request's `trace` extension; when the deadline passes, the
    socket is shut down from this timer thread, which wakes the blocked read at once. The socket
    is found by its descriptor and checked against the peer seen at connect time, and nothing is
    shut down once the request has been disarmed, so a reused descriptor is never touched.
    """

    def __init__(self, seconds: float):
        self.expired = False
        self._lock = threading.Lock()
        self._armed = True
        self._socket: tuple[int, object] | None = None  # (descriptor, peer address)
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.disarm()

    def disarm(self) -> None:
        with self._lock:
            self._armed = False
        self._timer.cancel()

    def trace(self, event: str, info: dict) -> None:
        if event not in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        try:
            found = (sock.fileno(), sock.getpeername()) if sock is not None else None
        except OSError:
            found = None
        if found is not None and found[0] >= 0:
            with self._lock:
                self._socket = found
                if self.expired and self._armed:
                    _shutdown_socket(*found)

    def _expire(self) -> None:
        with self._lock:
            if not self._armed:
                return
            self.expired = True
            if self._socket is not None:
                _shutdown_socket(*self._socket)


def _shutdown_socket(fd: int, peer: object) -> None:
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        if sock.getpeername() == peer:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


def _without_fragment(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit(parts._replace(fragment="")) if parts.fragment else url


def _content_type(header: str) -> tuple[str, str | None]:
    media_type, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
    return media_type.strip().lower(), charset


def _read_capped(response: httpx.Response, *, max_bytes: int, deadline: float, host: str, url: str) -> bytes:
    length = response.headers.get("content-length", "").strip()
    if length.isdigit() and int(length) > max_bytes:
        raise FetchError(
            f"The content at {host} is larger than {max_bytes:,} bytes.",
            reason="too_large",
            url=url,
            status=response.status_code,
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(
                f"The content at {host} is larger than {max_bytes:,} bytes.",
                reason="too_large",
                url=url,
                status=response.status_code,
            )
        if time.monotonic() > deadline:
            raise _DeadlinePassed
        chunks.append(chunk)
    return b"".join(chunks)


# -- sniffing ------------------------------------------------------------------------------------

_HTML_START_RE = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)
_EXTENSIONS = {
    ArtifactType.PDF: {".pdf"},
    ArtifactType.IMAGE: {
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".bmp",
        ".tif",
        ".tiff",
        ".svg",
        ".avif",
        ".heic",
    },
    ArtifactType.VIDEO: {".mp4", ".m4v", ".webm", ".mkv", ".mov", ".avi", ".ogv", ".mpeg", ".mpg"},
    ArtifactType.AUDIO: {".mp3", ".wav", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac", ".weba"},
    ArtifactType.WEB_PAGE: {".html", ".htm", ".xhtml", ".txt", ".md"},
}
_PAGE_TYPES = {"text/html", "application/xhtml+xml", "text/plain", "text/markdown"}


def _sniff_magic(content: bytes, *, content_type: str, url_ext: str) -> str:
    head = content[:64]
    if head.startswith(b"%PDF-"):
        return ArtifactType.PDF
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")):
        return ArtifactType.IMAGE
    # BM (bitmap) is short: only trusted with an image type or extension.
    if head.startswith(b"BM") and (content_type.startswith("image/") or url_ext == ".bmp"):
        return ArtifactType.IMAGE
    if head.startswith(b"RIFF") and len(head) >= 12:
        kind = head[8:12]
        if kind == b"WEBP":
            return ArtifactType.IMAGE
        if kind == b"WAVE":
            return ArtifactType.AUDIO
        if kind == b"AVI ":
            return ArtifactType.VIDEO
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1"):
            return ArtifactType.IMAGE
        if brand in (b"M4A ", b"M4B ", b"M4P "):
            return ArtifactType.AUDIO
        return ArtifactType.VIDEO
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return ArtifactType.AUDIO if content_type.startswith("audio/") else ArtifactType.VIDEO
    if head.startswith(b"OggS"):
        return (
            ArtifactType.VIDEO
            if content_type.startswith("video/") or url_ext == ".ogv"
            else ArtifactType.AUDIO
        )
    if head.startswith((b"ID3", b"fLaC")) or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xf1"):
        return ArtifactType.AUDIO
    if _HTML_START_RE.match(content[:2048].lstrip(b"\xef\xbb\xbf")):
        return ArtifactType.WEB_PAGE
    return UNSUPPORTED


def sniff_artifact_type(*, content: bytes, content_type: str, url: str) -> str:
    """The ArtifactType of fetched content, or UNSUPPORTED ("") for what a job does not store.

    Magic bytes first (the server's Content-Type is often wrong: PDFs as octet-stream, images as
    text/html): %PDF; PNG, JPEG, GIF, WebP, TIFF, AVIF/HEIC; MP4/MOV (ftyp), WebM/Matroska, AVI;
    MP3 (ID3 or a frame header), AAC, OGG, WAV, FLAC; an HTML document start. Then the content
    type (HTML, XHTML, plain text and Markdown are web pages; application/pdf; image/*, video/*,
    audio/*), then the URL's extension. JSON, XML, archives and the rest are unsupported.
    `paper` and `government_doc` are the job's business, not the bytes': a runner may relabel.
    """
    content_type = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        path = unquote(urlsplit(url or "").path)
    except ValueError:
        path = ""
    ext = PurePosixPath(path).suffix.lower()
    found = _sniff_magic(content or b"", content_type=content_type, url_ext=ext)
    if found:
        return str(found)
    if content_type in _PAGE_TYPES:
        return ArtifactType.WEB_PAGE.value
    if content_type == "application/pdf":
        return ArtifactType.PDF.value
    for prefix, kind in (
        ("image/", ArtifactType.IMAGE),
        ("video/", ArtifactType.VIDEO),
        ("audio/", ArtifactType.AUDIO),
    ):
        if content_type.startswith(prefix):
            return kind.value
    if content_type in ("", "application/octet-stream", "binary/octet-stream"):
        for kind, extensions in _EXTENSIONS.items():
            if ext in extensions:
                return kind.value
    return UNSUPPORTED
