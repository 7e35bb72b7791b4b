"""cleanup: expired sessions purged by the `accounts.sessions` retention policy against one raw DELETE.

Ours is `policy_run(name="accounts.sessions", batch_size=5000)`, the path `manage.py cleanup` takes
(keyset batches over the primary key, one short transaction each). The baseline is the single
statement a DBA would type, `DELETE FROM user_sessions WHERE <the policy's filter>`, which holds
one transaction and every deleted row's lock until it ends. Both start from the same table: rows
generated once into an unlogged template, copied back with INSERT ... SELECT before every run,
then VACUUM ANALYZE and CHECKPOINT, so each run sees the same rows, indexes, statistics and no
pending checkpoint. The sides alternate which goes first.

One row in ten is a live session (active, expiring in the future) that must stay; one in ten is
revoked but unexpired (removed by the `is_active = false` half of the filter); the rest expired.
The kinds of row are interleaved by id, so every batch's key range holds rows the filter keeps.

Targets: ours at most 1.5x the raw statement's time (2.5x until issue 23), the median of the
rounds' paired ratios (bench.batched); no batch longer than 250 ms (the time a concurrent login
could wait on a lock the purge holds).
"""

import itertools
import time
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils import timezone

from bench.batched import alternating_rounds, paired, print_results
from bench.report import spread

POLICY = "accounts.sessions"
BATCH_SIZE = 5000
USERS = 50
RATIO_TARGET = 1.5
TEMPLATE = "bench_cleanup_sessions"


def _template_create(*, rows: int, now, cutoff, user_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE UNLOGGED TABLE {TEMPLATE} AS
            SELECT i::bigint AS id,
                   %(created)s::timestamptz AS created_at,
                   CASE WHEN i %% 10 = 5 THEN %(revoked)s::timestamptz ELSE %(created)s END AS updated_at,
                   CASE WHEN i %% 3 = 0 THEN 'browser' ELSE 'api' END AS kind,
                   encode(sha256(i::text::bytea), 'hex') AS token_hash,
                   %(created)s + (i %% 1000) * interval '1 minute' AS last_activity,
                   CASE WHEN i %% 10 IN (0, 5) THEN %(future)s::timestamptz
                        ELSE %(expired)s::timestamptz - (i %% 90) * interval '1 day' END AS expires_at,
                   i %% 10 <> 5 AS is_active,
                   CASE WHEN i %% 10 = 5 THEN %(revoked)s::timestamptz END AS revoked_at,
                   md5(i::text) AS session_fingerprint,
                   NULL::text AS last_fingerprint,
                   NULL::timestamptz AS fingerprint_mismatch_at,
                   'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' AS user_agent,
                   ('10.' || (i >> 16) %% 256 || '.' || (i >> 8) %% 256 || '.' || i %% 256)::inet
                       AS ip_address,
                   NULL::bigint AS active_platform_id,
                   (%(users)s::bigint[])[1 + i %% %(user_count)s] AS user_id
            FROM generate_series(1, %(rows)s) AS i
            """,  # noqa: S608 (constant names only)
            {
                "created": cutoff - timedelta(days=120),
                "revoked": cutoff - timedelta(days=2),
                "future": now + timedelta(days=30),
                "expired": cutoff - timedelta(days=1),
                "users": user_ids,
                "user_count": len(user_ids),
                "rows": rows,
            },
        )


def _columns() -> str:
    from accounts.models import UserSession

    return ", ".join(connection.ops.quote_name(field.column) for field in UserSession._meta.concrete_fields)


def _reload(*, limit: int | None = None) -> None:
    """Put the template's rows (the first `limit`) back into user_sessions and settle the table."""
    columns = _columns()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE user_sessions")
        cursor.execute(
            f"INSERT INTO user_sessions ({columns}) SELECT {columns} FROM {TEMPLATE} "  # noqa: S608
            "WHERE id <= %s ORDER BY id",
            [limit or 2**62],
        )
        cursor.execute("VACUUM ANALYZE user_sessions")
        cursor.execute("CHECKPOINT")


def _ours(*, now) -> tuple[int, float, float]:
    """Rows removed, wall seconds and the longest batch in seconds."""
    from core.retention import policy_run

    marks: list[float] = []
    started = time.monotonic()
    marks.append(started)
    # rows_delete reports after each batch that removed rows, once its transaction committed; here
    # every batch removes some, so the gaps between reports are the batch times.
    result = policy_run(
        name=POLICY, batch_size=BATCH_SIZE, now=now, progress=lambda _rows: marks.append(time.monotonic())
    )
    elapsed = time.monotonic() - started
    worst = max((b - a for a, b in itertools.pairwise(marks)), default=elapsed)
    return result.rows, elapsed, worst


def _baseline(*, cutoff) -> tuple[int, float]:
    started = time.monotonic()
    # Autocommit: the statement is its own transaction, so the time includes its commit.
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM user_sessions WHERE expires_at < %s OR (NOT is_active AND updated_at < %s)",
            [cutoff, cutoff],
        )
        rows = cursor.rowcount
    return rows, time.monotonic() - started


def run(*, scale: str) -> None:
    from accounts.models import User, UserSession
    from core.retention import policy_get

    rows, rounds = (1_000_000, 6) if scale == "full" else (100_000, 8)
    expected_kept = rows // 10
    expected_removed = rows - expected_kept
    now = timezone.now()
    cutoff = now - timedelta(days=policy_get(name=POLICY).age() or 0)

    unusable = make_password(None)
    users = User.objects.bulk_create(
        User(username=f"bench-cleanup-{n}", email=f"bench-cleanup-{n}@example.test", password=unusable)
        for n in range(USERS)
    )
    loaded = time.monotonic()
    _template_create(rows=rows, now=now, cutoff=cutoff, user_ids=[user.pk for user in users])
    load_seconds = time.monotonic() - loaded

    def check(side: str, removed: int) -> None:
        kept = UserSession.objects.count()
        if removed != expected_removed or kept != expected_kept:
            raise RuntimeError(
                f"cleanup {side}: removed {removed} and kept {kept}, "
                f"expected {expected_removed} and {expected_kept}"
            )

    with connection.cursor() as cursor:
        # Both sides leave the same dead rows behind; a vacuum that starts during one side's run
        # (batches commit as they go, the raw statement only at its end) would bill it to that side.
        cursor.execute("ALTER TABLE user_sessions SET (autovacuum_enabled = off)")
    try:
        timings = alternating_rounds(
            rounds=rounds,
            reload=_reload,
            ours=lambda: _ours(now=now),
            baseline=lambda: _baseline(cutoff=cutoff),
            check=check,
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE user_sessions")
            cursor.execute("ALTER TABLE user_sessions RESET (autovacuum_enabled)")
            cursor.execute(f"DROP TABLE IF EXISTS {TEMPLATE}")
        User.objects.filter(pk__in=[user.pk for user in users]).delete()

    print_results(
        name="cleanup",
        timings=timings,
        note=f"`policy_run` in batches of {BATCH_SIZE} vs one raw `DELETE`, {rows} sessions",
        target=RATIO_TARGET,
    )
    print(
        f"# cleanup: {expected_removed} of {rows} sessions removed per run, batches of {BATCH_SIZE}, "
        f"{rounds} rounds each; best/median/worst ours {spread(timings.ours)}, "
        f"raw DELETE {spread(timings.baseline)}; "
        f"pairs {', '.join(f'{ratio:.2f}' for ratio in paired(timings))}; "
        f"worst batch per round {', '.join(f'{w * 1000:.0f}' for w in timings.worst)} ms; "
        f"template generated in {load_seconds:.1f} s"
    )
