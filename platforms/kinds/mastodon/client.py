"""The one client of the Mastodon-compatible API. `MastodonApi` is what the captions pipeline
needs: read one's own media posts, learn the instance's alt-text limit, and write an image
description back without losing anything else. `mastodon_verify_credentials` and
`mastodon_instance_limits` verify a connection (one request each, and the instance's public
documents), inside a web request (no retry, no wait). Publishing is `publisher.MastodonPublisher`.

Works with Mastodon, Pixelfed, Pleroma/Akkoma and GoToSocial. Every request, here and in the
publisher, goes through one httpx client per instance and token (`mastodon_http`, built on
`core.urlguard.guarded_client`), with a timeout; a rate limit is reported, never slept on here.
(Mastodon.py was dropped: its `status_update` cannot send `language` or an `Idempotency-Key` and
reorders `media_ids` combined with `media_attributes`, so the edit needed httpx anyway.)

Every call is retried through `core.retry` on transient failures (timeouts, network errors, 408,
429, 5xx, malformed bodies), honouring Retry-After (or, on a 429 without it, X-RateLimit-Reset).
Errors come out as the classes of `platforms.kinds.common`; each carries `status`, `retry_after`,
`ambiguous` (the request may have taken effect) and, once retried, `retry_stats`. Statistics of
every call add up in `MastodonApi.retry_stats`, for the `ProcessingRun`.

Why the edit is so careful: the original application sent only one media id and stripped the HTML,
so posting one caption deleted the other images of the post. Here the edit re-sends the plain
source text, spoiler, sensitivity, language, every attachment in order with its current description,
and the poll; then reads the status back and checks that the description landed and nothing else
moved (visibility, text, content warning, sensitivity, language, poll, media order, the other
descriptions): a server that saves the description but changes something else (Takahē's edit makes
an unlisted post public) raises PostChangedError, never a silent success. Every attachment is sent
with a description, an empty one for an image without (Takahē refuses an entry without one). A
status edit is not idempotent on the server, so after an ambiguous failure the status is read back
and the edit is sent again only if the description is not there yet.

Refusals carry the server's own reason (`platforms.kinds.common.server_reason`: `error` with
`error_description`, `details` or `error_details`, or a plain-text body), trimmed, the token masked.
"""

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from core.outbound import HostThrottle, platform_throttle
from core.retry import RetryPolicy, RetryStats, parse_retry_after
from core.urlguard import OutboundRefused, guarded_client
from platforms.kinds.common import (
    DEFAULT_TIMEOUT,
    DescriptionLimit,
    PlatformAccount,
    PlatformAuthError,
    PlatformError,
    PlatformUnavailableError,
    platform_error,
    retried_in_turn,
    server_reason,
)
from platforms.kinds.registry import kind_of

logger = logging.getLogger(__name__)

USER_AGENT = "socialdesk (+httpx)"
DEFAULT_DESCRIPTION_LIMIT = 1500
MAX_PAGE_SIZE = 40
CHANGE_VALUE_CHARS = 80


@dataclass(frozen=True)
class StatusPage:
    """One page of the account's own media statuses, newest first.

    `next_max_id` is the id to pass as `max_id` for the next (older) page; None when the server
    says there is none (no Link rel="next"), i.e. the end was reached.
    """

    statuses: list[dict[str, Any]]
    next_max_id: str | None


class PostChangedError(PlatformError):
    """The description landed, but the server changed something else of the post while saving it
    (`changes`: each as a sentence). Not retried: the edit took effect."""

    reason = "changed"

    def __init__(self, message: str, *, changes: list[str]):
        super().__init__(message, status=None)
        self.changes = list(changes)
        self.ambiguous = False


@dataclass(frozen=True)
class MediaDescriptionResult:
    """The outcome of `set_media_description`: `written` is False when the description was already
    there (nothing was sent); `status` is the status as read back afterwards."""

    status_id: str
    media_id: str
    written: bool
    status: dict[str, Any]


def description_idempotency_key(*, status_id: str, media_id: str, description: str) -> str:
    """The Idempotency-Key of one description write: the same write always gets the same key."""
    digest = hashlib.sha256(description.encode("utf-8")).hexdigest()
    return "socialdesk-alt-" + hashlib.sha256(f"{status_id}:{media_id}:{digest}".encode()).hexdigest()[:40]


