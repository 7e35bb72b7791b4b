"""artifact_search: `GET /api/v1/scraping/artifacts/?q=<words>` (a page of 50, bearer token,
in-process) against the raw indexed query that answers the same page through a cursor.

Data: 1,000,000 artifacts at full scale (100,000 at small), generated inside PostgreSQL
(bench.search_data): nine in ten belong to the searching user, the rest to two others, so the
owner condition filters for real. Each text is ten sentences drawn from a pool; a sentence mixes
common English words (Zipf-like: the first is in most documents) with a long tail of made-up
words, so the GIN index sees real selectivity. PostgreSQL fills the stored `search_vector` as the
rows go in (migration 0004); its GIN index is dropped for the load and built again from its own
definition.

Queries, chosen from the pool so their selectivity is the same at any run: a common word (in most
documents), a medium one (about 1 %), a rare one (one pool sentence: about 0.02 %), and two words
(a fairly common word and the medium one). Each answer page of the API is checked to hold the
same ids in the same order as the raw query's before any timing.

Ours: the API request's time, in-process through the Django test client (authentication,
throttle, filter form, cursor pagination, serializer, JSON), so HTTP adds nothing to either side.
Baseline: `SELECT <the list's columns> FROM artifacts WHERE search_vector @@
plainto_tsquery('simple', %s) AND user_id = %s ORDER BY created_at DESC, id DESC LIMIT 51` (the
page and the one row the cursor looks ahead) through a cursor, rows fetched. Rounds alternate
which side goes first; the median per query and side counts, and the line compares the sums over
the four queries (per query figures and each side's plan are on the `#` lines).

The target holds at full size only: the API's fixed cost per request (token, throttle upsert,
serializer, JSON) is several times a 3 ms indexed query, and at 100,000 artifacts every one of the
four raw queries is that cheap (docs/performance.md, `artifact_search`).
"""

import json
import statistics
import time
from urllib.parse import urlencode

from bench.search_data import SearchArtifacts

URL = "/api/v1/scraping/artifacts/"
PAGE_SIZE = 50
HOST = "127.0.0.1"
BENCH_API_RATE = "100000000/h"  # the throttle still counts every request, it refuses none
LIST_COLUMNS = (
    "id, created_at, updated_at, job_id, user_id, artifact_type, source_url, title, description, "
    "content_hash, file_size, mime_type, minio_path, keywords, tags, is_public"
)


def _raw_sql() -> str:
    from scraping.selectors import FTS_CONFIG

    return (
        f"SELECT {LIST_COLUMNS} FROM artifacts "  # noqa: S608 (constants only)
        f"WHERE search_vector @@ plainto_tsquery('{FTS_CONFIG}', %s) AND user_id = %s "
        f"ORDER BY created_at DESC, id DESC LIMIT {PAGE_SIZE + 1}"
    )


def _raw_page(cursor, sql: str, words: str, owner_id: int) -> list:
    cursor.execute(sql, [words, owner_id])
    return cursor.fetchall()


def _plan_summary(cursor, sql: str, params=None) -> str:
    """The plan's nodes, outermost first, with the index each scan uses: `Limit > Index Scan
    Backward (idx_artifacts_created_at)`."""
    cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
    document = cursor.fetchone()[0]
    plan = (document if isinstance(document, list) else json.loads(document))[0]["Plan"]
    nodes: list[str] = []

    def walk(node: dict) -> None:
        name = node["Node Type"]
        if node.get("Scan Direction") == "Backward":
            name += " Backward"
        if node.get("Index Name"):
            name += f" ({node['Index Name']})"
        nodes.append(name)
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan)
    return " > ".join(nodes)


