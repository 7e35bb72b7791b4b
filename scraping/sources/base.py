"""What every source shares: the `Candidate` it yields, its `SourceError`, and small helpers.

Errors, and why they are raised where they are:
- A source that cannot work at all (no search server configured, no keywords for a keyword
  search) raises `SourceError` before yielding anything.
- A source with several inputs (keywords, sitemaps, feeds, domains) carries on past one that
  fails (unreachable, HTTP error, malformed XML or JSON), so the others still count; when it has
  yielded everything it could, it raises one `SourceError` naming the failures, with `partial`
  True when some candidates were yielded before. A runner that consumes `discover()` therefore
  gets every candidate first and the error last: store the candidates, record the message on the
  job, fail the job only when `partial` is False.
Messages name the source, the host and what went wrong; never a query string (it may carry a key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from scraping.fetching import FetchedPage, FetchError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scraping.fetching import Fetcher
    from scraping.job_options import JobSettings


@dataclass(frozen=True, kw_only=True)
class Candidate:
    url: str
    source: str
    keyword: str | None = None
    depth: int = 0
    follow_links: bool = False
    metadata: dict = field(default_factory=dict)


class Source(Protocol):
    name: str

    def discover(
        self, *, settings: JobSettings, keywords: Sequence[str], fetcher: Fetcher
    ) -> Iterator[Candidate]: ...


class SourceError(Exception):
    """A source could not (fully) do its work; the message is safe to show on the job.

    `partial`: candidates were yielded before the failure. `transient`: trying later may work
    (every underlying failure was a timeout, network error, 429 or 5xx). `status`: the HTTP status
    when one request failed with one.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str,
        partial: bool = False,
        transient: bool = False,
        status: int | None = None,
    ):
        super().__init__(message)
        self.source = source
        self.partial = partial
        self.transient = transient
        self.status = status


class Failures:
    """The failures of a multi-input source, raised as one SourceError at the end."""

    MAX_LISTED = 5

    def __init__(self, source: str):
        self.source = source
        self.errors: list[SourceError] = []

    def add(self, error: SourceError) -> None:
        self.errors.append(error)

    def raise_if_any(self, *, yielded: int) -> None:
        if not self.errors:
            return
        messages = [str(error) for error in self.errors[: self.MAX_LISTED]]
        more = len(self.errors) - len(messages)
        if more > 0:
            messages.append(f"and {more} more")
        raise SourceError(
            "; ".join(messages),
            source=self.source,
            partial=yielded > 0,
            transient=all(error.transient for error in self.errors),
            status=self.errors[0].status if len(self.errors) == 1 else None,
        )


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def fetch_text(
    fetcher: Fetcher, url: str, *, source: str, what: str, max_bytes: int = 5_000_000
) -> FetchedPage:
    """`fetcher.get_text(url)`, its FetchError turned into a SourceError saying what was asked."""
    try:
        return fetcher.get_text(url, max_bytes=max_bytes)
    except FetchError as exc:
        raise SourceError(
            f"{what} could not be fetched: {exc}", source=source, transient=exc.transient, status=exc.status
        ) from None


def domain_allowed(url: str, allowed_domains: Sequence[str]) -> bool:
    """With `allowed_domains` set, the URL's host is one of them or a subdomain of one."""
    if not allowed_domains:
        return True
    host = host_of(url)
    return any(host == domain or host.endswith("." + domain) for domain in allowed_domains)


def in_date_range(day: date | None, *, settings: JobSettings) -> bool:
    """Undated entries pass (nothing says they are out of range); dated ones must be inside."""
    if day is None:
        return True
    if settings.date_from and day < settings.date_from:
        return False
    return not (settings.date_to and day > settings.date_to)


def is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class Budget:
    """At most `limit` distinct URLs; `take(url)` says whether this one may still be yielded."""

    def __init__(self, limit: int):
        self.limit = limit
        self.seen: set[str] = set()

    @property
    def full(self) -> bool:
        return len(self.seen) >= self.limit

    def take(self, url: str) -> bool:
        if self.full or url in self.seen:
            return False
        self.seen.add(url)
        return True

    @property
    def count(self) -> int:
        return len(self.seen)


def keyword_matching(text: str, keywords: Sequence[str]) -> str | None:
    """The first keyword found (case-insensitive) in `text`, for a candidate's `keyword`."""
    lowered = text.casefold()
    for keyword in keywords:
        if keyword and keyword.casefold() in lowered:
            return keyword
    return None
