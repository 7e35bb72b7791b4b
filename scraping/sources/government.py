"""government_doc jobs: crawl seeds for each configured site (`JobSettings.domains`).

For each site (a host, crawled over https, or an http(s) origin):
1. its home page `<origin>/`;
2. the URLs of its sitemaps: the `Sitemap:` lines of its robots.txt, else `<origin>/sitemap.xml`
   when robots.txt lets us fetch it (with `follow_robots`). Sitemaps are walked as in
   `scraping.sources.sitemap` (nesting bounded, lastmod against the date range). Only URLs on the
   site's host or its subdomains are kept.
All are Candidates with `follow_links=True` and depth 0: the runner fetches them and follows
same-domain links up to `crawl_depth`. Each site gets an equal share of `max_items` (rounded up).

A missing `/sitemap.xml` (4xx) is normal and not reported; a sitemap that robots.txt names but
that cannot be read, or a malformed one, is reported in the SourceError raised at the end (the
home pages are seeds enough to crawl).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from scraping.fetching import FetchError
from scraping.sources.base import (
    Budget,
    Candidate,
    Failures,
    SourceError,
    host_of,
    in_date_range,
    is_http_url,
)
from scraping.sources.sitemap import sitemap_walk

if TYPE_CHECKING:
    from scraping.fetching import Fetcher
    from scraping.job_options import JobSettings


def site_origin(site: str) -> str:
    return site.rstrip("/") if "://" in site else f"https://{site}"


def _on_site(url: str, host: str) -> bool:
    candidate = host_of(url)
    return candidate == host or candidate.endswith("." + host)


class GovernmentSource:
    name = "government"

    def discover(
        self, *, settings: JobSettings, keywords: Sequence[str], fetcher: Fetcher
    ) -> Iterator[Candidate]:
        failures = Failures(self.name)
        budget = Budget(settings.max_items)
        share = max(1, math.ceil(settings.max_items / max(1, len(settings.domains))))
        for site in settings.domains:
            if budget.full:
                break
            origin = site_origin(site)
            host = host_of(origin)
            taken = 0
            home = origin + "/"
            if budget.take(home):
                taken += 1
                yield Candidate(
                    url=home, source=self.name, follow_links=True, metadata={"domain": host, "seed": "home"}
                )
            for sitemap_url, advertised in self._sitemaps(
                fetcher, origin, settings=settings, failures=failures
            ):
                site_failures = Failures(self.name) if not advertised else failures
                walk = sitemap_walk(
                    fetcher=fetcher,
                    url=sitemap_url,
                    settings=settings,
                    source=self.name,
                    failures=site_failures,
                )
                for entry, found_in in walk:
                    if taken >= share or budget.full:
                        break
                    if not (
                        is_http_url(entry.url)
                        and _on_site(entry.url, host)
                        and in_date_range(entry.lastmod, settings=settings)
                    ):
                        continue
                    if not budget.take(entry.url):
                        continue
                    taken += 1
                    metadata = {"domain": host, "seed": "sitemap", "sitemap": found_in}
                    if entry.lastmod_text:
                        metadata["lastmod"] = entry.lastmod_text
                    yield Candidate(url=entry.url, source=self.name, follow_links=True, metadata=metadata)
                if not advertised:
                    # The guessed /sitemap.xml: only a malformed one is worth reporting, not a 404.
                    for error in site_failures.errors:
                        if error.status is None or error.status >= 500:
                            failures.add(error)
        failures.raise_if_any(yielded=budget.count)

    def _sitemaps(self, fetcher: Fetcher, origin: str, *, settings: JobSettings, failures: Failures):
        """(sitemap URL, named in robots.txt?) for one site."""
        try:
            advertised = [url for url in fetcher.robots_sitemaps(origin + "/") if is_http_url(url)]
        except FetchError as exc:
            failures.add(
                SourceError(f"The site {host_of(origin)} cannot be crawled: {exc}", source=self.name)
            )
            return []
        if advertised:
            return [(url, True) for url in advertised]
        guess = origin + "/sitemap.xml"
        try:
            allowed = not settings.follow_robots or fetcher.robots_allowed(guess)
        except FetchError:
            allowed = False
        return [(guess, False)] if allowed else []
