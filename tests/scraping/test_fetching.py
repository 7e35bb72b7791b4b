"""scraping.fetching against a real local web site (tests/fakes/site.py)."""

from __future__ import annotations

import hashlib
import itertools
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings

from core.retry import RetryPolicy
from scraping.fetching import (
    UNSUPPORTED,
    Fetcher,
    FetchError,
    FetchPolicy,
    decode_body,
    sniff_artifact_type,
)
from tests.fakes.base import make_httpserver  # noqa: F401
from tests.fakes.site import FakeSite, minimal_pdf

NO_WAIT = RetryPolicy(attempts=3, base_delay=0.0, jitter=0.0)


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def site(httpserver):
    return FakeSite(httpserver, pages=6, duplicates=1, hang_seconds=2.0)


def make_fetcher(clock: FakeClock | None = None, **policy) -> Fetcher:
    policy.setdefault("retry", NO_WAIT)
    policy.setdefault("politeness_delay", 0.0)
    if clock is None:
        return Fetcher(policy=FetchPolicy(**policy))
    return Fetcher(policy=FetchPolicy(**policy), clock=clock, sleep=clock.sleep)


def fetch_error(fetcher: Fetcher, url: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetcher.fetch(url)
    return info.value


# -- the happy path ----------------------------------------------------------------------------


def test_fetch_returns_the_page_with_its_type_and_sends_the_user_agent(site):
    with make_fetcher(user_agent="socialdesk-scraper/1 (+https://example.org/bot)") as fetcher:
        page = fetcher.fetch(site.page_urls[0] + "#top")

    assert page.requested_url == site.page_urls[0] + "#top"
    assert page.url == site.page_urls[0]
    assert page.status == 200
    assert page.content_type == "text/html"
    assert page.charset == "utf-8"
    assert page.artifact_type == "web_page"
    assert page.headers["content-type"].startswith("text/html")
    assert "Solar report 1" in page.text
    assert page.content_hash == hashlib.sha256(page.content).hexdigest()
    hit = next(h for h in site.requests if h.path == "/pages/1")
    assert hit.headers["User-Agent"] == "socialdesk-scraper/1 (+https://example.org/bot)"


def test_pdf_is_sniffed_from_its_bytes_whatever_the_content_type(site):
    url = site.set("/download", site.pdf_bytes, content_type="application/octet-stream")
    with make_fetcher() as fetcher:
        assert fetcher.fetch(site.pdf_url).artifact_type == "pdf"
        assert fetcher.fetch(url).artifact_type == "pdf"


def test_policy_defaults_come_from_settings_and_domains_are_normalised(settings):
    settings.SCRAPING_POLITENESS_DELAY = 2.5
    settings.SCRAPING_PER_HOST_CONCURRENCY = 4
    settings.SCRAPING_MAX_BYTES = 1234
    settings.SCRAPING_USER_AGENT = "bot/9"
    policy = FetchPolicy(allowed_domains=("Example.ORG", "https://gov.example/path", ""))

    assert (policy.politeness_delay, policy.per_host_concurrency, policy.max_bytes) == (2.5, 4, 1234)
    assert policy.user_agent == "bot/9"
    assert policy.allowed_domains == frozenset({"example.org", "gov.example"})
    assert policy.domain_allowed("www.example.org") and policy.domain_allowed("EXAMPLE.org")
    assert not policy.domain_allowed("badexample.org")
    assert FetchPolicy().domain_allowed("anything.test")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"max_bytes": 0},
        {"max_redirects": -1},
        {"politeness_delay": -1},
        {"per_host_concurrency": 0},
    ],
)
def test_policy_refuses_nonsense(kwargs):
    with pytest.raises(ValueError):
        FetchPolicy(**kwargs)


# -- robots.txt --------------------------------------------------------------------------------


def test_robots_disallow_is_obeyed_and_robots_txt_is_fetched_once_per_host(site):
    with make_fetcher() as fetcher:
        fetcher.fetch(site.page_urls[0])
        fetcher.fetch(site.page_urls[1])
        error = fetch_error(fetcher, site.disallowed_urls[0])
        # Another host name for the same server is another robots.txt.
        fetcher.fetch(site.on_other_host(site.page_urls[2]))

    assert error.reason == "robots"
    assert error.blocked and not error.transient
    assert site.count("/private/secret.html") == 0
    assert site.count("/robots.txt") == 2
    assert [h.headers["Host"].split(":")[0] for h in site.requests if h.path == "/robots.txt"] == [
        site.host,
        site.other_host,
    ]


