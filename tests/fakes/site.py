"""A small web site for scraping tests, served by pytest-httpserver.

    from tests.fakes.base import make_httpserver  # noqa: F401  (threaded: a hanging page blocks nothing)
    from tests.fakes.site import FakeSite

    def test_something(httpserver):
        site = FakeSite(httpserver)                        # 30 pages, 5 of them duplicates
        with Fetcher(policy=FetchPolicy(timeout=0.5)) as fetcher:
            page = fetcher.fetch(site.page_urls[0])
        assert site.count("/robots.txt") == 1

Constructor: `FakeSite(httpserver, *, pages=30, duplicates=5, keyword="solar", hang_seconds=3.0,
disallow=("/private/",))`. It registers one permanent catch-all handler; one-shot handlers a test
adds itself (`httpserver.expect_oneshot_request`) still win.

What it serves (paths; `site.url(path)` makes a URL, and the lists below are URLs):
- `/` the home page: links to every page and to the special paths below;
- `/pages/1` .. `/pages/<pages>` (`site.page_urls`): HTML articles with a title, an author, a
  publication date, `lang="en"`, a canonical link, three paragraphs mentioning `keyword`, and
  links to the next page and home. The last `duplicates` pages (`site.duplicate_urls`) send
  exactly the bytes of pages 1.. `duplicates` (`site.duplicate_of[url]` says which);
  `site.unique_page_urls` are the others;
- `/private/secret.html` (`site.disallowed_urls`): a normal page that robots.txt disallows;
- `/missing` (`site.missing_url`): 404; `/error` (`site.error_url`): 500, always;
- `/slow` (`site.slow_url`): sleeps `hang_seconds`, then answers a page (past a short timeout);
- `/files/report.pdf` (`site.pdf_url`): a one-page PDF with text and Info metadata
  (`site.pdf_text`, title "Solar Report 2024", author "Ada Example", created 2024-01-15);
- `/robots.txt`: `User-agent: *`, a `Disallow:` line per `disallow` prefix, and a `Sitemap:` line;
- `/sitemap.xml` (`site.sitemap_url`): a urlset with every URL above but the home page, each with
  a `<lastmod>`; `site.sitemap_urls` lists them in order.
Anything else is 404.

Changing it:
- `site.set(path, body, *, status=200, content_type="text/html; charset=utf-8", headers=None)`
  serves a custom answer (bytes, str, or a callable returning an iterable of bytes to stream it
  without a Content-Length);
- `site.redirect(path, to, *, status=302)`: a redirect (`to` a path or a full URL);
- `site.robots = "..."` replaces robots.txt (None: 404); `site.robots_status = 503` fails it;
- `site.fail_next(path, *, status=503, times=1, retry_after=None)`: the next answers to a path;
- `site.latency = 0.2`: every answer waits that long first (to overlap concurrent requests);
  `site.delays[path] = 2.0`: answers to one path (robots.txt too) wait that long first.

`site.host` is the server's host name, `site.other_host` the other loopback name, and
`site.on_other_host(url)` rewrites a URL to it: a second "host" on the same server.

Recording: `site.requests` (Hit: method, path, at = time.monotonic() on arrival, headers),
`site.count(path)`, `site.times(path)`, `site.paths()` (in order of arrival), `site.max_in_flight`
(the most requests being answered at once).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from werkzeug import Request, Response

PDF_TITLE = "Solar Report 2024"
PDF_AUTHOR = "Ada Example"
PDF_TEXT_LINES = (
    "Solar energy report for the year 2024.",
    "Installed capacity grew by twenty percent across the region.",
    "Storage projects doubled, and prices for panels kept falling.",
)


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1") + b")"


def minimal_pdf(
    lines: Iterable[str] = PDF_TEXT_LINES,
    *,
    title: str | None = PDF_TITLE,
    author: str | None = PDF_AUTHOR,
    created: str = "D:20240115120000Z",
    lang: str | None = "en",
) -> bytes:
    """A valid one-page PDF with the lines as text (Helvetica) and an Info dictionary, by hand:
    pypdf can read but not typeset text, and tests need a text layer."""
    stream = (
        b"BT /F1 12 Tf 14 TL 72 720 Td " + b" ".join(_pdf_string(line) + b" Tj T*" for line in lines) + b" ET"
    )
    info = b"<< /Producer (socialdesk tests) /CreationDate " + _pdf_string(created)
    if title is not None:
        info += b" /Title " + _pdf_string(title)
    if author is not None:
        info += b" /Author " + _pdf_string(author)
    info += b" >>"
    catalog = b"<< /Type /Catalog /Pages 2 0 R" + (b" /Lang " + _pdf_string(lang) if lang else b"") + b" >>"
    objects = [
        catalog,
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        info,
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += str(number).encode() + b" 0 obj\n" + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 " + str(len(objects) + 1).encode() + b"\n0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += b"trailer\n<< /Size " + str(len(objects) + 1).encode() + b" /Root 1 0 R /Info 6 0 R >>\n"
    out += b"startxref\n" + str(xref).encode() + b"\n%%EOF\n"
    return bytes(out)


WORDS = [
    *("panels", "grid", "storage", "inverter", "capacity", "policy", "tariff", "rooftop", "battery"),
    *("demand", "supply", "region", "forecast", "investment", "efficiency", "installation", "network"),
    *("transmission", "subsidy", "research"),
]


def article_html(*, number: int, keyword: str, base_url: str, pages: int) -> str:
    """A page trafilatura reads as an article: metadata in <head>, three paragraphs in <article>."""
    words = [WORDS[(number * 7 + i * 3) % len(WORDS)] for i in range(60)]
    paragraphs = []
    for p in range(3):
        chunk = " ".join(words[p * 20 : (p + 1) * 20])
        paragraphs.append(
            f"<p>Article {number}, part {p + 1}: the {keyword} market report covers {chunk}. "
            f"Analysts note that {keyword} projects in district {number} changed during the year, "
            f"and the figures below explain how and why in some detail.</p>"
        )
    next_link = f'<a href="/pages/{number + 1}">Next</a>' if number < pages else ""
    day = (number % 28) + 1
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{keyword.title()} report {number}</title>
<meta name="author" content="Author {number}">
<meta name="description" content="Report {number} about {keyword}.">
<meta property="article:published_time" content="2024-03-{day:02d}T10:00:00Z">
<link rel="canonical" href="{base_url}/pages/{number}">
</head>
<body>
<nav><a href="/">Home</a> {next_link}</nav>
<article>
<h1>{keyword.title()} report {number}</h1>
{"".join(paragraphs)}
</article>
<footer>Fake site footer</footer>
</body>
</html>
"""


