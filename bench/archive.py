"""archive: old generated images moved to their archive table in batches against one raw statement.

Ours is the `generated_images` policy of `manage.py archive` (core.archive.batches_run calling
generation.services.archive.generated_images_archive_batch, the default 2000 rows a batch, one short
transaction each). The baseline is the single statement a DBA would type,
`WITH moved AS (DELETE FROM generated_images WHERE created_at < %s RETURNING ...) INSERT INTO
generated_images_archive ... SELECT ... FROM moved`, one transaction for every row. Both start
from the same tables: rows generated once into an unlogged template, copied back with INSERT ...
SELECT before every run into an emptied live table and an emptied archive, then VACUUM ANALYZE and
CHECKPOINT. The sides alternate which goes first.

One image in ten is recent (inside the 90-day window) and must stay. The others get older as their
ids get lower, as in production; the recent ones are spread among them (every tenth id, as
imported or back-dated rows would be), so the filter rejects rows throughout the run. Each row
carries a 512-character `encoded_image` standing in for the base64 payload: real images are
hundreds of kilobytes, which at a million rows would be a disk benchmark of TOAST rather than of
the move; both sides copy the same bytes.

Targets: ours at most 1.2x the raw statement's time (2.5x until issue 23), the median of the
rounds' paired ratios (bench.batched); no batch longer than 250 ms.
"""

import time
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils import timezone

from bench.batched import alternating_rounds, paired, print_results
from bench.report import spread
from core.archive import DEFAULT_BATCH_SIZE as BATCH_SIZE

POLICY = "generated_images"
USERS = 50
PROMPTS = 500
TEMPLATE = "bench_archive_images"
TABLES = ("generated_images", "generated_images_archive")
RATIO_TARGET = 1.2


def _template_create(*, rows: int, now, cutoff, user_ids: list[int], prompt_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE UNLOGGED TABLE {TEMPLATE} AS
            SELECT i::bigint AS id,
                   (%(users)s::bigint[])[1 + i %% %(user_count)s] AS user_id,
                   CASE WHEN i %% 7 <> 0 THEN (%(prompts)s::bigint[])[1 + i %% %(prompt_count)s] END
                       AS prompt_id,
                   'bench-' || md5(i::text) AS media_generation_id,
                   repeat(md5(i::text) || md5((i + 1)::text), 8) AS encoded_image,
                   i %% 100000 AS seed,
                   'IMAGEN_3' AS model_name_type,
                   'IMAGE_ASPECT_RATIO_SQUARE' AS aspect_ratio,
                   NULL::varchar AS fingerprint_log_record_id,
                   NULL::varchar AS workflow_id,
                   'image/png' AS mime_type,
                   jsonb_build_object('width', 1024, 'height', 1024, 'n', i) AS metadata,
                   CASE WHEN i %% 10 = 0 THEN %(recent)s::timestamptz
                        ELSE %(old)s::timestamptz - (%(rows)s - i) * interval '10 seconds' END AS created_at
            FROM generate_series(1, %(rows)s) AS i
            """,  # noqa: S608 (constant names only)
            {
                "users": user_ids,
                "user_count": len(user_ids),
                "prompts": prompt_ids,
                "prompt_count": len(prompt_ids),
                "recent": now - timedelta(days=1),
                "old": cutoff - timedelta(days=1),
                "rows": rows,
            },
        )


def _columns() -> list[str]:
    from generation.services.archive import generated_image_archive_columns

    return [connection.ops.quote_name(column) for column in generated_image_archive_columns()]


def _reload(*, limit: int | None = None) -> None:
    """Empty both tables, put the template's rows (the first `limit`) back, settle the tables."""
    columns = ", ".join(_columns())
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(TABLES)}")
        cursor.execute(
            f"INSERT INTO generated_images ({columns}) SELECT {columns} FROM {TEMPLATE} "  # noqa: S608
            "WHERE id <= %s ORDER BY id",
            [limit or 2**62],
        )
        cursor.execute(f"VACUUM ANALYZE {', '.join(TABLES)}")
        cursor.execute("CHECKPOINT")


