"""A small stateful Bluesky PDS for tests (XRPC over HTTP), served by pytest-httpserver.

Written from the AT Protocol and Bluesky HTTP API documentation (docs.bsky.app, atproto.com/specs,
the com.atproto.* and app.bsky.* lexicons) and from what Bluesky's PDS answers:

    fake = FakeBluesky(httpserver)                  # base_url is the PDS (and the sign-in server)
    fake.expire_access_tokens()                     # the next call with them: 400 ExpiredToken
    fake.accept_then_hang_next(1.0)                 # knobs: see tests.fakes.base

Endpoints (all under /xrpc/):
- POST com.atproto.server.createSession {"identifier", "password"}: the account's handle, DID or
  email with its password or one of its app passwords: 200 {"accessJwt", "refreshJwt", "handle",
  "did", "didDoc", "active"}; otherwise 401 AuthenticationRequired "Invalid identifier or
  password"; 400 InvalidRequest when a field is missing.
- POST com.atproto.server.refreshSession (Bearer refreshJwt): a new pair, the old refresh token
  revoked; 400 ExpiredToken "Token has been revoked" for a used or revoked one.
- GET com.atproto.server.getSession (Bearer accessJwt): {"handle", "did", "didDoc", "active"}.
- POST com.atproto.repo.uploadBlob: the raw bytes, Content-Type the MIME type: {"blob": {"$type":
  "blob", "ref": {"$link": CID}, "mimeType", "size"}}; 413 PayloadTooLarge over the PDS's upload
  limit (5 MiB by default, as the PDS).
- POST com.atproto.repo.createRecord {"repo", "collection", "rkey"?, "record", "validate"?}: the
  record is validated as the lexicon says (app.bsky.feed.post: text at most 300 graphemes and 3,000
  UTF-8 bytes, createdAt required, at most 3 langs; facets' byte ranges inside the text;
  app.bsky.embed.images: 1 to 4 images, each with "alt" and an uploaded image blob of an image/*
  type whose size is at most `max_image_bytes`, 1,000,000 as the lexicon said until April 2026:
  400 BlobTooLarge beyond); a record key must be a TID; answer {"uri", "cid", "commit",
  "validationStatus"}. A record key already in the repository: 500 InternalServerError, as the PDS
  answers (its repository tree refuses a second value at a key).
- GET com.atproto.repo.getRecord ?repo&collection&rkey: {"uri", "cid", "value"}; 400
  RecordNotFound "Could not locate record: at://...".
- GET com.atproto.repo.listRecords ?repo&collection&limit&cursor&reverse: {"records", "cursor"?},
  newest record key first.
- GET com.atproto.identity.resolveHandle ?handle: {"did"}; 400 InvalidRequest "Unable to resolve
  handle".
- POST com.atproto.repo.deleteRecord {"repo", "collection", "rkey"}: {"commit"} when the record
  was there, {} when it was not (the PDS answers a record already gone with success); another
  account's repository: 400 InvalidRequest.
- GET app.bsky.feed.getAuthorFeed ?actor&limit&cursor&filter&includePins (the AppView, proxied by
  the PDS): {"feed": [feedViewPost], "cursor"?}, newest first; `limit` 1 to 100 (default 50), else
  400 InvalidRequest; an opaque cursor (`sortAt::cid`, as the AppView's) present while older items
  remain; an unknown cursor: 400 InvalidRequest. A feedViewPost is {"post": postView, "reason"?};
  a postView {"uri", "cid", "author": {"did", "handle", "displayName"}, "record", "embed"?,
  "replyCount", "repostCount", "likeCount", "quoteCount", "indexedAt", "labels"}; an image embed's
  view is app.bsky.embed.images#view with each image's "thumb" and "fullsize" CDN URLs, "alt" and
  "aspectRatio" (when the record has one); app.bsky.embed.recordWithMedia#view carries it as
  "media"; app.bsky.embed.video#view has "playlist" and "thumbnail". `filter`:
  posts_with_replies (the default: the author's posts and reposts), posts_no_replies (no replies
  to others), posts_with_media (the author's own posts with images or video, no reposts). Pins:
  the pinned post first with {"reason": {"$type": "...#reasonPin"}} only with includePins=true.
  `fake.ignores_feed_filter = True` makes the feed ignore `filter` (an AppView that does), so
  reposts of other accounts' posts are listed.
- GET /img/feed_fullsize/plain/{did}/{cid}@jpeg and /img/feed_thumbnail/... (the CDN URLs of the
  views; served here from the fake's origin): the blob's bytes with its MIME type; 404 unknown.
Authenticated calls without a valid access token: 401 AuthenticationRequired (no token) or 400
InvalidToken (an unknown one); an expired one: 400 ExpiredToken "Token has expired". Errors are
{"error", "message"}; a 429 carries RateLimit-Limit, -Remaining, -Reset (epoch seconds) and -Policy,
and Retry-After.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import time
from typing import Any

import regex
from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response

HANDLE = "alice.test"
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"  # Bluesky's app password shape
ACCOUNT_PASSWORD = "the-main-account-password-never-used"
POST = "app.bsky.feed.post"
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
MAX_GRAPHEMES = 300
MAX_BYTES = 3000
BAD = "Invalid app.bsky.feed.post record: "
RATE_LIMITED = {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}


def xrpc_error(status: int, error: str, message: str | None = None, headers: dict | None = None) -> Response:
    body = {"error": error} if message is None else {"error": error, "message": message}
    return json_response(body, status, headers)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _cid(data: bytes, *, codec: str = "bafkrei") -> str:
    return codec + base64.b32encode(hashlib.sha256(data).digest()).decode().lower().rstrip("=")[:52]


class FakeBluesky(FakeHttpPlatform):
    prefix = r"^/(xrpc|img)/"
    post_path = "/xrpc/com.atproto.repo.createRecord"

    def __init__(self, httpserver, *, handle: str = HANDLE, did: str = DID):
        self.handle = handle
        self.did = did
        self.app_passwords = {APP_PASSWORD}
        self.account_password = ACCOUNT_PASSWORD
        # Other accounts the handle resolution knows (mentions).
        self.handles: dict[str, str] = {handle: did, "bob.test": "did:plc:bobbobbobbobbobbobbobbob"}
        self.access_ttl = 2 * 3600
        self.access_tokens: dict[str, str] = {}  # token -> did (valid)
        self.expired_tokens: set[str] = set()
        self.refresh_tokens: dict[str, str] = {}  # token -> did (valid, not yet used)
        self.blobs: dict[str, dict[str, Any]] = {}  # CID -> {"mimeType", "size", "data"}
        self.records: dict[tuple[str, str, str], dict[str, Any]] = {}  # (did, collection, rkey)
        self.max_image_bytes = 1_000_000
        self.upload_limit = 5 * 1024 * 1024
        self.reset_in = 300
        self._serial = itertools.count(1)
        # The AppView's index: (did, collection, rkey) -> (order, indexedAt); newest has the highest order.
        self._indexed: dict[tuple[str, str, str], tuple[int, str]] = {}
        # Feed items of other accounts shown in this author's feed (reposts), by order.
        self._reposts: list[dict[str, Any]] = []
        self.pinned: str | None = None  # the at:// URI of the pinned post
        self.ignores_feed_filter = False
        self._last_indexed = 0
        super().__init__(httpserver)
        self.pds_url = self.base_url

    # Test helpers -----------------------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires (the next call with one: 400 ExpiredToken)."""
        with self._lock:
            self.expired_tokens.update(self.access_tokens)
            self.access_tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self.refresh_tokens.clear()

    def issue_session(self) -> dict[str, Any]:
        """A session as createSession gives it (for tests that start signed in)."""
        with self._lock:
            return self._session_body()

    def add_blob(self, data: bytes, mime_type: str = "image/png") -> dict[str, Any]:
        cid = _cid(data)
        with self._lock:
            self.blobs[cid] = {"mimeType": mime_type, "size": len(data), "data": data}
        return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime_type, "size": len(data)}

    def add_post(
        self,
        text: str = "A post",
        *,
        images: list[tuple[bytes, str]] | None = None,
        sizes: list[tuple[int, int]] | None = None,
        quote: str | None = None,
        video: bool = False,
        reply_to: str | None = None,
        langs: list[str] | None = None,
        mime_type: str = "image/png",
    ) -> str:
        """A post already in the account's repository (made elsewhere); `images` are (bytes, alt).
        `quote`: the at:// URI of a quoted post (recordWithMedia). Returns the post's at:// URI."""
        record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": _now_iso()}
        if langs:
            record["langs"] = langs
        media = None
        if images:
            entries = []
            for position, (data, alt) in enumerate(images):
                entry: dict[str, Any] = {"image": self.add_blob(data, mime_type), "alt": alt}
                if sizes:
                    entry["aspectRatio"] = {"width": sizes[position][0], "height": sizes[position][1]}
                entries.append(entry)
            media = {"$type": "app.bsky.embed.images", "images": entries}
        elif video:
            media = {
                "$type": "app.bsky.embed.video",
                "video": self.add_blob(b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
            }
        if quote and media:
            ref = {"uri": quote, "cid": "bafyreiquotedquotedquotedquotedquotedquotedquotedqu"}
            record["embed"] = {
                "$type": "app.bsky.embed.recordWithMedia",
                "record": {"record": ref},
                "media": media,
            }
        elif media:
            record["embed"] = media
        if reply_to:
            ref = {"uri": reply_to, "cid": "bafyreiparentparentparentparentparentparentparentpa"}
            record["reply"] = {"root": ref, "parent": ref}
        rkey = _tid_now()
        with self._lock:
            while (self.did, POST, rkey) in self.records:
                rkey = _tid_now()
            uri = f"at://{self.did}/{POST}/{rkey}"
            cid = _cid(json.dumps(record, sort_keys=True).encode(), codec="bafyrei")
            self.records[(self.did, POST, rkey)] = {"uri": uri, "cid": cid, "value": record}
            self._index((self.did, POST, rkey))
        return uri

    def add_repost_of_other(self, *, text: str = "Someone else's picture", alt: str = "") -> None:
        """Another account's post with an image, reposted by this account (listed with reasonRepost)."""
        other = "did:plc:bobbobbobbobbobbobbobbob"
        blob = self.add_blob(b"other-image-bytes", "image/jpeg")
        record = {
            "$type": POST,
            "text": text,
            "createdAt": _now_iso(),
            "embed": {"$type": "app.bsky.embed.images", "images": [{"image": blob, "alt": alt}]},
        }
        with self._lock:
            order = next(self._serial)
            indexed_at = self._indexed_at()
            uri = f"at://{other}/{POST}/{_tid_now()}"
            self._reposts.append(
                {
                    "order": order,
                    "indexedAt": indexed_at,
                    "view": self._post_view(
                        other, "bob.test", uri, "bafyreiother" + str(order), record, indexed_at
                    ),
                }
            )

    @property
    def posts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"rkey": rkey, **record}
                for (did, collection, rkey), record in sorted(self.records.items())
                if collection == POST
            ]

    # Plumbing ---------------------------------------------------------------------------------

    def error_body(self, status: int) -> Any:
        if status >= 500:
            return {"error": "InternalServerError", "message": "Internal Server Error"}
        return {"error": "InvalidRequest", "message": f"Fake failure (HTTP {status})"}

    def rate_limit_headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": "5000",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(int(time.time() + self.reset_in)),
            "RateLimit-Policy": "5000;w=3600",
        }

    def fail_next(self, status=500, body=None, headers=None, **kwargs) -> None:
        if status == 429:
            headers = {**self.rate_limit_headers(), **(headers or {})}
            body = body if body is not None else RATE_LIMITED
        super().fail_next(status, body, headers, **kwargs)

    def _token(self, kind: str, ttl: int) -> str:
        header = _b64({"typ": "at+jwt" if kind == "access" else "refresh+jwt", "alg": "ES256K"})
        payload = _b64(
            {
                "scope": "com.atproto.appPass" if kind == "access" else "com.atproto.refresh",
                "sub": self.did,
                "iat": int(time.time()),
                "exp": int(time.time() + ttl),
                "jti": f"{kind}-{next(self._serial)}",
            }
        )
        return f"{header}.{payload}.fakesignature{next(self._serial):06d}"

    def _did_doc(self) -> dict[str, Any]:
        return {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": self.did,
            "alsoKnownAs": [f"at://{self.handle}"],
            "service": [
                {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": self.pds_url}
            ],
        }

    def _session_body(self) -> dict[str, Any]:
        access = self._token("access", self.access_ttl)
        refresh = self._token("refresh", 90 * 86400)
        self.access_tokens[access] = self.did
        self.refresh_tokens[refresh] = self.did
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.handle,
            "did": self.did,
            "didDoc": self._did_doc(),
            "active": True,
        }

    def _bearer(self, request: Request) -> str | None:
        value = request.headers.get("Authorization") or ""
        return value[7:] if value.startswith("Bearer ") else None

    def _auth_problem(self, request: Request) -> Response | None:
        token = self._bearer(request)
        if not token:
            return xrpc_error(401, "AuthMissing", "Authentication Required")
        with self._lock:
            if token in self.access_tokens:
                return None
            if token in self.expired_tokens:
                return xrpc_error(400, "ExpiredToken", "Token has expired")
        return xrpc_error(400, "InvalidToken", "Token could not be verified")

    # Routes -----------------------------------------------------------------------------------

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        nsid = path.removeprefix("/xrpc/")
        if method == "POST" and nsid == "com.atproto.server.createSession":
            return self._create_session(body)
        if method == "POST" and nsid == "com.atproto.server.refreshSession":
            return self._refresh_session(request)
        if method == "GET" and nsid == "com.atproto.identity.resolveHandle":
            return self._resolve_handle(request)
        if method == "GET" and nsid == "com.atproto.repo.getRecord":
            return self._get_record(request)
        if method == "GET" and nsid == "com.atproto.repo.listRecords":
            return self._list_records(request)
        if method == "GET" and path.startswith("/img/"):
            return self._cdn(path)
        known = {
            ("GET", "com.atproto.server.getSession"),
            ("POST", "com.atproto.repo.uploadBlob"),
            ("POST", "com.atproto.repo.createRecord"),
            ("POST", "com.atproto.repo.deleteRecord"),
            ("GET", "app.bsky.feed.getAuthorFeed"),
        }
        if (method, nsid) not in known:
            return xrpc_error(501, "MethodNotImplemented", "Method Not Implemented")
        problem = self._auth_problem(request)
        if problem is not None:
            return problem
        if nsid == "com.atproto.server.getSession":
            session = {"handle": self.handle, "did": self.did, "didDoc": self._did_doc(), "active": True}
            return json_response(session)
        if nsid == "com.atproto.repo.uploadBlob":
            return self._upload_blob(request)
        if nsid == "com.atproto.repo.deleteRecord":
            return self._delete_record(body)
        if nsid == "app.bsky.feed.getAuthorFeed":
            return self._author_feed(request)
        return self._create_record(body)

    def _create_session(self, body: Any) -> Response:
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("identifier"), str)
            or "password" not in body
        ):
            return xrpc_error(400, "InvalidRequest", 'Input must have the property "identifier"')
        identifier = body["identifier"].lower().lstrip("@")
        password = body["password"]
        if identifier not in (self.handle, self.did) or (
            password not in self.app_passwords and password != self.account_password
        ):
            return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        with self._lock:
            return json_response(self._session_body())

    def _refresh_session(self, request: Request) -> Response:
        token = self._bearer(request)
        if not token:
            return xrpc_error(401, "AuthMissing", "Authentication Required")
        with self._lock:
            if self.refresh_tokens.pop(token, None) is None:
                return xrpc_error(400, "ExpiredToken", "Token has been revoked")
            return json_response(self._session_body())

    def _resolve_handle(self, request: Request) -> Response:
        handle = (request.args.get("handle") or "").lower()
        did = self.handles.get(handle)
        if did is None:
            return xrpc_error(400, "InvalidRequest", "Unable to resolve handle")
        return json_response({"did": did})

    def _upload_blob(self, request: Request) -> Response:
        data = request.get_data()
        if len(data) > self.upload_limit:
            return xrpc_error(413, "PayloadTooLarge", "request entity too large")
        mime = request.mimetype or "application/octet-stream"
        cid = _cid(data)
        with self._lock:
            self.blobs[cid] = {"mimeType": mime, "size": len(data), "data": data}
        blob = {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}
        return json_response({"blob": blob})

    def _repo_did(self, repo: Any) -> str | None:
        if repo in (self.did, self.handle):
            return self.did
        return None

    def _create_record(self, body: Any) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("record"), dict):
            return xrpc_error(400, "InvalidRequest", 'Input must have the property "record"')
        did = self._repo_did(body.get("repo"))
        if did is None:
            return xrpc_error(400, "InvalidRequest", f"Could not find repo: {body.get('repo')}")
        collection = body.get("collection")
        record = body["record"]
        rkey = body.get("rkey")
        if collection != POST:
            return xrpc_error(400, "InvalidRequest", f"Unsupported collection {collection!r} in this fake")
        if rkey is None:
            rkey = _tid_now()
        elif not isinstance(rkey, str) or not TID_RE.match(rkey):
            return xrpc_error(400, "InvalidRequest", f"Record/rkey must be a valid TID: {rkey!r}")
        problem = self._post_problem(record)
        if problem:
            name, message = problem
            return xrpc_error(400, name, message)
        with self._lock:
            key = (did, collection, rkey)
            if key in self.records:
                # The PDS's repository tree refuses a second value at one key: an internal error.
                return xrpc_error(500, "InternalServerError", "Internal Server Error")
            uri = f"at://{did}/{collection}/{rkey}"
            cid = _cid(json.dumps(record, sort_keys=True).encode(), codec="bafyrei")
            self.records[key] = {"uri": uri, "cid": cid, "value": record}
            self._index(key)
        return json_response(
            {
                "uri": uri,
                "cid": cid,
                "commit": {"cid": _cid(uri.encode(), codec="bafyrei"), "rev": _tid_now()},
                "validationStatus": "valid",
            }
        )

    def _post_problem(self, record: dict) -> tuple[str, str] | None:
        if record.get("$type") != POST:
            return "InvalidRequest", BAD + "Record/$type must be app.bsky.feed.post"
        text = record.get("text")
        if not isinstance(text, str):
            return "InvalidRequest", BAD + 'Record must have the property "text"'
        if not isinstance(record.get("createdAt"), str):
            return "InvalidRequest", BAD + 'Record must have the property "createdAt"'
        if len(text.encode("utf-8")) > MAX_BYTES:
            return "InvalidRequest", BAD + f"Record/text must not be longer than {MAX_BYTES} characters"
        if len(regex.findall(r"\X", text)) > MAX_GRAPHEMES:
            return "InvalidRequest", BAD + f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes"
        langs = record.get("langs")
        if langs is not None and (not isinstance(langs, list) or len(langs) > 3):
            return "InvalidRequest", BAD + "Record/langs must not have more than 3 elements"
        size = len(text.encode("utf-8"))
        for facet in record.get("facets") or []:
            index = facet.get("index") if isinstance(facet, dict) else None
            start, end = (
                index.get(k, -1) if isinstance(index, dict) else -1 for k in ("byteStart", "byteEnd")
            )
            if not 0 <= start <= end <= size:
                return "InvalidRequest", BAD + "facet index out of range"
        embed = record.get("embed")
        if embed is None:
            return None
        if not isinstance(embed, dict) or embed.get("$type") != "app.bsky.embed.images":
            return "InvalidRequest", BAD + "unsupported embed in this fake"
        images = embed.get("images")
        if not isinstance(images, list) or not images:
            return "InvalidRequest", BAD + 'Record/embed must have the property "images"'
        if len(images) > 4:
            return "InvalidRequest", BAD + "Record/embed/images must not have more than 4 elements"
        for position, image in enumerate(images):
            where = f"Record/embed/images/{position}"
            if not isinstance(image, dict) or not isinstance(image.get("alt"), str):
                return "InvalidRequest", BAD + f'{where} must have the property "alt"'
            blob = image.get("image")
            ref = blob.get("ref") if isinstance(blob, dict) else None
            link = ref.get("$link") if isinstance(ref, dict) else None
            stored = self.blobs.get(link) if link else None
            if stored is None:
                return "BlobNotFound", f"Could not find blob: {link}"
            if blob.get("mimeType") != stored["mimeType"] or not stored["mimeType"].startswith("image/"):
                return "InvalidMimeType", (
                    "Referenced Mimetype does not match stored blob. "
                    f"Expected: {stored['mimeType']}, Got: {blob.get('mimeType')}"
                )
            if blob.get("size") != stored["size"]:
                return "InvalidSize", (
                    "Referenced Size does not match stored blob. "
                    f"Expected: {stored['size']}, Got: {blob.get('size')}"
                )
            if stored["size"] > self.max_image_bytes:
                return (
                    "BlobTooLarge",
                    f"This file is too large. It is {stored['size']} bytes but the maximum size is "
                    f"{self.max_image_bytes} bytes.",
                )
            ratio = image.get("aspectRatio")
            if ratio is not None and not (
                isinstance(ratio, dict)
                and all(isinstance(ratio.get(k), int) and ratio[k] >= 1 for k in ("width", "height"))
            ):
                return "InvalidRequest", BAD + f"{where}/aspectRatio is invalid"
        return None

    def _get_record(self, request: Request) -> Response:
        repo, collection, rkey = (request.args.get(k) for k in ("repo", "collection", "rkey"))
        did = self._repo_did(repo)
        uri = f"at://{did or repo}/{collection}/{rkey}"
        with self._lock:
            record = self.records.get((did, collection, rkey)) if did else None
        if record is None:
            return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return json_response({"uri": record["uri"], "cid": record["cid"], "value": record["value"]})

    def _list_records(self, request: Request) -> Response:
        did = self._repo_did(request.args.get("repo"))
        collection = request.args.get("collection")
        if did is None:
            return xrpc_error(400, "InvalidRequest", f"Could not find repo: {request.args.get('repo')}")
        try:
            limit = int(request.args.get("limit", 50))
        except ValueError:
            return xrpc_error(400, "InvalidRequest", "limit must be an integer")
        if not 1 <= limit <= 100:
            return xrpc_error(400, "InvalidRequest", "limit must be between 1 and 100")
        cursor = request.args.get("cursor")
        reverse = request.args.get("reverse") == "true"
        with self._lock:
            keys = [rkey for (d, c, rkey) in self.records if d == did and c == collection]
            keys.sort(reverse=not reverse)
            if cursor:
                keys = [k for k in keys if (k > cursor if reverse else k < cursor)]
            page = keys[:limit]
            records = [dict(self.records[(did, collection, rkey)]) for rkey in page]
        body: dict[str, Any] = {"records": records}
        if len(keys) > limit:
            body["cursor"] = page[-1]
        return json_response(body)

    def _delete_record(self, body: Any) -> Response:
        if not isinstance(body, dict):
            return xrpc_error(400, "InvalidRequest", "Input must be an object")
        did = self._repo_did(body.get("repo"))
        if did is None:
            return xrpc_error(400, "InvalidRequest", f"Could not find repo: {body.get('repo')}")
        key = (did, body.get("collection"), body.get("rkey"))
        with self._lock:
            if self.records.pop(key, None) is None:
                return json_response({})
            self._indexed.pop(key, None)
        return json_response(
            {"commit": {"cid": _cid(repr(key).encode(), codec="bafyrei"), "rev": _tid_now()}}
        )

    # The AppView ------------------------------------------------------------------------------

    def _index(self, key: tuple[str, str, str]) -> None:
        self._indexed[key] = (next(self._serial), self._indexed_at())

    def _indexed_at(self) -> str:
        """Now, a millisecond after the last one at least: the AppView's sort times differ."""
        millis = max(int(time.time() * 1000), self._last_indexed + 1)
        self._last_indexed = millis
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}Z"

    def _cdn_url(self, kind: str, did: str, blob: dict) -> str:
        return f"{self.base_url}/img/{kind}/plain/{did}/{blob['ref']['$link']}@jpeg"

    def _media_view(self, did: str, media: dict) -> dict[str, Any] | None:
        kind = media.get("$type")
        if kind == "app.bsky.embed.images":
            images = []
            for entry in media.get("images") or []:
                view = {
                    "thumb": self._cdn_url("feed_thumbnail", did, entry["image"]),
                    "fullsize": self._cdn_url("feed_fullsize", did, entry["image"]),
                    "alt": entry.get("alt", ""),
                }
                if entry.get("aspectRatio"):
                    view["aspectRatio"] = entry["aspectRatio"]
                images.append(view)
            return {"$type": "app.bsky.embed.images#view", "images": images}
        if kind == "app.bsky.embed.video":
            link = media["video"]["ref"]["$link"]
            return {
                "$type": "app.bsky.embed.video#view",
                "cid": link,
                "playlist": f"https://video.bsky.app/watch/{did}/{link}/playlist.m3u8",
                "thumbnail": f"https://video.bsky.app/watch/{did}/{link}/thumbnail.jpg",
            }
        return None

    def _embed_view(self, did: str, record: dict) -> dict[str, Any] | None:
        embed = record.get("embed")
        if not isinstance(embed, dict):
            return None
        if embed.get("$type") == "app.bsky.embed.recordWithMedia":
            quoted = embed.get("record", {}).get("record", {})
            return {
                "$type": "app.bsky.embed.recordWithMedia#view",
                "record": {
                    "$type": "app.bsky.embed.record#view",
                    "record": {
                        "$type": "app.bsky.embed.record#viewNotFound",
                        "uri": quoted.get("uri"),
                        "notFound": True,
                    },
                },
                "media": self._media_view(did, embed.get("media") or {}),
            }
        return self._media_view(did, embed)

    def _post_view(self, did: str, handle: str, uri: str, cid: str, record: dict, indexed_at: str) -> dict:
        view: dict[str, Any] = {
            "uri": uri,
            "cid": cid,
            "author": {
                "did": did,
                "handle": handle,
                "displayName": handle.split(".")[0].title(),
                "labels": [],
            },
            "record": record,
            "replyCount": 0,
            "repostCount": 0,
            "likeCount": 0,
            "quoteCount": 0,
            "indexedAt": indexed_at,
            "labels": [],
        }
        embed = self._embed_view(did, record)
        if embed is not None:
            view["embed"] = embed
        return view

    def _has_media(self, record: dict) -> bool:
        embed = record.get("embed") if isinstance(record.get("embed"), dict) else {}
        if embed.get("$type") == "app.bsky.embed.recordWithMedia":
            embed = embed.get("media") or {}
        return embed.get("$type") in ("app.bsky.embed.images", "app.bsky.embed.video")

    def _author_feed(self, request: Request) -> Response:
        actor = (request.args.get("actor") or "").lower()
        if actor not in (self.did, self.handle):
            return xrpc_error(400, "InvalidRequest", "Profile not found")
        try:
            limit = int(request.args.get("limit", 50))
        except ValueError:
            return xrpc_error(400, "InvalidRequest", "limit must be an integer")
        if not 1 <= limit <= 100:
            return xrpc_error(400, "InvalidRequest", "limit must be between 1 and 100")
        wanted = request.args.get("filter", "posts_with_replies")
        if self.ignores_feed_filter:
            wanted = "posts_with_replies"
        with self._lock:
            items = []  # (order, sortAt, cid, feedViewPost)
            for key, (order, indexed_at) in self._indexed.items():
                did, collection, _rkey = key
                stored = self.records.get(key)
                if stored is None or collection != POST or did != self.did:
                    continue
                record = stored["value"]
                reply = record.get("reply") if isinstance(record.get("reply"), dict) else None
                replies_to_other = bool(reply) and not reply["parent"]["uri"].startswith(f"at://{self.did}/")
                if wanted == "posts_with_media" and not self._has_media(record):
                    continue
                if wanted == "posts_no_replies" and replies_to_other:
                    continue
                view = self._post_view(did, self.handle, stored["uri"], stored["cid"], record, indexed_at)
                items.append((order, indexed_at, stored["cid"], {"post": view}))
            if wanted != "posts_with_media":
                for repost in self._reposts:
                    reason = {
                        "$type": "app.bsky.feed.defs#reasonRepost",
                        "by": {"did": self.did, "handle": self.handle},
                        "indexedAt": repost["indexedAt"],
                    }
                    items.append(
                        (
                            repost["order"],
                            repost["indexedAt"],
                            repost["view"]["cid"],
                            {"post": repost["view"], "reason": reason},
                        )
                    )
            items.sort(key=lambda item: item[0], reverse=True)
            cursors = [f"{sort_at}::{cid}" for _, sort_at, cid, _ in items]
            cursor = request.args.get("cursor")
            start = 0
            if cursor:
                if cursor not in cursors:
                    return xrpc_error(400, "InvalidRequest", "Malformed cursor")
                start = cursors.index(cursor) + 1
            page = [item[3] for item in items[start : start + limit]]
            if not cursor and self.pinned and request.args.get("includePins") == "true":
                pinned = next((item[3] for item in items if item[3]["post"]["uri"] == self.pinned), None)
                if pinned is not None:
                    page.insert(0, {**pinned, "reason": {"$type": "app.bsky.feed.defs#reasonPin"}})
        body: dict[str, Any] = {"feed": page}
        if start + limit < len(items):
            body["cursor"] = cursors[start + limit - 1]
        return json_response(body)

    def _cdn(self, path: str) -> Response:
        # /img/{feed_fullsize|feed_thumbnail}/plain/{did}/{cid}@jpeg
        parts = path.split("/")
        if len(parts) != 6 or parts[3] != "plain" or parts[4] != self.did:
            return Response("Not Found", status=404)
        cid = parts[5].split("@", 1)[0]
        with self._lock:
            blob = self.blobs.get(cid)
        if blob is None:
            return Response("Not Found", status=404)
        return Response(blob["data"], status=200, content_type=blob["mimeType"])


def _now_iso() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def _tid_now() -> str:
    value = (int(time.time() * 1_000_000) << 10) | 0x155
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(13)))