@dataclass
class Hit:
    method: str
    path: str
    at: float
    headers: dict[str, str]


@dataclass
class _Answer:
    body: bytes | Callable[[], Iterable[bytes]]
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Failure:
    path: str
    status: int
    remaining: int
    retry_after: str | None


class FakeSite:
    def __init__(
        self,
        httpserver,
        *,
        pages: int = 30,
        duplicates: int = 5,
        keyword: str = "solar",
        hang_seconds: float = 3.0,
        disallow: Iterable[str] = ("/private/",),
    ):
        if not 0 <= duplicates < pages:
            raise ValueError("duplicates must be fewer than pages")
        self.server = httpserver
        self.base_url = httpserver.url_for("/").rstrip("/")
        # The same server under a second host name, for per-host behaviour (robots, politeness).
        self.host = httpserver.host
        self.other_host = "127.0.0.1" if self.host == "localhost" else "localhost"
        self.keyword = keyword
        self.hang_seconds = hang_seconds
        self.latency = 0.0
        self.delays: dict[str, float] = {}
        self.robots: str | None = "User-agent: *\n" + "".join(f"Disallow: {p}\n" for p in disallow)
        self.robots += f"\nSitemap: {self.base_url}/sitemap.xml\n"
        self.robots_status = 200
        self.requests: list[Hit] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._answers: dict[str, _Answer] = {}
        self._failures: list[_Failure] = []

        unique = pages - duplicates
        bodies = {
            n: article_html(number=n, keyword=keyword, base_url=self.base_url, pages=pages)
            for n in range(1, unique + 1)
        }
        self.page_urls = [self.url(f"/pages/{n}") for n in range(1, pages + 1)]
        self.unique_page_urls = self.page_urls[:unique]
        self.duplicate_urls = self.page_urls[unique:]
        self.duplicate_of = {self.page_urls[unique + i]: self.page_urls[i] for i in range(duplicates)}
        for n in range(1, pages + 1):
            source = n if n <= unique else n - unique
            self.set(f"/pages/{n}", bodies[source])
        self.disallowed_urls = [self.url("/private/secret.html")]
        self.set(
            "/private/secret.html", article_html(number=999, keyword=keyword, base_url=self.base_url, pages=0)
        )
        self.missing_url = self.url("/missing")
        self.error_url = self.url("/error")
        self.set("/error", "<h1>Internal Server Error</h1>", status=500)
        self.slow_url = self.url("/slow")
        self.set("/slow", article_html(number=998, keyword=keyword, base_url=self.base_url, pages=0))
        self.pdf_url = self.url("/files/report.pdf")
        self.pdf_text = "\n".join(PDF_TEXT_LINES)
        self.pdf_bytes = minimal_pdf()
        self.set("/files/report.pdf", self.pdf_bytes, content_type="application/pdf")
        self.sitemap_url = self.url("/sitemap.xml")
        self.sitemap_urls = [
            *self.page_urls,
            *self.disallowed_urls,
            self.missing_url,
            self.error_url,
            self.slow_url,
            self.pdf_url,
        ]
        links = "".join(f'<li><a href="{u}">{u}</a></li>' for u in self.sitemap_urls)
        home = f"<!DOCTYPE html><html lang='en'><head><title>Home</title></head><body><ul>{links}</ul>"
        self.set("/", home + "</body></html>")
        httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(self._handle)

    # -- building ----------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base_url + path

    def on_other_host(self, url: str) -> str:
        """The same URL under the server's other host name (localhost <-> 127.0.0.1)."""
        return url.replace(f"//{self.host}:", f"//{self.other_host}:", 1)

    def set(
        self,
        path: str,
        body: bytes | str | Callable[[], Iterable[bytes]],
        *,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> str:
        if isinstance(body, str):
            body = body.encode("utf-8")
        self._answers[path] = _Answer(
            body=body, status=status, content_type=content_type, headers=dict(headers or {})
        )
        return self.url(path)

    def redirect(self, path: str, to: str, *, status: int = 302) -> str:
        return self.set(path, b"", status=status, headers={"Location": to})

    def fail_next(
        self, path: str, *, status: int = 503, times: int = 1, retry_after: str | None = None
    ) -> None:
        with self._lock:
            self._failures.append(
                _Failure(path=path, status=status, remaining=times, retry_after=retry_after)
            )

    # -- reading the log ---------------------------------------------------------------------

    def count(self, path: str) -> int:
        return sum(1 for hit in self.requests if hit.path == path)

    def times(self, path: str) -> list[float]:
        return [hit.at for hit in self.requests if hit.path == path]

    def paths(self) -> list[str]:
        return [hit.path for hit in self.requests]

    # -- serving -----------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        hit = Hit(
            method=request.method, path=request.path, at=time.monotonic(), headers=dict(request.headers)
        )
        with self._lock:
            self.requests.append(hit)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            wait = self.latency + self.delays.get(request.path, 0.0)
            if wait:
                time.sleep(wait)
            return self._answer(request.path)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, path: str) -> Response:
        with self._lock:
            for failure in self._failures:
                if failure.path == path and failure.remaining > 0:
                    failure.remaining -= 1
                    headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                    return Response(f"HTTP {failure.status}", status=failure.status, headers=headers)
        if path == "/robots.txt":
            if self.robots is None:
                return Response("not found", status=404)
            return Response(self.robots, status=self.robots_status, content_type="text/plain; charset=utf-8")
        if path == "/sitemap.xml":
            return Response(self._sitemap(), content_type="application/xml; charset=utf-8")
        if path == "/slow":
            time.sleep(self.hang_seconds)
        answer = self._answers.get(path)
        if answer is None:
            return Response("<h1>Not Found</h1>", status=404, content_type="text/html")
        body = answer.body() if callable(answer.body) else answer.body
        return Response(body, status=answer.status, content_type=answer.content_type, headers=answer.headers)

    def _sitemap(self) -> str:
        entries = "".join(
            f"<url><loc>{u}</loc><lastmod>2024-03-{(i % 28) + 1:02d}</lastmod></url>"
            for i, u in enumerate(self.sitemap_urls)
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
        )
