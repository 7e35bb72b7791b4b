"""Reads of the scraping app, scoped to what the caller may see (owners; moderators and admins see all).

Lists never load `content_text` (megabytes per row); details prefetch their rows, so every page
costs a fixed number of queries. Public artifacts are visible to everyone signed in, but only
through `artifact_downloadable` (the download endpoint): lists and changes stay the owner's.
"""

from collections.abc import Iterable
from datetime import datetime

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connections
from django.db.models import BooleanField, F, Func, Prefetch, Q, QuerySet, Value

from accounts.permissions import sees_everyone
from accounts.selectors import visible_to
from scraping.models import Artifact, ContentExtraction, MetadataTag, ScrapingJob, ScrapingJobItem

SEARCH_RANK = "search_rank"
# The configuration of the stored `search_vector` (scraping/migrations/0004): a query must parse
# its words the same way, or they would not match the stored lexemes.
FTS_CONFIG = "simple"
LIST_DEFERRED = ("content_text",)


class ArtifactDocument(Func):
    """`artifacts.search_vector`: the title and text's tsvector, a column PostgreSQL generates on
    every write (scraping/migrations/0004; GIN-indexed). The model does not declare it, as SQLite has
    no tsvector: it is compiled here, next to the table alias Django chose for the primary key."""

    arity = 1
    output_field = SearchVectorField()

    def __init__(self):
        super().__init__(F("pk"))

    def as_sql(self, compiler, connection, **extra_context):
        pk_sql, params = compiler.compile(self.get_source_expressions()[0])
        table = pk_sql.rsplit(".", 1)[0]  # '"artifacts"' or an alias such as 'U0'
        return f'{table}."search_vector"', params


class JsonArrayHolds(Func):
    """SQLite: the JSON array in a column holds a value (SQLite has no JSON containment)."""

    arity = 2
    output_field = BooleanField()

    def __init__(self, column: str, value: str):
        super().__init__(F(column), Value(value))

    def as_sql(self, compiler, connection, **extra_context):
        (column_sql, column_params), (value_sql, value_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        sql = f"EXISTS (SELECT 1 FROM json_each({column_sql}) WHERE json_each.value = {value_sql})"  # noqa: S608 (compiled expressions, bound values)
        return sql, [*column_params, *value_params]


# --- jobs --------------------------------------------------------------------------------------


def job_list(*, user) -> QuerySet[ScrapingJob]:
    return visible_to(ScrapingJob.objects.all(), user=user)


def job_detail_list(*, user) -> QuerySet[ScrapingJob]:
    """Jobs with their configuration rows (one more query per page)."""
    return job_list(user=user).prefetch_related("configurations")


def job_item_list(*, user, job: ScrapingJob) -> QuerySet[ScrapingJobItem]:
    """The URLs a job found; empty when the caller may not see the job."""
    items = ScrapingJobItem.objects.filter(job=job)
    return visible_to(items, user=user, owner_field="job__user")


# --- artifacts ---------------------------------------------------------------------------------


def artifact_list(*, user) -> QuerySet[Artifact]:
    """The caller's artifacts (moderators and admins: everyone's), without their text."""
    return visible_to(Artifact.objects.defer(*LIST_DEFERRED), user=user)


def artifact_detail_list(*, user) -> QuerySet[Artifact]:
    """Artifacts with their text, metadata tags and extractions (two more queries per page)."""
    return visible_to(Artifact.objects.all(), user=user).prefetch_related(
        Prefetch("metadata_tags", queryset=MetadataTag.objects.order_by("tag_type", "tag_key", "id")),
        Prefetch("content_extractions", queryset=ContentExtraction.objects.order_by("extraction_type", "id")),
    )


def artifact_downloadable(*, user) -> QuerySet[Artifact]:
    """What the caller may download: what they may see, plus any public artifact."""
    queryset = Artifact.objects.defer(*LIST_DEFERRED)
    if sees_everyone(user):
        return queryset
    return queryset.filter(Q(user=user) | Q(is_public=True))


def artifact_search(
    *,
    user,
    q: str | None = None,
    keywords: Iterable[str] = (),
    tags: Iterable[str] = (),
    artifact_type: str | None = None,
    job=None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Artifact]:
    """artifact_list narrowed by every criterion given (all must hold)."""
    return artifact_filter(
        artifact_list(user=user),
        q=q,
        keywords=keywords,
        tags=tags,
        artifact_type=artifact_type,
        job=job,
        created_after=created_after,
        created_before=created_before,
    )


def artifact_filter(
    queryset: QuerySet[Artifact],
    *,
    q: str | None = None,
    keywords: Iterable[str] = (),
    tags: Iterable[str] = (),
    artifact_type: str | None = None,
    job=None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Artifact]:
    """Narrow an artifact queryset (already scoped to the caller).

    `q`: PostgreSQL full-text search (websearch syntax: words, "phrases", -exclusions, OR) on title
    and text through the GIN index, annotated with `search_rank` (the order is left alone);
    elsewhere a case-insensitive substring of the title or text. `keywords`, `tags`: the artifact
    holds every one given (JSON containment on PostgreSQL, GIN-indexed; json_each elsewhere).
    `job`: a job or its id.
    """
    postgres = connections[queryset.db].vendor == "postgresql"
    if artifact_type:
        queryset = queryset.filter(artifact_type=artifact_type)
    if job is not None:
        queryset = queryset.filter(job=job)
    if created_after is not None:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before is not None:
        queryset = queryset.filter(created_at__lt=created_before)
    for column, values in (("keywords", keywords), ("tags", tags)):
        for value in dict.fromkeys(values or ()):
            queryset = queryset.filter(_json_list_holds(column, value, postgres=postgres))
    q = (q or "").strip()
    if q:
        queryset = _full_text(queryset, q) if postgres else _substring(queryset, q)
    return queryset


def _json_list_holds(column: str, value: str, *, postgres: bool):
    if postgres:
        return Q(**{f"{column}__contains": [value]})
    return JsonArrayHolds(column, value)


def _full_text(queryset: QuerySet[Artifact], q: str) -> QuerySet[Artifact]:
    """Matches through the GIN index, each with its rank. The order stays the list's (newest
    first): ordering by rank would rank every match before the first page (seconds for a common
    word among a million artifacts); this way only the rows of the page are ranked."""
    query = SearchQuery(q, config=FTS_CONFIG, search_type="websearch")
    return (
        queryset.alias(document=ArtifactDocument())
        .filter(document=query)
        .annotate(**{SEARCH_RANK: SearchRank(ArtifactDocument(), query)})
    )


def _substring(queryset: QuerySet[Artifact], q: str) -> QuerySet[Artifact]:
    return queryset.filter(Q(title__icontains=q) | Q(content_text__icontains=q))
