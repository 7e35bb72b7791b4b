"""A small stateful WordPress REST API for tests, served by pytest-httpserver.

    fake = FakeWordPress(httpserver)              # base_url = the site URL
    publisher = WordPressPublisher(site_url=fake.base_url, username=fake.username,
                                   application_password=fake.password, ...)

Authentication is HTTP Basic with an application password (spaces in it are ignored, as WordPress
does). Without credentials: 401 rest_not_logged_in; a wrong password: 401 incorrect_password.
Endpoints:
- POST /wp-json/wp/v2/posts {"title", "content", "status", "slug", "categories", "tags"}: 201 with
  the post (id, slug, status, link, title/content raw+rendered, categories, tags). An unknown
  status, or a term id that is not an integer, is 400 rest_invalid_param; a term id that does not
  exist is silently left out (wp_set_object_terms skips it). The slug is sanitized as WordPress's
  `sanitize_title` does: Latin accents removed, other letters lower-cased and stored
  percent-encoded (lower-case hex), at most 200 characters encoded; a slug already taken gets
  "-2", "-3"... appended. Without categories a post gets the default category (1, "Uncategorized").
- GET /wp-json/wp/v2/posts?slug=&status=a,b&context=edit: the matching posts (a list; `slug` is
  sanitized the same way, so the Unicode and the percent-encoded form both match); statuses other
  than publish, and context=edit, need credentials (401 rest_forbidden_context).
- GET /wp-json/wp/v2/tags|categories?search=&per_page=: the terms whose name or slug contains
  `search` (case-insensitive), names HTML-escaped as WordPress stores them.
- GET /wp-json/wp/v2/categories/{id}: the category, or 404 rest_term_invalid "Term does not exist.".
- POST /wp-json/wp/v2/tags {"name"}: 201 with the new tag; a name already used is 400 term_exists
  with `data.term_id`. Creating a tag needs credentials (401 rest_cannot_create).
- GET /wp-json/wp/v2/users/me?context=edit: the user.
`fake.posts` holds what was created (oldest first), `fake.tags` and `fake.categories` the terms
(`fake.add_term`). Failure knobs: see tests.fakes.base (they act on POST /wp-json/wp/v2/posts
unless told a path).
"""

import base64
import html
import itertools
import re
import unicodedata
from typing import Any
from urllib.parse import quote, unquote

from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response

DEFAULT_PASSWORD = "abcd EFGH 1234 ijkl MNOP 5678"  # an application password's shape
STATUSES = ("publish", "future", "draft", "pending", "private")


def wp_error(status: int, code: str, message: str, **data) -> Response:
    return json_response({"code": code, "message": message, "data": {"status": status, **data}}, status)


