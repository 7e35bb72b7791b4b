"""Publishing a Bluesky post: a record of `app.bsky.feed.post` in the account's repository.

1. Each image is uploaded with `com.atproto.repo.uploadBlob` (the raw bytes, `Content-Type` its
   MIME type); the answer's blob reference goes into the post as it came. Uploads are remembered
   per publication (by `MediaItem.key`), so a retried post reuses them; an upload is not a post,
   so a failed one is never "the post may exist".
2. Mentions are resolved to DIDs with `com.atproto.identity.resolveHandle`; one that does not
   resolve stays plain text.
3. `com.atproto.repo.createRecord` with a record key chosen here: a TID derived from the
   publication's idempotency key (`richtext.tid_from_key`), the same for every retry of one job.
   After an answer that may have been lost, `com.atproto.repo.getRecord` for that key says whether
   the post exists (found: recovered, not posted again). A second create with the same key cannot
   make a second post: Bluesky's PDS refuses it (a 500 from its repository, which the lookup then
   resolves; other servers answer 400 "... already exists", also resolved by the lookup).

The record: `{"$type": "app.bsky.feed.post", "text", "createdAt", "facets"?, "langs"?, "embed"?}`,
the embed `app.bsky.embed.images` with each image's exact alt text (line breaks kept) and its
aspect ratio when known.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from platforms.kinds.bluesky.client import XrpcClient, at_uri_parts
from platforms.kinds.bluesky.richtext import detect, tid_from_key
from platforms.kinds.common import PlatformAuthError, PlatformError
from platforms.kinds.media import MediaItem
from platforms.kinds.publishing import Publication, Published, connection_timeout

POST_COLLECTION = "app.bsky.feed.post"
IMAGES_EMBED = "app.bsky.embed.images"
RECORD_NOT_FOUND = "RecordNotFound"


def post_url(*, actor: str, rkey: str) -> str:
    return f"https://bsky.app/profile/{actor}/post/{rkey}"


class BlueskyPublisher(XrpcClient):
    platform_type = "bluesky"

    def __init__(self, *, base_url: str, access_token: str, langs: list[str] | None = None, **kwargs):
        super().__init__(base_url=base_url, access_token=access_token, **kwargs)
        self.langs = list(langs or [])  # the connection's `extra.langs`; a job's options win
        self.uploaded: dict[str, dict] = {}  # MediaItem.key -> the blob reference as returned
        self._dids: dict[str, str | None] = {}  # handle -> DID (None: does not resolve)
        self._created_at: dict[str, str] = {}  # idempotency key -> the record's createdAt

    @classmethod
    def from_connection(cls, connection, *, timeout: float | None = None, **kwargs) -> BlueskyPublisher:
        extra = connection.extra if isinstance(connection.extra, dict) else {}
        return cls(
            base_url=extra.get("pds_url") or connection.instance_url,
            access_token=connection.access_token,
            refresh_token=connection.refresh_token,
            did=extra.get("did"),
            handle=extra.get("handle") or connection.username,
            langs=extra.get("langs") if isinstance(extra.get("langs"), list) else None,
            timeout=connection_timeout(connection, timeout),
            **kwargs,
        )

    # The contract -------------------------------------------------------------------------------

    def publish(self, publication: Publication) -> Published:
        """Upload the media and resolve the mentions (each retried on its own), then post once."""
        try:
            for item in publication.media:
                if item.key not in self.uploaded:
                    self.uploaded[item.key] = self._retrying(lambda item=item: self._upload(item))
            for span in detect(publication.text):
                if span.kind == "mention" and span.value not in self._dids:
                    self._dids[span.value] = self._retrying(lambda handle=span.value: self._resolve(handle))
        except PlatformError as exc:
            exc.ambiguous = False  # nothing was posted yet
            raise
        try:
            return super().publish(publication)
        except PlatformAuthError as exc:
            if not getattr(exc, "duplicate", False):
                raise
            # "Already exists" for our own record key: an earlier run of this job posted it.
            found = self.find_published(publication)
            if found is None:
                raise
            return found

    # Steps ------------------------------------------------------------------------------------

    def _upload(self, item: MediaItem) -> dict:
        what = f"the upload of {item.filename}"
        response = self.call(
            "POST",
            "com.atproto.repo.uploadBlob",
            what=what,
            content=item.read(),
            headers={"Content-Type": item.media_type},
        )
        body = self._json(response, what=what)
        blob = body.get("blob") if isinstance(body, dict) else None
        ref = blob.get("ref") if isinstance(blob, dict) else None
        if not isinstance(ref, dict) or not isinstance(ref.get("$link"), str) or not blob.get("mimeType"):
            raise self._malformed(what, "does not describe a blob")
        return blob

    def _resolve(self, handle: str) -> str | None:
        """The handle's DID, or None when the server says it does not resolve."""
        what = f"the handle @{handle}"
        try:
            response = self.call(
                "GET", "com.atproto.identity.resolveHandle", what=what, params={"handle": handle}
            )
        except PlatformAuthError as exc:
            if exc.status in (400, 404):  # "Unable to resolve handle"
                return None
            raise
        body = self._json(response, what=what)
        did = body.get("did") if isinstance(body, dict) else None
        return did if isinstance(did, str) and did.startswith("did:") else None

    def record(self, publication: Publication) -> dict[str, Any]:
        """The post's record, as sent."""
        created_at = self._created_at.setdefault(
            publication.idempotency_key,
            datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        record: dict[str, Any] = {"$type": POST_COLLECTION, "text": publication.text, "createdAt": created_at}
        facets = []
        for span in detect(publication.text):
            if span.kind != "mention":
                facets.append(span.facet())
            elif self._dids.get(span.value):
                facets.append(span.facet(did=self._dids[span.value]))
        if facets:
            record["facets"] = facets
        langs = publication.options.get("langs") or self.langs
        if langs:
            record["langs"] = list(langs)
        if publication.media:
            record["embed"] = {
                "$type": IMAGES_EMBED,
                "images": [self._image(item) for item in publication.media],
            }
        return record

    def _image(self, item: MediaItem) -> dict[str, Any]:
        if item.key not in self.uploaded:  # a caller that skipped publish(): upload now
            self.uploaded[item.key] = self._upload(item)
        image: dict[str, Any] = {"image": self.uploaded[item.key], "alt": item.alt_text}
        if item.aspect_ratio:
            width, height = item.aspect_ratio
            image["aspectRatio"] = {"width": width, "height": height}
        return image

    def _post_once(self, publication: Publication) -> Published:
        rkey = tid_from_key(publication.idempotency_key)
        what = "the new post"
        response = self.call(
            "POST",
            "com.atproto.repo.createRecord",
            what=what,
            json={
                "repo": self.repo,
                "collection": POST_COLLECTION,
                "rkey": rkey,
                "record": self.record(publication),
            },
        )
        body = self._json(response, what=what, ambiguous=True)
        if not isinstance(body, dict) or not isinstance(body.get("uri"), str) or not body["uri"]:
            raise self._malformed(what, "does not describe a record", ambiguous=True)
        return self._published(uri=body["uri"], cid=body.get("cid"), rkey=rkey, status=response.status_code)

    def _find_once(self, publication: Publication) -> Published | None:
        rkey = tid_from_key(publication.idempotency_key)
        what = "the post's record"
        try:
            response = self.call(
                "GET",
                "com.atproto.repo.getRecord",
                what=what,
                params={"repo": self.repo, "collection": POST_COLLECTION, "rkey": rkey},
            )
        except PlatformAuthError as exc:
            if getattr(exc, "xrpc_error", None) == RECORD_NOT_FOUND or exc.status == 404:
                return None
            raise
        body = self._json(response, what=what)
        if not isinstance(body, dict) or not isinstance(body.get("uri"), str):
            raise self._malformed(what, "does not describe a record")
        return self._published(uri=body["uri"], cid=body.get("cid"), rkey=rkey, status=None)

    def delete_post(self, *, uri: str) -> None:
        """`com.atproto.repo.deleteRecord` for one of the account's own posts, by its at:// URI.

        Retried like a read: deleting is idempotent (the PDS answers a record already gone with
        success), so a retry after a lost answer is harmless. A URI of another repository or
        collection is refused here, before anything is sent."""
        authority, collection, rkey = at_uri_parts(uri)
        if collection != POST_COLLECTION or authority not in {self.did, self.handle} - {None}:
            raise ValueError(f"{uri} is not a post of this account.")
        what = "the deletion of the post"
        self._retrying(
            lambda: self.call(
                "POST",
                "com.atproto.repo.deleteRecord",
                what=what,
                json={"repo": self.repo, "collection": POST_COLLECTION, "rkey": rkey},
            )
        )

    def _published(self, *, uri: str, cid: Any, rkey: str, status: int | None) -> Published:
        # at://did:plc:.../app.bsky.feed.post/<rkey>: the author is the URI's authority.
        actor = uri.removeprefix("at://").split("/", 1)[0] or self.repo
        return Published(
            post_id=uri,
            url=post_url(actor=self.handle or actor, rkey=rkey),
            platform_type=self.platform_type,
            details={"status": status, "cid": cid if isinstance(cid, str) else None},
        )
