"""X (formerly Twitter): short posts through API v2."""

from platforms.kinds.base import Form, Kind, WritingRules
from platforms.kinds.media import MediaRules

MB = 1024 * 1024

X_WRITING = WritingRules(
    name="X",
    form=Form.SHORT_POST,
    text_limit=280,
    hashtags=(2, 3),
    hashtags_by_length=(2, 2, 3),
    sentences_by_length=(1, 2, 3),
    guide=(
        "X (Twitter): one post of at most {limit} characters, hashtags and links included; open with a "
        "hook; 2-3 hashtags; a short call to action when it fits."
    ),
)


# docs.x.com (media best practices, upload and metadata references): 4 images, or 1 animated GIF,
# or 1 video per post; images 5 MB (GIFs may be 15 MB on X; the one image limit here is the
# smaller), videos 512 MB as MP4 or MOV; alt text up to 1,000 characters.
X_MEDIA = MediaRules(
    max_items=4,
    image_types=frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"}),
    video_types=frozenset({"video/mp4", "video/quicktime"}),
    max_image_bytes=5 * MB,
    max_video_bytes=512 * MB,
    max_image_pixels=8192 * 8192,
    video_alone=True,
    gif_alone=True,
    carries_alt_text=True,
    alt_text_limit=1000,
)


class XKind(Kind):
    type = "x"
    label = "X"
    target = "x"
    writing = X_WRITING
    verifiable = True
    media = X_MEDIA

    def publisher_class(self):
        from platforms.kinds.x.publisher import XPublisher

        return XPublisher


KIND = XKind()
