"""CrossRef's REST API: `GET {CROSSREF_API_URL}/works?query=<kw>&rows=n[&filter=...][&mailto=...]`.

The date range becomes `filter=from-pub-date:YYYY-MM-DD,until-pub-date:YYYY-MM-DD`; the polite
`mailto` is `settings.CROSSREF_MAILTO` when set. The answer is `{"status": "ok", "message":
{"items": [...]}}`; anything else is an error naming what was wrong. Items are checked against the
date range again on our side (a partial date, such as a year, counts as its first day).

Candidate URL: the work's first `link[]` whose content-type is application/pdf (text-mining links
first), else its `URL`, else `https://doi.org/<DOI>`. Metadata: title, authors ("Given Family",
or an organisation's `name`), doi, published (ISO date at the precision CrossRef has: 2020,
2020-05 or 2020-05-01; from `published`, `published-print`, `published-online`, else `issued`),
publisher, container_title, type, abstract (JATS tags removed), subject, link_url (the link used).
"""

from __future__ import annotations

import json
import re
from datetime import date
from urllib.parse import quote, urlencode

ABSTRACT_CHARS = 5000
TAG_RE = re.compile(r"<[^>]+>")


class CrossrefMalformed(ValueError):
    pass


def crossref_query_url(
    *, base: str, keyword: str, rows: int, date_from=None, date_to=None, mailto: str = ""
) -> str:
    params: dict[str, object] = {"query": keyword, "rows": rows}
    filters = []
    if date_from:
        filters.append(f"from-pub-date:{date_from.isoformat()}")
    if date_to:
        filters.append(f"until-pub-date:{date_to.isoformat()}")
    if filters:
        params["filter"] = ",".join(filters)
    if mailto:
        params["mailto"] = mailto
    return f"{base.rstrip('/')}/works?{urlencode(params)}"


def crossref_items(content: bytes) -> list[dict]:
    """The works of a CrossRef answer (url, published date, metadata); CrossrefMalformed if not one."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise CrossrefMalformed("the answer is not JSON") from None
    if not isinstance(data, dict):
        raise CrossrefMalformed("the answer is not a JSON object")
    if data.get("status") != "ok":
        detail = _error_detail(data.get("message"))
        raise CrossrefMalformed(f"the answer's status is {str(data.get('status'))[:40]!r}{detail}")
    message = data.get("message")
    items = message.get("items") if isinstance(message, dict) else None
    if not isinstance(items, list):
        raise CrossrefMalformed("the answer has no message.items list")
    works = []
    for item in items:
        if not isinstance(item, dict):
            continue
        work = _work(item)
        if work is not None:
            works.append(work)
    return works


def _error_detail(message) -> str:
    if isinstance(message, list) and message and isinstance(message[0], dict):
        text = message[0].get("message")
        if isinstance(text, str):
            return f": {text[:200]}"
    return ""


def _work(item: dict) -> dict | None:
    doi = item.get("DOI") if isinstance(item.get("DOI"), str) else None
    link_url = _pdf_link(item.get("link"))
    url = link_url or (item.get("URL") if isinstance(item.get("URL"), str) else None)
    if not url and doi:
        url = f"https://doi.org/{quote(doi, safe='/:;()')}"
    if not url:
        return None
    published_text, published = _published(item)
    metadata = {
        "title": _first(item.get("title")),
        "authors": _authors(item.get("author")),
        "doi": doi,
        "published": published_text,
        "publisher": item.get("publisher") if isinstance(item.get("publisher"), str) else None,
        "container_title": _first(item.get("container-title")),
        "type": item.get("type") if isinstance(item.get("type"), str) else None,
        "abstract": _plain(item.get("abstract")),
        "subject": [s for s in item.get("subject") or [] if isinstance(s, str)],
        "link_url": link_url,
    }
    return {"url": url, "published": published, "metadata": metadata}


def _plain(value) -> str | None:
    """JATS (<jats:p>...) to plain text."""
    if not isinstance(value, str):
        return None
    return " ".join(TAG_RE.sub(" ", value).split())[:ABSTRACT_CHARS] or None


def _first(value) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    return " ".join(value.split()) if isinstance(value, str) and value.strip() else None


def _authors(value) -> list[str]:
    names = []
    for author in value if isinstance(value, list) else []:
        if not isinstance(author, dict):
            continue
        parts = [author.get("given"), author.get("family")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
        name = name or (author.get("name") if isinstance(author.get("name"), str) else "")
        if name:
            names.append(name)
    return names


def _pdf_link(value) -> str | None:
    links = [link for link in value if isinstance(link, dict)] if isinstance(value, list) else []
    pdfs = [
        link
        for link in links
        if str(link.get("content-type", "")).lower() == "application/pdf" and isinstance(link.get("URL"), str)
    ]
    pdfs.sort(key=lambda link: link.get("intended-application") != "text-mining")
    return pdfs[0]["URL"] if pdfs else None


def _published(item: dict) -> tuple[str | None, date | None]:
    for key in ("published", "published-print", "published-online", "issued"):
        block = item.get(key)
        parts = block.get("date-parts") if isinstance(block, dict) else None
        if not (isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]):
            continue
        numbers = parts[0][:3]
        if not all(isinstance(n, int) for n in numbers):
            continue
        try:
            day = date(numbers[0], *[*numbers[1:], 1, 1][:2])
        except (ValueError, TypeError):
            continue
        text = "-".join([f"{numbers[0]:04d}", *(f"{n:02d}" for n in numbers[1:])])
        return text, day
    return None, None