def _api_page(client, words: str) -> tuple[float, list[str], str | None]:
    """(seconds, ids, the SQL of the search query) of one API request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        started = time.perf_counter()
        response = client.get(f"{URL}?{urlencode({'q': words})}")
        seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(
            f"artifact_search: {words!r} answered {response.status_code}: {response.content[:300]!r}"
        )
    search_sql = next(
        (query["sql"] for query in context.captured_queries if "search_vector" in query["sql"]), None
    )
    return seconds, [row["id"] for row in response.json()["results"]], search_sql


def run(*, scale: str) -> None:
    from bench.search_data import search_artifacts

    rows = 1_000_000 if scale == "full" else 100_000
    measure(search_artifacts(rows=rows), rounds=7)


def measure(data: SearchArtifacts, *, rounds: int) -> None:
    from django.conf import settings
    from django.db import connection
    from django.test.utils import override_settings
    from rest_framework.test import APIClient

    from bench.api_list import _token_for
    from bench.report import emit

    rows = data.rows
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {_token_for(data.owner_id)}", SERVER_NAME=HOST)
    raw_sql = _raw_sql()
    timings: dict[str, dict[str, list[float]]] = {
        label: {"ours": [], "baseline": []} for label in data.queries
    }
    plans: dict[str, tuple[str, str]] = {}

    rates = {**settings.RATE_LIMITS, "api": BENCH_API_RATE}
    with override_settings(RATE_LIMITS=rates), connection.cursor() as cursor:
        for label, words in data.queries.items():
            _, api_ids, api_sql = _api_page(client, words)
            raw_ids = [str(row[0]) for row in _raw_page(cursor, raw_sql, words, data.owner_id)]
            if not api_ids or api_ids != raw_ids[:PAGE_SIZE]:
                raise RuntimeError(
                    f"artifact_search: {label} {words!r}: the pages differ: API {api_ids[:3]}..., "
                    f"raw {raw_ids[:3]}..."
                )
            plans[label] = (
                _plan_summary(cursor, api_sql),
                _plan_summary(cursor, raw_sql, [words, data.owner_id]),
            )
        for round_number in range(rounds):
            for label, words in data.queries.items():
                order = ("ours", "baseline") if round_number % 2 == 0 else ("baseline", "ours")
                for side in order:
                    if side == "ours":
                        seconds = _api_page(client, words)[0]
                    else:
                        started = time.perf_counter()
                        _raw_page(cursor, raw_sql, words, data.owner_id)
                        seconds = time.perf_counter() - started
                    timings[label][side].append(seconds)

    medians = {
        label: {side: statistics.median(values) for side, values in sides.items()}
        for label, sides in timings.items()
    }
    ours = sum(sides["ours"] for sides in medians.values())
    baseline = sum(sides["baseline"] for sides in medians.values())
    emit(
        name="artifact_search",
        ours=ours * 1000,
        baseline=baseline * 1000,
        unit="ms",
        ratio=ours / baseline,
        op="<=",
        target=2,
        note=(
            f"API search page of {PAGE_SIZE} (bearer token, in-process) vs the raw `@@ plainto_tsquery` "
            f"query with the same order and LIMIT, {rows} artifacts; sum of the medians of "
            f"{len(data.queries)} queries (target for 1 000 000: at 100 000 the indexed queries take "
            "a few ms and the API's fixed cost per request dominates)"
        ),
        holds_at="full",
    )
    for label, words in data.queries.items():
        api_plan, raw_plan = plans[label]
        print(
            f"# artifact_search {label} {words!r}: {data.matches[label]} matches of the owner's; "
            f"median API {medians[label]['ours'] * 1000:.1f} ms, "
            f"raw {medians[label]['baseline'] * 1000:.1f} ms; "
            f"API plan: {api_plan}" + ("" if api_plan == raw_plan else f"; raw plan: {raw_plan}")
        )
    print(
        f"# artifact_search: {rows} artifacts ({data.owned} the owner's), {rounds} rounds per query and "
        f"side; generated and indexed in {data.seconds:.1f} s (index build {data.index_seconds:.1f} s)"
    )
