"""A small stateful WordPress REST API for tests, served by pytest-httpserver.

    fake = FakeWordPress(httpserver)              # base_url = the site URL
    publisher = WordPressPublisher(site_url=fake.base_url, username=fake.username,
                                   application_password=fake.password, ...)

Authentication is HTTP Basic with an application password (spaces in it are ignored, as WordPress
does). Without credentials: 401 rest_not_logged_in; a wrong password: 401 incorrect_password.
Endpoints:
- POST /wp-json/wp/v2/posts {"title", "content", "status", "slug"}: 201 with the post (id, slug,
  status, link, title/content raw+rendered). An unknown status is 400 rest_invalid_param; a slug
  already taken gets "-2", "-3"... appended, as WordPress does.
- GET /wp-json/wp/v2/posts?slug=&status=a,b&context=edit: the matching posts (a list); statuses
  other than publish, and context=edit, need credentials (401 rest_forbidden_context).
- GET /wp-json/wp/v2/users/me?context=edit: the user.
`fake.posts` holds what was created (oldest first). Failure knobs: see tests.fakes.base (they act
on POST /wp-json/wp/v2/posts unless told a path).
"""

import base64
import itertools
from typing import Any

from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response

DEFAULT_PASSWORD = "abcd EFGH 1234 ijkl MNOP 5678"  # an application password's shape
STATUSES = ("publish", "future", "draft", "pending", "private")


def wp_error(status: int, code: str, message: str) -> Response:
    return json_response({"code": code, "message": message, "data": {"status": status}}, status)


class FakeWordPress(FakeHttpPlatform):
    prefix = r"^/wp-json/"
    post_path = "/wp-json/wp/v2/posts"
    malformed_body = '{"id": 12, "link": '

    def __init__(self, httpserver, *, username: str = "editor", password: str = DEFAULT_PASSWORD):
        self.username = username
        self.password = password
        self.user = {
            "id": 3,
            "username": username,
            "name": "The Editor",
            "slug": username,
            "roles": ["editor"],
        }
        self.posts: list[dict[str, Any]] = []
        self._ids = itertools.count(101)
        super().__init__(httpserver)

    def add_post(
        self, *, title: str, content: str = "", slug: str, status: str = "publish"
    ) -> dict[str, Any]:
        with self._lock:
            taken = {post["slug"] for post in self.posts}
            unique, n = slug, 1
            while unique in taken:
                n += 1
                unique = f"{slug}-{n}"
            post = {
                "id": next(self._ids),
                "date": "2026-01-01T12:00:00",
                "slug": unique,
                "status": status,
                "type": "post",
                "link": f"{self.base_url}/{unique}/",
                "title": {"raw": title, "rendered": title},
                "content": {"raw": content, "rendered": content},
                "author": self.user["id"],
            }
            self.posts.append(post)
            return dict(post)

    def error_body(self, status: int) -> Any:
        return {
            "code": "fake_failure",
            "message": f"Fake failure (HTTP {status})",
            "data": {"status": status},
        }

    def _authenticated(self, request: Request) -> bool | None:
        """True, False (wrong credentials) or None (none given)."""
        header = request.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.username and password.replace(" ", "") == self.password.replace(" ", "")

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        auth = self._authenticated(request)
        if auth is False:
            return wp_error(
                401, "incorrect_password", "The provided password is an invalid application password."
            )
        if path == "/wp-json/wp/v2/users/me" and method == "GET":
            if not auth:
                return wp_error(401, "rest_not_logged_in", "You are not currently logged in.")
            return json_response(self.user)
        if path == "/wp-json/wp/v2/posts" and method == "POST":
            if not auth:
                return wp_error(
                    401, "rest_cannot_create", "Sorry, you are not allowed to create posts as this user."
                )
            return self._create(body)
        if path == "/wp-json/wp/v2/posts" and method == "GET":
            return self._list(request, authenticated=bool(auth))
        return wp_error(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _create(self, body: Any) -> Response:
        if not isinstance(body, dict):
            return wp_error(400, "rest_invalid_json", "Invalid JSON body passed.")
        status = body.get("status", "draft")
        if status not in STATUSES:
            return wp_error(400, "rest_invalid_param", "Invalid parameter(s): status")
        post = self.add_post(
            title=str(body.get("title") or ""),
            content=str(body.get("content") or ""),
            slug=str(body.get("slug") or "post"),
            status=status,
        )
        return json_response(post, 201)

    def _list(self, request: Request, *, authenticated: bool) -> Response:
        statuses = (request.args.get("status") or "publish").split(",")
        if not authenticated and (request.args.get("context") == "edit" or statuses != ["publish"]):
            return wp_error(
                401, "rest_forbidden_context", "Sorry, you are not allowed to edit posts in this post type."
            )
        if any(status not in STATUSES for status in statuses):
            return wp_error(400, "rest_invalid_param", "Invalid parameter(s): status")
        slug = request.args.get("slug")
        with self._lock:
            found = [
                dict(post)
                for post in reversed(self.posts)
                if post["status"] in statuses and (slug is None or post["slug"] == slug)
            ]
        return json_response(found)
