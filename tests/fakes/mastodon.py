"""A small stateful Mastodon (or Pixelfed) instance for tests, served by pytest-httpserver.

    from tests.fakes.mastodon import FakeMastodon

    def test_something(httpserver):
        fake = FakeMastodon(httpserver)                       # flavor="pixelfed" for Pixelfed
        post = fake.add_status(text="Three cats", media=["A grey cat", None, "A black cat"])
        api = MastodonApi(instance_url=fake.base_url, access_token=fake.token)
        ...
        assert fake.status(post["id"])["media_attachments"][1]["description"] == "..."
        assert fake.count("PUT", f"/api/v1/statuses/{post['id']}") == 1

It speaks the wire format (JSON entities shaped like Mastodon 4.x's) and keeps state, so what a
client writes can be read back, and it applies edits with Mastodon's own lossy rules, so a client
that forgets a field loses it here as it would on a real server.

Constructor: `FakeMastodon(httpserver, *, flavor="mastodon", token=DEFAULT_TOKEN,
username="alttext", description_limit=1500)`. It registers permanent handlers for `/api/...` and
`/media/...`; one-shot handlers a test adds itself (`httpserver.expect_oneshot_request`) still win.

Building state (each returns the entity as the API would render it):
- `add_status(*, text, spoiler_text="", sensitive=False, language="en", visibility="public",
  media=(None,), poll=None, in_reply_to_account_id=None, reblog=False, account_id=None)`.
  `media` items: a description (str or None) for an image, or a dict of media fields
  (e.g. `{"type": "video", "description": None}`). `poll`: `{"options": [...], "votes": [...],
  "multiple": False, "hide_totals": False, "expires_in": 86400}`. `reblog=True` makes a boost of
  another account's post; `in_reply_to_account_id` a reply. Newer statuses get larger ids.
- `fake.account` (the token's account entity), `fake.description_limit` (enforced on writes: longer
  descriptions get 422), `fake.instance_v2` / `fake.instance_v1` (the instance documents; set one
  to None to make the endpoint answer 404, or edit its dict), `fake.files[media_id] = bytes`
  (what `/media/{id}/original` serves; a tiny PNG by default).

Reading state: `fake.status(id)` (rendered entity, a copy), `fake.source(id)`, `fake.media(id)`;
`fake.other_account` is the account boosts and replies point at.

Extending: `fake.route("POST", r"/api/v1/statuses", handler)` serves another endpoint with
`handler(fake, request, match, body) -> werkzeug.Response` (after the token check, with the
failure knobs and the request log).

Endpoints (all but the instance documents and `/media/...` need `Authorization: Bearer <token>`,
else 401):
- GET  /api/v1/accounts/verify_credentials
- GET  /api/v1/accounts/{id}/statuses: only_media, exclude_replies, exclude_reblogs, pinned
  (nothing is pinned), max_id, since_id, min_id, limit (default 20, at most 40); newest first;
  a Link header when the page is not empty: rel="prev" (min_id), and rel="next" (max_id) after a
  full page, as Mastodon does. `fake.page_cap = n` makes it cap pages at n statuses whatever the
  limit asked, and then link the next page after every page of n (GoToSocial, Pixelfed).
  `fake.list_once_per_image = True` lists a status once per attachment (as Takahē does with
  only_media).
- GET  /api/v2/instance, /api/v1/instance (description limit under
  `configuration.media_attachments.description_limit` in both)
- GET  /api/v1/statuses/{id}; GET /api/v1/statuses/{id}/source (Mastodon flavour only)
- PUT  /api/v1/statuses/{id} (Mastodon flavour only): a JSON body (or a flat form) with status,
  spoiler_text, sensitive, language, media_ids, media_attributes [{id, description, focus}], poll
  {options, expires_in, multiple, hide_totals}. Stricter than Mastodon in one way: it answers 422
  without an `Idempotency-Key` header. Mastodon's rules: no media_ids drops every attachment, no
  poll deletes the poll, no spoiler_text clears it; changed poll options or `multiple` reset the
  votes; more than 4 media ids is 422. Media and a poll together are accepted (Mastodon >= 4.6).
- PUT  /api/v1/media/{id} with `description` (form or JSON): Pixelfed updates any of the account's
  media; Mastodon flavour answers 404 for media already attached to a status, as Mastodon does.
- GET  /media/{id}/original and /media/{id}/small (the media `url` and `preview_url`): the bytes.
- POST /api/v2/media (multipart: `file`, `description`, `focus` "x,y"): stores an upload of the
  account, its type found from the file's bytes (JPEG, PNG, GIF, WebP, MP4/QuickTime, WebM; the
  part's own content type only when the bytes say nothing) and checked against
  `configuration.media_attachments` of `fake.instance_v2` (supported_mime_types, image_size_limit,
  video_size_limit) and the description limit: 422 `{"error": "Validation failed: ..."}` like
  Mastodon (Pixelfed flavour: Laravel's 422 `{"message": ..., "errors": {"file": [...]}}`).
  `fake.processing_delay = n` (default 0): the upload answers 202 with `url` null and
  GET /api/v1/media/{id} answers 206 n times, then 200 with the `url` (a large n: never done).
  Without a delay Mastodon answers 200 with the `url`. Pixelfed always answers 202 with `url` null
  and its GET answers 200 (it has no 206). `fake.uploads()` lists the uploads, oldest first
  (entities plus `content_type`, `filename`, `size`); `fake.files[id]` holds the bytes.
- GET  /api/v1/media/{id}: the account's upload; Mastodon flavour: 404 once attached to a status.
- POST /api/v1/statuses with status, visibility, language, spoiler_text, sensitive and media_ids
  (JSON `media_ids` or form `media_ids[]`): creates a status (422 when blank without media or over
  500 characters) with the account's unattached uploads in the order given (unknown ids are
  dropped, as Mastodon does); 422 for more than `max_media_attachments`, a video beside anything
  else, or an upload still processing, with Mastodon's messages. A repeated `Idempotency-Key`
  answers the status that key created, without a second one. `fake.statuses_created()` lists them;
  `accept_then_hang_next(seconds=...)` makes the next POST land and its answer come late.
Signing in (OAuth 2, from docs.joinmastodon.org methods/apps, methods/oauth, spec/oauth; none of
these needs a bearer token):
- POST /api/v1/apps (form or JSON: client_name, redirect_uris, scopes (default "read"), website):
  registers an application and answers its entity with `client_id` and `client_secret`; 422
  `Validation failed: ...` without a name, for a redirect URI that is not absolute, or for scopes
  the server does not know (Pixelfed flavour: only read, write, follow, push).
  `fake.apps_registered()` lists them; `fake.count("POST", "/api/v1/apps")` counts the calls.
- GET /.well-known/oauth-authorization-server: RFC 8414 metadata with
  `code_challenge_methods_supported: ["S256"]`; `fake.announces_pkce = False` makes it 404 (an
  older server) and the fake then ignores a code challenge, as such a server does.
- GET /oauth/authorize (response_type=code, client_id, redirect_uri, scope, state, code_challenge,
  code_challenge_method): an unknown client or redirect URI is an HTML error page (Doorkeeper does
  not redirect to a URI it cannot trust); scopes beyond the application's, or another response
  type, redirect back with `error=`; otherwise an HTML consent page for the account
  `fake.signed_in_as` (a username: the fixed account's, or one made with `fake.add_account(name)`),
  with `#authorize` and `#deny` buttons posting back to /oauth/authorize, which redirects to the
  redirect URI with `code` and `state`, or `error=access_denied` and `state`.
  `fake.consent_pages` counts the pages shown; `fake.redirects` lists every Location sent.
- POST /oauth/token (grant_type authorization_code, code, client_id, client_secret, redirect_uri,
  code_verifier): 401 `invalid_client` for a wrong client id or secret; 400 `invalid_grant` for an
  unknown, expired (10 minutes) or used code, another client's code, a different redirect URI, or a
  verifier that does not hash (S256) to the code's challenge; a code is spent by its first try.
  Answers `{access_token, token_type: "Bearer", scope, created_at}`; the token then works for the
  consenting account (verify_credentials answers that account). `fake.tokens_issued()` lists them.
- POST /oauth/revoke (client_id, client_secret, token): 403 `unauthorized_client` for a wrong client;
  otherwise 200 `{}` (also for an unknown token, RFC 7009), and a token of that client stops
  working (401). `fake.revoked` lists the revoked tokens.

Unknown paths answer 404 `{"error": "Record not found"}`.

Takahē's ways, each a knob (Takahē implements the Mastodon client API and differs here):
- `fake.edit_sets_visibility = "public"`: a status edit sets the visibility (Takahē's edit endpoint
  drops it, so an unlisted post becomes public).
- `fake.require_every_description = True`: an edit whose `media_attributes` entry has no
  `description` answers 400 `{"error": "invalid_input", "error_details": [...]}`.
- `fake.bad_token_answer = (400, "Invalid Bearer token", "text/plain")`: how a wrong token is
  answered (Mastodon: 401 JSON).

Failures, for the next `times` requests to a path (exact path, trailing slash ignored; optionally
one method):
- `rate_limit_next(path, retry_after="1", reset_in=None)`: 429 with Retry-After (seconds or an
  HTTP-date; None sends none) and X-RateLimit-* headers (X-RateLimit-Reset when `reset_in` is set).
- `error_next(path, status=500, apply=False, body=None)`: that status with a JSON error (`body`: the
  JSON body to send instead, e.g. Mastodon's `{"error": ..., "details": {...}}` or OAuth's
  `{"error": ..., "error_description": ...}`; a str is sent as text/plain).
- `hang_next(path, seconds=..., apply=False)`: sleep, then answer normally (a write is applied
  after the sleep; with `apply=True` before it, so only the answer is late).
- `malformed_next(path, apply=False)`: 200 with truncated JSON.
- `fail_next(path, ...)` is the general form. `apply=True` makes a write take effect although the
  client sees the failure: the lost-response case.

Request log: `fake.requests` (RecordedRequest: method, path, query, headers, json, form, files),
`fake.requests_to(path, method=None)`, `fake.count(method, path)`.

Threads: state changes hold a lock and sleeping does not, so the fake also works on a threaded
`pytest_httpserver.HTTPServer(threaded=True)`, where a hanging request does not block the next one.
A test module gets one by overriding pytest-httpserver's `make_httpserver` fixture:

    @pytest.fixture(scope="module")
    def make_httpserver():
        server = HTTPServer(threaded=True)
        server.start()
        yield server
        server.clear()
        server.stop()
"""

