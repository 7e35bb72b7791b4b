"""A SearXNG-compatible JSON search server for tests, on pytest-httpserver.

    fake = FakeSearxng(httpserver, page_size=10)
    fake.add_results("solar", ["https://a.example/1", {"url": "https://b.example/2", "title": "B"}])
    settings.SCRAPING_SEARCH_URL = fake.base_url          # or the SystemConfig scraping_search_url

`GET /search?q=<query>&format=json&pageno=<n>[&language=xx]` answers SearXNG's JSON: `query`,
`number_of_results`, `results` (url, title, content, engine, engines, positions, score, category,
parsed_url, publishedDate), `answers`, `corrections`, `infoboxes`, `suggestions`,
`unresponsive_engines`; `page_size` results a page, an empty `results` past the end. A query with
no results added gets none. Without `format=json` (or with another format) the answer is 403, as
SearXNG does when JSON output is not enabled in `search.formats` (`fake.json_enabled = False`
makes every request 403). No `q`: 400.

Failure knobs (tests.fakes.base, for GET /search unless told otherwise): `fail_next(503, ...)`,
`rate_limit_next("2")`, `malformed_next()` (truncated JSON), `hang_next(seconds)`.
`FakeGetApi` is the base the arXiv and CrossRef fakes share: the same knobs, defaulting to GET.
Request log: `fake.requests` (RecordedRequest: `arg("q")`, `arg("pageno")`...).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response


class FakeGetApi(FakeHttpPlatform):
    """FakeHttpPlatform whose failure knobs act on GET requests to `post_path` by default."""

    def fail_next(self, status=500, body=None, headers=None, *, path=None, method="GET", times=1) -> None:
        super().fail_next(status, body, headers, path=path, method=method, times=times)

    def rate_limit_next(self, retry_after="1", *, path=None, method="GET", times=1) -> None:
        super().rate_limit_next(retry_after, path=path, method=method, times=times)

    def malformed_next(self, *, path=None, method="GET", times=1) -> None:
        super().malformed_next(path=path, method=method, times=times)

    def hang_next(self, seconds, *, path=None, method="GET", times=1) -> None:
        super().hang_next(seconds, path=path, method=method, times=times)


class FakeSearxng(FakeGetApi):
    prefix = r"^/search"
    post_path = "/search"
    malformed_body = '{"query": "solar", "results": [{"url": "https://'

    def __init__(self, httpserver, *, page_size: int = 10):
        self.page_size = page_size
        self.json_enabled = True
        self.results: dict[str, list[dict[str, Any]]] = {}
        super().__init__(httpserver)

    def add_results(self, query: str, results: list[str | dict[str, Any]]) -> list[dict[str, Any]]:
        """Results for `query` (case-insensitive), in rank order; a string is a URL."""
        made = []
        with self._lock:
            existing = self.results.setdefault(query.casefold(), [])
            for item in results:
                item = {"url": item} if isinstance(item, str) else dict(item)
                position = len(existing) + 1
                parts = urlsplit(item["url"])
                result = {
                    "url": item["url"],
                    "title": item.get("title", f"Result {position} for {query}"),
                    "content": item.get("content", f"A page about {query}."),
                    "engine": item.get("engine", "duckduckgo"),
                    "engines": [item.get("engine", "duckduckgo")],
                    "positions": [position],
                    "score": round(1.0 / position, 4),
                    "category": "general",
                    "parsed_url": [parts.scheme, parts.netloc, parts.path, "", parts.query, ""],
                    "template": "default.html",
                    "publishedDate": item.get("publishedDate"),
                    "thumbnail": None,
                }
                existing.append(result)
                made.append(result)
        return made

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        if method != "GET" or path != "/search":
            return Response("Not Found", status=404, content_type="text/html")
        if not self.json_enabled or request.args.get("format") != "json":
            return Response("<html><body>403 Forbidden</body></html>", status=403, content_type="text/html")
        query = (request.args.get("q") or "").strip()
        if not query:
            return json_response({"error": "search error"}, 400)
        try:
            pageno = max(1, int(request.args.get("pageno", "1")))
        except ValueError:
            return json_response({"error": "search error"}, 400)
        with self._lock:
            everything = list(self.results.get(query.casefold(), []))
        start = (pageno - 1) * self.page_size
        return json_response(
            {
                "query": query,
                "number_of_results": len(everything),
                "results": everything[start : start + self.page_size],
                "answers": [],
                "corrections": [],
                "infoboxes": [],
                "suggestions": [f"{query} news"],
                "unresponsive_engines": [],
            }
        )