class MastodonApi:
    """A client for one account on one Mastodon-compatible instance.

    Build it with `MastodonApi.from_connection(connection)`. Constructing it makes no request.
    Not meant to be shared between threads; close it (or use it as a context manager) when done.
    """

    #: The caption scan pages by status id (`own_media_statuses`) and posts descriptions back.
    can_write_descriptions = True

    def __init__(
        self,
        *,
        instance_url: str,
        access_token: str,
        platform_type: str = "mastodon",
        timeout: float = DEFAULT_TIMEOUT,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        account_id: str | None = None,
        throttle: HostThrottle | None = None,
    ):
        self.instance_url = instance_url.rstrip("/")
        self.platform_type = platform_type
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.retry_stats = RetryStats()
        self._sleep = sleep
        self._throttle = throttle or platform_throttle()
        self._account_id = str(account_id) if account_id else None
        self._http = mastodon_http(instance_url=self.instance_url, access_token=access_token, timeout=timeout)

    @classmethod
    def from_connection(
        cls,
        connection,
        *,
        timeout: float | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> "MastodonApi":
        """The client for a `platforms.PlatformConnection` of a Mastodon-compatible platform."""
        if not connection.uses_mastodon_api:
            raise ValueError(f"{connection.platform_type!r} connections do not speak the Mastodon API.")
        return cls(
            instance_url=connection.instance_url,
            access_token=connection.access_token,
            platform_type=connection.platform_type,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            policy=policy,
            sleep=sleep,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "MastodonApi":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # Public calls ---------------------------------------------------------------------------

    def verify(self) -> PlatformAccount:
        """GET /api/v1/accounts/verify_credentials: the account the token belongs to."""
        not_found = (
            PlatformAuthError,
            f"{self.instance_url} has no Mastodon-compatible API at /api/v1/accounts/verify_credentials "
            "(HTTP 404): check the instance URL and platform type.",
        )

        def fetch():
            data, _ = self._get(
                "/api/v1/accounts/verify_credentials",
                what="the account of the access token",
                not_found=not_found,
            )
            return _account_from(data, instance_url=self.instance_url)

        account = self._retrying(fetch)
        self._account_id = account.id
        return account

    def own_media_statuses(
        self, *, max_id: str | None = None, limit: int = MAX_PAGE_SIZE, include_replies: bool = False
    ) -> StatusPage:
        """One page of the account's own statuses with media, older than `max_id` when given.

        Asks for only_media and exclude_reblogs (and exclude_replies unless `include_replies`), and
        filters again here for servers that ignore a parameter: boosts are dropped, and so are
        replies to other accounts unless `include_replies` (self-threads always stay, as on
        Mastodon). A status listed more than once (a server may list a multi-image status once per
        image under only_media) is kept once.

        The listing goes on while the server sends a Link rel="next": servers that cap a page below
        `limit` (Pixelfed, GoToSocial, some Mastodon forks) send a short page and a next link, so a
        short page does not mean the end. Only the next link's `max_id` is taken, never its URL (the
        server chose it). A server that sends no Link header at all is paged until an empty page.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1.")
        limit = min(limit, MAX_PAGE_SIZE)
        account_id = self._account_id or self.verify().id

        def fetch():
            params: dict[str, Any] = {"only_media": "true", "exclude_reblogs": "true", "limit": limit}
            if not include_replies:
                params["exclude_replies"] = "true"
            if max_id:
                params["max_id"] = max_id
            page, response = self._get(
                f"/api/v1/accounts/{quote(account_id, safe='')}/statuses",
                what="the account's statuses",
                params=params,
            )
            if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
                raise self._malformed("the account's statuses", "is not a list of statuses")
            following = response.links.get("next") or {}
            return page, response.headers.get("Link"), following.get("url")

        raw, link, next_url = self._retrying(fetch)
        ids = [_id(item.get("id")) for item in raw if item.get("id") not in (None, "")]
        statuses, seen = [], set()
        for item in raw:
            status_id = _id(item.get("id"))
            if (
                not status_id
                or status_id in seen
                or item.get("reblog")
                or not item.get("media_attachments")
                or not (include_replies or item.get("in_reply_to_account_id") in (None, "", account_id))
            ):
                continue
            seen.add(status_id)
            statuses.append(_status_summary(item))
        return StatusPage(
            statuses=statuses, next_max_id=_next_max_id(link, next_url=next_url, ids=ids, max_id=max_id)
        )

    def get_status(self, *, status_id: str) -> dict[str, Any]:
        """GET /api/v1/statuses/{id}, in the shape `own_media_statuses` uses."""
        return _status_summary(self._read_status(str(status_id)))

    def description_limit(self) -> int:
        """The instance's maximum alt-text length (1500 when it does not say): see
        `read_description_limit`, which also tells whether the value was read or guessed."""
        return self.read_description_limit().limit

    def read_description_limit(self) -> "DescriptionLimit":
        """The instance's maximum alt-text length, and why it is a guess when it is one.

        From /api/v2/instance `configuration.media_attachments.description_limit`, else
        /api/v1/instance (same place, or top-level `description_limit` on Pleroma/Akkoma), else
        1500 with `problem` saying what each source answered.
        """
        problems = []
        for path in ("/api/v2/instance", "/api/v1/instance"):
            try:
                data = self._retrying(lambda path=path: self._get(path, what=path)[0])
            except PlatformError as exc:
                problems.append(f"{path}: {exc}")
                continue
            limit = _instance_limit(
                data, section="media_attachments", key="description_limit", top_level="description_limit"
            )
            if limit is not None:
                return DescriptionLimit(limit=limit)
            problems.append(f"{path} names no description limit")
        # The caller decides how loud a guessed limit is (a caption task warns on the task and run).
        problem = "; ".join(problems)
        logger.info("No description limit from %s: %s", self.instance_url, problem)
        return DescriptionLimit(limit=DEFAULT_DESCRIPTION_LIMIT, problem=problem)

    def set_media_description(
        self, *, status: str | Mapping[str, Any], media_id: str, description: str
    ) -> MediaDescriptionResult:
        """Set the description of one attachment of one of the account's statuses, changing nothing else.

        Pixelfed: PUT /api/v1/media/{id}. Others: a status edit that re-sends everything (see the
        module docstring). Reads the status back and raises PlatformError when the description did
        not land or the attachments moved. Does nothing when the description is already there.
        """
        status_id = _id(status["id"] if isinstance(status, Mapping) else status)
        media_id = _id(media_id)
        before = self._read_status(status_id)
        target = _find_media(before, media_id)
        if target is None:
            raise PlatformError(
                f"Status {status_id} on {self.instance_url} has no media attachment {media_id}.", status=None
            )
        if _same_description(target.get("description"), description):
            return MediaDescriptionResult(
                status_id=status_id, media_id=media_id, written=False, status=_status_summary(before)
            )
        if kind_of(self.platform_type).describes_by_media_update:
            self._update_media(media_id=media_id, description=description)
        else:
            self._edit_status(status_id=status_id, media_id=media_id, description=description, before=before)
        after = self._read_status(status_id)
        self._check_edit(
            status_id=status_id, media_id=media_id, description=description, before=before, after=after
        )
        return MediaDescriptionResult(
            status_id=status_id, media_id=media_id, written=True, status=_status_summary(after)
        )

    # The writes -----------------------------------------------------------------------------

    def _update_media(self, *, media_id: str, description: str) -> None:
        # Setting a value is idempotent, so a lost answer can simply be retried.
        not_found = (
            PlatformError,
            f"{self.instance_url} has no media {media_id} this account may change (HTTP 404).",
        )
        self._retrying(
            lambda: self._request(
                "PUT",
                f"/api/v1/media/{quote(media_id, safe='')}",
                what="the media description",
                data={"description": description},
                not_found=not_found,
            )
        )

    def _edit_status(
        self, *, status_id: str, media_id: str, description: str, before: dict[str, Any]
    ) -> None:
        not_found = (
            PlatformError,
            f"{self.instance_url} offers no /api/v1/statuses/{status_id}/source (HTTP 404), so the status "
            "cannot be edited without losing its text.",
        )
        source = self._retrying(
            lambda: self._get(
                f"/api/v1/statuses/{quote(status_id, safe='')}/source",
                what="the status source",
                not_found=not_found,
            )[0]
        )
        if not isinstance(source, dict) or not isinstance(source.get("text"), str):
            raise PlatformError(
                f"{self.instance_url} gave no plain text for status {status_id}, so the status cannot be "
                "edited without losing its text.",
                status=None,
            )
        payload = _edit_payload(source=source, status=before, media_id=media_id, description=description)
        key = description_idempotency_key(status_id=status_id, media_id=media_id, description=description)
        uncertain = False

        def attempt() -> None:
            nonlocal uncertain
            if uncertain and _has_description(self._read_status_once(status_id), media_id, description):
                logger.info("Edit of status %s landed despite the lost answer; not resent", status_id)
                return
            try:
                self._put_json(
                    f"/api/v1/statuses/{status_id}",
                    payload=payload,
                    headers={"Idempotency-Key": key},
                    what="the status edit",
                )
            except PlatformError as exc:
                uncertain = uncertain or bool(getattr(exc, "ambiguous", False))
                raise

        try:
            self._retrying(attempt)
        except PlatformUnavailableError as failure:
            # The last answer was lost too: one more look decides.
            if not uncertain:
                raise
            try:
                landed = _has_description(self._read_status(status_id), media_id, description)
            except PlatformError:
                raise failure from None
            if not landed:
                raise

    def _check_edit(
        self,
        *,
        status_id: str,
        media_id: str,
        description: str,
        before: dict[str, Any],
        after: dict[str, Any],
    ) -> None:
        """Raise when the description did not land (PlatformError) or when anything else the edit
        must not change did change (PostChangedError: the description is there, but the server
        moved something else, e.g. Takahē's edit makes an unlisted post public)."""
        changes = _status_changes(before, after, media_id=media_id)
        if not _has_description(after, media_id, description):
            problems = [f"the description of media {media_id} did not change", *changes]
            raise PlatformError(
                f"Writing the description to status {status_id} on {self.instance_url} failed: "
                + "; ".join(problems)
                + ".",
                status=None,
            )
        if changes:
            raise PostChangedError(
                f"The description was written to status {status_id} on {self.instance_url}, but the "
                f"server changed the post while saving it: {'; '.join(changes)}. Check the post "
                "there and put back what changed.",
                changes=changes,
            )

    # Plumbing -------------------------------------------------------------------------------

    def _retrying(self, fn: Callable[[], Any]) -> Any:
        return retried_in_turn(
            fn,
            url=self.instance_url,
            throttle=self._throttle,
            policy=self.policy,
            sleep=self._sleep,
            stats=self.retry_stats,
        )

    def _read_status(self, status_id: str) -> dict[str, Any]:
        return self._retrying(lambda: self._read_status_once(status_id))

    def _read_status_once(self, status_id: str) -> dict[str, Any]:
        not_found = (PlatformError, f"Status {status_id} no longer exists on {self.instance_url} (HTTP 404).")
        data, _ = self._get(
            f"/api/v1/statuses/{quote(status_id, safe='')}", what="the status", not_found=not_found
        )
        if (
            not isinstance(data, dict)
            or data.get("id") in (None, "")
            or not isinstance(data.get("media_attachments") or [], list)
        ):
            raise self._malformed("the status", "does not describe a status")
        return data

    def _get(
        self,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        not_found: tuple[type[PlatformError], str] | None = None,
    ) -> tuple[Any, httpx.Response]:
        """One GET: (its JSON body, the response), its failure as a PlatformError."""
        response = self._request("GET", path, what=what, params=params, not_found=not_found)
        return self._json_of(response, what=what), response

    def _put_json(self, path: str, *, payload: dict, headers: dict[str, str], what: str) -> Any:
        return self._json_of(self._request("PUT", path, what=what, json=payload, headers=headers), what=what)

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        not_found: tuple[type[PlatformError], str] | None = None,
    ) -> httpx.Response:
        """One request; a 2xx answer, or the failure as a PlatformError (never naming the token)."""
        try:
            response = self._http.request(method, path, params=params, json=json, data=data, headers=headers)
        except OutboundRefused as exc:
            raise self._refused(exc) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
            raise self._unreachable(what) from None
        except httpx.TimeoutException:
            raise self._timed_out(what) from None
        except httpx.TransportError:
            raise platform_error(
                PlatformUnavailableError,
                f"{self.instance_url} dropped the connection while answering {what}.",
                ambiguous=True,
                reason="network",
            ) from None
        if response.is_success:
            return response
        if response.status_code == 404 and not_found is not None:
            cls, message = not_found
            raise platform_error(cls, message, status=404, ambiguous=False, reason="404")
        detail = self._reason(response)
        raise self._status_error(response.status_code, what=what, headers=response.headers, detail=detail)

    def _json_of(self, response: httpx.Response, *, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self._malformed(what, "is not JSON") from None

    def _reason(self, response) -> str | None:
        """The server's own words for a refusal (trimmed, the token and other secrets masked)."""
        return server_reason(
            response, secrets=[self._http.headers.get("Authorization", "").removeprefix("Bearer ")]
        )

    def _status_error(self, status: int, *, what: str, headers: Mapping[str, str], detail: str | None):
        url = self.instance_url
        said = f" The server said: {detail}" if detail else ""
        if status == 401:
            return platform_error(
                PlatformAuthError,
                f"{url} refused the access token (HTTP 401): it is wrong, expired or revoked.{said}",
                status=401,
                ambiguous=False,
            )
        if status == 429:
            wait = rate_limit_wait(headers)
            return platform_error(
                PlatformUnavailableError,
                f"{url} is rate-limiting requests for {what} (HTTP 429); try again later.",
                status=429,
                retry_after=wait,
                ambiguous=False,
            )
        if status == 408:
            return platform_error(
                PlatformUnavailableError,
                f"{url} timed out waiting for the request for {what} (HTTP 408).",
                status=408,
                ambiguous=False,
            )
        if status >= 500:
            return platform_error(
                PlatformUnavailableError,
                f"{url} answered {what} with a server error (HTTP {status}); try again later.",
                status=status,
                retry_after=parse_retry_after(headers.get("Retry-After")),
                ambiguous=True,
            )
        if status == 403:
            message = f"{url} refused {what} (HTTP 403)" + (
                f": {detail}" if detail else ": the token may lack the needed scope."
            )
        elif status == 404:
            message = f"{url} has no {what} (HTTP 404).{said}"
        else:
            message = f"{url} refused {what} (HTTP {status})" + (f": {detail}" if detail else ".")
        return platform_error(PlatformAuthError, message, status=status, ambiguous=False)

    def _refused(self, refused: OutboundRefused) -> PlatformError:
        return platform_error(PlatformError, str(refused), ambiguous=False, reason="refused")

    def _unreachable(self, what: str) -> PlatformUnavailableError:
        return platform_error(
            PlatformUnavailableError,
            f"{self.instance_url} could not be reached for {what} (connection failed).",
            ambiguous=False,
            reason="network",
        )

    def _timed_out(self, what: str) -> PlatformUnavailableError:
        return platform_error(
            PlatformUnavailableError,
            f"{self.instance_url} did not answer {what} within {self.timeout:g} s.",
            ambiguous=True,
            reason="timeout",
        )

    def _malformed(self, what: str, problem: str) -> PlatformUnavailableError:
        return platform_error(
            PlatformUnavailableError,
            f"{self.instance_url} answered {what} with a body that {problem}.",
            ambiguous=True,
            reason="malformed",
        )


# One request, inside a web request: verifying a connection ------------------------------------


def mastodon_http(*, instance_url: str, access_token: str, timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """The HTTP client for one instance and token, through the outbound guard; building it makes
    no request."""
    return guarded_client(
        base_url=instance_url.rstrip("/"),
        timeout=timeout,
        headers={
            "Authorization": f"Bearer {access_token}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        },
    )


def mastodon_verify_credentials(
    *, instance_url: str, access_token: str, timeout: float = DEFAULT_TIMEOUT
) -> PlatformAccount:
    """GET /api/v1/accounts/verify_credentials: the account the token belongs to. A refusal says
    the server's own reason (`server_reason`), e.g. Takahē's "Invalid Bearer token"."""
    try:
        with mastodon_http(instance_url=instance_url, access_token=access_token, timeout=timeout) as http:
            response = http.get("/api/v1/accounts/verify_credentials")
    except OutboundRefused as exc:
        raise PlatformError(str(exc)) from None
    except httpx.HTTPError:
        raise PlatformUnavailableError(
            f"{instance_url} could not be reached within {timeout:g} s (network error or timeout)."
        ) from None
    status = response.status_code

    def said() -> str:
        reason = server_reason(response, secrets=[access_token])
        return f" The server said: {reason}" if reason else ""

    if status == 401:
        raise PlatformAuthError(
            f"{instance_url} refused the access token (HTTP 401): it is wrong, expired or revoked." + said(),
            status=401,
        )
    if status == 404:
        raise PlatformAuthError(
            f"{instance_url} has no Mastodon-compatible API at /api/v1/accounts/verify_credentials "
            "(HTTP 404): check the instance URL and platform type.",
            status=404,
        )
    if status == 429:
        raise PlatformUnavailableError(
            f"{instance_url} is rate-limiting requests (HTTP 429); try again later.", status=429
        )
    if status >= 500:
        raise PlatformUnavailableError(
            f"{instance_url} answered with a server error (HTTP {status}); try again later.", status=status
        )
    if 400 <= status < 500:
        reason = said()
        guess = " The token may lack the read scope." if status == 403 else ""
        raise PlatformAuthError(
            f"{instance_url} refused the request (HTTP {status}).{reason or guess}", status=status
        )
    try:
        if not response.is_success:
            raise ValueError
        account = response.json()
    except ValueError:
        raise PlatformUnavailableError(
            f"{instance_url} answered with a body that is not the JSON of an account."
        ) from None
    return _account_from(account, instance_url=instance_url)


def _account_from(data, *, instance_url: str) -> PlatformAccount:
    if not isinstance(data, dict) or data.get("id") in (None, "") or not data.get("username"):
        raise PlatformUnavailableError(
            f"{instance_url} answered with JSON that does not describe an account."
        )

    def text(key: str) -> str:
        value = data.get(key)
        return "" if value is None else str(value)

    return PlatformAccount(
        id=text("id"),
        username=text("username"),
        acct=text("acct") or text("username"),
        display_name=text("display_name"),
        url=text("url"),
    )


def mastodon_instance_limits(
    *, instance_url: str, access_token: str, timeout: float = DEFAULT_TIMEOUT
) -> dict[str, Any]:
    """What verification stores in `extra` from the instance's own documents: `max_characters`
    (the longest status; the workflow writer falls back to Mastodon's 500), and the media limits
    the workflows app checks attachments against (`MastodonKind.media_for`):
    `max_media_attachments` (`configuration.statuses`), `image_size_limit`, `video_size_limit`,
    `image_matrix_limit`, `description_limit` and `supported_mime_types`
    (`configuration.media_attachments`). Each from /api/v2/instance, else /api/v1/instance
    (Pleroma/Akkoma's top-level `max_toot_chars`, `max_media_attachments`, `upload_limit` and
    `description_limit` too); a value neither announces is left out. Failures are not errors here."""
    wanted = {
        "max_characters": ("statuses", "max_characters", "max_toot_chars"),
        "max_media_attachments": ("statuses", "max_media_attachments", "max_media_attachments"),
        "image_size_limit": ("media_attachments", "image_size_limit", "upload_limit"),
        "video_size_limit": ("media_attachments", "video_size_limit", "upload_limit"),
        "image_matrix_limit": ("media_attachments", "image_matrix_limit", "image_matrix_limit"),
        "description_limit": ("media_attachments", "description_limit", "description_limit"),
    }
    learned: dict[str, Any] = {}
    with mastodon_http(instance_url=instance_url, access_token=access_token, timeout=timeout) as http:
        for path in ("/api/v2/instance", "/api/v1/instance"):
            if len(learned) == len(wanted) + 1:  # everything is known
                break
            try:
                response = http.get(path)
                if not response.is_success:
                    continue
                document = response.json()
            except (OutboundRefused, httpx.HTTPError, ValueError):
                continue
            for key, (section, name, top_level) in wanted.items():
                if key not in learned:
                    limit = _instance_limit(document, section=section, key=name, top_level=top_level)
                    if limit is not None:
                        learned[key] = limit
            if "supported_mime_types" not in learned:
                types = _supported_types(document)
                if types:
                    learned["supported_mime_types"] = types
    return learned


# Helpers ---------------------------------------------------------------------------------------


def rate_limit_wait(headers: Mapping[str, str]) -> float | None:
    """Retry-After, else Mastodon's X-RateLimit-Reset (ISO 8601, or epoch seconds on GoToSocial)."""
    wait = parse_retry_after(headers.get("Retry-After"))
    if wait is not None:
        return wait
    reset = (headers.get("X-RateLimit-Reset") or "").strip()
    if not reset:
        return None
    now = datetime.now(UTC)
    try:
        when = datetime.fromtimestamp(float(reset), UTC)
    except (ValueError, OverflowError, OSError):
        try:
            when = datetime.fromisoformat(reset)
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def _iso_datetime(value: Any) -> Any:
    """A server's timestamp in one ISO 8601 form ("2026-01-01T12:01:00.000Z" and
    "2026-01-01T12:01:00+00:00" are one time), as the scan has always stored it."""
    if not isinstance(value, str):
        return value
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        return value


def _id(value: Any) -> str:
    return "" if value is None else str(value)


def _next_max_id(link: str | None, *, next_url: str | None, ids: list[str], max_id: str | None) -> str | None:
    """The `max_id` of the next page: from the Link header's rel="next" (`next_url`) when the server
    sends Link headers (none there: the end), else the last id of a non-empty page. An id that does
    not move on from `max_id` ends the listing too, so a server that ignores max_id cannot loop it."""
    if link is not None and link.strip():
        if next_url is None:
            return None
        values = parse_qs(urlsplit(next_url).query).get("max_id")
        candidate = values[0] if values and values[0] else (ids[-1] if ids else None)
    else:
        candidate = ids[-1] if ids else None
    if not candidate or candidate == max_id:
        return None
    return candidate


def _same_description(left: str | None, right: str | None) -> bool:
    """Whether two image descriptions are the same: only line endings and the ends are normalised
    (not `publishing.same_text`'s whitespace folding: inner spaces and line breaks of alt text are
    the writer's, and a description that differs in them must still be written)."""

    def norm(text: str | None) -> str:
        return (text or "").replace("\r\n", "\n").strip()

    return norm(left) == norm(right)


def _find_media(status: dict[str, Any], media_id: str) -> dict[str, Any] | None:
    for media in status.get("media_attachments") or []:
        if isinstance(media, dict) and _id(media.get("id")) == media_id:
            return media
    return None


def _has_description(status: dict[str, Any], media_id: str, description: str) -> bool:
    media = _find_media(status, media_id)
    return media is not None and _same_description(media.get("description"), description)


def _poll_shape(poll: Any) -> tuple | None:
    """What an edit must keep of a poll: its options and `multiple`. Vote counts may move between
    two reads (people vote); only a reset to none is a change (see `_status_changes`)."""
    if not isinstance(poll, dict):
        return None
    options = tuple(str(o.get("title") or "") for o in poll.get("options") or [] if isinstance(o, dict))
    return options, bool(poll.get("multiple"))


def _status_changes(before: dict[str, Any], after: dict[str, Any], *, media_id: str) -> list[str]:
    """What differs between a status before and after a description edit, beyond that description:
    visibility, text, content warning, sensitivity, language, poll, the attachments and their order,
    and the other attachments' descriptions. Each change as a sentence for a person."""
    changes = []

    def short(value: Any) -> str:  # the server's values, kept short in a message
        text = repr(value)
        return text if len(text) <= CHANGE_VALUE_CHARS else text[: CHANGE_VALUE_CHARS - 1] + "…"

    def compare(label: str, old: Any, new: Any) -> None:
        if old != new:
            changes.append(f"{label} changed from {short(old)} to {short(new)}")

    compare("visibility", before.get("visibility"), after.get("visibility"))
    if " ".join((before.get("content") or "").split()) != " ".join((after.get("content") or "").split()):
        changes.append("the text changed")
    compare("the content warning", before.get("spoiler_text") or "", after.get("spoiler_text") or "")
    compare("sensitive", bool(before.get("sensitive")), bool(after.get("sensitive")))
    if before.get("language"):
        compare("the language", before.get("language"), after.get("language"))
    old_poll, new_poll = _poll_shape(before.get("poll")), _poll_shape(after.get("poll"))
    if old_poll != new_poll:
        changes.append("the poll was removed" if new_poll is None else "the poll changed")
    elif (
        old_poll is not None
        and (before["poll"].get("votes_count") or 0) > 0
        and not (after["poll"].get("votes_count") or 0)
    ):
        changes.append("the poll's votes were reset")
    before_ids = [_id(m.get("id")) for m in before.get("media_attachments") or []]
    after_ids = [_id(m.get("id")) for m in after.get("media_attachments") or []]
    if before_ids != after_ids:
        changes.append(f"the attachments changed from {short(before_ids)} to {short(after_ids)}")
    else:
        for old, new in zip(before["media_attachments"], after["media_attachments"], strict=True):
            if _id(old.get("id")) != media_id and not _same_description(
                old.get("description"), new.get("description")
            ):
                changes.append(f"the description of media {_id(old.get('id'))} changed")
    return changes


def _media_summary(media: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _id(media.get("id")),
        "type": media.get("type"),
        "url": media.get("url") or media.get("remote_url"),
        "preview_url": media.get("preview_url"),
        "description": media.get("description"),
    }


def _status_summary(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _id(status.get("id")),
        "url": status.get("url") or status.get("uri"),
        "content": status.get("content") or "",
        "created_at": _iso_datetime(status.get("created_at")),
        "language": status.get("language"),
        "sensitive": bool(status.get("sensitive")),
        "spoiler_text": status.get("spoiler_text") or "",
        "media_attachments": [
            _media_summary(media)
            for media in status.get("media_attachments") or []
            if isinstance(media, dict)
        ],
    }


def _instance_limit(instance: Any, *, section: str, key: str, top_level: str) -> int | None:
    """A positive limit from an instance document: `configuration.<section>.<key>` (Mastodon), else
    the top-level `<top_level>` (Pleroma / Akkoma); None when neither says."""
    if not isinstance(instance, dict):
        return None
    configuration = instance.get("configuration")
    part = configuration.get(section) if isinstance(configuration, dict) else None
    candidates = [part.get(key) if isinstance(part, dict) else None, instance.get(top_level)]
    for value in candidates:
        if isinstance(value, bool):
            continue
        try:
            limit = int(value)
        except (TypeError, ValueError):
            continue
        if limit > 0:
            return limit
    return None


def _supported_types(instance: Any) -> list[str]:
    configuration = instance.get("configuration") if isinstance(instance, dict) else None
    part = configuration.get("media_attachments") if isinstance(configuration, dict) else None
    types = part.get("supported_mime_types") if isinstance(part, dict) else None
    if not isinstance(types, list):
        return []
    return sorted({t.strip().lower() for t in types if isinstance(t, str) and "/" in t})[:100]


def _edit_payload(
    *,
    source: dict[str, Any],
    status: dict[str, Any],
    media_id: str,
    description: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The body of PUT /api/v1/statuses/{id} that keeps everything but one description.

    Mastodon treats a missing field as "remove": no media_ids drops every attachment, no poll
    deletes the poll, no spoiler_text clears the warning. So all of them are sent, and every
    attachment's description (empty for one without).
    """
    attachments = [m for m in status.get("media_attachments") or [] if isinstance(m, dict)]
    attributes = []
    for media in attachments:
        entry: dict[str, Any] = {"id": _id(media.get("id"))}
        current = description if entry["id"] == media_id else media.get("description")
        # Every entry carries a description: Mastodon's documentation allows an empty one, and
        # some servers (Takahē) refuse an entry without it. Empty stays "no alt text".
        entry["description"] = current or ""
        attributes.append(entry)
    payload: dict[str, Any] = {
        "status": source.get("text") or "",
        "spoiler_text": source.get("spoiler_text") or "",
        "sensitive": bool(status.get("sensitive")),
        "media_ids": [entry["id"] for entry in attributes],
        "media_attributes": attributes,
    }
    if status.get("language"):
        payload["language"] = status["language"]
    if source.get("content_type"):  # Pleroma/Akkoma and GoToSocial keep markdown as markdown
        payload["content_type"] = source["content_type"]
    poll = status.get("poll")
    if isinstance(poll, dict) and poll.get("options"):
        payload["poll"] = _poll_payload(poll, now=now or datetime.now(UTC))
    return payload


def _poll_payload(poll: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """The poll as it must be re-sent. Same options and `multiple` keep the votes on Mastodon.

    `hide_totals` is not in the API's poll; it shows as option counts of null on an open poll.
    For a poll already closed, `expires_in` comes out negative, which keeps it closed on Mastodon.
    """
    options = [option for option in poll["options"] if isinstance(option, dict)]
    body: dict[str, Any] = {
        "options": [str(option.get("title") or "") for option in options],
        "multiple": bool(poll.get("multiple")),
        "hide_totals": bool(
            not poll.get("expired")
            and options
            and all(option.get("votes_count") is None for option in options)
        ),
    }
    expires_at = poll.get("expires_at")
    if expires_at:
        when = datetime.fromisoformat(str(expires_at))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        body["expires_in"] = round((when - now).total_seconds())
    return body
