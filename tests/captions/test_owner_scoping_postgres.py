"""A person's caption rows are found by their connections' ids, so one large account on the server
does not make everyone else's lists and counts read its rows (accounts.selectors.ThroughFewRows).

Through a join, PostgreSQL estimates another person's share from the average connection and walks
the whole `created_at` index to fill their page; these tests count the rows the plan read."""

import json

import pytest
from django.db import connection

from captions.models import Image
from captions.selectors import images_awaiting_review, images_reviewable_by
from captions.services.notifications import images_awaiting_review_count
from tests.factories.accounts import UserFactory
from tests.factories.captions import ImageFactory, PostFactory
from tests.factories.platforms import PlatformConnectionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

LARGE_ACCOUNT = 20_000
OWN = 12


def _rows_read(queryset, table: str) -> int:
    """Rows the executed plan took from `table`: returned, and removed by a filter or a join."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def walk(node) -> int:
        here = 0
        if node.get("Relation Name") == table:
            loops = node.get("Actual Loops", 1)
            here = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * loops
        return here + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


@pytest.fixture
def small_owner_beside_a_large_one():
    large = PlatformConnectionFactory()
    post = PostFactory(platform_connection=large)
    Image.objects.bulk_create(
        ImageFactory.build(post=post, platform_connection=large, attachment_index=index)
        for index in range(LARGE_ACCOUNT)
    )
    small = UserFactory()
    for _ in range(2):  # two connections of their own
        own = PlatformConnectionFactory(user=small)
        ImageFactory.create_batch(OWN // 2, post__platform_connection=own)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Image._meta.db_table}")
    return small


def test_a_page_of_ones_own_images_reads_only_them(small_owner_beside_a_large_one):
    page = images_reviewable_by(small_owner_beside_a_large_one).order_by("-created_at")[:100]
    assert len(page) == OWN
    assert _rows_read(page, Image._meta.db_table) <= 2 * OWN


def test_the_review_digest_counts_only_ones_own_images(small_owner_beside_a_large_one):
    assert images_awaiting_review_count(user=small_owner_beside_a_large_one) == OWN
    awaiting = images_awaiting_review(user=small_owner_beside_a_large_one)
    assert _rows_read(awaiting.values("pk"), Image._meta.db_table) <= 2 * OWN
