"""A small stateful LinkedIn (Posts API + OpenID userinfo) for tests, served by pytest-httpserver.

    fake = FakeLinkedIn(httpserver)               # fake.author_urn = "urn:li:person:<sub>"
    publisher = LinkedInPublisher(base_url=fake.base_url, access_token=fake.token,
                                  author_urn=fake.author_urn, ...)

Endpoints (Bearer token required, else 401 INVALID_ACCESS_TOKEN; /rest/ also needs a
`LinkedIn-Version: YYYYMM` header, else 400 VERSION_MISSING):
- POST /rest/posts: the Posts API body (author, commentary, visibility, distribution,
  lifecycleState); 201 with an empty body and `x-restli-id: urn:li:share:<n>`. 403 when the author
  is not the token's member (or its organization), 422 when a field is missing or the commentary
  repeats one of the author's posts ("Content is a duplicate of urn:li:share:...").
- GET /rest/posts?q=author&author=<urn>&count=<n>&sortBy=LAST_MODIFIED: {"elements": [...],
  "paging": {...}}, newest first; `fake.posts` holds what was created (oldest first).
- GET /v2/userinfo: OpenID Connect claims {"sub", "name", "given_name", "family_name", ...}.
Failure knobs: see tests.fakes.base (they act on POST /rest/posts unless told a path).
"""

import itertools
from typing import Any

from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response

DEFAULT_TOKEN = "fake-linkedin-token-0123456789"


def _error(status: int, message: str, code: str | None = None) -> Response:
    body = {"status": status, "message": message}
    if code:
        body["code"] = code
    return json_response(body, status)


class FakeLinkedIn(FakeHttpPlatform):
    prefix = r"^/(rest|v2)/"
    post_path = "/rest/posts"

    def __init__(self, httpserver, *, token: str = DEFAULT_TOKEN, sub: str = "abc123XYZ"):
        self.token = token
        self.userinfo = {
            "sub": sub,
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.com",
            "email_verified": True,
            "locale": {"country": "GB", "language": "en"},
        }
        self.author_urn = f"urn:li:person:{sub}"
        self.organization_urn = "urn:li:organization:2414183"
        self.posts: list[dict[str, Any]] = []
        self._ids = itertools.count(7_200_000_000_000_000_001)
        super().__init__(httpserver)

    def add_post(self, commentary: str, *, author: str | None = None) -> dict[str, Any]:
        with self._lock:
            urn = f"urn:li:share:{next(self._ids)}"
            post = {
                "id": urn,
                "author": author or self.author_urn,
                "commentary": commentary,
                "visibility": "PUBLIC",
                "lifecycleState": "PUBLISHED",
                "distribution": {"feedDistribution": "MAIN_FEED"},
                "isReshareDisabledByAuthor": False,
            }
            self.posts.append(post)
            return dict(post)

    def error_body(self, status: int) -> Any:
        return {"status": status, "message": f"Fake failure (HTTP {status})"}

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "Invalid access token", "INVALID_ACCESS_TOKEN")
        if method == "GET" and path == "/v2/userinfo":
            return json_response(self.userinfo)
        if path.startswith("/rest/"):
            version = request.headers.get("LinkedIn-Version") or ""
            if not (len(version) == 6 and version.isdigit()):
                return _error(400, "A version must be present. Please specify a version.", "VERSION_MISSING")
        if path == "/rest/posts" and method == "POST":
            return self._create(body)
        if path == "/rest/posts" and method == "GET":
            return self._find(request)
        return _error(404, f"No resource found for {path}", "RESOURCE_NOT_FOUND")

    def _create(self, body: Any) -> Response:
        if not isinstance(body, dict):
            return _error(400, "Invalid JSON body")
        missing = [
            field
            for field in ("author", "commentary", "visibility", "distribution", "lifecycleState")
            if field not in body
        ]
        if missing:
            return _error(422, f"/{missing[0]} :: required field is missing", "UNPROCESSABLE_ENTITY")
        if body["author"] not in (self.author_urn, self.organization_urn):
            return _error(403, "Not enough permissions to do action on this author", "ACCESS_DENIED")
        with self._lock:
            for post in self.posts:
                if post["author"] == body["author"] and post["commentary"] == body["commentary"]:
                    return _error(422, f"Content is a duplicate of {post['id']}", "DUPLICATE_POST")
            post = self.add_post(str(body["commentary"]), author=body["author"])
        return Response(
            "", status=201, headers={"x-restli-id": post["id"], "Location": f"/rest/posts/{post['id']}"}
        )

    def _find(self, request: Request) -> Response:
        if request.args.get("q") != "author" or not request.args.get("author"):
            return _error(400, "Parameter q=author with an author is required", "ILLEGAL_ARGUMENT")
        author = request.args["author"]
        count = int(request.args.get("count", 10))
        with self._lock:
            found = [dict(p) for p in reversed(self.posts) if p["author"] == author][:count]
        return json_response({"elements": found, "paging": {"start": 0, "count": count, "links": []}})