def sanitize_title(title: str) -> str:
    """WordPress's sanitize_title() for a slug: remove_accents() (Latin letters only), then
    sanitize_title_with_dashes(): keep escaped octets, mb_strtolower, utf8_uri_encode(…, 200),
    lower-case hex, drop what is not %, a-z, 0-9, space, "_" or "-", spaces to "-"."""
    title = re.sub(r"<[^>]*>", "", title)
    title = unquote(title) if re.search(r"%[0-9a-fA-F]{2}", title) else title
    plain = []
    for char in title:
        decomposed = unicodedata.normalize("NFKD", char)
        latin = decomposed[:1].isascii() and all(unicodedata.combining(c) for c in decomposed[1:])
        plain.append(decomposed[:1] if latin else {"ß": "ss", "ł": "l", "Ł": "L"}.get(char, char))
    title = "".join(plain).lower()
    encoded, length = [], 0
    for char in title:
        part = char if char.isascii() else quote(char, safe="").lower()
        if length + len(part) > 200:
            break
        encoded.append(part)
        length += len(part)
    title = "".join(encoded).replace(".", "-")
    title = re.sub(r"&.+?;", "", title)
    title = re.sub(r"[^%a-z0-9 _-]", "", title)
    title = re.sub(r"\s+", "-", title)
    return re.sub(r"-+", "-", title).strip("-")


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
        self.tags: list[dict[str, Any]] = []
        self.categories: list[dict[str, Any]] = []
        self._term_ids = itertools.count(2)
        super().__init__(httpserver)
        self.categories.append(self._term("category", 1, "Uncategorized"))

    def _term(self, taxonomy: str, term_id: int, name: str) -> dict[str, Any]:
        slug = sanitize_title(name)
        base = "tag" if taxonomy == "post_tag" else "category"
        return {
            "id": term_id,
            "count": 0,
            "link": f"{self.base_url}/{base}/{slug}/",
            "name": html.escape(name, quote=False),  # WordPress stores "&" as "&amp;"
            "slug": slug,
            "taxonomy": taxonomy,
        }

    def add_term(self, taxonomy: str, name: str) -> dict[str, Any]:
        """A tag ("post_tag") or category ("category") that exists on the site."""
        with self._lock:
            term = self._term(taxonomy, next(self._term_ids), name)
            (self.tags if taxonomy == "post_tag" else self.categories).append(term)
            return dict(term)

    def add_post(
        self,
        *,
        title: str,
        content: str = "",
        slug: str,
        status: str = "publish",
        categories: list[int] | None = None,
        tags: list[int] | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            slug = sanitize_title(slug) or str(next(self._ids))
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
                "categories": list(categories or [1]),
                "tags": list(tags or []),
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
        if path in ("/wp-json/wp/v2/tags", "/wp-json/wp/v2/categories") and method == "GET":
            return self._terms(request, self.tags if path.endswith("/tags") else self.categories)
        category = re.fullmatch(r"/wp-json/wp/v2/categories/(\d+)", path)
        if category and method == "GET":
            with self._lock:
                for term in self.categories:
                    if term["id"] == int(category.group(1)):
                        return json_response(dict(term))
            return wp_error(404, "rest_term_invalid", "Term does not exist.")
        if path == "/wp-json/wp/v2/tags" and method == "POST":
            if not auth:
                return wp_error(401, "rest_cannot_create", "Sorry, you are not allowed to create terms.")
            return self._create_tag(body)
        return wp_error(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _create(self, body: Any) -> Response:
        if not isinstance(body, dict):
            return wp_error(400, "rest_invalid_json", "Invalid JSON body passed.")
        status = body.get("status", "draft")
        if status not in STATUSES:
            return wp_error(400, "rest_invalid_param", "Invalid parameter(s): status")
        terms = {}
        for name, known in (("categories", self.categories), ("tags", self.tags)):
            ids = body.get(name, [])
            if not isinstance(ids, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in ids
            ):
                return wp_error(400, "rest_invalid_param", f"Invalid parameter(s): {name}")
            with self._lock:
                existing = {term["id"] for term in known}
            # wp_set_object_terms() skips an integer id that is no term: the post is made without it.
            ids = [term_id for term_id in ids if term_id in existing]
            terms[name] = ids
        post = self.add_post(
            title=str(body.get("title") or ""),
            content=str(body.get("content") or ""),
            slug=str(body.get("slug") or body.get("title") or ""),
            status=status,
            **terms,
        )
        return json_response(post, 201)

    def _terms(self, request: Request, terms: list[dict[str, Any]]) -> Response:
        search = (request.args.get("search") or "").casefold()
        per_page = int(request.args.get("per_page") or 10)
        with self._lock:
            found = [
                dict(term)
                for term in terms
                if search in html.unescape(term["name"]).casefold() or search in unquote(term["slug"])
            ]
        return json_response(found[:per_page])

    def _create_tag(self, body: Any) -> Response:
        name = str((body or {}).get("name") or "").strip() if isinstance(body, dict) else ""
        if not name:
            return wp_error(400, "rest_missing_callback_param", "Missing parameter(s): name")
        with self._lock:
            for tag in self.tags:
                if html.unescape(tag["name"]).casefold() == name.casefold() or tag["slug"] == sanitize_title(
                    name
                ):
                    return wp_error(
                        400, "term_exists", "A term with the name provided already exists.", term_id=tag["id"]
                    )
            tag = self.add_term("post_tag", name)
        return json_response(tag, 201)

    def _list(self, request: Request, *, authenticated: bool) -> Response:
        statuses = (request.args.get("status") or "publish").split(",")
        if not authenticated and (request.args.get("context") == "edit" or statuses != ["publish"]):
            return wp_error(
                401, "rest_forbidden_context", "Sorry, you are not allowed to edit posts in this post type."
            )
        if any(status not in STATUSES for status in statuses):
            return wp_error(400, "rest_invalid_param", "Invalid parameter(s): status")
        slug = request.args.get("slug")
        slug = sanitize_title(slug) if slug is not None else None
        with self._lock:
            found = [
                dict(post)
                for post in reversed(self.posts)
                if post["status"] in statuses and (slug is None or post["slug"] == slug)
            ]
        return json_response(found)