def test_robots_rules_for_other_agents_do_not_apply_and_our_group_does(site):
    site.robots = "User-agent: otherbot\nDisallow: /\n\nUser-agent: socialdesk-scraper\nDisallow: /pages/2\n"
    with make_fetcher(user_agent="socialdesk-scraper/1") as fetcher:
        fetcher.fetch(site.page_urls[0])
        assert fetch_error(fetcher, site.page_urls[1]).reason == "robots"


def test_robots_longest_rule_wins(site):
    site.robots = "User-agent: *\nDisallow: /private/\nAllow: /private/secret.html\n"
    with make_fetcher() as fetcher:
        assert fetcher.fetch(site.disallowed_urls[0]).status == 200


@pytest.mark.parametrize(
    ("robots", "path", "allowed"),
    [
        # RFC 9309 2.2.3: `*` matches any sequence of characters, `$` the end of the path.
        ("User-agent: *\nDisallow: /*?session=\n", "/pages/1?session=abc", False),
        ("User-agent: *\nDisallow: /*?session=\n", "/pages/1?page=2", True),
        ("User-agent: *\nDisallow: /*.pdf$\n", "/files/report.pdf", False),
        ("User-agent: *\nDisallow: /*.pdf$\n", "/files/report.pdf?download=1", True),
        # RFC 9309 2.2.2: the most specific (longest) match wins, wildcards included.
        ("User-agent: *\nAllow: /pages/*.html\nDisallow: /pages/\n", "/pages/1.html", True),
        ("User-agent: *\nAllow: /pages/\nDisallow: /pages/*?print=\n", "/pages/1?print=yes", False),
        # ... and Allow wins a tie of equal length.
        ("User-agent: *\nDisallow: /pages/1\nAllow: /pages/1\n", "/pages/1", True),
    ],
)
def test_robots_wildcards_follow_rfc_9309(site, robots, path, allowed):
    site.robots = robots
    with make_fetcher() as fetcher:
        assert fetcher.robots_allowed(site.url(path)) is allowed


def test_robots_crawl_delay_above_the_politeness_delay_spaces_requests(site):
    site.robots = "User-agent: *\nCrawl-delay: 2.5\n"
    clock = FakeClock()
    with make_fetcher(clock, politeness_delay=1.0) as fetcher:
        for url in site.page_urls[:2]:
            fetcher.fetch(url)
    # robots.txt counts as a request: each page starts 2.5 s after the request before it.
    assert clock.sleeps == [2.5, 2.5]


def test_robots_404_allows_everything(site):
    site.robots = None
    with make_fetcher() as fetcher:
        assert fetcher.fetch(site.disallowed_urls[0]).status == 200
    assert site.count("/robots.txt") == 1


def test_robots_5xx_disallows_the_host_for_the_run(site):
    site.robots_status = 503
    with make_fetcher(retry=RetryPolicy(attempts=2, base_delay=0.0, jitter=0.0)) as fetcher:
        first = fetch_error(fetcher, site.page_urls[0])
        second = fetch_error(fetcher, site.page_urls[1])

    assert first.reason == second.reason == "robots"
    assert site.count("/robots.txt") == 2  # one fetch, retried once, then cached as "disallow all"
    assert site.count("/pages/1") == site.count("/pages/2") == 0


def test_robots_timeout_disallows_the_host(site):
    site.delays["/robots.txt"] = 1.0
    with make_fetcher(timeout=0.2, retry=RetryPolicy(attempts=1)) as fetcher:
        assert fetch_error(fetcher, site.page_urls[0]).reason == "robots"
    assert site.count("/pages/1") == 0


def test_robots_can_be_ignored_by_policy(site):
    with make_fetcher(obey_robots=False) as fetcher:
        assert fetcher.fetch(site.disallowed_urls[0]).status == 200
        assert fetcher.robots_allowed(site.disallowed_urls[0])
    assert site.count("/robots.txt") == 0


def test_robots_helpers_for_sources(site):
    with make_fetcher() as fetcher:
        assert fetcher.robots_sitemaps(site.base_url + "/") == (site.sitemap_url,)
        assert fetcher.robots_allowed(site.page_urls[0])
        assert not fetcher.robots_allowed(site.disallowed_urls[0])
    assert site.count("/robots.txt") == 1


def test_get_text_skips_robots_and_domains_but_not_the_ssrf_guard(site, settings):
    with make_fetcher(allowed_domains=frozenset({"elsewhere.example"})) as fetcher:
        page = fetcher.get_text(site.sitemap_url)
        assert fetcher.get_text(site.disallowed_urls[0]).status == 200
        json_url = site.set("/api", b'{"results": []}', content_type="application/json")
        assert fetcher.get_text(json_url).artifact_type == UNSUPPORTED

    assert page.content_type == "application/xml"
    assert "<urlset" in page.text
    assert site.count("/robots.txt") == 0

    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = False
    with make_fetcher() as fetcher, pytest.raises(FetchError) as info:
        fetcher.get_text(site.sitemap_url)
    assert info.value.reason == "private_address"


