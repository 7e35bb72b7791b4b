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
- POST /wp-json/wp/v2/media with the file as the raw body (WP_REST_Attachments_Controller::
  upload_from_data): no body is 400 rest_upload_no_data, no Content-Type 400
  rest_upload_no_content_type, no Content-Disposition 400 rest_upload_no_content_disposition, one
  without a filename 400 rest_upload_invalid_disposition (parsed as naively as WordPress does:
  split on ";" and "=", quotes trimmed). The type is what the CONTENT is (wp_check_filetype_and_ext:
  the Content-Type header is not trusted): an extension WordPress does not allow, or content that
  is not the type the extension says, is the 500 rest_upload_sideload_error "Sorry, you are not
  allowed to upload this file type." (a picture of another picture type gets its extension
  corrected, as WordPress does). Not signed in: 401 rest_cannot_create; a user without the
  upload_files capability (`fake.can_upload = False`): 403 rest_cannot_create. A body larger than
  `fake.max_body_bytes` never reaches WordPress: the web server answers 413 with its HTML page.
  `alt_text` may come in the query string. 201 with the attachment (id, status "inherit",
  source_url under /wp-content/uploads/, a file name made unique with -1, -2..., mime_type,
  media_type "image" or "file", alt_text, media_details with width and height read from the
  picture) and a Location header.
- POST /wp-json/wp/v2/media/{id} {"alt_text", "caption", "description", "title"}: updates it;
  GET /wp-json/wp/v2/media/{id}: reads it; an unknown id is 404 rest_post_invalid_id.
  alt_text goes through sanitize_text_field() as WordPress's schema has it (tags stripped, a lone
  "<" escaped, line breaks, tabs and runs of spaces one space, percent-encoded octets removed).
`fake.posts` holds what was created (oldest first), `fake.media` the uploads (with their bytes
under "_bytes"), `fake.tags` and `fake.categories` the terms (`fake.add_term`). Failure knobs: see
tests.fakes.base (they act on POST /wp-json/wp/v2/posts unless told a path).
"""

import base64
import html
import io
import itertools
import re
import unicodedata
from typing import Any
from urllib.parse import quote, unquote

from PIL import Image
from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response

DEFAULT_PASSWORD = "abcd EFGH 1234 ijkl MNOP 5678"  # an application password's shape
STATUSES = ("publish", "future", "draft", "pending", "private")


# WordPress's default allowed upload types (wp_get_mime_types) that matter here: extension -> type.
ALLOWED_EXTENSIONS = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jpe": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "webm": "video/webm",
    "mov": "video/quicktime",
    "pdf": "application/pdf",
}
IMAGE_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
NOT_ALLOWED = "Sorry, you are not allowed to upload this file type."
NGINX_413 = (
    "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def sniffed_type(data: bytes) -> str | None:
    """The type the content is, by its first bytes (what finfo and getimagesize look at)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:10] == b"qt" else "video/mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def sanitize_text_field(text: str) -> str:
    """WordPress's sanitize_text_field() (_sanitize_text_fields without keeping line breaks)."""
    if "<" in text:
        # wp_pre_kses_less_than(): a "<" that opens no tag is escaped; then wp_strip_all_tags().
        text = re.sub(
            r"<[^>]*?((?=<)|>|$)",
            lambda m: m.group(0) if ">" in m.group(0) else html.escape(m.group(0), quote=True),
            text,
        )
        text = re.sub(r"<(script|style)[^>]*?>.*?</\1>", "", text, flags=re.IGNORECASE | re.DOTALL)
        text = re.sub(r"<[^>]*>", "", text)
    text = re.sub(r"[\r\n\t ]+", " ", text).strip()
    found = False
    while re.search(r"%[a-f0-9]{2}", text, re.IGNORECASE):
        text = re.sub(r"%[a-f0-9]{2}", "", text, flags=re.IGNORECASE)
        found = True
    if found:
        text = re.sub(r" +", " ", text).strip()
    return text


