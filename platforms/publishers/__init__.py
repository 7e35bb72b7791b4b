"""Publishers: send one post to a connection's platform, exactly once.

    publisher = publisher_for(connection)
    published = publisher.publish(Publication(text=..., title=..., idempotency_key=job.idempotency_key))

Mastodon-compatible servers and the signed webhook dedupe by idempotency key, so retries re-send
it; X, LinkedIn and WordPress have no such key, so after an answer that may have been lost the
publisher looks for the post before posting again (see `base`). Errors are
`platforms.clients.PlatformAuthError` (refused; not retried) and `PlatformUnavailableError`
(transient, retries used up), with `status`, `ambiguous` (the post may exist) and `retry_after`.
"""

from platforms.kinds.linkedin.publisher import LinkedInPublisher
from platforms.kinds.publishing import Publication, Published, Publisher, publisher_for
from platforms.kinds.webhook.publisher import WebhookPublisher
from platforms.kinds.wordpress.publisher import WordPressPublisher
from platforms.kinds.x.publisher import XPublisher
from platforms.publishers.mastodon import MastodonPublisher

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