import base64
import hashlib
import html
import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from werkzeug import Request, Response

DEFAULT_TOKEN = "fake-mastodon-token-0123456789"
MASTODON_VIDEO_TYPES = ("video/mp4", "video/webm", "video/quicktime")
TRUTHY = {"1", "true", "t", "on", "yes"}
# docs.joinmastodon.org/api/oauth-scopes: the top-level scopes and the granular ones.
MASTODON_SCOPES = (
    *("read", "write", "follow", "push", "profile"),
    *(f"read:{part}" for part in ("accounts", "blocks", "bookmarks", "favourites", "filters", "follows")),
    *(f"read:{part}" for part in ("lists", "mutes", "notifications", "search", "statuses")),
    *(f"write:{part}" for part in ("accounts", "blocks", "bookmarks", "conversations", "favourites")),
    *(f"write:{part}" for part in ("filters", "follows", "lists", "media", "mutes", "notifications")),
    *("write:reports", "write:statuses"),
)
# Pixelfed (Laravel Passport's tokensCan): the top-level scopes only.
PIXELFED_SCOPES = ("read", "write", "follow", "push")
AUTHORIZE_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI "
    "used in the authorization request, or was issued to another client."
)
OAUTH_ERROR_TEXTS = {
    "access_denied": "The resource owner or authorization server denied the request.",
    "invalid_scope": "The requested scope is invalid, unknown, or malformed.",
    "unsupported_response_type": "The authorization server does not support this response type.",
    "invalid_request": "The request is missing a required parameter or is otherwise malformed.",
}

# An 8x8 grey PNG: what /media/{id}/original serves unless a test sets fake.files[id].
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000080000000808020000004b6d29dc000000154944415478da636c"
    "686860c00698187080c129010030170190d47b15c60000000049454e44ae426082"
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, list[str]] = field(default_factory=dict)
    #: Multipart file parts: {field: (filename, content type, size in bytes)}.
    files: dict[str, tuple[str, str, int]] = field(default_factory=dict)

    def arg(self, name: str) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class _Failure:
    path: str
    method: str | None
    remaining: int
    status: int | None = None
    retry_after: str | None = None
    reset_in: float | None = None
    hang: float | None = None
    malformed: bool = False
    apply: bool = False
    body: Any = None


@dataclass
class _Poll:
    id: str
    options: list[str]
    votes: list[int]
    multiple: bool
    hide_totals: bool
    expires_at: datetime


@dataclass
class _Status:
    id: str
    account: dict[str, Any]
    text: str
    spoiler_text: str
    sensitive: bool
    language: str | None
    visibility: str
    created_at: datetime
    media_ids: list[str]
    poll: _Poll | None = None
    in_reply_to_id: str | None = None
    in_reply_to_account_id: str | None = None
    reblog_of: "_Status | None" = None
    edited_at: datetime | None = None


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUTHY if value is not None else False


