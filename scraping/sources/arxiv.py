"""arXiv's Atom API: `GET {ARXIV_API_URL}/api/query?search_query=...&start=0&max_results=n`.

The query is `all:<keyword>` (quoted when it has spaces, so it is searched as a phrase), with
`AND submittedDate:[YYYYMMDD0000 TO YYYYMMDD2359]` when the job has a date range; entries are
checked against the range again on our side (published date), so a server that ignores the
filter cannot widen it. The answer is Atom with the `arxiv:` extension namespace; it is parsed with
defusedxml. arXiv reports a bad query as a feed with one entry whose id is under
`/api/errors`: that is an error, not a paper.

Candidate: the PDF link (`<link title="pdf">`) when there is one, else the abstract page
(`rel="alternate"`); metadata: title, authors, published, updated, doi, abstract, arxiv_id,
categories, primary_category, journal_ref, abs_url, pdf_url. arXiv asks for at most one request
every three seconds; the Fetcher's per-host politeness delay spaces requests.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from scraping.sources.sitemap import w3c_date

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
ABSTRACT_CHARS = 5000


class ArxivMalformed(ValueError):
    pass


def arxiv_query_url(*, base: str, keyword: str, max_results: int, date_from=None, date_to=None) -> str:
    term = f'"{keyword}"' if " " in keyword.strip() else keyword.strip()
    query = f"all:{term}"
    if date_from or date_to:
        low = (date_from or date(1991, 1, 1)).strftime("%Y%m%d") + "0000"
        high = (date_to or date(9999, 12, 31)).strftime("%Y%m%d") + "2359"
        query += f" AND submittedDate:[{low} TO {high}]"
    params = {"search_query": query, "start": 0, "max_results": max_results}
    return f"{base.rstrip('/')}/api/query?{urlencode(params)}"


def _text(element, path: str) -> str | None:
    found = element.find(path)
    if found is None or found.text is None:
        return None
    return " ".join(found.text.split()) or None


def arxiv_entries(content: bytes) -> list[dict]:
    """The papers of an arXiv Atom answer as dicts (url + metadata); ArxivMalformed if it is not one."""
    try:
        root = fromstring(content)
    except ParseError as exc:
        line, column = getattr(exc, "position", (None, None))
        raise ArxivMalformed(f"the answer is not well-formed XML (line {line}, column {column})") from None
    except DefusedXmlException:
        raise ArxivMalformed("the answer uses XML entities or DTDs, which are refused") from None
    if root.tag != f"{ATOM}feed":
        raise ArxivMalformed("the answer is not an Atom feed")
    papers = []
    for entry in root.findall(f"{ATOM}entry"):
        entry_id = _text(entry, f"{ATOM}id") or ""
        if "/api/errors" in entry_id:
            message = _text(entry, f"{ATOM}summary") or "unknown error"
            raise ArxivMalformed(f"arXiv refused the query: {message}")
        abs_url = pdf_url = None
        for link in entry.findall(f"{ATOM}link"):
            href = (link.get("href") or "").strip()
            if not href:
                continue
            if link.get("title") == "pdf" or link.get("type") == "application/pdf":
                pdf_url = pdf_url or href
            elif link.get("rel", "alternate") == "alternate":
                abs_url = abs_url or href
        abs_url = abs_url or (entry_id if entry_id.startswith("http") else None)
        url = pdf_url or abs_url
        if not url:
            continue
        published = w3c_date(_text(entry, f"{ATOM}published"))
        updated = w3c_date(_text(entry, f"{ATOM}updated"))
        primary = entry.find(f"{ARXIV}primary_category")
        categories = [c.get("term") for c in entry.findall(f"{ATOM}category") if c.get("term")]
        metadata = {
            "title": _text(entry, f"{ATOM}title"),
            "authors": [name for a in entry.findall(f"{ATOM}author") if (name := _text(a, f"{ATOM}name"))],
            "published": published.isoformat() if published else None,
            "updated": updated.isoformat() if updated else None,
            "doi": _text(entry, f"{ARXIV}doi"),
            "abstract": (_text(entry, f"{ATOM}summary") or "")[:ABSTRACT_CHARS] or None,
            "arxiv_id": _arxiv_id(entry_id),
            "categories": categories,
            "primary_category": primary.get("term") if primary is not None else None,
            "journal_ref": _text(entry, f"{ARXIV}journal_ref"),
            "abs_url": abs_url,
            "pdf_url": pdf_url,
        }
        papers.append({"url": url, "published": published, "metadata": metadata})
    return papers


def _arxiv_id(entry_id: str) -> str | None:
    """`http://arxiv.org/abs/2401.01234v2` -> `2401.01234v2` (old ids keep their archive)."""
    marker = "/abs/"
    if marker not in entry_id:
        return None
    return entry_id.split(marker, 1)[1].strip("/") or None
