"""What every publisher shares. Each network's publisher lives in its kind's folder:

    publisher = publisher_for(connection)
    published = publisher.publish(Publication(text=..., title=..., idempotency_key=job.idempotency_key))

Errors are `PlatformAuthError` (refused; not retried) and `PlatformUnavailableError` (transient,
retries used up), with `status`, `ambiguous` (the post may exist) and `retry_after`.

Here: the contract types, one HTTP attempt with the project's error
mapping, retries through `core.retry`, pacing through `core.outbound`, and the check-before-retry
loop for platforms without an idempotency key.

The publish loop (`HttpPublisher.publish`): every attempt is one POST. When an attempt fails in a
way that may have reached the server (a read timeout, a dropped connection after sending, a 5xx,
a success answer we could not read) the next attempt first asks the platform whether the post is
there (`_find_once`) and returns it (`details["recovered"] = True`) instead of posting twice; only
a lookup that succeeded and found nothing lets the POST go out again. A lookup that fails is
retried like any transient failure, and never falls through to a blind POST. Platforms that honour
an idempotency key (Mastodon's `Idempotency-Key`, the webhook's receiver contract) skip the lookup:
sending the same key again is safe by design.
"""

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import unescape
from typing import Any, Protocol, runtime_checkable

import httpx

from core.outbound import HostThrottle, host_of, platform_throttle
from core.retry import RetryPolicy, RetryStats, parse_retry_after
from core.urlguard import OutboundRefused, guarded_client
from platforms.kinds.common import (
    DEFAULT_TIMEOUT,
    PlatformAuthError,
    PlatformError,
    PlatformUnavailableError,
    is_transient,
    platform_error,
    retried_in_turn,
    retry_after_of,
)
from platforms.kinds.media import MediaItem, MediaRules
from platforms.kinds.registry import kind_of

logger = logging.getLogger(__name__)

USER_AGENT = "socialdesk (+httpx)"


