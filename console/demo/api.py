"""The Mastodon API of the demo instance: routes over its in-memory state, free of HTTP plumbing.

`MastodonRoutes.handle(...)` takes one request (method, path, query, headers, body, and the base
URL it came to) and returns an `Answer`; `console.demo.instance` serves it over HTTP. The endpoints
and their rules are listed in `console.demo.instance`'s docstring.
"""

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from console.demo import media as demo_media
from console.demo import site as demo_site
from console.demo.content import ACCOUNT_ID, DEMO_ACCOUNT_USERNAME, DEMO_TOKEN, State, Status

DESCRIPTION_LIMIT = 1500
MAX_CHARACTERS = 500
TRUTHY = {"1", "true", "t", "on", "yes"}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return value is not None and str(value).strip().lower() in TRUTHY


class Answer:
    def __init__(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json", headers)


def error_answer(message: str, status: int) -> Answer:
    return _json({"error": message}, status)


class BadRequest(Exception):
    pass


class MastodonRoutes:
    """The routes over one `State`; `base_url` is where the current request came to."""

    def __init__(self, state: State):
        self.state = state

    # Entities -----------------------------------------------------------------------------

    def account(self, base_url: str) -> dict[str, Any]:
        with self.state.lock:
            count = len(self.state.statuses)
        return {
            "id": ACCOUNT_ID,
            "username": DEMO_ACCOUNT_USERNAME,
            "acct": DEMO_ACCOUNT_USERNAME,
            "display_name": "Demo Account",
            "locked": False,
            "bot": False,
            "created_at": "2025-12-01T00:00:00.000Z",
            "note": "<p>The socialdesk demo instance's only account.</p>",
            "url": f"{base_url}/@{DEMO_ACCOUNT_USERNAME}",
            "avatar": f"{base_url}/avatars/original/missing.png",
            "followers_count": 12,
            "following_count": 3,
            "statuses_count": count,
            "emojis": [],
            "fields": [],
        }

    def media_entity(self, media_id: str, base_url: str) -> dict[str, Any]:
        entity = copy.deepcopy(self.state.media[media_id])
        entity["url"] = base_url + entity["url"]
        entity["preview_url"] = base_url + entity["preview_url"]
        return entity

    def render(self, status: Status, base_url: str) -> dict[str, Any]:
        text = status.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return {
            "id": status.id,
            "created_at": _iso(status.created_at),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": status.sensitive,
            "spoiler_text": status.spoiler_text,
            "visibility": status.visibility,
            "language": status.language,
            "uri": f"{base_url}/users/{DEMO_ACCOUNT_USERNAME}/statuses/{status.id}",
            "url": f"{base_url}/@{DEMO_ACCOUNT_USERNAME}/{status.id}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": _iso(status.edited_at) if status.edited_at else None,
            "content": "<p>" + text.replace("\n", "<br />") + "</p>",
            "reblog": None,
            "account": self.account(base_url),
            "media_attachments": [self.media_entity(m, base_url) for m in status.media_ids],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }

    def instance_document(self, base_url: str, *, version: int) -> dict[str, Any]:
        configuration = {
            "statuses": {"max_characters": MAX_CHARACTERS, "max_media_attachments": 4},
            "media_attachments": {
                "description_limit": DESCRIPTION_LIMIT,
                "image_size_limit": 16777216,
                "supported_mime_types": ["image/jpeg", "image/png", "image/webp", "image/gif"],
            },
            "polls": {"max_options": 4, "min_expiration": 300, "max_expiration": 2629746},
        }
        domain = urlsplit(base_url).netloc
        document = {
            "title": "socialdesk demo instance",
            "version": "4.4.0",
            "description": "A fake Mastodon instance for the socialdesk demo; it runs on loopback only.",
            "configuration": configuration,
        }
        document["domain" if version == 2 else "uri"] = domain
        return document

    # Routing ------------------------------------------------------------------------------

    def handle(
        self, *, method: str, path: str, query: dict[str, list[str]], headers, body: bytes, base_url: str
    ) -> Answer:
        if path.startswith("/media/"):
            return self.media_file(method, path)
        if not path.startswith("/api/"):
            page = demo_site.site_page(path, base_url=base_url) if method in ("GET", "HEAD") else None
            if page is None:
                return error_answer("Record not found", 404)
            text, content_type = page
            return Answer(200, text.encode("utf-8"), content_type)
        path = path.rstrip("/")
        if method == "GET" and path in ("/api/v2/instance", "/api/v1/instance"):
            return _json(self.instance_document(base_url, version=2 if "/v2/" in path else 1))
        if headers.get("Authorization") != f"Bearer {DEMO_TOKEN}":
            return error_answer("The access token is invalid", 401)
        try:
            params = parse_body(headers.get("Content-Type", ""), body)
        except BadRequest as exc:
            return error_answer(str(exc), 400)
        if method == "GET" and path == "/api/v1/accounts/verify_credentials":
            return _json(self.account(base_url))
        match = re.fullmatch(r"/api/v1/accounts/([^/]+)/statuses", path)
        if method == "GET" and match:
            return self.list_statuses(match.group(1), query, base_url)
        if method == "POST" and path == "/api/v1/statuses":
            return self.create_status(params, headers, base_url)
        match = re.fullmatch(r"/api/v1/statuses/([^/]+)(/source)?", path)
        if match:
            return self.status_route(method, match.group(1), bool(match.group(2)), params, headers, base_url)
        match = re.fullmatch(r"/api/v1/media/([^/]+)", path)
        if match and method == "PUT":
            return self.update_media(match.group(1), params, base_url)
        if match and method == "GET":
            with self.state.lock:
                if match.group(1) in self.state.media:
                    return _json(self.media_entity(match.group(1), base_url))
        return error_answer("Record not found", 404)

    def media_file(self, method: str, path: str) -> Answer:
        match = re.fullmatch(r"/media/([^/]+)/(original|small)", path)
        if method not in ("GET", "HEAD") or not match:
            return error_answer("Record not found", 404)
        with self.state.lock:
            scene = self.state.scenes.get(match.group(1))
        if scene is None:
            return error_answer("Record not found", 404)
        return Answer(200, demo_media.scene_png(scene, variant=match.group(2)), "image/png")

    def list_statuses(self, account_id: str, query: dict[str, list[str]], base_url: str) -> Answer:
        if account_id != ACCOUNT_ID:
            return error_answer("Record not found", 404)
        args = {key: values[-1] for key, values in query.items() if values}
        try:
            limit = min(max(int(args.get("limit", 20)), 1), 40)
            bounds = {key: int(args[key]) for key in ("max_id", "since_id", "min_id") if args.get(key)}
        except ValueError:
            return error_answer("limit, max_id, since_id and min_id must be numbers", 422)
        with self.state.lock:
            found = list(self.state.statuses.values())
            if _truthy(args.get("pinned")):
                found = []
            if _truthy(args.get("only_media")):
                found = [s for s in found if s.media_ids]
            if "max_id" in bounds:
                found = [s for s in found if int(s.id) < bounds["max_id"]]
            if "since_id" in bounds:
                found = [s for s in found if int(s.id) > bounds["since_id"]]
            found.sort(key=lambda s: int(s.id), reverse=True)
            if "min_id" in bounds:
                # The page just above min_id: the oldest `limit` newer ones, still shown newest first.
                found = [s for s in found if int(s.id) > bounds["min_id"]][-limit:]
            page = found[:limit]
            rendered = [self.render(s, base_url) for s in page]
        headers = {}
        if page:
            kept = {k: v for k, v in args.items() if k not in ("max_id", "min_id", "since_id")}
            url = f"{base_url}/api/v1/accounts/{account_id}/statuses"
            next_url = f"{url}?{urlencode({**kept, 'max_id': page[-1].id})}"
            prev_url = f"{url}?{urlencode({**kept, 'min_id': page[0].id})}"
            headers["Link"] = f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'
        return _json(rendered, headers=headers)

    def status_route(
        self, method: str, status_id: str, source: bool, params: dict[str, Any], headers, base_url: str
    ) -> Answer:
        with self.state.lock:
            status = self.state.statuses.get(status_id)
            if status is None:
                return error_answer("Record not found", 404)
            if method == "GET" and source:
                return _json({"id": status.id, "text": status.text, "spoiler_text": status.spoiler_text})
            if method == "GET":
                return _json(self.render(status, base_url))
            if method == "PUT" and not source:
                return self.edit_status(status, params, headers, base_url)
        return error_answer("Record not found", 404)

    def edit_status(self, status: Status, params: dict[str, Any], headers, base_url: str) -> Answer:
        if not headers.get("Idempotency-Key"):
            return error_answer("The demo instance requires an Idempotency-Key header on status edits", 422)
        media_ids = [str(m) for m in params.get("media_ids") or []]
        if len(media_ids) > 4:
            return error_answer("You can't attach more than 4 files", 422)
        text = params.get("status")
        spoiler = params.get("spoiler_text") or ""
        if not isinstance(text, str) or not isinstance(spoiler, str):
            return error_answer("Validation failed: status and spoiler_text must be text", 422)
        if not text.strip() and not spoiler.strip() and not media_ids:
            return error_answer("Validation failed: Text can't be blank", 422)
        attributes = {
            str(a.get("id")): a for a in params.get("media_attributes") or [] if isinstance(a, dict)
        }
        state = self.state
        # Mastodon keeps only media that are this status's or not attached anywhere yet.
        media_ids = [m for m in media_ids if m in status.media_ids or self._unattached(m)]
        for media_id, attrs in attributes.items():
            described = attrs.get("description")
            if media_id in media_ids and isinstance(described, str) and len(described) > DESCRIPTION_LIMIT:
                return error_answer(
                    f"Validation failed: Description is too long (maximum is {DESCRIPTION_LIMIT} characters)",
                    422,
                )
        for media_id in media_ids:
            attrs = attributes.get(media_id)
            if attrs is not None and "description" in attrs:
                state.media[media_id]["description"] = attrs["description"]
        status.media_ids = media_ids
        status.text = text if text.strip() else spoiler
        status.spoiler_text = spoiler
        status.sensitive = _truthy(params.get("sensitive")) or bool(spoiler)
        if params.get("language"):
            status.language = str(params["language"])
        status.edited_at = datetime.now(UTC)
        return _json(self.render(status, base_url))

    def _unattached(self, media_id: str) -> bool:
        return media_id in self.state.media and not any(
            media_id in s.media_ids for s in self.state.statuses.values()
        )

    def update_media(self, media_id: str, params: dict[str, Any], base_url: str) -> Answer:
        with self.state.lock:
            if media_id not in self.state.media:
                return error_answer("Record not found", 404)
            if "description" in params:
                described = params.get("description")
                if isinstance(described, str) and len(described) > DESCRIPTION_LIMIT:
                    return error_answer(
                        f"The description may not be greater than {DESCRIPTION_LIMIT} characters.", 422
                    )
                self.state.media[media_id]["description"] = described or None
            return _json(self.media_entity(media_id, base_url))

    def create_status(self, params: dict[str, Any], headers, base_url: str) -> Answer:
        text = params.get("status")
        if not isinstance(text, str) or not text.strip():
            return error_answer("Validation failed: Text can't be blank", 422)
        if len(text) > MAX_CHARACTERS:
            return error_answer(f"Validation failed: Text character limit of {MAX_CHARACTERS} exceeded", 422)
        visibility = params.get("visibility") or "public"
        if visibility not in ("public", "unlisted", "private", "direct"):
            return error_answer("Validation failed: Visibility is not included in the list", 422)
        key = headers.get("Idempotency-Key")
        with self.state.lock:
            if key and key in self.state.idempotency:
                return _json(self.render(self.state.statuses[self.state.idempotency[key]], base_url))
            status = Status(
                id=self.state.new_id(),
                text=text,
                spoiler_text=str(params.get("spoiler_text") or ""),
                sensitive=_truthy(params.get("sensitive")) or bool(params.get("spoiler_text")),
                language=str(params["language"]) if params.get("language") else None,
                visibility=str(visibility),
                created_at=datetime.now(UTC),
                media_ids=[],
            )
            self.state.statuses[status.id] = status
            if key:
                self.state.idempotency[key] = status.id
            return _json(self.render(status, base_url))


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """A JSON object, or a form with Rails-style keys (`media_ids[]`, `media_attributes[][id]`)."""
    if not body:
        return {}
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("Invalid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("The body must be a JSON object")
        return data
    if media_type in ("application/x-www-form-urlencoded", ""):
        try:
            pairs = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise BadRequest("The form is not UTF-8") from None
        params: dict[str, Any] = {}
        attributes: list[dict[str, str]] = []
        for key, values in pairs.items():
            if key.endswith("[]") and not key.startswith("media_attributes"):
                params[key[:-2]] = values
            elif key.startswith("media_attributes[]["):
                name = key[len("media_attributes[][") : -1]
                for index, value in enumerate(values):
                    while len(attributes) <= index:
                        attributes.append({})
                    attributes[index][name] = value
            else:
                params[key] = values[-1]
        if attributes:
            params["media_attributes"] = attributes
        return params
    raise BadRequest(f"Unsupported content type {media_type}")
