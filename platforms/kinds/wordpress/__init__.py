"""WordPress: blog articles through the REST API with an application password."""

from typing import Any

from platforms.kinds.base import BLOG_WRITING, Kind
from platforms.kinds.media import IMAGE_TYPES, MediaRules

MB = 1024 * 1024

# What a WordPress site takes, from its documentation:
# - Types: JPEG, PNG, GIF and WebP pictures (WebP since WordPress 5.8), MP4 and WebM videos, all
#   in WordPress's default list of allowed upload types (get_allowed_mime_types) and playable in a
#   browser's <img> or <video>. QuickTime is allowed by WordPress but not played by most browsers.
# - Size: a site takes what wp_max_upload_size() says, the smaller of PHP's upload_max_filesize
#   and post_max_size, which the host sets, not WordPress. PHP's documented defaults are 2M and
#   8M: an untuned site's media screen says "Maximum upload file size: 2 MB". 2 MB is the one
#   limit every site is sure to take, so it is the limit here, for pictures and videos alike (a
#   larger file is refused when it is attached, not half-way through publishing).
# - Alt text: WordPress stores it with each upload (alt_text, no length limit).
# - Count: each item is two requests (the upload, then its alt text) in the site's turn, inside
#   one publishing attempt that must end within PUBLISHING_JOB_TIMEOUT; ten pictures is more than
#   an article of 800 to 2,000 words needs and keeps that well within it.
# - A blog post mixes pictures and videos freely (no "alone" rule). Large pictures are scaled by
#   WordPress itself (big_image_size_threshold, 2560 px), never refused for their size in pixels.
WORDPRESS_MEDIA = MediaRules(
    max_items=10,
    image_types=IMAGE_TYPES,
    video_types=frozenset({"video/mp4", "video/webm"}),
    max_image_bytes=2 * MB,
    max_video_bytes=2 * MB,
    video_alone=False,
    gif_alone=False,
    carries_alt_text=True,
    alt_text_limit=None,
)

OPTION_KEYS = ("status", "category", "tags", "hashtags_as_tags")


class WordPressKind(Kind):
    type = "wordpress"
    label = "WordPress"
    target = "blog"
    writing = BLOG_WRITING
    media = WORDPRESS_MEDIA
    can_edit_posts = True
    verifiable = True
    publishing_option_keys = OPTION_KEYS

    def connection_errors(self, *, username: str | None, extra: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not (username or "").strip():
            errors["username"] = (
                "A WordPress connection needs the WordPress user name of the application password."
            )
        problems = self.publishing_option_errors(extra)
        if problems:
            errors["extra"] = " ".join(problems.values())
        return errors

    def publishing_option_errors(self, options: dict[str, Any]) -> dict[str, str]:
        from platforms.kinds.wordpress.publisher import wordpress_option_errors

        return wordpress_option_errors(options)

    def publisher_class(self):
        from platforms.kinds.wordpress.publisher import WordPressPublisher

        return WordPressPublisher


KIND = WordPressKind()
