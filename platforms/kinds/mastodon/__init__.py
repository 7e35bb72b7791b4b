"""The Mastodon-compatible family: Mastodon, Pixelfed, Pleroma/Akkoma and GoToSocial speak one
client API, so they share one client, one publisher and one set of writing rules; they differ in
name and in how an image description is written (Pixelfed updates the media itself)."""

from dataclasses import replace
from typing import Any

from platforms.kinds.base import Form, Kind, WritingRules
from platforms.kinds.media import IMAGE_TYPES, VIDEO_TYPES, MediaRules

VISIBILITIES = ("public", "unlisted", "private", "direct")

MASTODON_WRITING = WritingRules(
    name="Mastodon",
    form=Form.SHORT_POST,
    text_limit=500,
    instance_limit=True,
    hashtags=(1, 3),
    hashtags_by_length=(1, 2, 3),
    sentences_by_length=(1, 2, 4),
    guide=(
        "Mastodon: at most {limit} characters; plain text, no markdown; 1-3 hashtags in CamelCase "
        "(#OpenSource) so screen readers can read them; no engagement bait."
    ),
)


MIB = 1024 * 1024

# Mastodon 4.x's defaults (docs.joinmastodon.org, and what /api/v2/instance announces on a stock
# server: image_size_limit 16 MiB, video_size_limit 99 MiB, image_matrix_limit 33,177,600 px,
# max_media_attachments 4): up to 4 images, or one video alone; an animated GIF becomes a `gifv`,
# which Mastodon lets stand beside images. Descriptions up to 1,500 characters.
MASTODON_MEDIA = MediaRules(
    max_items=4,
    image_types=IMAGE_TYPES,
    video_types=VIDEO_TYPES,
    max_image_bytes=16 * MIB,
    max_video_bytes=99 * MIB,
    max_image_pixels=33_177_600,
    video_alone=True,
    gif_alone=False,
    carries_alt_text=True,
    alt_text_limit=1500,
)

# Keys verification stores in `extra` from the instance's own document (see `client.instance_limits`).
MEDIA_LIMIT_KEYS = (
    "max_media_attachments",
    "image_size_limit",
    "video_size_limit",
    "image_matrix_limit",
    "description_limit",
)


OAUTH_GRANULAR_SCOPES = "read:accounts read:statuses write:media write:statuses"
#: For servers that know only the top-level scopes: Pixelfed (Laravel Passport: read, write,
#: follow, push) and GoToSocial (read and write; granular scopes are recent and not everywhere).
OAUTH_TOP_LEVEL_SCOPES = "read write"


class MastodonKind(Kind):
    type = "mastodon"
    label = "Mastodon"
    target = "mastodon"
    writing = MASTODON_WRITING
    speaks_mastodon_api = True
    caption_scan = True
    describes_media = True
    alt_text_limit = 1500  # Mastodon's own default when an instance does not say
    can_edit_posts = True
    verifiable = True
    #: Pixelfed writes a description with PUT /api/v1/media/{id}, not by editing the status.
    describes_by_media_update = False
    media = MASTODON_MEDIA
    #: The server answers a repeated Idempotency-Key with the status it already made (Mastodon
    #: keeps keys an hour; Pleroma and Akkoma do the same).
    honours_idempotency_key = True
    #: The smallest grant the features need (docs.joinmastodon.org/api/oauth-scopes, granular
    #: scopes since Mastodon 2.4.3): the account (verifying), its statuses (the caption scan),
    #: uploads and their descriptions, and statuses (publishing, writing alt text back).
    oauth_scopes = OAUTH_GRANULAR_SCOPES

    def media_for(self, *, extra: dict[str, Any] | None) -> MediaRules:
        """This kind's rules with what the instance announced in /api/v2/instance (stored in
        `extra` by verification; `description_limit` also by the captions scan): each server sets
        its own, and a value it did not announce keeps the documented default. Announced
        `supported_mime_types` decide the types, within those the project checks by content
        (a Pixelfed admin who adds video/mp4 gets video, with the server's one size limit)."""
        rules = self.media
        if not isinstance(extra, dict):
            return rules
        known = {key: _positive(extra.get(key)) for key in MEDIA_LIMIT_KEYS}
        changes: dict[str, Any] = {}
        supported = extra.get("supported_mime_types")
        if isinstance(supported, list) and supported:
            types = {str(t).lower() for t in supported}
            changes["image_types"] = frozenset(IMAGE_TYPES & types)
            changes["video_types"] = frozenset(VIDEO_TYPES & types)
        if known["max_media_attachments"]:
            changes["max_items"] = known["max_media_attachments"]
        if known["image_size_limit"]:
            changes["max_image_bytes"] = known["image_size_limit"]
        if changes.get("video_types", rules.video_types):
            video_bytes = known["video_size_limit"] or rules.max_video_bytes
            video_bytes = video_bytes or changes.get("max_image_bytes", rules.max_image_bytes)
            if video_bytes != rules.max_video_bytes:
                changes["max_video_bytes"] = video_bytes
        if known["image_matrix_limit"]:
            changes["max_image_pixels"] = known["image_matrix_limit"]
        if known["description_limit"]:
            changes["alt_text_limit"] = known["description_limit"]
        return replace(rules, **changes) if changes else rules

    def connection_errors(self, *, username: str | None, extra: dict[str, Any]) -> dict[str, str]:
        visibility = extra.get("visibility")
        if visibility is not None and visibility not in VISIBILITIES:
            return {"extra": f"visibility must be one of {', '.join(VISIBILITIES)}."}
        return {}

    def verify(self, connection, *, timeout: float):
        from platforms.kinds.mastodon import client as clients

        account = clients.mastodon_verify_credentials(
            instance_url=connection.instance_url, access_token=connection.access_token, timeout=timeout
        )
        # The workflow writer keeps Mastodon drafts within the instance's own limit, and the
        # workflows app checks media against the instance's own (`media_for`).
        learned = clients.mastodon_instance_limits(
            instance_url=connection.instance_url, access_token=connection.access_token, timeout=timeout
        )
        return account, learned

    def media_client(self, connection, **kwargs):
        from platforms.kinds.mastodon.client import MastodonApi

        return MastodonApi.from_connection(connection, **kwargs)

    def publisher_class(self):
        from platforms.kinds.mastodon.publisher import MastodonPublisher

        return MastodonPublisher


