"""A blog behind a signed webhook: the article is POSTed as JSON with an HMAC signature."""

from platforms.kinds.base import BLOG_WRITING, Kind
from platforms.kinds.media import IMAGE_TYPES, MediaRules

MB = 1024 * 1024

# The webhook is ours: no network sets these. Only links travel (the receiver fetches each file
# from a signed URL), so the limits keep what a receiver must download within reason: a gallery of
# up to 20 pictures of 20 MB, or videos (MP4 and WebM, what browsers play in <video>) of 200 MB,
# pictures and videos mixed as a blog article may. No alt text limit: it travels as JSON text.
WEBHOOK_MEDIA = MediaRules(
    max_items=20,
    image_types=IMAGE_TYPES,
    video_types=frozenset({"video/mp4", "video/webm"}),
    max_image_bytes=20 * MB,
    max_video_bytes=200 * MB,
    video_alone=False,
    gif_alone=False,
    carries_alt_text=True,
    alt_text_limit=None,
)


class WebhookKind(Kind):
    type = "webhook"
    label = "Blog webhook"
    target = "blog"
    writing = BLOG_WRITING
    media = WEBHOOK_MEDIA

    def publisher_class(self):
        from platforms.kinds.webhook.publisher import WebhookPublisher

        return WebhookPublisher


KIND = WebhookKind()
