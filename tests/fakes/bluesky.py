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
    prefix = r"^/xrpc/"
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
        known = {
            ("GET", "com.atproto.server.getSession"),
            ("POST", "com.atproto.repo.uploadBlob"),
            ("POST", "com.atproto.repo.createRecord"),
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


def _tid_now() -> str:
    value = (int(time.time() * 1_000_000) << 10) | 0x155
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(13)))
