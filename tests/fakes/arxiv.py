"""arXiv's Atom API for tests, on pytest-httpserver.

    fake = FakeArxiv(httpserver)
    fake.add_paper("2401.01234", title="Solar cells at scale", abstract="...", authors=["Ada Example"],
                   published="2024-01-05", categories=["physics.app-ph"], doi="10.1000/xyz")
    settings.ARXIV_API_URL = fake.base_url

`GET /api/query?search_query=...&start=0&max_results=n` answers an Atom feed as arXiv does: feed
`link rel=self`, `title`, `id`, `updated`, `opensearch:totalResults/startIndex/itemsPerPage`, and
per paper an `entry` with `id` (…/abs/<id>v1), `updated`, `published`, `title`, `summary`,
`author/name` (+ `arxiv:affiliation`), `arxiv:doi`, `arxiv:journal_ref`, `arxiv:comment`,
`link rel=alternate type=text/html` (abs page), `link title=pdf rel=related type=application/pdf`,
`link title=doi` when there is a DOI, `arxiv:primary_category` and `category` terms.
Queries: `all:<term>` or `all:"a phrase"` match title or abstract (case-insensitive);
`ti:`, `abs:` likewise on one field; `AND submittedDate:[YYYYMMDDHHMM TO YYYYMMDDHHMM]` filters
by published date. No search_query: 400 with arXiv's error feed (an entry whose id is
http://arxiv.org/api/errors#...). Links point back at this server: `/abs/<id>` is an HTML page and
`/pdf/<id>` a one-page PDF (tests.fakes.site.minimal_pdf) whose text names the title, so a job
can fetch and store the papers it found.
Failure knobs (tests.fakes.base via FakeGetApi) act on GET /api/query: `fail_next`,
`rate_limit_next`, `malformed_next` (truncated XML), `hang_next`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from werkzeug import Request, Response

from tests.fakes.searxng import FakeGetApi
from tests.fakes.site import minimal_pdf

ATOM_TYPE = "application/atom+xml; charset=utf-8"
QUERY_RE = re.compile(r'^(all|ti|abs):(?:"([^"]+)"|(\S+))')
DATE_RE = re.compile(r"submittedDate:\[(\d{8})\d*\s+TO\s+(\d{8})\d*\]")


@dataclass
class FakePaper:
    arxiv_id: str
    title: str
    abstract: str
    authors: list[str]
    published: str  # YYYY-MM-DD
    categories: list[str] = field(default_factory=lambda: ["cs.CL"])
    doi: str | None = None
    journal_ref: str | None = None
    pdf: bool = True


class FakeArxiv(FakeGetApi):
    prefix = r"^/(api/query|abs/|pdf/)"
    post_path = "/api/query"
    malformed_body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n<entry><id>'
    )

    def __init__(self, httpserver):
        self.papers: list[FakePaper] = []
        super().__init__(httpserver)

    def add_paper(
        self,
        arxiv_id: str,
        *,
        title: str,
        abstract: str = "An abstract.",
        authors: list[str] | None = None,
        published: str = "2024-01-05",
        categories: list[str] | None = None,
        doi: str | None = None,
        journal_ref: str | None = None,
        pdf: bool = True,
    ) -> FakePaper:
        paper = FakePaper(
            arxiv_id=arxiv_id,
            title=title,
            abstract=abstract,
            authors=authors or ["Ada Example"],
            published=published,
            categories=categories or ["cs.CL"],
            doi=doi,
            journal_ref=journal_ref,
            pdf=pdf,
        )
        with self._lock:
            self.papers.append(paper)
        return paper

    def abs_url(self, arxiv_id: str) -> str:
        return f"{self.base_url}/abs/{arxiv_id}v1"

    def pdf_url(self, arxiv_id: str) -> str:
        return f"{self.base_url}/pdf/{arxiv_id}v1"

    # Serving ----------------------------------------------------------------------------------

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        if path.startswith("/abs/"):
            paper = self._paper(path.removeprefix("/abs/"))
            if paper is None:
                return Response("Not found", status=404)
            html = (
                f"<html><head><title>{escape(paper.title)}</title></head><body><h1>{escape(paper.title)}</h1>"
            )
            html += f"<p>{escape(paper.abstract)}</p></body></html>"
            return Response(html, content_type="text/html; charset=utf-8")
        if path.startswith("/pdf/"):
            paper = self._paper(path.removeprefix("/pdf/"))
            if paper is None or not paper.pdf:
                return Response("Not found", status=404)
            lines = [paper.title, paper.abstract[:80]]
            content = minimal_pdf(lines, title=paper.title, author=", ".join(paper.authors))
            return Response(content, content_type="application/pdf")
        query = request.args.get("search_query", "")
        if not query:
            return Response(self._error_feed(request), status=400, content_type=ATOM_TYPE)
        try:
            start = int(request.args.get("start", "0"))
            max_results = int(request.args.get("max_results", "10"))
        except ValueError:
            return Response(self._error_feed(request), status=400, content_type=ATOM_TYPE)
        found = self._search(query)
        return Response(
            self._feed(request, found[start : start + max_results], total=len(found), start=start),
            content_type=ATOM_TYPE,
        )

    def _paper(self, versioned: str) -> FakePaper | None:
        wanted = re.sub(r"v\d+$", "", versioned)
        with self._lock:
            return next((p for p in self.papers if p.arxiv_id == wanted), None)

    def _search(self, query: str) -> list[FakePaper]:
        match = QUERY_RE.match(query)
        if not match:
            return []
        field_name, phrase, word = match.groups()
        term = (phrase or word).casefold()
        low = high = None
        dates = DATE_RE.search(query)
        if dates:
            low, high = dates.groups()
        with self._lock:
            papers = list(self.papers)
        out = []
        for paper in papers:
            haystack = {"all": paper.title + " " + paper.abstract, "ti": paper.title, "abs": paper.abstract}
            if term not in haystack[field_name].casefold():
                continue
            day = paper.published.replace("-", "")
            if low and not (low <= day <= high):
                continue
            out.append(paper)
        return out

    def _feed(self, request: Request, papers: list[FakePaper], *, total: int, start: int) -> str:
        self_link = quoteattr(f"http://arxiv.org/api/query?{request.query_string.decode('latin-1')}")
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<feed xmlns="http://www.w3.org/2005/Atom">',
            f'  <link href={self_link} rel="self" type="application/atom+xml"/>',
            f'  <title type="html">ArXiv Query: {escape(request.args.get("search_query", ""))}</title>',
            "  <id>http://arxiv.org/api/0hxD4Ex9RkWHC2X4v8VyVQ6y4KE</id>",
            "  <updated>2024-02-01T00:00:00-05:00</updated>",
            '  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
            f"{total}</opensearch:totalResults>",
            '  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
            f"{start}</opensearch:startIndex>",
            '  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
            f"{len(papers)}</opensearch:itemsPerPage>",
        ]
        for paper in papers:
            parts.append(self._entry(paper))
        parts.append("</feed>")
        return "\n".join(parts) + "\n"

    def _entry(self, paper: FakePaper) -> str:
        ns = 'xmlns:arxiv="http://arxiv.org/schemas/atom"'
        stamp = f"{paper.published}T18:00:00Z"
        # arXiv wraps long titles and indents abstracts; parsers must normalise whitespace.
        title = escape(paper.title).replace(" ", "\n  ", 1) if len(paper.title) > 20 else escape(paper.title)
        lines = [
            "  <entry>",
            f"    <id>http://arxiv.org/abs/{paper.arxiv_id}v1</id>",
            f"    <updated>{stamp}</updated>",
            f"    <published>{stamp}</published>",
            f"    <title>{title}</title>",
            f"    <summary>  {escape(paper.abstract)}\n</summary>",
        ]
        for author in paper.authors:
            lines.append(
                f"    <author>\n      <name>{escape(author)}</name>\n"
                f"      <arxiv:affiliation {ns}>Example University</arxiv:affiliation>\n    </author>"
            )
        if paper.doi:
            lines.append(f"    <arxiv:doi {ns}>{escape(paper.doi)}</arxiv:doi>")
        if paper.journal_ref:
            lines.append(f"    <arxiv:journal_ref {ns}>{escape(paper.journal_ref)}</arxiv:journal_ref>")
        lines.append(f"    <arxiv:comment {ns}>12 pages, 3 figures</arxiv:comment>")
        lines.append(f'    <link href="{self.abs_url(paper.arxiv_id)}" rel="alternate" type="text/html"/>')
        if paper.pdf:
            lines.append(
                f'    <link title="pdf" href="{self.pdf_url(paper.arxiv_id)}" rel="related"'
                ' type="application/pdf"/>'
            )
        if paper.doi:
            lines.append(
                f'    <link title="doi" href="http://dx.doi.org/{escape(paper.doi)}" rel="related"/>'
            )
        lines.append(
            f'    <arxiv:primary_category {ns} term="{paper.categories[0]}" scheme="http://arxiv.org/schemas/atom"/>'
        )
        for category in paper.categories:
            lines.append(f'    <category term="{category}" scheme="http://arxiv.org/schemas/atom"/>')
        lines.append("  </entry>")
        return "\n".join(lines)

    def _error_feed(self, request: Request) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom">\n'
            "  <title>ArXiv Query: error</title>\n"
            "  <id>http://arxiv.org/api/errors</id>\n"
            "  <entry>\n"
            "    <id>http://arxiv.org/api/errors#incorrect_id_format_for_</id>\n"
            "    <title>Error</title>\n"
            "    <summary>incorrect id format for </summary>\n"
            '    <link href="http://arxiv.org/api/errors#incorrect_id_format_for_" rel="alternate"'
            ' type="text/html"/>\n'
            "  </entry>\n"
            "</feed>\n"
        )
