"""Reads of captions that more than one caller needs, the caption length rule above all: the
services, the API's serializers and the admin all ask here, so the rule lives once."""

from dataclasses import dataclass
from functools import cache

from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery

from accounts.selectors import ThroughFewRows, owned_by, reviewable_by
from captions.models import CaptionGenerationUserSettings, Image, ImageStatus

DEFAULT_MAX_CAPTION_LENGTH = 500
DEFAULT_INSTANCE_DESCRIPTION_LIMIT = 1500

# Who owns an image, a post, a task, a run or caption settings: the owner of its connection. A
# person holds a few connections, so their rows are found by those connections' ids.
CONNECTION_OWNER = ThroughFewRows("platform_connection")

# The annotation `with_length_limit` adds (and the images list's rows carry): the owner's
# configured `max_caption_length`, None when unset.
LIMIT_ANNOTATION = "configured_max_caption_length"

# The connection's secret columns, never read when images are listed with their connection.
CONNECTION_SECRETS = (
    "platform_connection__access_token",
    "platform_connection__client_key",
    "platform_connection__client_secret",
)


def images_reviewable_by(user, *, images: QuerySet[Image] | None = None) -> QuerySet[Image]:
    """The images (of `images`, default all) `user` may see and act on: the caption review queue is
    everyone's for reviewers, moderators and admins; other roles have their own connections'."""
    images = Image.objects.all() if images is None else images
    return reviewable_by(images, user=user, owner_field=CONNECTION_OWNER)


def images_awaiting_review(*, user) -> QuerySet[Image]:
    """The person's own images whose generated caption waits for a review (the digest counts them)."""
    pending = Image.objects.filter(status=ImageStatus.PENDING)
    return (
        owned_by(pending, user=user, owner_field=CONNECTION_OWNER)
        .exclude(generated_caption__isnull=True)
        .exclude(generated_caption="")
    )


def caption_length_rule(*, configured: int | None, connection_extra: dict | None) -> int:
    """The caption length rule: the owner's setting (default 500), capped by the instance's own
    description limit (read from the instance by the scan and kept in the connection's extra)."""
    configured = configured or DEFAULT_MAX_CAPTION_LENGTH
    instance_limit = (connection_extra or {}).get("description_limit") or DEFAULT_INSTANCE_DESCRIPTION_LIMIT
    return min(int(configured), int(instance_limit))


def caption_length_limit(*, image: Image) -> int:
    """The longest caption this image may carry: from the `with_length_limit` annotation when the
    image has it (no query), else one query for the owner's setting."""
    connection = image.platform_connection
    if hasattr(image, LIMIT_ANNOTATION):
        configured = getattr(image, LIMIT_ANNOTATION)
    else:
        own_settings = CaptionGenerationUserSettings.objects.filter(
            user_id=connection.user_id, platform_connection=connection
        )
        configured = own_settings.values_list("max_caption_length", flat=True).first()
    return caption_length_rule(configured=configured, connection_extra=connection.extra)


def with_length_limit(queryset: QuerySet[Image]) -> QuerySet[Image]:
    """Annotate each image with its owner's configured `max_caption_length` (None when unset), so
    that `caption_length_limit` on a page of images costs no query per image."""
    configured = CaptionGenerationUserSettings.objects.filter(
        user_id=OuterRef("platform_connection__user_id"),
        platform_connection_id=OuterRef("platform_connection_id"),
    ).values("max_caption_length")[:1]
    return queryset.annotate(**{LIMIT_ANNOTATION: Subquery(configured)})


def caption_length_settings(*, owners_and_connections: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """The configured `max_caption_length` per (user id, connection id) among those given that have
    settings, in one query: a page of images needs its owners' settings once, not once an image.

    One plain statement rather than a queryset: building and compiling the ORM's query for these
    three columns took ~0.3 ms of CPU of every images list request, about a tenth of what the list
    costs beyond a bare view (docs/performance.md, `api_list`)."""
    if not owners_and_connections:
        return {}
    connection_ids = sorted({connection_id for _, connection_id in owners_and_connections})
    with connection.cursor() as cursor:
        cursor.execute(_settings_sql(connection.vendor, len(connection_ids)), connection_ids)
        rows = cursor.fetchall()
    return {
        (user_id, connection_id): length
        for user_id, connection_id, length in rows
        if (user_id, connection_id) in owners_and_connections
    }


@cache
def _settings_sql(vendor: str, count: int) -> str:
    del vendor  # the cache key: the statement is quoted for one backend
    quote = connection.ops.quote_name
    meta = CaptionGenerationUserSettings._meta
    user, platform_connection, length = (
        quote(meta.get_field(name).column) for name in ("user", "platform_connection", "max_caption_length")
    )
    placeholders = ", ".join(["%s"] * count)
    # The model's own table and column names only; every value is a parameter.
    return (
        f"SELECT {user}, {platform_connection}, {length} FROM {quote(meta.db_table)} "  # noqa: S608
        f"WHERE {platform_connection} IN ({placeholders})"
    )


@dataclass(frozen=True)
class RepostRow:
    """One image of a post as a repost with alt text would send it."""

    position: int  # 1 first
    alt_text: str  # what the new post would carry ("" while not approved)
    source: str  # "approved", "kept" (it had alt text), or the caption's status when not approved
    image: Image | None

    @property
    def ready(self) -> bool:
        return self.source in ("approved", "kept")


def repost_plan(*, post) -> list[RepostRow]:
    """The post's images in order with the alt text a repost would give each (captions.services.repost)."""
    details = post.platform_details if isinstance(post.platform_details, dict) else {}
    listed = details.get("images") if isinstance(details.get("images"), list) else []
    recorded = {image.attachment_index: image for image in post.images.order_by("attachment_index", "pk")}
    rows = []
    for index, entry in enumerate(listed):
        image = recorded.get(index)
        if image is None:
            alt = str(entry.get("alt") or "") if isinstance(entry, dict) else ""
            rows.append(RepostRow(position=index + 1, alt_text=alt, source="kept", image=None))
        elif image.status == "approved" and image.final_caption:
            rows.append(
                RepostRow(position=index + 1, alt_text=image.final_caption, source="approved", image=image)
            )
        else:
            source = image.get_status_display().lower()
            rows.append(RepostRow(position=index + 1, alt_text="", source=source, image=image))
    return rows