class PixelfedKind(MastodonKind):
    type = "pixelfed"
    label = "Pixelfed"
    describes_by_media_update = True
    # Added in 2023 (pixelfed PR 4405) but not documented as kept: look the post up instead.
    honours_idempotency_key = False
    alt_text_limit = 1000  # PF_MEDIA_MAX_ALTTEXT_LENGTH's default
    oauth_scopes = OAUTH_TOP_LEVEL_SCOPES
    # Pixelfed's documented defaults (docs.pixelfed.org, configuration): MAX_ALBUM_LENGTH 4,
    # MAX_PHOTO_SIZE 15000 kB (Laravel's kilobytes of 1,024 bytes; it applies to every upload),
    # MEDIA_TYPES "image/jpeg,image/png,image/gif" (no video unless the admin adds it),
    # PF_MEDIA_MAX_ALTTEXT_LENGTH 1000.
    media = MediaRules(
        max_items=4,
        image_types=frozenset({"image/jpeg", "image/png", "image/gif"}),
        video_types=frozenset(),
        max_image_bytes=15000 * 1024,
        max_video_bytes=0,
        max_image_pixels=MASTODON_MEDIA.max_image_pixels,
        video_alone=True,
        gif_alone=False,
        carries_alt_text=True,
        alt_text_limit=1000,
    )


class PleromaKind(MastodonKind):
    type = "pleroma"
    label = "Pleroma / Akkoma"
    # Pleroma's (and Akkoma's) documented defaults (config cheatsheet): upload_limit 16,000,000 bytes
    # for any file, description_limit 5,000. Its max_media_attachments (1,000) is no limit a
    # Mastodon follower would see: Mastodon's 4 stays the default until the instance says.
    media = replace(
        MASTODON_MEDIA, max_image_bytes=16_000_000, max_video_bytes=16_000_000, alt_text_limit=5000
    )


class GoToSocialKind(MastodonKind):
    type = "gotosocial"
    label = "GoToSocial"
    # Not in GoToSocial's documented API: look the post up instead.
    honours_idempotency_key = False
    oauth_scopes = OAUTH_TOP_LEVEL_SCOPES
    # GoToSocial's documented defaults (docs.gotosocial.org, configuration): statuses-media-max-files
    # 6, media-local-max-size 40 MiB for any file, media-description-max-chars 1500.
    media = replace(MASTODON_MEDIA, max_items=6, max_image_bytes=40 * MIB, max_video_bytes=40 * MIB)


KINDS = (MastodonKind(), PixelfedKind(), PleromaKind(), GoToSocialKind())


def _positive(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