def _norm(path: str) -> str:
    return path.rstrip("/") or "/"


def _sniff(data: bytes) -> str | None:
    """The MIME type the bytes announce (as Mastodon reads a file by its content), or None."""
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
    return None


def _part_summary(part) -> tuple[str, str, int]:
    """(filename, content type, size) of a multipart file part, leaving it readable."""
    size = len(part.stream.read())
    part.stream.seek(0)
    return part.filename or "", part.mimetype, size


def _media_kind(content_type: str) -> str:
    if content_type == "image/gif":
        return "gifv"  # Mastodon turns an animated GIF into a looping video
    return "video" if content_type.startswith("video/") else "image"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


def _oauth_error(error: str, description: str, status: int) -> Response:
    return _json({"error": error, "error_description": description}, status)


def _pkce_ok(grant: dict[str, Any], verifier: str | None) -> bool:
    """RFC 7636: a code issued with a challenge needs the verifier that hashes to it."""
    challenge = grant.get("challenge")
    if not challenge:
        return True
    if not verifier:
        return False
    if grant.get("method") == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii") == challenge
    return verifier == challenge


class FakeMastodon:
    """A stateful Mastodon-compatible instance on a pytest-httpserver (see the module docstring)."""

    def __init__(
        self,
        httpserver,
        *,
        flavor: str = "mastodon",
        token: str = DEFAULT_TOKEN,
        username: str = "alttext",
        description_limit: int = 1500,
    ):
        if flavor not in ("mastodon", "pixelfed"):
            raise ValueError("flavor is 'mastodon' or 'pixelfed'")
        self.httpserver = httpserver
        self.flavor = flavor
        self.token = token
        self.description_limit = description_limit
        self.base_url = httpserver.url_for("/").rstrip("/")
        self.requests: list[RecordedRequest] = []
        self.files: dict[str, bytes] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._clock = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self._statuses: dict[str, _Status] = {}
        self._media: dict[str, dict[str, Any]] = {}
        self._failures: list[_Failure] = []
        self._extra_routes: list[tuple[str, re.Pattern[str], Any]] = []
        self._idempotency: dict[str, str] = {}  # Idempotency-Key -> the status it created
        #: False: a server that ignores the header (servers that never documented it).
        self.honours_idempotency_key = True
        self._created: list[str] = []  # ids of the statuses POST /api/v1/statuses created
        self._uploads: list[str] = []  # ids of the media POST /api/v2/media created
        self._upload_info: dict[str, dict[str, Any]] = {}  # media id -> content_type, filename, size
        self._processing: dict[str, int] = {}  # media id -> 206 answers left before it is done
        self.processing_delay = 0
        self.page_cap: int | None = None
        self.list_once_per_image = False
        # Takahē's ways (a real Mastodon-API server): see the module docstring.
        self.edit_sets_visibility: str | None = None
        self.require_every_description = False
        self.bad_token_answer: tuple[int, str, str] | None = None
        self.account = self._account_entity(self._new_id(), username)
        self.other_account = self._account_entity(self._new_id(), "someone")
        # OAuth (see "Signing in" in the module docstring).
        self._accounts: dict[str, dict[str, Any]] = {username: self.account}
        self.signed_in_as = username
        self.announces_pkce = True
        self._apps: dict[str, dict[str, Any]] = {}  # client_id -> the registration
        self._codes: dict[str, dict[str, Any]] = {}
        self._issued: dict[str, dict[str, Any]] = {}  # token -> {account, client_id, scopes}
        self.revoked: list[str] = []
        self.consent_pages = 0
        self.redirects: list[str] = []  # every Location the consent page sent back, oldest first
        configuration = {
            "statuses": {"max_characters": 500, "max_media_attachments": 4},
            "media_attachments": {
                "description_limit": description_limit,
                # Mastodon 4.x's defaults; Pixelfed's documented MAX_PHOTO_SIZE and MEDIA_TYPES.
                "image_size_limit": 16777216 if flavor == "mastodon" else 15000 * 1024,
                "supported_mime_types": (
                    [*("image/jpeg", "image/png", "image/webp", "image/gif"), *MASTODON_VIDEO_TYPES]
                    if flavor == "mastodon"
                    else ["image/jpeg", "image/png", "image/gif"]
                ),
                "video_size_limit": 103809024 if flavor == "mastodon" else 15000 * 1024,
            },
            "polls": {"max_options": 4, "min_expiration": 300, "max_expiration": 2629746},
        }
        version = "4.4.0" if flavor == "mastodon" else "3.5.3 (compatible; Pixelfed 0.12.4)"
        domain = "fake.example"
        self.instance_v2: dict[str, Any] | None = {
            "domain": domain,
            "title": f"Fake {flavor}",
            "version": version,
            "configuration": json.loads(json.dumps(configuration)),
        }
        self.instance_v1: dict[str, Any] | None = {
            "uri": domain,
            "title": f"Fake {flavor}",
            "version": version,
            "configuration": json.loads(json.dumps(configuration)),
        }
        httpserver.expect_request(re.compile(r"^/(api|media|oauth|\.well-known)/")).respond_with_handler(
            self._handle
        )

    # Building state ---------------------------------------------------------------------------

    def _new_id(self) -> str:
        # Snowflake-like: numeric strings that grow with time.
        return str(110_000_000_000_000_000 + next(self._ids))

    def _tick(self) -> datetime:
        self._clock += timedelta(minutes=1)
        return self._clock

    def _account_entity(self, account_id: str, username: str) -> dict[str, Any]:
        return {
            "id": account_id,
            "username": username,
            "acct": username,
            "display_name": username.title(),
            "locked": False,
            "bot": False,
            "created_at": "2025-01-01T00:00:00.000Z",
            "note": "",
            "url": f"{self.base_url}/@{username}",
            "avatar": f"{self.base_url}/avatars/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": 0,
            "emojis": [],
            "fields": [],
        }

    def _new_media(self, spec: Any) -> str:
        media_id = self._new_id()
        entity = {
            "id": media_id,
            "type": "image",
            "url": f"{self.base_url}/media/{media_id}/original",
            "preview_url": f"{self.base_url}/media/{media_id}/small",
            "remote_url": None,
            "preview_remote_url": None,
            "text_url": None,
            "meta": {"original": {"width": 8, "height": 8, "size": "8x8", "aspect": 1.0}},
            "description": None,
            "blurhash": None,
        }
        if isinstance(spec, dict):
            entity.update(spec)
            entity["id"] = media_id
        else:
            entity["description"] = spec
        self._media[media_id] = entity
        return media_id

    def add_status(
        self,
        *,
        text: str = "A post with a picture",
        spoiler_text: str = "",
        sensitive: bool = False,
        language: str | None = "en",
        visibility: str = "public",
        media: list | tuple = (None,),
        poll: dict[str, Any] | None = None,
        in_reply_to_account_id: str | None = None,
        reblog: bool = False,
        account_id: str | None = None,
    ) -> dict[str, Any]:
        """Add a status of the account (newer than every earlier one) and return its entity."""
        with self._lock:
            reblog_of = None
            if reblog:
                reblog_of = _Status(
                    id=self._new_id(),
                    account=self.other_account,
                    text="Someone else's picture",
                    spoiler_text="",
                    sensitive=False,
                    language="en",
                    visibility="public",
                    created_at=self._tick(),
                    media_ids=[self._new_media(None)],
                )
                self._statuses[reblog_of.id] = reblog_of
            account = self.account
            if account_id is not None and account_id != self.account["id"]:
                account = self.other_account
            status = _Status(
                id=self._new_id(),
                account=account,
                text="" if reblog else text,
                spoiler_text=spoiler_text,
                sensitive=sensitive or bool(spoiler_text),
                language=language,
                visibility=visibility,
                created_at=self._tick(),
                media_ids=[] if reblog else [self._new_media(spec) for spec in media],
                in_reply_to_id=self._new_id() if in_reply_to_account_id else None,
                in_reply_to_account_id=in_reply_to_account_id,
                reblog_of=reblog_of,
            )
            if poll is not None:
                options = list(poll["options"])
                status.poll = _Poll(
                    id=self._new_id(),
                    options=options,
                    votes=list(poll.get("votes") or [0] * len(options)),
                    multiple=bool(poll.get("multiple", False)),
                    hide_totals=bool(poll.get("hide_totals", False)),
                    expires_at=datetime.now(UTC) + timedelta(seconds=poll.get("expires_in", 86400)),
                )
            self._statuses[status.id] = status
            return self._render(status)

    # Reading state ----------------------------------------------------------------------------

    def status(self, status_id: str) -> dict[str, Any]:
        with self._lock:
            return self._render(self._statuses[str(status_id)])

    def source(self, status_id: str) -> dict[str, Any]:
        with self._lock:
            status = self._statuses[str(status_id)]
            return {"id": status.id, "text": status.text, "spoiler_text": status.spoiler_text}

    def media(self, media_id: str) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._media[str(media_id)]))

    def uploads(self) -> list[dict[str, Any]]:
        """The media POST /api/v2/media stored, oldest first."""
        with self._lock:
            return [{**self.media(media_id), **self._upload_info[media_id]} for media_id in self._uploads]

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        path = _norm(path)
        with self._lock:
            return [
                r for r in self.requests if r.path == path and (method is None or r.method == method.upper())
            ]

    def count(self, method: str, path: str) -> int:
        return len(self.requests_to(path, method))

    def route(self, method: str, pattern: str, handler) -> None:
        """Serve another endpoint: `handler(fake, request, match, body) -> werkzeug Response` for
        requests whose path fully matches the regex `pattern`. Checked before the built-in routes,
        after authentication (so it gets the failure knobs and the request log for free)."""
        self._extra_routes.append((method.upper(), re.compile(pattern), handler))

    # Failure knobs ----------------------------------------------------------------------------

    def fail_next(
        self,
        path: str,
        *,
        method: str | None = None,
        times: int = 1,
        status: int | None = None,
        retry_after: str | None = None,
        reset_in: float | None = None,
        hang: float | None = None,
        malformed: bool = False,
        apply: bool = False,
        body: Any = None,
    ) -> None:
        if status is None and hang is None and not malformed:
            raise ValueError("Say how to fail: status, hang or malformed.")
        with self._lock:
            self._failures.append(
                _Failure(
                    path=_norm(path),
                    method=method.upper() if method else None,
                    remaining=times,
                    status=status,
                    retry_after=retry_after,
                    reset_in=reset_in,
                    hang=hang,
                    malformed=malformed,
                    apply=apply,
                    body=body,
                )
            )

    def rate_limit_next(
        self,
        path: str,
        *,
        retry_after: str | None = "1",
        reset_in: float | None = None,
        times: int = 1,
        method: str | None = None,
    ) -> None:
        self.fail_next(
            path, method=method, times=times, status=429, retry_after=retry_after, reset_in=reset_in
        )

    def error_next(
        self,
        path: str,
        *,
        status: int = 500,
        times: int = 1,
        method: str | None = None,
        apply: bool = False,
        body: Any = None,
    ) -> None:
        self.fail_next(path, method=method, times=times, status=status, apply=apply, body=body)

    def hang_next(
        self, path: str, *, seconds: float, times: int = 1, method: str | None = None, apply: bool = False
    ) -> None:
        self.fail_next(path, method=method, times=times, hang=seconds, apply=apply)

    def malformed_next(
        self, path: str, *, times: int = 1, method: str | None = None, apply: bool = False
    ) -> None:
        self.fail_next(path, method=method, times=times, malformed=True, apply=apply)

    def accept_then_hang_next(
        self, path: str = "/api/v1/statuses", *, seconds: float, times: int = 1
    ) -> None:
        """The next POST to `path` takes effect, then the answer comes `seconds` late (the
        lost-answer case: a client with a shorter timeout sees a timeout)."""
        self.fail_next(path, method="POST", times=times, hang=seconds, apply=True)

    def statuses_created(self) -> list[dict[str, Any]]:
        """The statuses created through POST /api/v1/statuses, oldest first."""
        with self._lock:
            return [self._render(self._statuses[status_id]) for status_id in self._created]

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.remaining > 0 and failure.path == path and failure.method in (None, method):
                failure.remaining -= 1
                return failure
        return None

    # Serving ----------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        path = _norm(request.path)
        method = request.method.upper()
        body_json, bad_json = None, False
        if request.mimetype == "application/json" and request.get_data():
            try:
                body_json = json.loads(request.get_data(as_text=True))
            except ValueError:
                bad_json = True
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    query={key: request.args.getlist(key) for key in request.args},
                    headers=dict(request.headers),
                    json=body_json,
                    form={key: request.form.getlist(key) for key in request.form},
                    files={key: _part_summary(part) for key, part in request.files.items()},
                )
            )
            failure = self._take_failure(method, path)
        if bad_json:
            return _error("Invalid JSON", 400)
        if failure is None:
            return self._route(request, method, path, body_json)
        if failure.hang is not None and failure.status is None and not failure.malformed:
            if failure.apply:
                response = self._route(request, method, path, body_json)
                time.sleep(failure.hang)
                return response
            time.sleep(failure.hang)
            return self._route(request, method, path, body_json)
        if failure.apply:
            self._route(request, method, path, body_json)
        if failure.hang:
            time.sleep(failure.hang)
        if failure.malformed:
            return Response('{"id": "1", "media_attachments": [{"id": ', content_type="application/json")
        return self._failure_response(failure)

    def _failure_response(self, failure: _Failure) -> Response:
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        if failure.status == 429:
            headers["X-RateLimit-Limit"] = "300"
            headers["X-RateLimit-Remaining"] = "0"
            if failure.reset_in is not None:
                headers["X-RateLimit-Reset"] = _iso(datetime.now(UTC) + timedelta(seconds=failure.reset_in))
            return _json({"error": "Too many requests"}, 429, headers)
        if isinstance(failure.body, str):
            return Response(
                failure.body, status=failure.status or 500, headers=headers, content_type="text/plain"
            )
        body = (
            failure.body if failure.body is not None else {"error": f"Fake failure (HTTP {failure.status})"}
        )
        return _json(body, failure.status or 500, headers)

    def _authorised(self, request: Request) -> bool:
        return self._token_account(request) is not None

    def _token_account(self, request: Request) -> dict[str, Any] | None:
        """The account of the request's bearer token: the fixed token's, or one the OAuth flow
        issued and nobody revoked."""
        header = request.headers.get("Authorization") or ""
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        if token is None:
            return None
        if token == self.token:
            return self.account
        with self._lock:
            issued = self._issued.get(token)
            return issued["account"] if issued and token not in self.revoked else None

    def _route(self, request: Request, method: str, path: str, body: Any) -> Response:
        if path.startswith("/media/"):
            match = re.fullmatch(r"/media/([^/]+)/(original|small)", path)
            if method == "GET" and match and match.group(1) in self._media:
                return Response(self.files.get(match.group(1), TINY_PNG), content_type="image/png")
            return _error("Record not found", 404)
        if method == "GET" and path == "/api/v2/instance":
            return _json(self.instance_v2) if self.instance_v2 is not None else _error("Not found", 404)
        if method == "GET" and path == "/api/v1/instance":
            return _json(self.instance_v1) if self.instance_v1 is not None else _error("Not found", 404)
        oauth = self._oauth_route(request, method, path, body)
        if oauth is not None:
            return oauth
        if not self._authorised(request):
            if self.bad_token_answer is not None:
                status, text, content_type = self.bad_token_answer
                return Response(text, status=status, content_type=content_type)
            return _error("The access token is invalid", 401)
        for route_method, pattern, handler in self._extra_routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return handler(self, request, match, body)
        if method == "POST" and path == "/api/v1/statuses":
            return self._create_status(request, body)
        if method == "POST" and path == "/api/v2/media":
            return self._upload(request)
        if method == "GET" and path == "/api/v1/accounts/verify_credentials":
            return _json(self._token_account(request))
        match = re.fullmatch(r"/api/v1/accounts/([^/]+)/statuses", path)
        if method == "GET" and match:
            return self._list_statuses(request, match.group(1))
        match = re.fullmatch(r"/api/v1/statuses/([^/]+)(/source)?", path)
        if match:
            status_id, source = match.group(1), bool(match.group(2))
            with self._lock:
                status = self._statuses.get(status_id)
                if status is None:
                    return _error("Record not found", 404)
                if method == "GET" and not source:
                    return _json(self._render(status))
                if self.flavor != "mastodon":
                    return _error("Record not found", 404)
                if method == "GET" and source:
                    return _json(self.source(status_id))
                if method == "PUT" and not source:
                    return self._edit_status(request, status, body)
        match = re.fullmatch(r"/api/v1/media/([^/]+)", path)
        if method == "PUT" and match:
            return self._update_media(request, match.group(1), body)
        if method == "GET" and match:
            return self._show_media(match.group(1))
        return _error("Record not found", 404)

    def _list_statuses(self, request: Request, account_id: str) -> Response:
        if account_id != self.account["id"]:
            return _error("Record not found", 404)
        args = request.args
        try:
            asked = min(max(int(args.get("limit", 20)), 1), 40)
        except ValueError:
            return _error("limit must be a number", 422)
        limit = min(asked, self.page_cap) if self.page_cap else asked
        with self._lock:
            found = [s for s in self._statuses.values() if s.account is self.account]
            if _truthy(args.get("pinned")):
                found = []
            if _truthy(args.get("only_media")):
                found = [s for s in found if s.media_ids]
            if _truthy(args.get("exclude_reblogs")):
                found = [s for s in found if s.reblog_of is None]
            if _truthy(args.get("exclude_replies")):
                found = [s for s in found if s.in_reply_to_account_id in (None, self.account["id"])]
            if args.get("max_id"):
                found = [s for s in found if int(s.id) < int(args["max_id"])]
            if args.get("since_id"):
                found = [s for s in found if int(s.id) > int(args["since_id"])]
            if args.get("min_id"):
                found = sorted((s for s in found if int(s.id) > int(args["min_id"])), key=lambda s: int(s.id))
                found = list(reversed(found[:limit]))
            found.sort(key=lambda s: int(s.id), reverse=True)
            page = found[:limit]
            rendered = [self._render(s) for s in page]
            if self.list_once_per_image:
                rendered = [entity for entity in rendered for _ in entity["media_attachments"] or [None]]
        headers = {}
        if page:
            kept = {k: v for k, v in args.items() if k not in ("max_id", "min_id", "since_id")}
            url = f"{self.base_url}/api/v1/accounts/{account_id}/statuses"
            next_url = f"{url}?{urlencode({**kept, 'max_id': page[-1].id})}"
            prev_url = f"{url}?{urlencode({**kept, 'min_id': page[0].id})}"
            links = [f'<{prev_url}>; rel="prev"']
            # Mastodon links the next page only after a full one; a server that caps pages links it
            # after any page that is not empty (GoToSocial, Pixelfed).
            if len(page) == asked or (self.page_cap and len(page) == limit):
                links.insert(0, f'<{next_url}>; rel="next"')
            headers["Link"] = ", ".join(links)
        return _json(rendered, headers=headers)

    def _create_status(self, request: Request, body: Any) -> Response:
        # Mastodon keeps an Idempotency-Key for an hour: the same key gives back the same status.
        params = body if isinstance(body, dict) else self._flat_form(request)
        asked = [str(m) for m in params.get("media_ids") or []]
        text = params.get("status")
        if not isinstance(text, str) or (not text.strip() and not asked):
            return _error("Validation failed: Text can't be blank", 422)
        if len(text) > 500:
            return _error("Validation failed: Text character limit of 500 exceeded", 422)
        visibility = params.get("visibility") or "public"
        if visibility not in ("public", "unlisted", "private", "direct"):
            return _error("Validation failed: Visibility is not included in the list", 422)
        key = request.headers.get("Idempotency-Key")
        with self._lock:
            if key and key in self._idempotency and self.honours_idempotency_key:
                return _json(self._render(self._statuses[self._idempotency[key]]))
            limit = (self.instance_v2 or {}).get("configuration", {}).get("statuses", {})
            if len(asked) > int(limit.get("max_media_attachments") or 4):
                return _error(f"Cannot attach more than {limit.get('max_media_attachments') or 4} files", 422)
            # Mastodon keeps the account's own unattached uploads, in the order asked.
            media_ids = [m for m in dict.fromkeys(asked) if self._unattached(m) and m in self._uploads]
            kinds = [self._media[m]["type"] for m in media_ids]
            if len(media_ids) > 1 and any(k in ("video", "audio") for k in kinds):
                return _error("Cannot attach a video to a post that already contains images", 422)
            # Pixelfed's default (PF_MEDIA_FAST_PROCESS) posts media before processing ends.
            if self.flavor == "mastodon" and any(self._media[m]["url"] is None for m in media_ids):
                return _error(
                    "Cannot attach files that have not finished processing. Try again in a moment!", 422
                )
            status = _Status(
                id=self._new_id(),
                account=self.account,
                text=text,
                spoiler_text=params.get("spoiler_text") or "",
                sensitive=_truthy(params.get("sensitive")),
                language=params.get("language") or None,
                visibility=visibility,
                created_at=self._tick(),
                media_ids=media_ids,
            )
            self._statuses[status.id] = status
            self._created.append(status.id)
            if key:
                self._idempotency[key] = status.id
            return _json(self._render(status))

    def _upload(self, request: Request) -> Response:
        part = request.files.get("file")
        if part is None:
            return self._upload_refused("File can't be blank", "The file field is required.")
        data = part.read()
        content_type = _sniff(data) or (part.mimetype or "application/octet-stream")
        media_config = (self.instance_v2 or {}).get("configuration", {}).get("media_attachments", {})
        supported = media_config.get("supported_mime_types") or []
        if content_type not in supported:
            return self._upload_refused(
                "File content type is invalid, File is invalid",
                f"The file must be a file of type: {', '.join(supported)}.",
            )
        video = content_type.startswith("video/")
        size_limit = media_config.get("video_size_limit" if video else "image_size_limit")
        if size_limit and len(data) > int(size_limit):
            return self._upload_refused(
                f"File file size must be less than {int(size_limit) // 1048576} MB",
                f"The file may not be greater than {int(size_limit) // 1024} kilobytes.",
            )
        description = request.form.get("description")
        if description and len(description) > self.description_limit:
            return self._upload_refused(
                f"Description is too long (maximum is {self.description_limit} characters)",
                f"The description may not be greater than {self.description_limit} characters.",
            )
        meta: dict[str, Any] = {"original": {"size": len(data)}}
        focus = request.form.get("focus")
        if focus:
            try:
                x, y = (float(v) for v in focus.split(","))
            except ValueError:
                return self._upload_refused("Focus is invalid", "The focus is invalid.")
            meta["focus"] = {"x": x, "y": y}
        with self._lock:
            media_id = self._new_media(
                {
                    "type": _media_kind(content_type),
                    "description": description,
                    "meta": meta,
                }
            )
            self._upload_info[media_id] = {
                "content_type": content_type,
                "filename": part.filename,
                "size": len(data),
            }
            self.files[media_id] = data
            self._uploads.append(media_id)
            delay = int(self.processing_delay)
            if self.flavor == "pixelfed" or delay > 0:
                self._processing[media_id] = 0 if self.flavor == "pixelfed" else delay
                self._media[media_id]["url"] = None
                return _json(self._media[media_id], 202)
            return _json(self._media[media_id])

    def _upload_refused(self, mastodon: str, laravel: str) -> Response:
        if self.flavor == "pixelfed":  # Laravel's validation answer
            return _json({"message": laravel, "errors": {"file": [laravel]}}, 422)
        return _error(f"Validation failed: {mastodon}", 422)

    def _show_media(self, media_id: str) -> Response:
        with self._lock:
            if media_id not in self._uploads:
                return _error("Record not found", 404)
            if self.flavor == "mastodon" and not self._unattached(media_id):
                return _error("Record not found", 404)
            left = self._processing.get(media_id, 0)
            if left > 0:
                self._processing[media_id] = left - 1
                return _json(self._media[media_id], 206)
            if self._media[media_id]["url"] is None:
                self._media[media_id]["url"] = f"{self.base_url}/media/{media_id}/original"
            return _json(self._media[media_id])

    def _edit_status(self, request: Request, status: _Status, body: Any) -> Response:
        if status.account is not self.account:
            return _error("This action is not allowed", 403)
        if not request.headers.get("Idempotency-Key"):
            return _error("FakeMastodon requires an Idempotency-Key header on status edits", 422)
        params = body if isinstance(body, dict) else self._flat_form(request)
        media_ids = [str(m) for m in params.get("media_ids") or []]
        if len(media_ids) > 4:
            return _error("You can't attach more than 4 files", 422)
        media_ids = [m for m in media_ids if m in status.media_ids or self._unattached(m)]
        attributes = {
            str(a.get("id")): a for a in params.get("media_attributes") or [] if isinstance(a, dict)
        }
        if self.require_every_description:
            missing = [
                index
                for index, a in enumerate(params.get("media_attributes") or [])
                if not isinstance(a, dict) or not isinstance(a.get("description"), str)
            ]
            if missing:
                # Takahē (django-ninja / pydantic): 400 invalid_input with the fields in error_details.
                return _json(
                    {
                        "error": "invalid_input",
                        "error_details": [
                            {
                                "loc": ["body", "media_attributes", index, "description"],
                                "msg": "field required",
                                "type": "value_error.missing",
                            }
                            for index in missing
                        ],
                    },
                    400,
                )
        for media_id, attrs in attributes.items():
            described = attrs.get("description")
            if media_id in media_ids and described and len(described) > self.description_limit:
                return _error(
                    "Validation failed: Description is too long "
                    f"(maximum is {self.description_limit} characters)",
                    422,
                )
        # Apply, with Mastodon's rules for what is absent.
        for media_id in media_ids:
            attrs = attributes.get(media_id)
            if attrs is None:
                continue
            if "description" in attrs:
                self._media[media_id]["description"] = attrs["description"]
            if "focus" in attrs:
                self._media[media_id].setdefault("meta", {})["focus"] = attrs["focus"]
        status.media_ids = media_ids
        poll = params.get("poll")
        if isinstance(poll, dict) and poll.get("options"):
            options = [str(o) for o in poll["options"]]
            multiple = _truthy(poll.get("multiple"))
            previous = status.poll
            votes = previous.votes if previous else [0] * len(options)
            if previous is None or previous.options != options or previous.multiple != multiple:
                votes = [0] * len(options)
            status.poll = _Poll(
                id=previous.id if previous else self._new_id(),
                options=options,
                votes=votes,
                multiple=multiple,
                hide_totals=_truthy(poll.get("hide_totals")),
                expires_at=datetime.now(UTC) + timedelta(seconds=int(poll.get("expires_in") or 86400)),
            )
        else:
            status.poll = None
        text = params.get("status")
        spoiler = params.get("spoiler_text") or ""
        status.text = text if (text or "").strip() else spoiler
        status.spoiler_text = spoiler
        status.sensitive = _truthy(params.get("sensitive")) or bool(spoiler)
        if params.get("language"):
            status.language = params["language"]
        if self.edit_sets_visibility:
            status.visibility = self.edit_sets_visibility
        status.edited_at = datetime.now(UTC)
        return _json(self._render(status))

    def _flat_form(self, request: Request) -> dict[str, Any]:
        form = request.form
        params: dict[str, Any] = {key: form.get(key) for key in form if not key.endswith("[]")}
        params["media_ids"] = form.getlist("media_ids[]")
        return params

    def _unattached(self, media_id: str) -> bool:
        return media_id in self._media and not any(media_id in s.media_ids for s in self._statuses.values())

    def _update_media(self, request: Request, media_id: str, body: Any) -> Response:
        with self._lock:
            if media_id not in self._media:
                return _error("Record not found", 404)
            if self.flavor == "mastodon" and not self._unattached(media_id):
                return _error("Record not found", 404)
            params = body if isinstance(body, dict) else request.form
            if "description" in params:
                described = params.get("description")
                if described and len(described) > self.description_limit:
                    return _error(
                        f"The description may not be greater than {self.description_limit} characters.", 422
                    )
                self._media[media_id]["description"] = described
            return _json(self._media[media_id])

    # Signing in (OAuth 2) ---------------------------------------------------------------------

    def add_account(self, username: str) -> dict[str, Any]:
        """Another account on this instance (set `fake.signed_in_as = username` to consent as it)."""
        with self._lock:
            account = self._account_entity(self._new_id(), username)
            self._accounts[username] = account
            return account

    def apps_registered(self) -> list[dict[str, Any]]:
        """Every application POST /api/v1/apps registered, oldest first (client secrets included)."""
        with self._lock:
            return [dict(app) for app in self._apps.values()]

    def tokens_issued(self) -> list[str]:
        with self._lock:
            return list(self._issued)

    def _params(self, request: Request, body: Any) -> dict[str, Any]:
        """A request's parameters: JSON body, else form, else query (Rails merges them all)."""
        if isinstance(body, dict):
            return body
        if request.form:
            return {key: request.form.get(key) for key in request.form}
        return {key: request.args.get(key) for key in request.args}

    def _oauth_route(self, request: Request, method: str, path: str, body: Any) -> Response | None:
        """The sign-in endpoints, which need no bearer token; None for any other path."""
        if path == "/.well-known/oauth-authorization-server" and method == "GET":
            return self._oauth_metadata() if self.announces_pkce else _error("Record not found", 404)
        if path == "/api/v1/apps" and method == "POST":
            return self._register_app(self._params(request, body))
        if path == "/oauth/authorize" and method == "GET":
            return self._consent_page(request.args)
        if path == "/oauth/authorize" and method == "POST":
            return self._decide(request.form)
        if path == "/oauth/token" and method == "POST":
            return self._token(self._params(request, body))
        if path == "/oauth/revoke" and method == "POST":
            return self._revoke(self._params(request, body))
        return None

    def _known_scopes(self) -> set[str]:
        if self.flavor == "pixelfed":
            return set(PIXELFED_SCOPES)
        return set(MASTODON_SCOPES)

    def _oauth_metadata(self) -> Response:
        # Mastodon 4.3's document (RFC 8414), the parts a client reads.
        return _json(
            {
                "issuer": f"{self.base_url}/",
                "authorization_endpoint": f"{self.base_url}/oauth/authorize",
                "token_endpoint": f"{self.base_url}/oauth/token",
                "revocation_endpoint": f"{self.base_url}/oauth/revoke",
                "app_registration_endpoint": f"{self.base_url}/api/v1/apps",
                "scopes_supported": sorted(self._known_scopes()),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            }
        )

    def _register_app(self, params: dict[str, Any]) -> Response:
        name = str(params.get("client_name") or "").strip()
        redirect = params.get("redirect_uris")
        uris = redirect if isinstance(redirect, list) else str(redirect or "").split()
        scopes = str(params.get("scopes") or "read").split()
        if not name:
            return _error("Validation failed: Application name can't be blank", 422)
        if not uris or not all(
            u == "urn:ietf:wg:oauth:2.0:oob" or re.match(r"^[a-z][a-z0-9+.-]*://", u) for u in uris
        ):
            return _error("Validation failed: Redirect URI must be an absolute URI.", 422)
        if not set(scopes) <= self._known_scopes():
            return _error("Validation failed: Scopes are invalid", 422)
        with self._lock:
            client_id = f"client-{uuid.uuid4().hex}"
            app = {
                "id": self._new_id(),
                "name": name,
                "website": params.get("website") or None,
                "scopes": scopes,
                "redirect_uri": "\n".join(uris),
                "redirect_uris": uris,
                "vapid_key": "BFakeVapidKey=",
                "client_id": client_id,
                "client_secret": f"secret-{uuid.uuid4().hex}",
                "client_secret_expires_at": 0,
            }
            self._apps[client_id] = app
        return _json(app)

    def _check_authorize(self, params) -> tuple[dict[str, Any] | None, Response | None]:
        """The application of an authorization request, or the answer refusing it: Doorkeeper shows
        an error page (it cannot trust the redirect URI) for an unknown client or redirect URI, and
        redirects back with an error for a bad scope or response type."""
        app = self._apps.get(params.get("client_id") or "")
        if app is None:
            return None, self._error_page("invalid_client", "Client authentication failed.", 401)
        redirect_uri = params.get("redirect_uri") or ""
        if redirect_uri not in app["redirect_uris"]:
            return None, self._error_page(
                "invalid_redirect_uri", "The requested redirect uri is malformed.", 400
            )
        if params.get("response_type") != "code":
            return None, self._redirect_error(params, "unsupported_response_type")
        if not set((params.get("scope") or "read").split()) <= set(app["scopes"]):
            return None, self._redirect_error(params, "invalid_scope")
        if params.get("code_challenge") and params.get("code_challenge_method") not in (
            None,
            "S256",
            "plain",
        ):
            return None, self._redirect_error(params, "invalid_request")
        return app, None

    def _consent_page(self, params) -> Response:
        app, refusal = self._check_authorize(params)
        if refusal is not None:
            return refusal
        with self._lock:
            self.consent_pages += 1
            account = self._accounts[self.signed_in_as]
        fields = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(params.get(name) or "")}">'
            for name in AUTHORIZE_FIELDS
        )
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in (params.get("scope") or "read").split())
        page = (
            "<!doctype html><html><head><title>Authorization required</title></head><body>"
            f'<h1 id="consent">Authorize {html.escape(app["name"])}?</h1>'
            f'<p>Signed in as <strong id="account">@{html.escape(account["username"])}</strong>.</p>'
            f"<p>It asks for:</p><ul>{scopes}</ul>"
            f'<form method="post" action="/oauth/authorize">{fields}'
            '<button type="submit" name="decision" value="approve" id="authorize">Authorize</button> '
            '<button type="submit" name="decision" value="deny" id="deny">Deny</button>'
            "</form></body></html>"
        )
        return Response(page, content_type="text/html; charset=utf-8")

    def _decide(self, form) -> Response:
        app, refusal = self._check_authorize(form)
        if refusal is not None:
            return refusal
        if form.get("decision") != "approve":
            return self._redirect_error(form, "access_denied")
        code = uuid.uuid4().hex
        with self._lock:
            self._codes[code] = {
                "client_id": app["client_id"],
                "redirect_uri": form.get("redirect_uri"),
                "scopes": (form.get("scope") or "read").split(),
                "account": self._accounts[self.signed_in_as],
                # An older server (no PKCE announced) knows nothing of a challenge.
                "challenge": form.get("code_challenge") if self.announces_pkce else None,
                "method": form.get("code_challenge_method") or "plain",
                "used": False,
                "expires": time.monotonic() + 600,
            }
        return self._redirect(form.get("redirect_uri"), {"code": code, "state": form.get("state")})

    def _token(self, params: dict[str, Any]) -> Response:
        if params.get("grant_type") != "authorization_code":
            return _oauth_error(
                "unsupported_grant_type", "The authorization grant type is not supported.", 400
            )
        with self._lock:
            app = self._apps.get(params.get("client_id") or "")
            if app is None or params.get("client_secret") != app["client_secret"]:
                return _oauth_error(
                    "invalid_client",
                    "Client authentication failed due to unknown client, no client authentication "
                    "included, or unsupported authentication method.",
                    401,
                )
            grant = self._codes.get(params.get("code") or "")
            valid = (
                grant is not None
                and not grant["used"]
                and grant["expires"] > time.monotonic()
                and grant["client_id"] == app["client_id"]
                and grant["redirect_uri"] == params.get("redirect_uri")
                and _pkce_ok(grant, params.get("code_verifier"))
            )
            if grant is not None:
                grant["used"] = True  # a code is tried once, as Doorkeeper revokes it
            if not valid:
                return _oauth_error("invalid_grant", INVALID_GRANT, 400)
            token = f"oauth-token-{uuid.uuid4().hex}"
            self._issued[token] = {
                "account": grant["account"],
                "client_id": app["client_id"],
                "scopes": grant["scopes"],
            }
        return _json(
            {
                "access_token": token,
                "token_type": "Bearer",
                "scope": " ".join(grant["scopes"]),
                "created_at": int(time.time()),
            }
        )

    def _revoke(self, params: dict[str, Any]) -> Response:
        with self._lock:
            app = self._apps.get(params.get("client_id") or "")
            if app is None or params.get("client_secret") != app["client_secret"]:
                return _oauth_error("unauthorized_client", "You are not authorized to revoke this token", 403)
            token = params.get("token") or ""
            issued = self._issued.get(token)
            # RFC 7009: an unknown token is answered 200 too; only the app's own tokens are revoked.
            if issued is not None and issued["client_id"] == app["client_id"] and token not in self.revoked:
                self.revoked.append(token)
        return _json({})

    def _redirect(self, redirect_uri: str, params: dict[str, Any]) -> Response:
        query = urlencode({key: value for key, value in params.items() if value is not None})
        separator = "&" if "?" in redirect_uri else "?"
        location = f"{redirect_uri}{separator}{query}"
        with self._lock:
            self.redirects.append(location)
        return Response(status=302, headers={"Location": location})

    def _redirect_error(self, params, error: str) -> Response:
        return self._redirect(
            params.get("redirect_uri"),
            {
                "error": error,
                "error_description": OAUTH_ERROR_TEXTS.get(error, error),
                "state": params.get("state"),
            },
        )

    def _error_page(self, error: str, description: str, status: int) -> Response:
        page = (
            "<!doctype html><html><body><h1>An error has occurred</h1>"
            f"<p id='error'>{error}: {description}</p></body></html>"
        )
        return Response(page, status=status, content_type="text/html; charset=utf-8")

    # Rendering --------------------------------------------------------------------------------

    def _render(self, status: _Status) -> dict[str, Any]:
        text = html.escape(status.text).replace("\n", "<br />")
        content = "" if status.reblog_of else f"<p>{text}</p>"
        return json.loads(
            json.dumps(
                {
                    "id": status.id,
                    "created_at": _iso(status.created_at),
                    "in_reply_to_id": status.in_reply_to_id,
                    "in_reply_to_account_id": status.in_reply_to_account_id,
                    "sensitive": status.sensitive,
                    "spoiler_text": status.spoiler_text,
                    "visibility": status.visibility,
                    "language": status.language,
                    "uri": f"{self.base_url}/users/{status.account['username']}/statuses/{status.id}",
                    "url": f"{self.base_url}/@{status.account['username']}/{status.id}",
                    "replies_count": 0,
                    "reblogs_count": 0,
                    "favourites_count": 0,
                    "edited_at": _iso(status.edited_at) if status.edited_at else None,
                    "content": content,
                    "reblog": self._render(status.reblog_of) if status.reblog_of else None,
                    "account": status.account,
                    "media_attachments": [self._media[m] for m in status.media_ids],
                    "mentions": [],
                    "tags": [],
                    "emojis": [],
                    "card": None,
                    "poll": self._render_poll(status.poll) if status.poll else None,
                }
            )
        )

    def _render_poll(self, poll: _Poll) -> dict[str, Any]:
        expired = poll.expires_at <= datetime.now(UTC)
        show = expired or not poll.hide_totals
        return {
            "id": poll.id,
            "expires_at": _iso(poll.expires_at),
            "expired": expired,
            "multiple": poll.multiple,
            "votes_count": sum(poll.votes),
            "voters_count": sum(poll.votes),
            "options": [
                {"title": title, "votes_count": votes if show else None}
                for title, votes in zip(poll.options, poll.votes, strict=True)
            ],
            "emojis": [],
            "voted": True,
            "own_votes": [],
        }