@dataclass(frozen=True, kw_only=True)
class Publication:
    """What to publish. `idempotency_key` is stable for one publishing job across every retry."""

    text: str
    title: str | None = None
    idempotency_key: str
    #: This publication's platform options over the connection's (WordPress: status, category,
    #: tags, hashtags_as_tags); validated by the service that stored them.
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Images or a video, in order, each with its approved alt text (platforms.kinds.media).
    media: tuple[MediaItem, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Published:
    """Where it went. `details` holds no secret: http status, attempts, recovered (found by lookup)."""

    post_id: str
    url: str | None
    platform_type: str
    details: dict = field(default_factory=dict)


@runtime_checkable
class Publisher(Protocol):
    def publish(self, publication: Publication) -> Published: ...

    def find_published(self, publication: Publication) -> Published | None: ...


# Errors -----------------------------------------------------------------------------------------


# Text helpers -----------------------------------------------------------------------------------

_URL = re.compile(r"https?://\S+")
_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def html_to_text(html: str) -> str:
    """Plain text of a rendered status (Mastodon's `content`): breaks kept, tags dropped."""
    return unescape(_TAG.sub("", _BREAK.sub("\n", html or "")))


def same_text(left: str | None, right: str | None, *, mask_urls: bool = False) -> bool:
    """Equal once whitespace is normalised (and, with `mask_urls`, links are ignored: X rewrites
    every link to a t.co one)."""

    def norm(text: str | None) -> str:
        text = unescape(text or "")
        if mask_urls:
            text = _URL.sub("<url>", text)
        return " ".join(text.split())

    return norm(left) == norm(right)


# The HTTP publisher -----------------------------------------------------------------------------


class HttpPublisher:
    """One connection's publisher over httpx. Subclasses define `_post_once` and `_find_once`."""

    platform_type = ""
    #: True when re-sending the same request is safe (the server dedupes by idempotency key).
    idempotent_post = False

    def __init__(
        self,
        *,
        base_url: str,
        platform_type: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        throttle: HostThrottle | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.host = host_of(self.base_url)
        if platform_type:
            self.platform_type = platform_type
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.retry_stats = RetryStats()
        self._sleep = sleep
        self._throttle = throttle or platform_throttle()
        self._http = guarded_client(
            timeout=timeout,
            auth=auth,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **dict(headers or {})},
        )

    @classmethod
    def from_connection(cls, connection, *, timeout: float | None = None, **kwargs) -> "HttpPublisher":
        raise NotImplementedError

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:  # never the credentials
        return f"<{type(self).__name__} {self.base_url}>"

    # The contract -----------------------------------------------------------------------------

    def publish(self, publication: Publication) -> Published:
        """Publish once: retried on transient failures, looked up before any re-POST after an
        ambiguous one (see the module docstring). Raises PlatformAuthError (rejected) or
        PlatformUnavailableError (transient, retries used up); `ambiguous` on the error says the
        post may exist."""
        state = {"uncertain": False, "attempts": 0, "lookup_failed": False}

        def attempt() -> Published:
            if state["uncertain"] and not self.idempotent_post:
                found = self._checked_lookup(publication, state)
                if found is not None:
                    return self._recovered(found, state)
            state["attempts"] += 1
            try:
                published = self._post_once(publication)
            except PlatformError as exc:
                if getattr(exc, "duplicate", False) and state["uncertain"]:
                    # "Duplicate" right after a lost answer: our earlier attempt landed.
                    found = self._checked_lookup(publication, state)
                    if found is not None:
                        return self._recovered(found, state)
                if getattr(exc, "ambiguous", False):
                    state["uncertain"] = True
                if state["uncertain"]:
                    exc.ambiguous = True
                raise
            return _with_details(published, attempts=state["attempts"], recovered=False)

        try:
            return self._retrying(attempt)
        except PlatformUnavailableError as failure:
            if not state["uncertain"] or self.idempotent_post or state["lookup_failed"]:
                raise
            # The last answer was lost too: one more look decides.
            try:
                found = self._retrying(lambda: self._find_once(publication))
            except PlatformError:
                raise failure from None
            if found is None:
                raise
            return self._recovered(found, state)

    def find_published(self, publication: Publication) -> Published | None:
        """The post of this publication if the platform already has it (retried like any read).
        Asked when an earlier attempt may have posted, so a failure says so in plain words."""
        try:
            found = self._retrying(lambda: self._find_once(publication))
        except PlatformError as exc:
            raise self._lookup_failed(exc) from None
        return None if found is None else _with_details(found, recovered=True)

    # For subclasses ---------------------------------------------------------------------------

    def _refuse_unfit_media(self, media: tuple[MediaItem, ...], *, rules: MediaRules, network: str) -> None:
        """Media the network would refuse, refused before anything is uploaded (the workflows app
        checks them first; this keeps a publisher called directly from uploading half a post)."""
        problems = rules.problems([(item.media_type, item.size) for item in media])
        for position, item in enumerate(media, start=1):
            if rules.alt_text_limit is not None and len(item.alt_text) > rules.alt_text_limit:
                problems.append(
                    f"Item {position}: the alt text has {len(item.alt_text)} characters; {network} takes "
                    f"at most {rules.alt_text_limit}."
                )
        if problems:
            raise platform_error(
                PlatformAuthError, f"{network} cannot take these media: " + " ".join(problems), reason="media"
            )

    def _post_once(self, publication: Publication) -> Published:
        raise NotImplementedError

    def _find_once(self, publication: Publication) -> Published | None:
        return None

    def _status_error(self, response: httpx.Response, *, what: str) -> PlatformError:
        """The error of a non-2xx answer; subclasses refine (problem details, duplicates)."""
        return self._default_status_error(response, what=what, detail=self._detail(response))

    def _detail(self, response: httpx.Response) -> str | None:
        try:
            body = response.json()
        except ValueError:
            return None
        if isinstance(body, dict):
            for key in ("detail", "message", "error", "title", "code"):
                value = body.get(key)
                if isinstance(value, str) and value:
                    return value[:200]
        return None

    def _rate_limit_wait(self, headers: Mapping[str, str]) -> float | None:
        return parse_retry_after(headers.get("Retry-After"))

    # Plumbing ---------------------------------------------------------------------------------

    def _checked_lookup(self, publication: Publication, state: dict) -> Published | None:
        """`_find_once` before a re-POST. A lookup that fails is never read as "not there": a
        transient failure is retried (the next attempt looks again); a refused one (no read
        permission) stops, as ambiguous, rather than risk a second post."""
        state["lookup_failed"] = False
        try:
            return self._find_once(publication)
        except PlatformError as exc:
            state["lookup_failed"] = True
            raise self._lookup_failed(exc) from None

    def _lookup_failed(self, exc: PlatformError) -> PlatformUnavailableError:
        """A failed check for a post that may exist, in plain words: the person reading it must
        learn that the post may be there and that nothing is posted before it was checked. A
        transient failure stays transient (retried, Retry-After kept); a refused one does not."""
        transient = is_transient(exc)
        return platform_error(
            PlatformUnavailableError,
            f"The post may already exist on {self.host}: an earlier attempt may have reached it "
            f"before its answer was lost. Checking for it failed ({_plain_reason(exc)}), so nothing "
            "was posted again; the post is looked for again before any new attempt to post.",
            status=exc.status,
            retry_after=retry_after_of(exc),
            ambiguous=True,
            retryable=transient,
            reason=getattr(exc, "retry_reason", None) if transient else "lookup",
        )

    def _recovered(self, found: Published, state: dict) -> Published:
        logger.info("%s post for %s already existed; not posted again", self.platform_type, self.host)
        return _with_details(found, attempts=state["attempts"], recovered=True)

    def _retrying(self, fn: Callable[[], Any]) -> Any:
        return retried_in_turn(
            fn,
            url=self.base_url,
            throttle=self._throttle,
            policy=self.policy,
            sleep=self._sleep,
            stats=self.retry_stats,
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        json: Any = None,
        content: bytes | None = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request; a 2xx answer, or the failure as a PlatformError (never naming a credential)."""
        try:
            response = self._http.request(
                method, url, json=json, content=content, params=params, headers=dict(headers or {})
            )
        except OutboundRefused as exc:
            raise platform_error(PlatformError, str(exc), reason="refused", retryable=False) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
            raise platform_error(
                PlatformUnavailableError,
                f"{self.host} could not be reached for {what} (connection failed).",
                reason="network",
            ) from None
        except httpx.TimeoutException:
            raise platform_error(
                PlatformUnavailableError,
                f"{self.host} did not answer {what} within {self.timeout:g} s.",
                ambiguous=True,
                reason="timeout",
            ) from None
        except httpx.TransportError:
            raise platform_error(
                PlatformUnavailableError,
                f"{self.host} dropped the connection while answering {what}.",
                ambiguous=True,
                reason="network",
            ) from None
        if not response.is_success:
            raise self._status_error(response, what=what)
        return response

    def _json(self, response: httpx.Response, *, what: str, ambiguous: bool = False) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self._malformed(
                what, "is not JSON", status=response.status_code, ambiguous=ambiguous
            ) from None

    def _malformed(
        self, what: str, problem: str, *, status: int | None = None, ambiguous: bool = False
    ) -> PlatformUnavailableError:
        # A success answer to a POST that we cannot read still means the post was made: ambiguous.
        return platform_error(
            PlatformUnavailableError,
            f"{self.host} answered {what} with a body that {problem}"
            + (f" (HTTP {status})." if status else "."),
            status=status,
            ambiguous=ambiguous,
            reason="malformed",
        )

    def _default_status_error(
        self, response: httpx.Response, *, what: str, detail: str | None
    ) -> PlatformError:
        status = response.status_code
        host = self.host
        if status == 401:
            return platform_error(
                PlatformAuthError,
                f"{host} refused the credentials for {what} (HTTP 401): they are wrong, expired or revoked.",
                status=401,
            )
        if status == 429:
            return platform_error(
                PlatformUnavailableError,
                f"{host} is rate-limiting requests for {what} (HTTP 429); try again later.",
                status=429,
                retry_after=self._rate_limit_wait(response.headers),
            )
        if status == 408:
            return platform_error(
                PlatformUnavailableError, f"{host} timed out waiting for {what} (HTTP 408).", status=408
            )
        if status >= 500:
            return platform_error(
                PlatformUnavailableError,
                f"{host} answered {what} with a server error (HTTP {status}); try again later.",
                status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                ambiguous=True,
            )
        if status == 403:
            message = f"{host} refused {what} (HTTP 403)"
            message += f": {detail}" if detail else ": the credentials may lack the needed permission."
        elif status == 404:
            message = f"{host} has no {what} (HTTP 404): check the URL."
        else:
            message = f"{host} refused {what} (HTTP {status})" + (f": {detail}" if detail else ".")
        return platform_error(PlatformAuthError, message, status=status)


def _plain_reason(exc: PlatformError) -> str:
    """Why a request failed, without the request's own name."""
    status = exc.status
    reason = getattr(exc, "retry_reason", None)
    if isinstance(exc, PlatformAuthError):
        return f"the site refused the check, HTTP {status}" if status else "the site refused the check"
    if status == 429:
        return "the site is limiting requests, HTTP 429"
    if status is not None and status >= 500:
        return f"the site answered with a server error, HTTP {status}"
    if reason == "timeout":
        return "the site did not answer in time"
    if reason == "malformed":
        return "the site's answer could not be read"
    if reason == "network":
        return "the site could not be reached"
    return f"HTTP {status}" if status else "the site could not be asked"


def _with_details(published: Published, **details) -> Published:
    return Published(
        post_id=published.post_id,
        url=published.url,
        platform_type=published.platform_type,
        details={**published.details, **details},
    )


def connection_timeout(connection, timeout: float | None) -> float:
    """The explicit timeout, else the connection's `extra["timeout"]`, else the default."""
    if timeout is not None:
        return float(timeout)
    value = (connection.extra or {}).get("timeout") if isinstance(connection.extra, dict) else None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT
    return seconds if 0 < seconds <= 300 else DEFAULT_TIMEOUT


def publisher_for(
    connection,
    *,
    timeout: float | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    throttle: HostThrottle | None = None,
) -> Publisher:
    """The publisher of a connection (no request is made). `timeout` defaults to
    `connection.extra["timeout"]`, else 10 s. ValueError for a type that cannot publish (ImageFX)."""
    return kind_of(connection.platform_type).publisher(
        connection, timeout=timeout, policy=policy, sleep=sleep, throttle=throttle
    )
