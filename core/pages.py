"""The main text of a web page, for workflow resources and scraping.

`page_main_text(url)` fetches one page and returns its readable text, title and language:
trafilatura extracts the main text of HTML (navigation, footers and boilerplate dropped); plain
text passes through. Everything that can go wrong is a `PageFetchError` whose message is safe to
show a user (it names the host and what happened, never a credential or a stack trace).

How the fetch is guarded, and why:
- Only http and https. Redirects are followed by hand, at most `MAX_REDIRECTS`, so every hop is
  checked like the first.
- SSRF: every connection goes through `core.urlguard`'s guarded client (no loopback, private,
  link-local or metadata address; checked at every hop, connected to as checked). The URL is also
  checked before the first request, so a refused address fails fast with `reason` set.
- Size: a Content-Length above `max_bytes` is refused before reading; the body is streamed and
  the read stops at `max_bytes` (decompressed bytes, so a small gzip bomb cannot get past it).
- Time: `timeout` bounds connecting and each read, and the whole download has a deadline of
  `TOTAL_TIME_FACTOR * timeout`, so a server dripping one byte at a time cannot hold a worker.
- Content: HTML (text/html, application/xhtml+xml) or text (text/plain, text/markdown); anything
  else (PDF, images, JSON) is refused, as is a page with no readable text.
- Transient failures (timeouts, connection errors, 429, 5xx) are retried with the project's
  policy (`core.retry`, Retry-After honoured); the final error says `transient=True` so a task can
  try again later.
- Charset: the Content-Type header's, else a `<meta charset>` in the first bytes of HTML, else
  UTF-8, else Windows-1252 (never fails; undecodable bytes become U+FFFD).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from core import urlguard
from core.retry import RetryPolicy, call_with_retries, parse_retry_after

MAX_REDIRECTS = 5
TOTAL_TIME_FACTOR = 3
USER_AGENT = "socialdesk/1 (page text extraction)"
HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/plain", "text/markdown"}
DEFAULT_POLICY = RetryPolicy(attempts=2, base_delay=1.0, max_delay=10.0)
META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE)
HTML_LANG_RE = re.compile(r"""<html[^>]*\slang\s*=\s*["']?([a-zA-Z]{2,3}(?:-[a-zA-Z0-9]{2,8})*)""", re.I)
TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, kw_only=True)
class PageText:
    url: str  # the final URL, after redirects
    title: str
    text: str
    language: str | None