def filename_from_disposition(value: str) -> str | None:
    """WP_REST_Attachments_Controller::get_filename_from_disposition(), as naive as it is."""
    value = value.strip()
    if ";" not in value:
        return None
    attributes = {}
    for part in value.split(";", 1)[1].split(";"):
        if "=" in part:
            key, _, val = part.partition("=")
            attributes[key.strip()] = val.strip()
    filename = (attributes.get("filename") or "").strip()
    if filename[:1] == '"' and filename[-1:] == '"':
        filename = filename[1:-1]
    return filename or None


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
        self.media: list[dict[str, Any]] = []
        self.can_upload = True
        self.max_body_bytes: int | None = None
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
        if path == "/wp-json/wp/v2/media" and method == "POST":
            return self._upload(request, authenticated=bool(auth))
        attachment = re.fullmatch(r"/wp-json/wp/v2/media/(\d+)", path)
        if attachment and method in ("GET", "POST"):
            return self._attachment(int(attachment.group(1)), method, body, authenticated=bool(auth))
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

    # Media --------------------------------------------------------------------------------------

    def _upload(self, request: Request, *, authenticated: bool) -> Response:
        data = request.get_data()
        if self.max_body_bytes is not None and len(data) > self.max_body_bytes:
            return Response(NGINX_413, status=413, content_type="text/html")
        if not authenticated:
            return wp_error(
                401, "rest_cannot_create", "Sorry, you are not allowed to create posts as this user."
            )
        if not self.can_upload:
            return wp_error(
                403, "rest_cannot_create", "Sorry, you are not allowed to upload media on this site."
            )
        if not data:
            return wp_error(400, "rest_upload_no_data", "No data supplied.")
        if not request.headers.get("Content-Type"):
            return wp_error(400, "rest_upload_no_content_type", "No Content-Type supplied.")
        disposition = request.headers.get("Content-Disposition")
        if not disposition:
            return wp_error(400, "rest_upload_no_content_disposition", "No Content-Disposition supplied.")
        filename = filename_from_disposition(disposition)
        if not filename:
            return wp_error(
                400,
                "rest_upload_invalid_disposition",
                "Invalid Content-Disposition supplied. Content-Disposition needs to be formatted as "
                '`attachment; filename="image.png"` or similar.',
            )
        stem, dot, extension = filename.rpartition(".")
        claimed = ALLOWED_EXTENSIONS.get(extension.lower()) if dot else None
        actual = sniffed_type(data)
        if claimed is None or actual is None:
            return wp_error(500, "rest_upload_sideload_error", NOT_ALLOWED)
        if actual != claimed:
            if not (claimed.startswith("image/") and actual in IMAGE_EXTENSIONS):
                return wp_error(500, "rest_upload_sideload_error", NOT_ALLOWED)
            extension = IMAGE_EXTENSIONS[actual]  # WordPress corrects a picture's extension
        alt_text = request.args.get("alt_text")
        with self._lock:
            item = self._add_media(stem or "file", extension.lower(), actual, data)
            if alt_text is not None:
                item["alt_text"] = sanitize_text_field(alt_text)
            answer = self._media_view(item)
        return json_response(answer, 201, {"Location": f"{self.base_url}/wp-json/wp/v2/media/{item['id']}"})

    def _add_media(self, stem: str, extension: str, mime_type: str, data: bytes) -> dict[str, Any]:
        taken = {item["media_details"]["file"].rsplit("/", 1)[-1] for item in self.media}
        name, n = f"{stem}.{extension}", 0
        while name in taken:
            n += 1
            name = f"{stem}-{n}.{extension}"
        details: dict[str, Any] = {"file": f"2026/01/{name}", "filesize": len(data)}
        if mime_type.startswith("image/"):
            try:
                with Image.open(io.BytesIO(data)) as picture:
                    details["width"], details["height"] = picture.size
                details["sizes"] = {}
            except (OSError, ValueError):
                details = {}  # WordPress could not read it: empty metadata, still uploaded
                details["file"] = f"2026/01/{name}"
        item = {
            "id": next(self._ids),
            "date": "2026-01-01T12:00:00",
            "slug": sanitize_title(name.rsplit(".", 1)[0]),
            "status": "inherit",
            "type": "attachment",
            "link": f"{self.base_url}/{sanitize_title(name.rsplit('.', 1)[0])}/",
            "title": {"raw": name.rsplit(".", 1)[0], "rendered": name.rsplit(".", 1)[0]},
            "author": self.user["id"],
            "alt_text": "",
            "caption": {"raw": "", "rendered": ""},
            "description": {"raw": "", "rendered": ""},
            "media_type": "image" if mime_type.startswith("image/") else "file",
            "mime_type": mime_type,
            "media_details": details,
            "post": None,
            "source_url": f"{self.base_url}/wp-content/uploads/2026/01/{name}",
            "_bytes": data,
        }
        self.media.append(item)
        return item

    def _media_view(self, item: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in item.items() if not key.startswith("_")}

    def _attachment(self, media_id: int, method: str, body: Any, *, authenticated: bool) -> Response:
        with self._lock:
            item = next((m for m in self.media if m["id"] == media_id), None)
            if item is None:
                return wp_error(404, "rest_post_invalid_id", "Invalid post ID.")
            if method == "GET":
                return json_response(self._media_view(item))
            if not authenticated:
                return wp_error(401, "rest_cannot_edit", "Sorry, you are not allowed to edit this post.")
            if not isinstance(body, dict):
                return wp_error(400, "rest_invalid_json", "Invalid JSON body passed.")
            if "alt_text" in body:
                if not isinstance(body["alt_text"], str):
                    return wp_error(400, "rest_invalid_param", "Invalid parameter(s): alt_text")
                item["alt_text"] = sanitize_text_field(body["alt_text"])
            for name in ("caption", "description", "title"):
                if isinstance(body.get(name), str):
                    item[name] = {"raw": body[name], "rendered": body[name]}
            return json_response(self._media_view(item))

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
