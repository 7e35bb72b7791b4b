"""A blog's webhook receiver for tests, honouring the contract of platforms.kinds.webhook.publisher:
it checks X-Socialdesk-Signature (HMAC-SHA256 of "{timestamp}.{raw body}" with the shared secret)
and dedupes by Idempotency-Key (a repeated key gets the same answer, no second post).

    fake = FakeWebhook(httpserver)                # fake.url is the endpoint, fake.secret the key
    assert len(fake.posts) == 1

Answers 201 {"id", "url"}, or an empty 204 with `fake.answer_body = False`. A bad or missing
signature is 401; a body without idempotency_key or content is 400. Failure knobs: see
tests.fakes.base (they act on POST `fake.path`).
"""

import hashlib
import hmac
import itertools
from typing import Any

from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response

DEFAULT_SECRET = "fake-webhook-shared-secret-0123456789"


class FakeWebhook(FakeHttpPlatform):
    prefix = r"^/hooks/"
    post_path = "/hooks/blog"

    def __init__(self, httpserver, *, secret: str = DEFAULT_SECRET):
        self.secret = secret
        self.posts: list[dict[str, Any]] = []
        self.answer_body = True
        self._by_key: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        super().__init__(httpserver)
        self.path = self.post_path
        self.url = f"{self.base_url}{self.path}"

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        if method != "POST" or path != self.path:
            return json_response({"error": "not found"}, 404)
        timestamp = request.headers.get("X-Socialdesk-Timestamp") or ""
        expected = (
            "sha256="
            + hmac.new(
                self.secret.encode(), f"{timestamp}.".encode() + request.get_data(), hashlib.sha256
            ).hexdigest()
        )
        if not hmac.compare_digest(request.headers.get("X-Socialdesk-Signature") or "", expected):
            return json_response({"error": "bad signature"}, 401)
        key = request.headers.get("Idempotency-Key")
        if (
            not isinstance(body, dict)
            or not key
            or body.get("idempotency_key") != key
            or not body.get("content")
        ):
            return json_response({"error": "bad request"}, 400)
        with self._lock:
            post = self._by_key.get(key)
            if post is None:
                post = {"id": f"post-{next(self._ids)}", **body}
                post["url"] = f"https://blog.example/{post['id']}"
                self.posts.append(post)
                self._by_key[key] = post
        if not self.answer_body:
            return Response(status=204)
        return json_response({"id": post["id"], "url": post["url"]}, 201)
