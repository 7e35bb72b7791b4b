"""Artifacts with searchable text for `artifact_search`, generated inside PostgreSQL.

A pool of sentences is drawn first (seeded, so every run holds the same words): ten common English
words per sentence, Zipf-like (word k of the vocabulary about 1/k as often as the first), and two
made-up words from a long tail of 20,000, Zipf-like too, so that some are in one pool sentence
only. Each artifact's text is ten pool sentences and its title one more, picked by hashing its
number (hash joins). PostgreSQL computes each row's stored `search_vector` as it goes in, as for
any write; the GIN index on it is the project's own: its definition is read from the catalogue,
it is dropped for the load and created again from it.
"""

import time
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.db import connection

POOL_SENTENCES = 50_000
COMMON_WORDS_PER_SENTENCE = 10
TAIL_WORDS_PER_SENTENCE = 2
TAIL_SIZE = 20_000
SENTENCES_PER_TEXT = 10
FTS_INDEX = "idx_artifacts_search_vector"
# Roughly in order of frequency, as in news and reports.
_VOCABULARY_TEXT = (
    "the of and to in for on with that by from as market energy city report policy government "
    "people year data new public water price company research health school local power plan "
    "state system service cost growth study project network climate program community food "
    "transport housing budget security industry council development wind results survey court "
    "election rate supply demand trade labour science region farm river coast tax risk price "
    "analysis model tool digital review quality change impact future access support team design "
    "building road rail port airport hospital patient doctor teacher student museum library "
    "festival music film book theatre garden park forest mountain island lake bridge tower "
    "station factory mine harbour village market storm flood drought heat winter summer spring "
    "autumn solar battery grid carbon emission fuel oil gas coal nuclear hydrogen steel copper "
    "lithium cotton wheat rice coffee cocoa sugar fishing tourism software hardware cloud privacy "
    "license patent startup investor bank loan inflation pension insurance contract tender audit "
    "ministry agency senate treaty border visa migration refugee census vaccine virus clinic "
    "nurse pharmacy surgery diet fitness football cricket tennis marathon olympic stadium league "
    "orchestra opera ballet sculpture painting archive manuscript telescope satellite rocket "
    "glacier volcano earthquake tsunami wildfire coral whale falcon orchid tulip lantern violin"
)
VOCABULARY = _VOCABULARY_TEXT.split()
SYLLABLES = "ka lo mi ru te sa no vi de po li fa go ba zu re shi ta mo ne".split()  # noqa: SIM905
COMMON_SHARE = 0.4  # of the documents: the common word is in about four in ten
FAIRLY_COMMON_SHARE = 0.15
MEDIUM_SHARE = 0.01


@dataclass(frozen=True)
class SearchArtifacts:
    owner_id: int
    rows: int
    owned: int
    queries: dict[str, str]  # label -> words
    matches: dict[str, int]  # label -> the owner's matching artifacts
    seconds: float  # generation and indexing
    index_seconds: float


def _user(username: str):
    from accounts.models import User

    return User.objects.create(
        username=username, email=f"{username}@example.test", password=make_password(None)
    )


def _tail_word_sql(rank: str) -> str:
    """A pronounceable made-up word for tail rank `rank` (an SQL integer expression)."""
    count = len(SYLLABLES)
    syllables = "ARRAY[" + ", ".join(f"'{s}'" for s in SYLLABLES) + "]"
    parts = [f"({syllables})[1 + ({rank}) / {count**n} % {count}]" for n in range(4)]
    return " || ".join(parts)


def _zipf_rank(size: int) -> str:
    """1..size, P(k) proportional to ln((k+1)/k), about 1/k."""
    return f"floor(exp(random() * ln({size + 1})))::int"


def _fill_pool(cursor) -> None:
    vocabulary = "ARRAY[" + ", ".join(f"'{word}'" for word in VOCABULARY) + "]"
    per_sentence = COMMON_WORDS_PER_SENTENCE + TAIL_WORDS_PER_SENTENCE
    cursor.execute("SELECT setseed(0.23)")
    cursor.execute(
        f"""
        CREATE TEMP TABLE bench_search_pool AS
        SELECT s - 1 AS s, string_agg(word, ' ' ORDER BY slot) || '.' AS sentence
        FROM (
            SELECT s, slot,
                   CASE WHEN slot % 6 = 0 THEN {_tail_word_sql(_zipf_rank(TAIL_SIZE))}
                        ELSE ({vocabulary})[{_zipf_rank(len(VOCABULARY))}] END AS word
            FROM generate_series(1, {POOL_SENTENCES}) AS s, generate_series(1, {per_sentence}) AS slot
        ) AS words
        GROUP BY s
        """  # noqa: S608 (constants only)
    )
    cursor.execute("ANALYZE bench_search_pool")


