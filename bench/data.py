"""Data the benchmarks share, generated once per run inside PostgreSQL and reused.

`caption_images(rows=...)` fills `posts` and `images` for one owner with `generate_series`
(a million images in seconds, where the ORM would take minutes); `api_list` and
`admin_changelist` read the same rows, so whichever runs second finds them ready.
"""

import time
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.db import connection

IMAGES_PER_POST = 2
# One image in twenty per status slot: 6 pending, 2 reviewed, 4 approved, 1 rejected, 6 posted,
# 1 error. Roughly what a busy instance holds: most work either waiting or done.
STATUS_SLOTS = (
    ["pending"] * 6 + ["reviewed"] * 2 + ["approved"] * 4 + ["rejected"] + ["posted"] * 6 + ["error"]
)


@dataclass(frozen=True)
class CaptionImages:
    owner_id: int
    connection_id: int
    rows: int
    pending: int
    seconds: float  # how long generating them took (0 when reused)


_generated: dict[int, CaptionImages] = {}


def caption_images(*, rows: int) -> CaptionImages:
    """`rows` images (and half as many posts) owned by user `bench-images`, generated on first use."""
    if rows in _generated:
        reused = _generated[rows]
        return CaptionImages(**{**reused.__dict__, "seconds": 0.0})
    from accounts.models import User
    from platforms.models import PlatformConnection

    started = time.monotonic()
    owner = User.objects.create(
        username=f"bench-images-{rows}",
        email=f"bench-images-{rows}@example.test",
        password=make_password(None),
    )
    platform = PlatformConnection.objects.create(
        user=owner,
        name="bench",
        platform_type="mastodon",
        instance_url="https://bench.example.test",
        access_token="bench-token-not-used",  # noqa: S106 (never sent anywhere)
    )
    posts = -(-rows // IMAGES_PER_POST)
    statuses = "ARRAY[" + ", ".join(f"'{status}'" for status in STATUS_SLOTS) + "]"
    with connection.cursor() as cursor:
        # The generated keys are right by construction; skipping the per-row foreign-key triggers
        # halves the load time (the bench connects as a superuser, as it creates its database).
        cursor.execute("SET session_replication_role = replica")
        try:
            # Ids grow with created_at (one second apart, newest last), as rows inserted over time do.
            cursor.execute(
                """
                INSERT INTO posts (created_at, updated_at, post_id, platform_user_id, post_url, post_content,
                                   platform_connection_id, platform_type, instance_url, language,
                                   platform_details)
                SELECT now() - (%(posts)s - i) * interval '2 seconds', now(), 'p' || i, 'acct-' || i %% 500,
                       'https://bench.example.test/@user/' || i, 'Bench post number ' || i, %(platform)s,
                       'mastodon', 'https://bench.example.test', 'en', '{}'::jsonb
                FROM generate_series(1, %(posts)s) AS i
                ORDER BY i
                """,
                {"posts": posts, "platform": platform.pk},
            )
            cursor.execute("SELECT min(id) FROM posts WHERE platform_connection_id = %s", [platform.pk])
            first_post = cursor.fetchone()[0]
            cursor.execute(
                f"""
                INSERT INTO images (created_at, updated_at, post_id, image_url, local_path, original_filename,
                                    media_type, image_post_id, attachment_index, platform_connection_id,
                                    platform_type, instance_url, generated_caption, image_category, status,
                                    caption_quality_score, needs_special_review)
                SELECT now() - (%(rows)s - i) * interval '1 second', now(),
                       %(first_post)s + (i - 1) / {IMAGES_PER_POST},
                       'https://bench.example.test/media/' || i || '.png', 'captions/bench/' || i || '.png',
                       i || '.png', 'image/png', 'm' || i, (i - 1) %% {IMAGES_PER_POST}, %(platform)s,
                       'mastodon', 'https://bench.example.test',
                       'A generated caption for bench image ' || i || ', describing what it shows.',
                       (ARRAY['photo_people', 'landscape', 'food', 'animal', 'object'])[1 + i %% 5],
                       ({statuses})[1 + i %% {len(STATUS_SLOTS)}],
                       1 + i %% 100, i %% 17 = 0
                FROM generate_series(1, %(rows)s) AS i
                ORDER BY i
                """,  # noqa: S608 (constants only)
                {"rows": rows, "first_post": first_post, "platform": platform.pk},
            )
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
        # Vacuumed as well as analysed: the steady state autovacuum keeps a live table in (visibility
        # map set, so counts can be index-only), and no autovacuum starts in the middle of a run.
        cursor.execute("VACUUM (ANALYZE) posts, images")
        cursor.execute(
            "SELECT count(*) FROM images WHERE status = 'pending' AND platform_connection_id = %s",
            [platform.pk],
        )
        pending = cursor.fetchone()[0]
    generated = CaptionImages(
        owner_id=owner.pk,
        connection_id=platform.pk,
        rows=rows,
        pending=pending,
        seconds=time.monotonic() - started,
    )
    _generated[rows] = generated
    return generated
