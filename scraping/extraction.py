"""What a fetched page says: text, metadata and links, as `ContentExtraction`-ready records.

`extract(page)` chooses by the bytes first (a PDF is a PDF whatever the job calls it), then by the
fetched page's type:
- HTML: trafilatura's main text (navigation, footers and boilerplate dropped) and metadata (title,
  author, date, description, site name); the language from `<html lang>` (or a
  Content-Language meta) because trafilatura only detects it with an optional package; the
  canonical URL and the absolute http(s) links of `<a href>` (for crawling). When trafilatura finds
  no main text, the page's whole visible text is kept instead, with a low confidence;
- PDF: pypdf's text of up to `MAX_PDF_PAGES` pages and the document information (title, author,
  subject, creation and modification dates, page count, `/Lang`), and the link annotations' URIs.
  An encrypted PDF is opened with the empty password or reported as an error;
- plain text and Markdown: the text as it is, the first short line as the title, URLs as links;
- images, video, audio: no text; a `media_info` record with the size and type (and, for images,
  the dimensions Pillow reads from the header).
Text is capped at `MAX_TEXT_CHARS` characters (the record says when it was cut).

`extract` never raises on bad content: anything an extractor throws becomes an `Extracted` with
empty text and one `error` record (exception class and a short message), logged at info.

Records (`Extracted.extractions`): dicts with `extraction_type`, `extracted_data` (JSON-ready)
and `confidence_score` (a Decimal 0..1, two places, as `ContentExtraction` stores it). The types
and their confidence rules:
- `main_text` (HTML, PDF, plain text): how much text was found. HTML: 0.80 for at least 500
  characters of main text, 0.60 for 100-499, 0.40 below 100, 0.20 for the whole-page fallback,
  0.00 for none. PDF: 0.90 for at least 1000 characters, 0.70 for 100-999, 0.40 below 100, 0.10
  for none (a scan without a text layer). Plain text: 0.90 (nothing to get wrong), 0.00 if empty;
- `metadata` (HTML, PDF): 0.50, plus 0.10 for each of title, author, published date and language
  found, at most 0.90; 0.00 when none of them was found;
- `media_info`: 1.00 (measured, not guessed); without readable image dimensions 0.50;
- `error`: 0.00.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from scraping.fetching import FetchedPage
from scraping.models import ArtifactType

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 1_000_000
MAX_HTML_CHARS = 10_000_000
MAX_PDF_PAGES = 300
MAX_LINKS = 2000
EXCERPT_CHARS = 300
HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/plain", "text/markdown"}
MEDIA_TYPES = {ArtifactType.IMAGE.value, ArtifactType.VIDEO.value, ArtifactType.AUDIO.value}

_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_LANG_RE = re.compile(r"^[a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{1,8})*$")
_URL_RE = re.compile(r"""https?://[^\s<>"'`)\]}]+""", re.IGNORECASE)
_HTML_START_RE = re.compile(r"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)


@dataclass(frozen=True, kw_only=True)
class Extracted:
    title: str | None
    text: str
    description: str | None
    author: str | None
    published: str | None  # ISO date, YYYY-MM-DD
    language: str | None  # primary subtag, lower case ("en")
    canonical_url: str | None
    links: tuple[str, ...]  # absolute http(s) links, fragments dropped, in page order, unique
    extractions: tuple[dict, ...]


def confidence(value: float) -> Decimal:
    """A score as ContentExtraction stores it: 0..1, two decimal places."""
    return Decimal(str(min(max(value, 0.0), 1.0))).quantize(Decimal("0.01"))


def _record(extraction_type: str, data: dict[str, Any], score: float) -> dict:
    return {"extraction_type": extraction_type, "extracted_data": data, "confidence_score": confidence(score)}


def _clean(value: Any, limit: int = 500) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text[:limit] or None


def _cap(text: str) -> tuple[str, bool]:
    return (text[:MAX_TEXT_CHARS], True) if len(text) > MAX_TEXT_CHARS else (text, False)


def _language(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value or not _LANG_RE.match(value):
        return None
    return re.split(r"[-_]", value, maxsplit=1)[0].lower()


def _iso_date(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value or "").strip()
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return None


def _http_link(base: str, href: str) -> str | None:
    try:
        parts = urlsplit(urljoin(base, href.strip()))
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit(parts._replace(fragment=""))


def _unique(links: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(link for link in links if link))[:MAX_LINKS]


def _text_record(text: str, *, extractor: str, score: float, truncated: bool, **extra: Any) -> dict:
    data = {
        "extractor": extractor,
        "characters": len(text),
        "words": len(text.split()),
        "excerpt": text[:EXCERPT_CHARS],
        "truncated": truncated,
        **extra,
    }
    return _record("main_text", data, score)


def _metadata_score(*values: Any) -> float:
    found = sum(1 for v in values if v)
    return min(0.5 + 0.1 * found, 0.9) if found else 0.0


def _filename_title(url: str) -> str | None:
    try:
        name = PurePosixPath(unquote(urlsplit(url).path)).name
    except ValueError:
        return None
    return name or None


# -- HTML ----------------------------------------------------------------------------------------


def _html_document(html: str):
    import lxml.html

    source = _XML_DECL_RE.sub("", html, count=1)
    if not source.strip():
        return None
    return lxml.html.document_fromstring(source)


def _html_extras(document, *, base_url: str) -> tuple[str | None, str | None, str | None, tuple[str, ...]]:
    """(title, language, canonical URL, links) read with lxml."""
    if document is None:
        return None, None, None, ()
    title = _clean(document.findtext(".//title"))
    language = _language(document.get("lang") or document.get("{http://www.w3.org/XML/1998/namespace}lang"))
    if language is None:
        for meta in document.iter("meta"):
            if (meta.get("http-equiv") or "").lower() == "content-language":
                language = _language((meta.get("content") or "").split(",")[0])
                break
    canonical = None
    for link in document.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            canonical = _http_link(base_url, link.get("href"))
            break
    base = base_url
    for element in document.iter("base"):
        if element.get("href"):
            base = urljoin(base_url, element.get("href"))
            break
    links = [_http_link(base, a.get("href")) for a in document.iter("a") if a.get("href")]
    return title, language, canonical, _unique([link for link in links if link])


def _extract_html(page: FetchedPage) -> Extracted:
    import trafilatura

    html = page.text[:MAX_HTML_CHARS]
    if not html.strip():
        raise ValueError("The page is empty.")
    title, language, canonical, links = _html_extras(_html_document(html), base_url=page.url)
    document = trafilatura.bare_extraction(
        html, url=page.url, with_metadata=True, include_comments=False, include_tables=True
    )
    main = ((getattr(document, "text", None) or "") if document is not None else "").strip()
    if main:
        text, extractor = main, "trafilatura"
        score = 0.8 if len(main) >= 500 else 0.6 if len(main) >= 100 else 0.4
    else:
        # No article found (a list page, a form): keep the visible text, and say it is a guess.
        text = (trafilatura.html2txt(html) or "").strip()
        extractor, score = "trafilatura-html2txt", 0.2 if text else 0.0
    text, truncated = _cap(text)

    def meta(name: str) -> Any:
        return getattr(document, name, None) if document is not None else None

    title = _clean(meta("title")) or title
    author = _clean(meta("author"))
    published = _iso_date(meta("date"))
    language = _language(meta("language")) or language
    description = _clean(meta("description"), 2000)
    metadata = {
        "extractor": "trafilatura",
        "title": title,
        "author": author,
        "published": published,
        "language": language,
        "description": description,
        "sitename": _clean(meta("sitename")),
        "canonical_url": canonical,
        "categories": list(meta("categories") or [])[:50],
        "tags": list(meta("tags") or [])[:50],
        "links": len(links),
    }
    return Extracted(
        title=title,
        text=text,
        description=description,
        author=author,
        published=published,
        language=language,
        canonical_url=canonical,
        links=links,
        extractions=(
            _text_record(text, extractor=extractor, score=score, truncated=truncated),
            _record("metadata", metadata, _metadata_score(title, author, published, language)),
        ),
    )


# -- PDF -----------------------------------------------------------------------------------------


def _pdf_info(reader, name: str) -> Any:
    try:
        return getattr(reader.metadata, name) if reader.metadata is not None else None
    except Exception:  # a malformed Info entry loses that entry only
        return None


def _pdf_links(reader, pages) -> list[str]:
    links: list[str] = []
    for page in pages:
        try:
            for annotation in page.get("/Annots") or []:
                action = annotation.get_object().get("/A")
                uri = action.get_object().get("/URI") if action is not None else None
                link = _http_link("", str(uri)) if uri else None
                if link:
                    links.append(link)
        except Exception:  # noqa: S112 -- a broken annotation loses its link, not the PDF
            continue
    return links


def _extract_pdf(page: FetchedPage) -> Extracted:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(page.content), strict=False)
    if reader.is_encrypted and not reader.decrypt(""):
        raise ValueError("The PDF is encrypted with a password.")
    pages = list(reader.pages)[:MAX_PDF_PAGES]
    parts = []
    for pdf_page in pages:
        try:
            parts.append(pdf_page.extract_text() or "")
        except Exception:  # one unreadable page does not lose the others
            parts.append("")
    text, truncated = _cap("\n\n".join(part.strip() for part in parts if part.strip()))
    chars = len(text)
    score = 0.9 if chars >= 1000 else 0.7 if chars >= 100 else 0.4 if chars else 0.1

    title = _clean(_pdf_info(reader, "title"))
    if not title:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        title = first[:200] if first else _filename_title(page.url)
    author = _clean(_pdf_info(reader, "author"))
    description = _clean(_pdf_info(reader, "subject"), 2000)
    created = _iso_date(_pdf_info(reader, "creation_date"))
    modified = _iso_date(_pdf_info(reader, "modification_date"))
    try:
        language = _language(str(reader.trailer["/Root"].get("/Lang") or ""))
    except Exception:  # a malformed catalogue loses the language only
        language = None
    links = _unique(_pdf_links(reader, pages))
    metadata = {
        "extractor": "pypdf",
        "title": title,
        "author": author,
        "subject": description,
        "creator": _clean(_pdf_info(reader, "creator")),
        "producer": _clean(_pdf_info(reader, "producer")),
        "created": created,
        "modified": modified,
        "pages": len(reader.pages),
        "language": language,
        "encrypted": bool(reader.is_encrypted),
        "links": len(links),
    }
    return Extracted(
        title=title,
        text=text,
        description=description,
        author=author,
        published=created,
        language=language,
        canonical_url=None,
        links=links,
        extractions=(
            _text_record(text, extractor="pypdf", score=score, truncated=truncated, pages_read=len(pages)),
            _record("metadata", metadata, _metadata_score(title, author, created, language)),
        ),
    )


# -- plain text and media ------------------------------------------------------------------------


def _extract_plain(page: FetchedPage) -> Extracted:
    text, truncated = _cap(page.text.replace("\r\n", "\n").replace("\r", "\n").strip())
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    title = first.lstrip("# ").strip()[:200] if first and len(first) <= 200 else None
    links = _unique([_http_link("", m.group(0).rstrip(".,;:!?")) for m in _URL_RE.finditer(text)])
    return Extracted(
        title=title or _filename_title(page.url),
        text=text,
        description=None,
        author=None,
        published=None,
        language=None,
        canonical_url=None,
        links=links,
        extractions=(_text_record(text, extractor="plain", score=0.9 if text else 0.0, truncated=truncated),),
    )


def _extract_media(page: FetchedPage) -> Extracted:
    data: dict[str, Any] = {
        "extractor": "bytes",
        "artifact_type": page.artifact_type,
        "mime_type": page.content_type or None,
        "bytes": len(page.content),
    }
    score = 1.0
    if page.artifact_type == ArtifactType.IMAGE:
        try:
            from PIL import Image

            with Image.open(io.BytesIO(page.content)) as image:  # reads the header only
                data.update(extractor="pillow", width=image.width, height=image.height, format=image.format)
        except Exception as exc:  # size and type are still true
            data["dimensions_error"] = type(exc).__name__
            score = 0.5
    return Extracted(
        title=_filename_title(page.url),
        text="",
        description=None,
        author=None,
        published=None,
        language=None,
        canonical_url=None,
        links=(),
        extractions=(_record("media_info", data, score),),
    )


def _extractor_for(page: FetchedPage):
    if page.content[:5] == b"%PDF-":
        return "pypdf", _extract_pdf
    if page.artifact_type in MEDIA_TYPES:
        return "media", _extract_media
    if page.content_type in TEXT_TYPES and not _HTML_START_RE.match(page.text[:2048]):
        return "plain", _extract_plain
    return "trafilatura", _extract_html


def extract(page: FetchedPage) -> Extracted:
    """Text, metadata, links and extraction records of a fetched page (module docstring); never raises."""
    name, extractor = _extractor_for(page)
    try:
        return extractor(page)
    except Exception as exc:  # bad content is a result, not a crash (module docstring)
        logger.info("Extraction (%s) failed for a page from %s: %s", name, page.host, type(exc).__name__)
        data = {"extractor": name, "error": type(exc).__name__, "message": _clean(exc, 300)}
        return Extracted(
            title=_filename_title(page.url),
            text="",
            description=None,
            author=None,
            published=None,
            language=None,
            canonical_url=None,
            links=(),
            extractions=(_record("error", data, 0.0),),
        )