def _ours(*, cutoff) -> tuple[int, float, float]:
    """Rows moved, wall seconds and the longest batch in seconds."""
    from core.archive import archive_policies, batches_run

    policy = next(policy for policy in archive_policies() if policy.name == POLICY)
    result = batches_run(step=policy.batches(cutoff), batch_size=BATCH_SIZE)
    return result.rows, result.seconds, result.worst_batch_seconds


def _baseline(*, cutoff, now) -> tuple[int, float]:
    columns = _columns()
    column_list = ", ".join(columns)
    started = time.monotonic()
    # Autocommit: the statement is its own transaction, so the time includes its commit (and the
    # deferred foreign-key checks of every archived row, which the batches pay at each commit).
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH moved AS (DELETE FROM generated_images WHERE created_at < %s "  # noqa: S608
            f"RETURNING {column_list}) "
            f"INSERT INTO generated_images_archive ({column_list}, archived_at) "
            f"SELECT {column_list}, %s FROM moved",
            [cutoff, now],
        )
        rows = cursor.rowcount
    return rows, time.monotonic() - started


def run(*, scale: str) -> None:
    from accounts.models import User
    from core.archive import DEFAULT_OLDER_THAN_DAYS
    from generation.models import GeneratedImage, GeneratedImageArchive, Prompt

    rows, rounds = (1_000_000, 4) if scale == "full" else (100_000, 6)
    expected_kept = rows // 10
    expected_moved = rows - expected_kept
    now = timezone.now()
    cutoff = now - timedelta(days=DEFAULT_OLDER_THAN_DAYS)

    unusable = make_password(None)
    users = User.objects.bulk_create(
        User(username=f"bench-archive-{n}", email=f"bench-archive-{n}@example.test", password=unusable)
        for n in range(USERS)
    )
    prompts = Prompt.objects.bulk_create(
        Prompt(user=users[n % USERS], prompt_text=f"a lighthouse at dusk, study {n}", seed=n)
        for n in range(PROMPTS)
    )
    generated = time.monotonic()
    _template_create(
        rows=rows,
        now=now,
        cutoff=cutoff,
        user_ids=[user.pk for user in users],
        prompt_ids=[prompt.pk for prompt in prompts],
    )
    template_seconds = time.monotonic() - generated

    def check(side: str, moved: int) -> None:
        kept = GeneratedImage.objects.count()
        archived = GeneratedImageArchive.objects.count()
        if (moved, archived, kept) != (expected_moved, expected_moved, expected_kept):
            raise RuntimeError(
                f"archive {side}: moved {moved} (archive holds {archived}) and kept {kept}, "
                f"expected {expected_moved} and {expected_kept}"
            )

    with connection.cursor() as cursor:
        # Both sides leave the same dead rows behind; a vacuum that starts during one side's run
        # (batches commit as they go, the raw statement only at its end) would bill it to that side.
        for table in TABLES:
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
    try:
        timings = alternating_rounds(
            rounds=rounds,
            reload=_reload,
            ours=lambda: _ours(cutoff=cutoff),
            baseline=lambda: _baseline(cutoff=cutoff, now=now),
            check=check,
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(TABLES)}")
            for table in TABLES:
                cursor.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
            cursor.execute(f"DROP TABLE IF EXISTS {TEMPLATE}")
        Prompt.objects.filter(pk__in=[prompt.pk for prompt in prompts]).delete()
        User.objects.filter(pk__in=[user.pk for user in users]).delete()

    print_results(
        name="archive",
        timings=timings,
        note=(
            f"archive policy in batches of {BATCH_SIZE} vs one raw "
            f"`WITH moved AS (DELETE ... RETURNING) INSERT`, {rows} images"
        ),
        target=RATIO_TARGET,
    )
    print(
        f"# archive: {expected_moved} of {rows} images moved per run, batches of {BATCH_SIZE}, "
        f"{rounds} rounds each; best/median/worst ours {spread(timings.ours)}, "
        f"raw statement {spread(timings.baseline)}; "
        f"pairs {', '.join(f'{ratio:.2f}' for ratio in paired(timings))}; "
        f"worst batch per round {', '.join(f'{w * 1000:.0f}' for w in timings.worst)} ms; "
        f"template generated in {template_seconds:.1f} s"
    )
