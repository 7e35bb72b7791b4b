"""A small stateful X API v2 for tests, served by pytest-httpserver.

    fake = FakeX(httpserver)                        # base_url = the API base, e.g. http://localhost:PORT
    publisher = XPublisher(base_url=fake.base_url, access_token=fake.token, ...)
    fake.accept_then_hang_next(1.0)                 # knobs: see tests.fakes.base
    assert len(fake.posts) == 1

Endpoints (Bearer token required, else 401 problem details):
- POST /2/tweets {"text"}: 201 {"data": {"id", "text", "edit_history_tweet_ids"}}; 400 when the
  text is missing, empty or over 280 characters; 403 "duplicate content" when the account already
  posted the same text (as X does).
- GET /2/users/me: {"data": {"id", "name", "username"}}.
- GET /2/users/{id}/tweets?max_results=5..100 (default 10): newest first, as X renders them: links
  rewritten to t.co and &, <, > escaped; {"meta": {"result_count": 0}} without "data" when empty.
Errors are problem details ({"title", "detail", "type", "status"}); a 429 carries
x-rate-limit-limit/remaining/reset (epoch seconds, `fake.reset_in` from now).
"""

import itertools
import json
import re
import time
from typing import Any

from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response

DEFAULT_TOKEN = "fake-x-user-token-0123456789"
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, type_: str = "about:blank") -> Response:
    return Response(
        json.dumps({"title": title, "detail": detail, "type": type_, "status": status}),
        status=status,
        content_type=PROBLEM,
    )


class FakeX(FakeHttpPlatform):
    prefix = r"^/2/"
    post_path = "/2/tweets"

    def __init__(self, httpserver, *, token: str = DEFAULT_TOKEN, username: str = "socialdesk"):
        self.token = token
        self.user = {"id": "1500000000000000001", "name": "Socialdesk", "username": username}
        self.posts: list[dict[str, str]] = []  # oldest first: {"id", "text"}
        self.reset_in = 900
        self._ids = itertools.count(1)
        super().__init__(httpserver)

    def add_post(self, text: str) -> dict[str, str]:
        with self._lock:
            post = {"id": str(1_800_000_000_000_000_000 + next(self._ids)), "text": text}
            self.posts.append(post)
            return dict(post)

    def error_body(self, status: int) -> Any:
        return {
            "title": "Service Unavailable",
            "detail": f"Fake failure (HTTP {status})",
            "type": "about:blank",
        }

    def rate_limit_headers(self) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(time.time() + self.reset_in)),
        }

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return problem(401, "Unauthorized", "Unauthorized")
        if method == "POST" and path == "/2/tweets":
            return self._create(body)
        if method == "GET" and path == "/2/users/me":
            return json_response({"data": self.user})
        match = re.fullmatch(r"/2/users/([^/]+)/tweets", path)
        if method == "GET" and match:
            return self._timeline(request, match.group(1))
        return problem(404, "Not Found Error", f"Could not find {path}")

    def _create(self, body: Any) -> Response:
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text or len(text) > 280:
            return json_response(
                {
                    "errors": [{"message": "$.text: must be between 1 and 280 characters"}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
                400,
            )
        with self._lock:
            if any(post["text"] == text for post in self.posts):
                return problem(
                    403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
                )
            post = self.add_post(text)
        return json_response({"data": {**post, "edit_history_tweet_ids": [post["id"]]}}, 201)

    def _timeline(self, request: Request, user_id: str) -> Response:
        if user_id != self.user["id"]:
            return problem(404, "Not Found Error", f"Could not find user with id: [{user_id}].")
        try:
            limit = int(request.args.get("max_results", 10))
        except ValueError:
            limit = 0
        if not 5 <= limit <= 100:
            return problem(400, "Invalid Request", "max_results must be between 5 and 100")
        with self._lock:
            page = [dict(post, text=_rendered(post["text"])) for post in reversed(self.posts)][:limit]
        if not page:
            return json_response({"meta": {"result_count": 0}})
        meta = {"result_count": len(page), "newest_id": page[0]["id"], "oldest_id": page[-1]["id"]}
        return json_response({"data": page, "meta": meta})


def _rendered(text: str) -> str:
    """The text as X answers it: every link shortened to t.co, &, <, > as entities."""
    counter = itertools.count(1)
    text = re.sub(r"https?://\S+", lambda _: f"https://t.co/fake{next(counter):04d}", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
