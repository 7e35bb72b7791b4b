"""CrossRef's REST API (`/works`) for tests, on pytest-httpserver.

    fake = FakeCrossref(httpserver)
    fake.add_work("10.1000/solar.1", title="Solar policy", authors=[("Ada", "Example")],
                  published=[2023, 5, 2], pdf=True, publisher="Example Press", journal="J. Energy")
    settings.CROSSREF_API_URL = fake.base_url

`GET /works?query=<terms>&rows=n[&filter=from-pub-date:YYYY[-MM[-DD]],until-pub-date:...][&mailto=]`
answers `{"status": "ok", "message-type": "work-list", "message-version": "1.0.0", "message":
{"facets": {}, "total-results", "items": [...], "items-per-page", "query": {...}}}`. A work has
DOI, URL (http://dx.doi.org/<DOI>), title[], author[{given, family, sequence, affiliation}],
published / published-print / issued {"date-parts": [[y, m, d]]}, link[{URL, content-type,
content-version, intended-application}] (a PDF on this server, `/fulltext/<doi>.pdf`, when
`pdf=True`; not the arXiv fake's `/pdf/`, so both can share one server), publisher,
container-title[], type, subject[], abstract (JATS), score. A query matches a work when every
query word is in its title or abstract (case-insensitive). An unknown filter name gives
CrossRef's 400 validation failure: `{"status": "failed", "message-type": "validation-failure",
"message": [{"type": "filter-not-available", "value": ..., "message": ...}]}`.
`fake.mailtos` lists the `mailto` of each request. Failure knobs (FakeGetApi): on GET /works.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from werkzeug import Request, Response

from tests.fakes.base import json_response
from tests.fakes.searxng import FakeGetApi
from tests.fakes.site import minimal_pdf

FILTERS = ("from-pub-date", "until-pub-date")


def _date_key(parts: list[int]) -> tuple[int, int, int]:
    padded = [*parts, 1, 1][:3]
    return padded[0], padded[1], padded[2]


class FakeCrossref(FakeGetApi):
    prefix = r"^/(works|fulltext/)"
    post_path = "/works"
    malformed_body = '{"status": "ok", "message": {"items": [{"DOI": "10.'

    def __init__(self, httpserver):
        self.works: list[dict[str, Any]] = []
        self.mailtos: list[str | None] = []
        super().__init__(httpserver)

    def pdf_url(self, doi: str) -> str:
        return f"{self.base_url}/fulltext/{quote(doi, safe='')}.pdf"

    def add_work(
        self,
        doi: str,
        *,
        title: str,
        authors: list[tuple[str, str]] | None = None,
        published: list[int] | None = None,
        abstract: str | None = "<jats:p>An abstract.</jats:p>",
        pdf: bool = True,
        publisher: str = "Example Press",
        journal: str | None = "Journal of Examples",
        work_type: str = "journal-article",
        subject: list[str] | None = None,
    ) -> dict[str, Any]:
        published = published or [2023, 5, 2]
        work: dict[str, Any] = {
            "indexed": {"date-parts": [[2024, 1, 10]], "date-time": "2024-01-10T05:12:03Z"},
            "reference-count": 12,
            "publisher": publisher,
            "issue": "3",
            "content-domain": {"domain": [], "crossmark-restriction": False},
            "short-container-title": [],
            "published-print": {"date-parts": [published]},
            "DOI": doi,
            "type": work_type,
            "created": {"date-parts": [[published[0], 1, 1]], "date-time": f"{published[0]}-01-01T00:00:00Z"},
            "page": "1-12",
            "source": "Crossref",
            "is-referenced-by-count": 3,
            "title": [title],
            "prefix": doi.split("/", 1)[0],
            "volume": "7",
            "author": [
                {
                    "given": given,
                    "family": family,
                    "sequence": "first" if i == 0 else "additional",
                    "affiliation": [],
                }
                for i, (given, family) in enumerate(authors or [("Ada", "Example")])
            ],
            "member": "311",
            "container-title": [journal] if journal else [],
            "link": [],
            "deposited": {"date-parts": [[2023, 6, 1]], "date-time": "2023-06-01T00:00:00Z"},
            "score": 17.5,
            "issued": {"date-parts": [published]},
            "references-count": 12,
            "URL": f"http://dx.doi.org/{doi}",
            "subject": subject or ["Energy"],
            "published": {"date-parts": [published]},
        }
        if abstract is not None:
            work["abstract"] = abstract
        if pdf:
            work["link"] = [
                {
                    "URL": f"{self.base_url}/xml/{quote(doi, safe='')}",
                    "content-type": "text/xml",
                    "content-version": "vor",
                    "intended-application": "text-mining",
                },
                {
                    "URL": self.pdf_url(doi),
                    "content-type": "application/pdf",
                    "content-version": "vor",
                    "intended-application": "text-mining",
                },
            ]
        with self._lock:
            self.works.append(work)
        return work

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        if path.startswith("/fulltext/"):
            doi = unquote(path.removeprefix("/fulltext/").removesuffix(".pdf"))
            with self._lock:
                work = next((w for w in self.works if w["DOI"] == doi), None)
            if work is None:
                return Response("Not found", status=404)
            content = minimal_pdf(
                [work["title"][0], f"DOI {doi}"], title=work["title"][0], author="Ada Example"
            )
            return Response(content, content_type="application/pdf")
        with self._lock:
            self.mailtos.append(request.args.get("mailto"))
            works = list(self.works)
        low = high = None
        for part in filter(None, (request.args.get("filter") or "").split(",")):
            name, _, value = part.partition(":")
            if name not in FILTERS:
                # CrossRef's own wording; the message names the filter.
                return json_response(
                    {
                        "status": "failed",
                        "message-type": "validation-failure",
                        "message": [
                            {
                                "type": "filter-not-available",
                                "value": name,
                                "message": f"Filter {name} specified but there is no such filter",
                            }
                        ],
                    },
                    400,
                )
            key = _date_key([int(n) for n in value.split("-")])
            low, high = (key, high) if name == "from-pub-date" else (low, key)
        words = (request.args.get("query") or "").casefold().split()
        rows = int(request.args.get("rows", "20"))
        found = []
        for work in works:
            text = (work["title"][0] + " " + work.get("abstract", "")).casefold()
            if words and not all(word in text for word in words):
                continue
            day = _date_key(work["published"]["date-parts"][0])
            if (low and day < low) or (high and day > high):
                continue
            found.append(work)
        return json_response(
            {
                "status": "ok",
                "message-type": "work-list",
                "message-version": "1.0.0",
                "message": {
                    "facets": {},
                    "total-results": len(found),
                    "items": found[:rows],
                    "items-per-page": rows,
                    "query": {"start-index": 0, "search-terms": request.args.get("query")},
                },
            }
        )
