"""Owner scoping (accounts.selectors): through a lookup, or through the ids of a relation each
person holds a few rows of (their platform connections)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from accounts.selectors import ThroughFewRows, owned_by, reviewable_by, visible_to
from captions.models import Image
from captions.services.notifications import images_awaiting_review_count
from tests.factories.accounts import UserFactory
from tests.factories.captions import ImageFactory
from tests.factories.platforms import PlatformConnectionFactory

pytestmark = pytest.mark.django_db

THROUGH_CONNECTIONS = ThroughFewRows("platform_connection")


def test_rows_are_found_by_the_ids_of_the_persons_connections_without_a_join():
    ann, bob = UserFactory(), UserFactory()
    first, second = PlatformConnectionFactory(user=ann), PlatformConnectionFactory(user=ann)
    own = {ImageFactory(post__platform_connection=connection).pk for connection in (first, second)}
    ImageFactory(post__platform_connection=PlatformConnectionFactory(user=bob))

    scoped = owned_by(Image.objects.all(), user=ann, owner_field=THROUGH_CONNECTIONS)

    assert set(scoped.values_list("pk", flat=True)) == own
    sql = str(scoped.query)
    assert "JOIN" not in sql
    assert f'"platform_connection_id" IN ({min(first.pk, second.pk)}, {max(first.pk, second.pk)})' in sql


def test_a_person_without_connections_owns_nothing():
    ImageFactory()
    assert not owned_by(Image.objects.all(), user=UserFactory(), owner_field=THROUGH_CONNECTIONS).exists()


def test_roles_keep_their_reach_through_connections():
    ann_image = ImageFactory()
    other = ImageFactory()
    ann = ann_image.platform_connection.user
    moderator, reviewer = UserFactory(role=Role.MODERATOR), UserFactory(role=Role.REVIEWER)
    everything = {ann_image.pk, other.pk}

    def seen(scope, user):
        rows = scope(Image.objects.all(), user=user, owner_field=THROUGH_CONNECTIONS)
        return set(rows.values_list("pk", flat=True))

    assert seen(visible_to, ann) == {ann_image.pk}
    assert seen(visible_to, moderator) == everything
    assert seen(visible_to, reviewer) == set()
    assert seen(reviewable_by, reviewer) == everything


def test_the_path_reads_as_the_lookup_it_stands_for():
    assert str(THROUGH_CONNECTIONS) == "platform_connection__user"


def test_the_review_digest_counts_by_connection_ids():
    image = ImageFactory()
    with CaptureQueriesContext(connection) as queries:
        assert images_awaiting_review_count(user=image.platform_connection.user) == 1
    count = next(query["sql"] for query in queries.captured_queries if "COUNT" in query["sql"])
    assert "JOIN" not in count
