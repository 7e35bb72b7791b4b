"""Artifact search on PostgreSQL: the selector's queries hit the GIN indexes, `q` reports each
row's rank and keeps the list's order (newest first)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Role
from scraping.models import Artifact
from scraping.selectors import artifact_search
from tests.factories.accounts import UserFactory
from tests.factories.scraping import ArtifactFactory, ScrapingJobFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

URL = "/api/v1/scraping/artifacts/"


def plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("criteria", "index"),
    [
        ({"q": "turbine"}, "idx_artifacts_search_vector"),
        ({"keywords": ["wind"]}, "idx_artifacts_keywords"),
        ({"tags": ["review"]}, "idx_artifacts_tags"),
    ],
)
def test_the_search_uses_the_gin_indexes(criteria, index):
    moderator = UserFactory(role=Role.MODERATOR)
    artifact = ArtifactFactory(
        title="Offshore wind",
        content_text="Turbine capacity doubled.",
        keywords=["wind"],
        tags=["review"],
    )
    # A moderator's query has no owner condition, which another index would serve better here.
    found = artifact_search(user=moderator, **criteria)
    assert index in plan(found)
    assert list(found) == [artifact]


def test_full_text_search_takes_web_search_syntax(api, user):
    job = ScrapingJobFactory(user=user)
    wind = ArtifactFactory(job=job, title="Offshore wind farms", content_text="Turbines at sea.")
    solar = ArtifactFactory(job=job, title="Solar and wind", content_text="Panels and turbines.")

    def found(q: str) -> set[str]:
        response = api.get(URL, {"q": q})
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert found("wind turbines") == {str(wind.pk), str(solar.pk)}
    assert found("wind -solar") == {str(wind.pk)}
    assert found('"offshore wind"') == {str(wind.pk)}
    assert found("wind OR nothing") == {str(wind.pk), str(solar.pk)}
    assert found("') OR 1=1 --") == set()


def test_results_are_newest_first_through_the_cursor_each_with_its_rank(api, user):
    job = ScrapingJobFactory(user=user)
    texts = ["wind", "wind wind wind wind wind wind", "wind wind wind", "wind wind", "wind wind wind wind"]
    made = [ArtifactFactory(job=job, title=f"Doc {n}", content_text=text) for n, text in enumerate(texts)]
    now = timezone.now()
    for age, artifact in enumerate(reversed(made)):  # the first made is the oldest
        Artifact.objects.filter(pk=artifact.pk).update(created_at=now - timedelta(minutes=age))
    ArtifactFactory(job=job, title="Unrelated", content_text="solar")

    seen, ranks, url, params = [], {}, URL, {"q": "wind", "page_size": 2}
    while url:
        body = api.get(url, params).json()
        seen += [row["id"] for row in body["results"]]
        ranks.update({row["id"]: row["search_rank"] for row in body["results"]})
        url, params = body["next"], None

    assert seen == [str(artifact.pk) for artifact in reversed(made)]
    # The rank is each row's relevance, not the order: the densest document ranks highest.
    assert all(rank > 0 for rank in ranks.values())
    assert max(ranks, key=ranks.get) == str(made[1].pk)
    assert min(ranks, key=ranks.get) == str(made[0].pk)


def test_the_stored_search_vector_follows_changes_of_title_and_text(api, user):
    artifact = ArtifactFactory(
        job=ScrapingJobFactory(user=user), title="Offshore wind", content_text="Turbines."
    )

    def found(q: str) -> list[str]:
        return [row["id"] for row in api.get(URL, {"q": q}).json()["results"]]

    assert found("turbines") == [str(artifact.pk)]
    Artifact.objects.filter(pk=artifact.pk).update(title="Solar roofs", content_text="Panels.")
    assert found("turbines") == [] and found("offshore") == []
    assert found("solar panels") == [str(artifact.pk)]
