"""Media on publications: what a publisher is handed, and what each network accepts.

A publication carries `MediaItem`s in order, each with the alt text a person approved (the
workflows app refuses to publish otherwise; a publisher never invents or drops one). A kind says
what its network takes in `MediaRules`; the workflows app checks attachments against them when
they are added and again before a job publishes, so a publisher may assume its media fit.

Publishers upload each item in their network's own wire format and reference the uploads in the
post. An upload is not a post: uploading again after a lost answer leaves at most an unattached
upload the network discards; publishers still remember what they uploaded for one publication
(`uploaded` keyed by `MediaItem.key`) so a retried post reuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/webm", "video/quicktime"})


@dataclass(frozen=True, kw_only=True)
class MediaItem:
    """One image or video of a publication."""

    key: str  # stable for this attachment across every retry of a job (its id)
    media_type: str  # MIME type, checked by content when it was attached
    filename: str
    size: int  # bytes
    read: Callable[[], bytes] = field(repr=False, compare=False)  # the bytes, from storage
    alt_text: str  # approved by a person (or, where the owner relaxed the gate, non-empty)
    width: int | None = None
    height: int | None = None
    #: Mastodon's focal point, x and y from -1.0 to 1.0 (0, 0 the centre); None when unknown.
    focus: tuple[float, float] | None = None
    #: A signed URL that expires, for receivers that fetch the file themselves (the webhook).
    url: str | None = None

    @property
    def is_video(self) -> bool:
        return self.media_type.startswith("video/")

    @property
    def is_gif(self) -> bool:
        return self.media_type == "image/gif"

    @property
    def aspect_ratio(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None


@dataclass(frozen=True, kw_only=True)
class MediaRules:
    """What one network takes on a post. The default takes nothing (text only)."""

    max_items: int = 0  # media per post; 0: the network's posts carry no media here
    image_types: frozenset[str] = IMAGE_TYPES
    video_types: frozenset[str] = frozenset()  # empty: no video
    max_image_bytes: int = 5 * 1024 * 1024
    max_video_bytes: int = 0
    max_image_pixels: int = 8192 * 8192
    #: A post carries either images or one video (or one GIF where `gif_alone`), never both.
    video_alone: bool = True
    gif_alone: bool = False
    #: The network stores a description with each item; False: the review screen warns that the
    #: approved alt text cannot travel with the image.
    carries_alt_text: bool = True
    alt_text_limit: int | None = None  # characters (graphemes where `counts_graphemes`)
    counts_graphemes: bool = False

    @property
    def takes_media(self) -> bool:
        return self.max_items > 0

    def accepts(self, media_type: str) -> bool:
        return media_type in self.image_types or media_type in self.video_types

    def max_bytes(self, media_type: str) -> int:
        return self.max_video_bytes if media_type.startswith("video/") else self.max_image_bytes

    def problems(self, items: list[tuple[str, int] | tuple[str, int, int | None]]) -> list[str]:
        """Sentences saying why media of these (MIME type, bytes[, pixels]) cannot go on one post
        (none: they can)."""
        if not items:
            return []
        if not self.takes_media:
            return ["This network's posts carry no media here."]
        found: list[str] = []
        if len(items) > self.max_items:
            found.append(f"At most {self.max_items} media per post (there are {len(items)}).")
        for position, (media_type, size, *rest) in enumerate(items, start=1):
            pixels = rest[0] if rest else None
            if not self.accepts(media_type):
                found.append(f"Item {position}: {media_type} is not accepted.")
            elif size > self.max_bytes(media_type):
                found.append(
                    f"Item {position}: {size / 1048576:.1f} MB is more than "
                    f"{self.max_bytes(media_type) / 1048576:.1f} MB."
                )
            elif pixels and not media_type.startswith("video/") and pixels > self.max_image_pixels:
                found.append(f"Item {position}: {pixels:,} pixels is more than {self.max_image_pixels:,}.")
        kinds = [item[0] for item in items]
        videos = [t for t in kinds if t.startswith("video/")]
        gifs = [t for t in kinds if t == "image/gif"]
        if self.video_alone and videos and len(items) > 1:
            found.append("A video goes alone on a post.")
        if self.gif_alone and gifs and len(items) > 1:
            found.append("A GIF goes alone on a post.")
        return found


TEXT_ONLY = MediaRules()


def media_rules_loosest(rules: list[MediaRules]) -> MediaRules:
    """What at least one of `rules` takes (the networks a post may still go to), with the alt text
    held to the smallest limit among them, so that text written once fits wherever it goes."""
    rules = [rule for rule in rules if rule.takes_media]
    if not rules:
        return TEXT_ONLY
    limits = [rule.alt_text_limit for rule in rules if rule.alt_text_limit]
    return MediaRules(
        max_items=max(rule.max_items for rule in rules),
        image_types=frozenset().union(*(rule.image_types for rule in rules)),
        video_types=frozenset().union(*(rule.video_types for rule in rules)),
        max_image_bytes=max(rule.max_image_bytes for rule in rules),
        max_video_bytes=max(rule.max_video_bytes for rule in rules),
        max_image_pixels=max(rule.max_image_pixels for rule in rules),
        video_alone=all(rule.video_alone for rule in rules),
        gif_alone=all(rule.gif_alone for rule in rules),
        carries_alt_text=all(rule.carries_alt_text for rule in rules),
        alt_text_limit=min(limits) if limits else None,
        counts_graphemes=any(rule.counts_graphemes for rule in rules),
    )
