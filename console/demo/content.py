"""What the demo instance holds when it starts: the account's posts and their media.

Oldest first; a new `State` is built from `POSTS` on every start, so a restart forgets every
change. 6 posts carry 10 images (7 without a description, 2 described in English, 1 in Japanese)
and 1 video; 1 more post is text only, so `only_media` has something to leave out.
"""

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from console.demo import media as demo_media

# Not a secret: the demo instance is a loopback fake and its token is printed in the docs.
DEMO_TOKEN = "demo-instance-token"  # noqa: S105
DEMO_ACCOUNT_USERNAME = "demo"

_ID_BASE = 113_500_000_000_000_000
_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class MediaSpec:
    scene: str
    description: str | None = None
    type: str = "image"


@dataclass(frozen=True)
class PostSpec:
    text: str
    media: tuple[MediaSpec, ...] = ()
    language: str = "en"
    spoiler_text: str = ""


# Oldest first.
POSTS: tuple[PostSpec, ...] = (
    PostSpec(
        text="Evening walk by the lake. The sky did all the work tonight. #photography",
        media=(MediaSpec("sunset"),),
    ),
    PostSpec(
        text="Two from the weekend: the cabin we rented and the old oak behind it.",
        media=(MediaSpec("house"), MediaSpec("tree")),
    ),
    PostSpec(
        text="Our quarterly numbers, plus two sketches from the design review.",
        media=(
            MediaSpec("bar_chart"),
            MediaSpec(
                "circles",
                "Nine overlapping outlined circles in red, navy, blue, pale teal and off-white on a "
                "cream background.",
            ),
            MediaSpec("stripes"),
        ),
    ),
    PostSpec(
        text="今夜の星空。雲ひとつない夜でした。",
        language="ja",
        media=(MediaSpec("night_sky", "雲のない夜空に無数の星と白い月。下端に暗い地平線。"),),
    ),
    PostSpec(
        text="Sailing season is open! Short clip from the harbour below.",
        media=(MediaSpec("sea_boat"), MediaSpec("video_poster", type="video")),
    ),
    PostSpec(
        text="Spring in the mountains: snow on the peaks, flowers in the valley.",
        media=(
            MediaSpec(
                "mountains",
                "Two grey mountain peaks against a pale blue sky, the taller one capped with snow.",
            ),
            MediaSpec("flower"),
        ),
    ),
    PostSpec(text="Hello fediverse! This account posts pictures for the socialdesk demo."),
)


@dataclass
class Status:
    id: str
    text: str
    spoiler_text: str
    sensitive: bool
    language: str | None
    visibility: str
    created_at: datetime
    media_ids: list[str]
    edited_at: datetime | None = None


@dataclass
class State:
    """Everything the instance knows; every read and write holds `lock`."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    statuses: dict[str, Status] = field(default_factory=dict)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)  # the entity, with relative URLs
    scenes: dict[str, str] = field(default_factory=dict)  # media id -> scene name
    idempotency: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> status id
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    clock: datetime = _START

    def new_id(self) -> str:
        # Snowflake-like: numeric strings that grow with time, as Mastodon's do.
        return str(_ID_BASE + next(self.ids))

    def tick(self) -> datetime:
        self.clock += timedelta(hours=7)
        return self.clock


ACCOUNT_ID = str(_ID_BASE)


def build_state() -> State:
    state = State()
    for post in POSTS:
        created_at = state.tick()
        media_ids = []
        for spec in post.media:
            media_id = state.new_id()
            width, height = demo_media.scene_size(spec.scene)
            state.media[media_id] = {
                "id": media_id,
                "type": spec.type,
                "url": f"/media/{media_id}/original",
                "preview_url": f"/media/{media_id}/small",
                "remote_url": None,
                "preview_remote_url": None,
                "text_url": None,
                "meta": {
                    "original": {
                        "width": width,
                        "height": height,
                        "size": f"{width}x{height}",
                        "aspect": round(width / height, 6),
                    }
                },
                "description": spec.description,
                "blurhash": None,
            }
            state.scenes[media_id] = spec.scene
            media_ids.append(media_id)
        status_id = state.new_id()
        state.statuses[status_id] = Status(
            id=status_id,
            text=post.text,
            spoiler_text=post.spoiler_text,
            sensitive=bool(post.spoiler_text),
            language=post.language,
            visibility="public",
            created_at=created_at,
            media_ids=media_ids,
        )
    return state
