"""A blog behind a signed webhook: the article is POSTed as JSON with an HMAC signature."""

from platforms.kinds.base import BLOG_WRITING, Kind


class WebhookKind(Kind):
    type = "webhook"
    label = "Blog webhook"
    target = "blog"
    writing = BLOG_WRITING

    def publisher_class(self):
        from platforms.kinds.webhook.publisher import WebhookPublisher

        return WebhookPublisher


KIND = WebhookKind()