# -- politeness --------------------------------------------------------------------------------


def test_politeness_delay_between_requests_to_one_host(site):
    clock = FakeClock()
    with make_fetcher(clock, politeness_delay=1.5) as fetcher:
        for url in site.page_urls[:3]:
            fetcher.fetch(url)
        other_host = fetcher.fetch(site.on_other_host(site.page_urls[3]))

    assert other_host.status == 200
    # robots.txt at t, then each page 1.5 s after the previous request started; the other host's
    # robots.txt does not wait for this host, its page waits for its own robots.txt.
    assert clock.sleeps == [1.5, 1.5, 1.5, 1.5]
    assert site.paths() == ["/robots.txt", "/pages/1", "/pages/2", "/pages/3", "/robots.txt", "/pages/4"]


@pytest.mark.timing
def test_politeness_delay_is_real_when_measured_by_the_server(site):
    with make_fetcher(politeness_delay=0.2) as fetcher:
        for url in site.page_urls[:3]:
            fetcher.fetch(url)

    times = [hit.at for hit in site.requests]
    assert len(times) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # A request reaches the server a little after its turn, more on a loaded machine (CI saw
    # 0.178 between two): one gap may be short by the earlier one's lateness, the whole span not.
    assert min(gaps) >= 0.1, gaps
    assert times[-1] - times[0] >= 3 * 0.2 - 0.05, gaps


def test_retry_after_pauses_the_host_and_is_honoured(site):
    site.fail_next("/pages/1", status=429, retry_after="4")
    clock = FakeClock()
    with make_fetcher(clock) as fetcher:
        page = fetcher.fetch(site.page_urls[0])
        fetcher.fetch(site.page_urls[1])

    assert page.status == 200
    assert clock.sleeps == [4.0]  # the retry waited as asked; nothing waited twice
    assert site.count("/pages/1") == 2
    assert fetcher.retry_stats.retries == 1
    assert fetcher.retry_stats.reasons == {"429": 1}


@pytest.mark.parametrize("cap", [1, 2])
@pytest.mark.timing
def test_per_host_concurrency_is_capped_across_threads(site, cap):
    site.latency = 0.2
    with make_fetcher(per_host_concurrency=cap) as fetcher:
        fetcher.robots_allowed(site.base_url + "/")  # robots.txt first, so only pages overlap
        with ThreadPoolExecutor(max_workers=5) as pool:
            results = list(pool.map(fetcher.fetch, site.page_urls[:5]))

    assert [r.status for r in results] == [200] * 5
    assert site.max_in_flight == cap


def test_threads_share_one_robots_txt_fetch(site):
    site.delays["/robots.txt"] = 0.2  # every thread arrives while robots.txt is still loading
    with make_fetcher(per_host_concurrency=4) as fetcher, ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(fetcher.fetch, site.page_urls[:4]))
    assert [r.status for r in results] == [200] * 4
    assert site.count("/robots.txt") == 1


# -- size, redirects, SSRF, timeouts, errors ---------------------------------------------------


def test_size_cap_by_content_length(site):
    url = site.set("/big", b"x" * 2001, content_type="text/plain")
    exact = site.set("/exact", b"y" * 2000, content_type="text/plain")
    with make_fetcher(max_bytes=2000) as fetcher:
        error = fetch_error(fetcher, url)
        assert len(fetcher.fetch(exact).content) == 2000
    assert error.reason == "too_large" and not error.transient


def test_size_cap_while_streaming_without_content_length(site):
    url = site.set("/stream", lambda: (b"z" * 500 for _ in range(10)), content_type="text/plain")
    with make_fetcher(max_bytes=2000) as fetcher:
        error = fetch_error(fetcher, url)
        small = site.set("/small-stream", lambda: (b"z" * 500 for _ in range(4)), content_type="text/plain")
        assert len(fetcher.fetch(small).content) == 2000
    assert error.reason == "too_large"


def test_redirects_are_followed_and_bounded(site):
    site.redirect("/r1", "/r2")
    site.redirect("/r2", site.url("/r3"), status=301)
    site.redirect("/r3", "/pages/1")
    with make_fetcher(max_redirects=3) as fetcher:
        page = fetcher.fetch(site.url("/r1"))
    assert (page.requested_url, page.url) == (site.url("/r1"), site.page_urls[0])

    with make_fetcher(max_redirects=2) as fetcher:
        error = fetch_error(fetcher, site.url("/r1"))
    assert error.reason == "http_error" and error.status == 302
    assert site.count("/pages/1") == 1