class PageFetchError(Exception):
    """The page could not be fetched or has no readable text; the message is safe to show.

    `status` is the HTTP status when there was one; `transient` says whether trying later may work.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        transient: bool = False,
        retry_after: float | None = None,
        reason: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.retry_after = retry_after
        # Set by the URL guard (invalid_url, private_address) so callers with their own error
        # vocabulary need not parse messages.
        self.reason = reason


def _host_label(url: str) -> str:
    return urlsplit(url).hostname or "the server"


def _check_url(url: str) -> None:
    """Refuse early what the guarded client would refuse when connecting, with a PageFetchError."""
    try:
        urlguard.check_url(url, unresolvable_ok=False)
    except urlguard.OutboundRefused as exc:
        raise _refused(exc) from None


def _refused(exc: urlguard.OutboundRefused) -> PageFetchError:
    return PageFetchError(str(exc), reason=exc.reason)


def _content_type(response: httpx.Response) -> tuple[str, str | None]:
    header = response.headers.get("content-type", "")
    media_type, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
    return media_type.strip().lower(), charset


def _decode(body: bytes, *, charset: str | None, html: bool) -> str:
    candidates = [charset] if charset else []
    if html:
        found = META_CHARSET_RE.search(body[:4096])
        if found:
            candidates.append(found.group(1).decode("ascii", "ignore"))
    candidates.append("utf-8")
    for encoding in candidates:
        try:
            return body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("cp1252", errors="replace")


def _read(response: httpx.Response, *, max_bytes: int, deadline: float, url: str) -> bytes:
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise PageFetchError(f"The page at {_host_label(url)} is larger than {max_bytes:,} bytes.")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise PageFetchError(f"The page at {_host_label(url)} is larger than {max_bytes:,} bytes.")
        if time.monotonic() > deadline:
            raise PageFetchError(f"The page at {_host_label(url)} took too long to download.", transient=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _status_error(response: httpx.Response, url: str) -> PageFetchError:
    status = response.status_code
    host = _host_label(url)
    if status == 404 or status == 410:
        return PageFetchError(f"The page was not found at {host} (HTTP {status}).", status=status)
    if status in (401, 403):
        return PageFetchError(f"{host} does not allow fetching this page (HTTP {status}).", status=status)
    if status == 429 or status >= 500 or status == 408:
        return PageFetchError(
            f"{host} is unavailable or rate-limiting (HTTP {status}); try again later.",
            status=status,
            transient=True,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    return PageFetchError(f"{host} refused the request (HTTP {status}).", status=status)


def _fetch_once(url: str, *, timeout: float, max_bytes: int) -> tuple[str, str, bytes, str | None]:
    """(final url, media type, body, charset) after following redirects by hand."""
    deadline = time.monotonic() + TOTAL_TIME_FACTOR * timeout
    current = url
    with urlguard.guarded_client(
        timeout=httpx.Timeout(timeout), follow_redirects=False, headers={"User-Agent": USER_AGENT}
    ) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            _check_url(current)
            try:
                with client.stream("GET", current) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        if not location:
                            raise PageFetchError(f"{_host_label(current)} redirected without a location.")
                        current = urljoin(current, location)
                        continue
                    if response.status_code >= 400:
                        raise _status_error(response, current)
                    if response.status_code != 200:
                        raise PageFetchError(
                            f"{_host_label(current)} answered HTTP {response.status_code} without a page.",
                            status=response.status_code,
                        )
                    media_type, charset = _content_type(response)
                    if media_type not in HTML_TYPES | TEXT_TYPES:
                        shown = media_type or "none given"
                        raise PageFetchError(
                            f"The address is not an HTML or text page (content type {shown})."
                        )
                    body = _read(response, max_bytes=max_bytes, deadline=deadline, url=current)
                    return str(response.url), media_type, body, charset
            except urlguard.OutboundRefused as exc:
                raise _refused(exc) from None
            except httpx.TimeoutException:
                raise PageFetchError(
                    f"{_host_label(current)} did not answer within {timeout:g} s.", transient=True
                ) from None
            except httpx.TransportError:
                raise PageFetchError(
                    f"{_host_label(current)} could not be reached.", transient=True
                ) from None
        raise PageFetchError(f"Too many redirects (more than {MAX_REDIRECTS}).")


def _extract_html(html: str, *, url: str) -> tuple[str, str, str | None]:
    import trafilatura

    document = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=True
    )
    text = (getattr(document, "text", None) or "").strip() if document is not None else ""
    title = (getattr(document, "title", None) or "").strip() if document is not None else ""
    language = getattr(document, "language", None) if document is not None else None
    if not title:
        found = TITLE_RE.search(html)
        title = " ".join(found.group(1).split()) if found else ""
    if not language:
        found = HTML_LANG_RE.search(html[:10_000])
        language = found.group(1).lower() if found else None
    return title, text, language


def page_main_text(
    url: str,
    *,
    timeout: float = 10.0,
    max_bytes: int = 5_000_000,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PageText:
    """Fetch `url` and return its main text; PageFetchError says what went wrong (module docstring)."""
    url = (url or "").strip()
    (final_url, media_type, body, charset), _stats = call_with_retries(
        lambda: _fetch_once(url, timeout=timeout, max_bytes=max_bytes),
        policy=policy or DEFAULT_POLICY,
        is_transient=lambda exc: isinstance(exc, PageFetchError) and exc.transient,
        retry_after_of=lambda exc: getattr(exc, "retry_after", None),
        sleep=sleep,
    )
    if media_type in HTML_TYPES:
        title, text, language = _extract_html(_decode(body, charset=charset, html=True), url=final_url)
    else:
        title, language = "", None
        text = _decode(body, charset=charset, html=False).replace("\r\n", "\n").strip()
    if not text:
        raise PageFetchError(f"The page at {_host_label(final_url)} has no readable text.")
    return PageText(url=final_url, title=title, text=text, language=language)
