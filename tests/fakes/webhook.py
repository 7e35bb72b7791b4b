"""A blog's webhook receiver for tests, honouring the contract of platforms.kinds.webhook.publisher:
it checks X-Socialdesk-Signature (HMAC-SHA256 of "{timestamp}.{raw body}" with the shared secret)
and dedupes by Idempotency-Key (a repeated key gets the same answer, no second post).

    fake = FakeWebhook(httpserver)                # fake.url is the endpoint, fake.secret the key
    assert len(fake.posts) == 1

Answers 201 {"id", "url"}, or an empty 204 with `fake.answer_body = False`. A bad or missing
signature is 401; a body without idempotency_key or content, or whose `images` break the contract
(each an object with a string `url`, `alt_text` and `media_type`, `width`/`height` integers or
null, `position` counting 1, 2, 3... in order), is 400. With `fake.fetch_images = True` the
receiver downloads every image URL of a new post before answering, as a blog copying the files
would, and keeps what it got in `fake.fetched` (url, status, content type, bytes). Failure knobs:
see tests.fakes.base (they act on POST `fake.path`).
"""

import hashlib
import hmac
import itertools
from typing import Any

import httpx
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
        self.fetch_images = False
        self.fetched: list[dict[str, Any]] = []
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
        if not _valid_images(body.get("images", [])):
            return json_response({"error": "bad images"}, 400)
        with self._lock:
            post = self._by_key.get(key)
            if post is None:
                if self.fetch_images:
                    self.fetched.extend(_fetch(image["url"]) for image in body.get("images", []))
                post = {"id": f"post-{next(self._ids)}", **body}
                post["url"] = f"https://blog.example/{post['id']}"
                self.posts.append(post)
                self._by_key[key] = post
        if not self.answer_body:
            return Response(status=204)
        return json_response({"id": post["id"], "url": post["url"]}, 201)


def _valid_images(images: Any) -> bool:
    if not isinstance(images, list):
        return False
    for position, image in enumerate(images, start=1):
        if not isinstance(image, dict) or image.get("position") != position:
            return False
        if not all(isinstance(image.get(name), str) for name in ("url", "alt_text", "media_type")):
            return False
        for name in ("width", "height"):
            value = image.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                return False
    return True


def _fetch(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=5.0)
    return {
        "url": url,
        "status": response.status_code,
        "content_type": response.headers.get("Content-Type"),
        "body": response.content,
    }
