"""Publishers: send one post to a connection's platform, exactly once.

    publisher = publisher_for(connection)
    published = publisher.publish(Publication(text=..., title=..., idempotency_key=job.idempotency_key))

Mastodon-compatible servers and the signed webhook dedupe by idempotency key, so retries re-send
it; X, LinkedIn and WordPress have no such key, so after an answer that may have been lost the
publisher looks for the post before posting again (see `base`). Errors are
`platforms.clients.PlatformAuthError` (refused; not retried) and `PlatformUnavailableError`
(transient, retries used up), with `status`, `ambiguous` (the post may exist) and `retry_after`.
"""

import time
from collections.abc import Callable

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.registry import kind_of
from platforms.models import PlatformConnection
from platforms.publishers.base import Publication, Published, Publisher
from platforms.publishers.linkedin import LinkedInPublisher
from platforms.publishers.mastodon import MastodonPublisher
from platforms.publishers.webhook import WebhookPublisher
from platforms.publishers.wordpress import WordPressPublisher
from platforms.publishers.x import XPublisher

__all__ = [
    "LinkedInPublisher",
    "MastodonPublisher",
    "Publication",
    "Published",
    "Publisher",
    "WebhookPublisher",
    "WordPressPublisher",
    "XPublisher",
    "publisher_for",
]


def publisher_for(
    connection: PlatformConnection,
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