def test_redirect_targets_are_rechecked_against_robots_domains_and_ssrf(site, monkeypatch):
    site.redirect("/to-private", "/private/secret.html")
    site.redirect("/to-other-host", site.on_other_host(site.page_urls[0]))
    with make_fetcher() as fetcher:
        assert fetch_error(fetcher, site.url("/to-private")).reason == "robots"
    with make_fetcher(allowed_domains=frozenset({site.host})) as fetcher:
        error = fetch_error(fetcher, site.url("/to-other-host"))
    assert error.reason == "domain" and error.blocked

    # The site's own origin is allowed on loopback; the redirect's other name for it is not.
    monkeypatch.setattr(settings, "OUTBOUND_ALLOW_PRIVATE_NETWORKS", False)
    monkeypatch.setattr(settings, "OUTBOUND_ALLOWED_ORIGINS", [site.url("/").rstrip("/")])
    with make_fetcher() as fetcher:
        error = fetch_error(fetcher, site.url("/to-other-host"))
    assert error.reason == "private_address" and not error.blocked
    assert site.count("/private/secret.html") == 0
    assert site.count("/pages/1") == 0


def test_private_addresses_are_refused_before_any_request(site, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = False
    with make_fetcher() as fetcher:
        error = fetch_error(fetcher, site.page_urls[0])
    assert error.reason == "private_address"
    assert site.requests == []


@pytest.mark.parametrize("url", ["ftp://example.org/file", "not a url", "http://[::1", "http:///path", ""])
def test_invalid_urls(url):
    with make_fetcher() as fetcher:
        assert fetch_error(fetcher, url).reason == "invalid_url"


def test_timeouts_are_retried_then_reported_transient(site):
    with make_fetcher(timeout=0.3, retry=RetryPolicy(attempts=2, base_delay=0.0, jitter=0.0)) as fetcher:
        error = fetch_error(fetcher, site.slow_url)
        # The fetcher is still usable after a timeout.
        assert fetcher.fetch(site.page_urls[0]).status == 200
    assert error.reason == "timeout" and error.transient
    assert site.count("/slow") == 2
    assert error.retry_stats.retries == 1


def test_server_errors_are_retried_with_backoff(site):
    site.fail_next("/pages/1", status=502, times=2)
    clock = FakeClock()
    with make_fetcher(clock, retry=RetryPolicy(attempts=3, base_delay=1.0, jitter=0.0)) as fetcher:
        page = fetcher.fetch(site.page_urls[0])
    assert page.status == 200
    assert clock.sleeps == [1.0, 2.0]
    assert site.count("/pages/1") == 3


def test_persistent_5xx_ends_transient_with_status_and_retry_after(site):
    site.fail_next("/pages/1", status=503, times=3, retry_after="7")
    clock = FakeClock()
    with make_fetcher(clock) as fetcher:
        error = fetch_error(fetcher, site.page_urls[0])
    assert (error.reason, error.status, error.transient, error.retry_after) == ("http_error", 503, True, 7.0)
    assert clock.sleeps == [7.0, 7.0]
    assert site.count("/pages/1") == 3
    with make_fetcher() as fetcher:
        error = fetch_error(fetcher, site.error_url)
    assert error.status == 500 and error.transient


def test_client_errors_are_not_retried(site):
    with make_fetcher() as fetcher:
        error = fetch_error(fetcher, site.missing_url)
    assert (error.reason, error.status, error.transient, error.blocked) == ("http_error", 404, False, False)
    assert site.count("/missing") == 1


def test_unsupported_content_is_blocked(site):
    url = site.set("/data.json", b'{"a": 1}', content_type="application/json")
    with make_fetcher() as fetcher:
        error = fetch_error(fetcher, url)
    assert error.reason == "unsupported_type" and error.blocked
    assert "application/json" in str(error)


def test_error_messages_do_not_leak_query_strings(site):
    with make_fetcher() as fetcher:
        error = fetch_error(fetcher, site.missing_url + "?api_key=SECRET123")
    assert "SECRET123" not in str(error)


# -- sniffing and decoding ---------------------------------------------------------------------

MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
M4A = b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00isomiso2"


@pytest.mark.parametrize(
    ("content", "content_type", "url", "expected"),
    [
        (b"%PDF-1.7\n...", "text/html", "https://x.test/a.html", "pdf"),
        (b"\x89PNG\r\n\x1a\n....", "application/octet-stream", "https://x.test/a", "image"),
        (b"\xff\xd8\xff\xe0..JFIF", "", "https://x.test/a", "image"),
        (b"GIF89a....", "text/plain", "https://x.test/a", "image"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "", "https://x.test/a", "image"),
        (MP4, "application/octet-stream", "https://x.test/a", "video"),
        (M4A, "", "https://x.test/a", "audio"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "", "https://x.test/a", "video"),
        (b"ID3\x04\x00\x00\x00", "", "https://x.test/a", "audio"),
        (b"\xff\xfb\x90\x64\x00", "", "https://x.test/a", "audio"),
        (b"OggS\x00\x02", "", "https://x.test/a.ogg", "audio"),
        (b"OggS\x00\x02", "video/ogg", "https://x.test/a", "video"),
        (b"RIFF\x24\x08\x00\x00WAVEfmt ", "", "https://x.test/a", "audio"),
        (b"fLaC\x00\x00", "", "https://x.test/a", "audio"),
        (b"\xef\xbb\xbf  <!DOCTYPE html><html>", "application/octet-stream", "https://x.test/a", "web_page"),
        (b"hello", "text/plain", "https://x.test/a", "web_page"),
        (b"<p>hi</p>", "text/html", "https://x.test/a", "web_page"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "https://x.test/a", "image"),
        (b"....", "audio/mpeg", "https://x.test/a", "audio"),
        (b"....", "", "https://x.test/clip.MP4", "video"),
        (b"....", "application/octet-stream", "https://x.test/doc.pdf?x=1", "pdf"),
        (b'{"a": 1}', "application/json", "https://x.test/a.html", UNSUPPORTED),
        (b"<?xml version='1.0'?><rss/>", "application/rss+xml", "https://x.test/feed", UNSUPPORTED),
        (b"PK\x03\x04", "application/zip", "https://x.test/a.zip", UNSUPPORTED),
        (b"", "", "", UNSUPPORTED),
    ],
)
def test_sniff_artifact_type(content, content_type, url, expected):
    assert sniff_artifact_type(content=content, content_type=content_type, url=url) == expected


def test_sniff_recognises_the_fake_sites_pdf():
    assert sniff_artifact_type(content=minimal_pdf(), content_type="", url="") == "pdf"


def test_decode_body_prefers_header_then_meta_then_utf8_then_cp1252():
    text = "café"
    assert decode_body(text.encode("latin-1"), charset="latin-1") == text
    assert decode_body(b'<meta charset="iso-8859-1"><p>caf\xe9', charset=None, html=True).endswith(text)
    assert decode_body(text.encode("utf-8"), charset=None) == text
    assert decode_body(b"caf\xe9", charset="no-such-charset") == text


# -- the overall deadline ------------------------------------------------------------------------


class DripServer:
    """A raw TCP server that answers every request by dripping bytes, each well inside any read
    timeout, so only an overall deadline ends the exchange. `headers=True` drips the header block
    itself (the status line, then one header byte at a time); otherwise the headers arrive at once
    (chunked) and the body drips."""

    def __init__(self, *, headers: bool, interval: float = 0.1):
        self.headers = headers
        self.interval = interval
        self.connections = 0
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/drip"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                if self.headers:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                else:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                    )
                while not self.stopped.wait(self.interval):
                    conn.sendall(b"a" if self.headers else b"1\r\na\r\n")
            except OSError:
                return

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def drip_server(request):
    server = DripServer(headers=request.param)
    yield server
    server.close()


@pytest.mark.parametrize("drip_server", [False, True], ids=["body", "headers"], indirect=True)
@pytest.mark.timing
def test_a_server_that_drips_bytes_is_cut_off_at_the_deadline(drip_server):
    started = time.monotonic()
    with make_fetcher(timeout=5.0, deadline=1.0, obey_robots=False) as fetcher:
        error = fetch_error(fetcher, drip_server.url)
    elapsed = time.monotonic() - started

    assert error.reason == "timeout" and error.transient
    assert "1 s" in str(error)
    # Each byte came well within the 5 s read timeout: only the 1 s deadline can have ended it,
    # and a server that dripped once is not asked again within the same fetch.
    assert 0.9 <= elapsed < 2.5, elapsed
    assert drip_server.connections == 1


def test_the_fetch_deadline_comes_from_settings(settings):
    settings.SCRAPING_FETCH_DEADLINE = 12.5
    assert FetchPolicy().deadline == 12.5
    with pytest.raises(ValueError):
        FetchPolicy(deadline=0)
