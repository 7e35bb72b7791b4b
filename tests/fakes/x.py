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
  rewritten to t.co and &, <, > escaped, a post with media ending with one more t.co link (to its
  media); `attachments.media_keys` with tweet.fields=attachments; {"meta": {"result_count": 0}}
  without "data" when empty.

Media (docs.x.com, "Upload media", "Initialize/Append/Finalize media upload", "Get media upload
status", "Create Media metadata"):
- POST /2/media/upload, multipart `media` + `media_category` (tweet_image, dm_image, subtitles) and
  optional `media_type` (or the same as JSON with `media` in base64): one image, read as real
  servers do (JPEG, PNG, WebP, BMP, TIFF; not GIF, which goes in chunks as tweet_gif), at most
  5 MB: 200 {"data": {"id", "media_key": "3_<id>", "size", "expires_after_secs", "image"}}; else
  400 problem details naming what is wrong.
- POST /2/media/upload/initialize {"media_type", "total_bytes", "media_category"} (tweet_gif,
  tweet_video, ...): {"data": {"id", "media_key", "expires_after_secs"}}; POST
  /2/media/upload/{id}/append, multipart `media` + `segment_index` (0..999); POST
  /2/media/upload/{id}/finalize: the bytes must add up to total_bytes and be a GIF (tweet_gif) or
  an MP4/MOV (tweet_video); a video answers `processing_info` {"state": "pending",
  "check_after_secs"} and GET /2/media/upload?command=STATUS&media_id= says "in_progress" for
  `fake.processing_polls - 1` more asks, then "succeeded" (or "failed" with an `error` when
  `fake.fail_processing` is set).
- POST /2/media/metadata {"id", "metadata": {"alt_text": {"text"}}}: alt text of at most 1,000
  characters for the user's own upload; {"data": {"id", "associated_metadata": {...}}}.
- POST /2/tweets with "media": {"media_ids": [...]}: 1-4 of the user's processed uploads, a GIF or
  a video alone; else 400. `fake.media` holds the uploads by id (with their bytes and alt text).
OAuth 2.0 (tests.fakes.oauth2, `fake.oauth`): GET /i/oauth2/authorize redirects back with a code;
POST /2/oauth2/token exchanges it (PKCE checked) or a refresh token (rotated); each new access token
becomes the one the API accepts.
Errors are problem details ({"title", "detail", "type", "status"}); a 429 carries
x-rate-limit-limit/remaining/reset (epoch seconds, `fake.reset_in` from now).
"""

import base64
import binascii
import io
import itertools
import json
import re
import time
from typing import Any

from PIL import Image, UnidentifiedImageError
from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response
from tests.fakes.oauth2 import OAuth2Grants

DEFAULT_TOKEN = "fake-x-user-token-0123456789"
PROBLEM = "application/problem+json"
INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"
IMAGE_BYTES = 5 * 1024 * 1024
ALT_TEXT_CHARS = 1000
# The formats simple upload reads (PIL's names) and the media key prefixes X uses per kind.
SIMPLE_FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "TIFF"}
KEY_PREFIX = {"tweet_image": "3", "tweet_gif": "16", "tweet_video": "7"}


def invalid(message: str) -> Response:
    return json_response(
        {
            "errors": [{"message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": INVALID_REQUEST,
        },
        400,
    )


def problem(status: int, title: str, detail: str, type_: str = "about:blank") -> Response:
    return Response(
        json.dumps({"title": title, "detail": detail, "type": type_, "status": status}),
        status=status,
        content_type=PROBLEM,
    )


class FakeX(FakeHttpPlatform):
    prefix = r"^/(2|i)/"
    post_path = "/2/tweets"

    def __init__(self, httpserver, *, token: str = DEFAULT_TOKEN, username: str = "socialdesk"):
        self.token = token
        self.user = {"id": "1500000000000000001", "name": "Socialdesk", "username": username}
        self.posts: list[dict[str, Any]] = []  # oldest first: {"id", "text", "media_ids"}
        self.media: dict[str, dict[str, Any]] = {}  # uploads by media id
        self.reset_in = 900
        self.processing_polls = 1
        self.fail_processing = False
        self._ids = itertools.count(1)
        self._media_ids = itertools.count(1)
        self.oauth = OAuth2Grants(
            on_access=self._set_token,
            style="x",
            scopes=frozenset({"tweet.read", "tweet.write", "users.read", "offline.access", "media.write"}),
        )
        super().__init__(httpserver)

    def _set_token(self, token: str) -> None:
        self.token = token

    def add_post(self, text: str, *, media_ids: list[str] | None = None) -> dict[str, Any]:
        with self._lock:
            post = {
                "id": str(1_800_000_000_000_000_000 + next(self._ids)),
                "text": text,
                "media_ids": list(media_ids or []),
            }
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
        if path == "/i/oauth2/authorize" and method == "GET":
            return self.oauth.authorize(request)
        if path == "/2/oauth2/token":
            return self.oauth.token(request)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return problem(401, "Unauthorized", "Unauthorized")
        if method == "POST" and path == "/2/tweets":
            return self._create(body)
        if path.startswith("/2/media/"):
            return self._media_route(request, method, path, body)
        if method == "GET" and path == "/2/users/me":
            return json_response({"data": self.user})
        match = re.fullmatch(r"/2/users/([^/]+)/tweets", path)
        if method == "GET" and match:
            return self._timeline(request, match.group(1))
        return problem(404, "Not Found Error", f"Could not find {path}")

    def _create(self, body: Any) -> Response:
        if not isinstance(body, dict):
            return invalid("$: a JSON object is required")
        text = body.get("text", "")
        media = body.get("media")
        media_ids = media.get("media_ids") if isinstance(media, dict) else None
        if media is not None:
            problem_ = self._media_problem(media_ids)
            if problem_:
                return invalid(problem_)
        if not isinstance(text, str) or len(text) > 280 or (not text and not media_ids):
            return json_response(
                {
                    "errors": [{"message": "$.text: must be between 1 and 280 characters"}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": INVALID_REQUEST,
                },
                400,
            )
        with self._lock:
            if text and any(post["text"] == text for post in self.posts):
                return problem(
                    403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
                )
            post = self.add_post(text, media_ids=media_ids)
        data = {"id": post["id"], "text": _rendered(post), "edit_history_tweet_ids": [post["id"]]}
        return json_response({"data": data}, 201)

    def _media_problem(self, media_ids: Any) -> str | None:
        if not isinstance(media_ids, list) or not 1 <= len(media_ids) <= 4:
            return "$.media.media_ids: must have between 1 and 4 items"
        with self._lock:
            uploads = [self.media.get(str(media_id)) for media_id in media_ids]
        if any(upload is None for upload in uploads):
            return "$.media.media_ids: Your media IDs are invalid."
        if any(upload["state"] != "succeeded" for upload in uploads):
            return "$.media.media_ids: Your media IDs are not ready (still processing)."
        if len(uploads) > 1 and any(u["category"] != "tweet_image" for u in uploads):
            return "$.media.media_ids: A GIF or a video must be the only media of a post."
        return None

    # Media ------------------------------------------------------------------------------------

    def _media_route(self, request: Request, method: str, path: str, body: Any) -> Response:
        if method == "POST" and path == "/2/media/upload":
            return self._simple_upload(request, body)
        if method == "GET" and path == "/2/media/upload":
            return self._status(request)
        if method == "POST" and path == "/2/media/upload/initialize":
            return self._initialize(body)
        match = re.fullmatch(r"/2/media/upload/(\d+)/(append|finalize)", path)
        if method == "POST" and match:
            with self._lock:
                upload = self.media.get(match.group(1))
            if upload is None or upload["state"] != "uploading":
                return invalid(f"$.id: no upload session {match.group(1)} awaits data")
            if match.group(2) == "append":
                return self._append(request, upload)
            return self._finalize(upload)
        if method == "POST" and path == "/2/media/metadata":
            return self._metadata(body)
        return problem(404, "Not Found Error", f"Could not find {path}")

    def _new_media(self, category: str, **fields) -> dict[str, Any]:
        with self._lock:
            media_id = str(1_900_000_000_000_000_000 + next(self._media_ids))
            upload = {
                "id": media_id,
                "media_key": f"{KEY_PREFIX.get(category, '3')}_{media_id}",
                "category": category,
                "alt_text": None,
                **fields,
            }
            self.media[media_id] = upload
            return upload

    def _simple_upload(self, request: Request, body: Any) -> Response:
        if isinstance(body, dict):  # the JSON form: base64 media
            fields = body
            try:
                content = base64.b64decode(str(body.get("media") or ""), validate=True)
            except (binascii.Error, ValueError):
                return invalid("$.media: is not base64")
        else:
            fields = request.form
            file = request.files.get("media")
            content = file.read() if file else b""
        category = fields.get("media_category")
        if category not in ("tweet_image", "dm_image", "subtitles"):
            return invalid("$.media_category: must be one of [tweet_image, dm_image, subtitles]")
        if not content:
            return invalid("$.media: is required")
        if len(content) > IMAGE_BYTES:
            return invalid(f"$.media: File size exceeds {IMAGE_BYTES} bytes.")
        image = _image(content)
        if image is None or image.format not in SIMPLE_FORMATS:
            return invalid("$.media: media type unrecognized.")
        upload = self._new_media(category, state="succeeded", size=len(content), content=content)
        return json_response(
            {
                "data": {
                    "id": upload["id"],
                    "media_key": upload["media_key"],
                    "size": len(content),
                    "expires_after_secs": 86400,
                    "image": {"image_type": Image.MIME[image.format], "w": image.width, "h": image.height},
                }
            }
        )

    def _initialize(self, body: Any) -> Response:
        if not isinstance(body, dict):
            return invalid("$: a JSON object is required")
        category = body.get("media_category")
        total = body.get("total_bytes")
        if category not in KEY_PREFIX:
            return invalid("$.media_category: is not a media category")
        if not isinstance(total, int) or not 0 < total <= 512 * 1024 * 1024:
            return invalid("$.total_bytes: must be between 1 and 536870912")
        upload = self._new_media(
            category,
            state="uploading",
            media_type=body.get("media_type"),
            total_bytes=total,
            segments={},
            polls=0,
        )
        return json_response(
            {"data": {"id": upload["id"], "media_key": upload["media_key"], "expires_after_secs": 86400}}
        )

    def _append(self, request: Request, upload: dict[str, Any]) -> Response:
        file = request.files.get("media")
        try:
            index = int(request.form.get("segment_index", ""))
        except ValueError:
            return invalid("$.segment_index: is required")
        if file is None or not 0 <= index <= 999:
            return invalid("$.segment_index: must be between 0 and 999, with media")
        with self._lock:
            upload["segments"][index] = file.read()
        return json_response({"data": {"expires_at": int(time.time()) + 86400}})

    def _finalize(self, upload: dict[str, Any]) -> Response:
        with self._lock:
            content = b"".join(upload["segments"][i] for i in sorted(upload["segments"]))
        if len(content) != upload["total_bytes"]:
            return invalid(f"$.id: {len(content)} bytes were appended, {upload['total_bytes']} declared")
        if upload["category"] == "tweet_gif":
            image = _image(content)
            if image is None or image.format != "GIF":
                return invalid("$.media: media type unrecognized.")
            state = "succeeded"
        else:
            if content[4:8] != b"ftyp":  # MP4 and MOV both start with an ftyp box
                return invalid("$.media: media type unrecognized.")
            state = "pending"
        with self._lock:
            upload.update(state=state, content=content, size=len(content))
        return json_response({"data": self._described_upload(upload)})

    def _status(self, request: Request) -> Response:
        if request.args.get("command") != "STATUS":
            return invalid("$.command: must be STATUS")
        with self._lock:
            upload = self.media.get(request.args.get("media_id", ""))
            if upload is None:
                return problem(404, "Not Found Error", "Could not find the media.")
            if upload["state"] in ("pending", "in_progress"):
                upload["polls"] += 1
                if upload["polls"] >= self.processing_polls:
                    upload["state"] = "failed" if self.fail_processing else "succeeded"
                else:
                    upload["state"] = "in_progress"
            return json_response({"data": self._described_upload(upload)})

    def _described_upload(self, upload: dict[str, Any]) -> dict[str, Any]:
        data = {
            "id": upload["id"],
            "media_key": upload["media_key"],
            "size": upload.get("size"),
            "expires_after_secs": 86400,
        }
        if upload["category"] == "tweet_video":
            info: dict[str, Any] = {"state": upload["state"]}
            if upload["state"] in ("pending", "in_progress"):
                info.update(check_after_secs=2, progress_percent=50 if upload["polls"] else 0)
            if upload["state"] == "failed":
                info["error"] = {"code": 1, "name": "InvalidMedia", "message": "Unsupported video codec"}
            data["processing_info"] = info
        return data

    def _metadata(self, body: Any) -> Response:
        if not isinstance(body, dict):
            return invalid("$: a JSON object is required")
        metadata = body.get("metadata")
        alt = metadata.get("alt_text") if isinstance(metadata, dict) else None
        text = alt.get("text") if isinstance(alt, dict) else None
        with self._lock:
            upload = self.media.get(str(body.get("id")))
            if upload is None:
                return invalid("$.id: Your media ID is invalid.")
            if alt is not None:
                if not isinstance(text, str) or len(text) > ALT_TEXT_CHARS:
                    return invalid(f"$.metadata.alt_text.text: must be at most {ALT_TEXT_CHARS} characters")
                upload["alt_text"] = text
        return json_response(
            {"data": {"id": upload["id"], "associated_metadata": {"alt_text": {"text": text}}}}
        )

    def _shown(self, post: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        shown = {"id": post["id"], "text": _rendered(post)}
        if "attachments" in fields and post["media_ids"]:
            shown["attachments"] = {"media_keys": [self.media[i]["media_key"] for i in post["media_ids"]]}
        return shown

    def _timeline(self, request: Request, user_id: str) -> Response:
        if user_id != self.user["id"]:
            return problem(404, "Not Found Error", f"Could not find user with id: [{user_id}].")
        try:
            limit = int(request.args.get("max_results", 10))
        except ValueError:
            limit = 0
        if not 5 <= limit <= 100:
            return problem(400, "Invalid Request", "max_results must be between 5 and 100")
        fields = (request.args.get("tweet.fields") or "").split(",")
        with self._lock:
            page = [self._shown(post, fields) for post in reversed(self.posts)][:limit]
        if not page:
            return json_response({"meta": {"result_count": 0}})
        meta = {"result_count": len(page), "newest_id": page[0]["id"], "oldest_id": page[-1]["id"]}
        return json_response({"data": page, "meta": meta})


def _rendered(post: dict[str, Any]) -> str:
    """The text as X answers it: every link shortened to t.co, &, <, > as entities, and a post
    with media ending with a link to them."""
    counter = itertools.count(1)
    text = re.sub(r"https?://\S+", lambda _: f"https://t.co/fake{next(counter):04d}", post["text"])
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if post.get("media_ids"):
        text = f"{text} https://t.co/media{post['id'][-4:]}".strip()
    return text


def _image(content: bytes) -> Image.Image | None:
    try:
        image = Image.open(io.BytesIO(content))
        image.load()
    except (UnidentifiedImageError, OSError):
        return None
    return image