def _choose_queries(cursor) -> dict[str, str]:
    """Words whose selectivity is known from the pool: in how many pool sentences each occurs."""
    cursor.execute(
        """
        SELECT word, count(DISTINCT s) AS sentences
        FROM bench_search_pool, unnest(string_to_array(rtrim(sentence, '.'), ' ')) AS word
        GROUP BY word
        """
    )
    counts = dict(cursor.fetchall())
    common_words = [word for word in counts if word in VOCABULARY]
    tail_words = [word for word in counts if word not in VOCABULARY]

    def closest(words, share: float) -> str:
        # A document holds SENTENCES_PER_TEXT sentences: it lacks the word if every one of them does.
        wanted = POOL_SENTENCES * (1 - (1 - share) ** (1 / SENTENCES_PER_TEXT))
        return min(words, key=lambda word: (abs(counts[word] - wanted), word))

    medium = closest(tail_words, MEDIUM_SHARE)
    return {
        "common": closest(common_words, COMMON_SHARE),
        "medium": medium,
        "rare": min(word for word in tail_words if counts[word] == 1),
        "two_words": f"{closest(common_words, FAIRLY_COMMON_SHARE)} {medium}",
    }


def search_artifacts(*, rows: int) -> SearchArtifacts:
    """`rows` artifacts, nine in ten owned by user `bench-search-<rows>`, with the FTS index built."""
    from scraping.selectors import FTS_CONFIG

    started = time.monotonic()
    owner = _user(f"bench-search-{rows}")
    others = [_user(f"bench-search-{rows}-other-{n}") for n in (1, 2)]
    picks = [
        f"JOIN bench_search_pool AS p{j} ON p{j}.s = ((hashint4(i * 16 + {j})::bigint %% {POOL_SENTENCES}) "
        f"+ {POOL_SENTENCES}) %% {POOL_SENTENCES}"
        for j in range(SENTENCES_PER_TEXT + 1)
    ]
    text = " || ' ' || ".join(f"p{j}.sentence" for j in range(1, SENTENCES_PER_TEXT + 1))
    with connection.cursor() as cursor:
        _fill_pool(cursor)
        queries = _choose_queries(cursor)
        cursor.execute("SELECT pg_get_indexdef(%s::regclass)", [FTS_INDEX])
        index_definition = cursor.fetchone()[0]
        cursor.execute(f'DROP INDEX "{FTS_INDEX}"')
        cursor.execute("SET session_replication_role = replica")  # keys are right by construction
        try:
            # Ids are random (UUIDs); created_at grows with i, one second apart, newest last.
            cursor.execute(
                f"""
                INSERT INTO artifacts (id, created_at, updated_at, job_id, user_id, artifact_type, source_url,
                                       title, description, content_hash, file_size, mime_type, minio_path,
                                       content_text, keywords, tags, is_public)
                SELECT gen_random_uuid(), now() - (%(rows)s - i) * interval '1 second', now(), NULL,
                       CASE WHEN i %% 10 <> 0 THEN %(owner)s WHEN i %% 20 = 0 THEN %(other1)s
                            ELSE %(other2)s END,
                       'web_page', 'https://news.example.test/a/' || i, initcap(rtrim(p0.sentence, '.')),
                       NULL, encode(sha256(('bench-artifact-' || i)::bytea), 'hex'), length({text}),
                       'text/html', 'artifacts/bench/' || i || '.html', {text}, '[]', '[]', false
                FROM generate_series(1, %(rows)s) AS i
                {" ".join(picks)}
                """,  # noqa: S608 (constants only)
                {"rows": rows, "owner": owner.pk, "other1": others[0].pk, "other2": others[1].pk},
            )
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
        index_started = time.monotonic()
        cursor.execute("SET maintenance_work_mem = '512MB'")  # build speed only: the index is the same
        cursor.execute(index_definition)
        cursor.execute("RESET maintenance_work_mem")
        index_seconds = time.monotonic() - index_started
        cursor.execute("VACUUM (ANALYZE) artifacts")
        cursor.execute("SELECT count(*) FROM artifacts WHERE user_id = %s", [owner.pk])
        owned = cursor.fetchone()[0]
        matches = {}
        cursor.execute("SET work_mem = '256MB'")  # an exact bitmap: no rechecks
        for label, words in queries.items():
            cursor.execute(
                f"SELECT count(*) FROM artifacts WHERE search_vector @@ plainto_tsquery('{FTS_CONFIG}', %s) "  # noqa: S608
                "AND user_id = %s",
                [words, owner.pk],
            )
            matches[label] = cursor.fetchone()[0]
        cursor.execute("RESET work_mem")
        cursor.execute("DROP TABLE bench_search_pool")
    return SearchArtifacts(
        owner_id=owner.pk,
        rows=rows,
        owned=owned,
        queries=queries,
        matches=matches,
        seconds=time.monotonic() - started,
        index_seconds=index_seconds,
    )
