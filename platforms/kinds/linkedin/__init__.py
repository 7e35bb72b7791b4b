"""LinkedIn: posts through the versioned REST API, as a member or an organization page."""

import re
from typing import Any

from platforms.kinds.base import Form, Kind, WritingRules
from platforms.kinds.media import MediaRules

AUTHOR_URN = re.compile(r"^urn:li:(person|organization):[A-Za-z0-9_-]+$")
API_VERSION = re.compile(r"^\d{6}$")

LINKEDIN_WRITING = WritingRules(
    name="LinkedIn",
    form=Form.LONG_POST,
    text_limit=3000,
    hashtags=(3, 5),
    hashtags_by_length=(3, 4, 5),
    guide=(
        "LinkedIn: at most {limit} characters; a one-line hook on its own line; short paragraphs; an "
        "optional bullet list of key points; end with a call to action or a question; 3-5 hashtags "
        "on the last line."
    ),
)


# Microsoft Learn, LinkedIn Images API and Posts API (MultiImage): JPG, PNG and GIF images of
# fewer than 36,152,320 pixels; one image as `content.media`, 2 to 20 as `content.multiImage`,
# each with `altText` of up to 4,086 characters. Videos go through another API (not here). The
# Images API names no byte limit; 5 MB is the one LinkedIn's help pages give for post images. A
# GIF goes alone: MultiImage is documented for still images.
LINKEDIN_MEDIA = MediaRules(
    max_items=20,
    image_types=frozenset({"image/jpeg", "image/png", "image/gif"}),
    video_types=frozenset(),
    max_image_bytes=5 * 1024 * 1024,
    max_image_pixels=36_152_320 - 1,
    gif_alone=True,
    carries_alt_text=True,
    alt_text_limit=4086,
)


class LinkedInKind(Kind):
    type = "linkedin"
    label = "LinkedIn"
    target = "linkedin"
    writing = LINKEDIN_WRITING
    can_edit_posts = True
    verifiable = True
    media = LINKEDIN_MEDIA

    def connection_errors(self, *, username: str | None, extra: dict[str, Any]) -> dict[str, str]:
        """The author URN may be left out: verifying learns the member's (urn:li:person:{sub}), and
        publishing without one fails with a clear message; an organization page must be given."""
        errors: dict[str, str] = {}
        urn = extra.get("author_urn")
        if urn is not None and not (isinstance(urn, str) and AUTHOR_URN.match(urn)):
            errors["extra"] = (
                "author_urn must look like urn:li:person:<id> or urn:li:organization:<id> "
                "(leave it out to learn the member's by verifying)."
            )
        version = extra.get("linkedin_version")
        if version is not None and not (isinstance(version, str) and API_VERSION.match(version)):
            errors["extra"] = "linkedin_version is a LinkedIn API version like 202411 (YYYYMM)."
        return errors

    def verify(self, connection, *, timeout: float):
        account, _ = super().verify(connection, timeout=timeout)
        extra = connection.extra if isinstance(connection.extra, dict) else {}
        # The member's own URN is the author when none was given.
        return account, ({} if extra.get("author_urn") else {"author_urn": account.acct})

    def publisher_class(self):
        from platforms.kinds.linkedin.publisher import LinkedInPublisher

        return LinkedInPublisher


KIND = LinkedInKind()
