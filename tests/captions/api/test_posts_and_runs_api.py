"""/api/v1/captions/posts/ and /api/v1/captions/runs/: read-only, scoped to the caller."""

import pytest

from captions.models import ProcessingRunStatus
from tests.factories.accounts import UserFactory
from tests.factories.captions import ImageFactory, PostFactory, ProcessingRunFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.isolation import OwnedEndpoint, assert_isolated

pytestmark = pytest.mark.django_db

POSTS = "/api/v1/captions/posts/"
RUNS = "/api/v1/captions/runs/"


def own_post(user, **kwargs):
    return PostFactory(platform_connection=PlatformConnectionFactory(user=user), **kwargs)


def own_run(user, **kwargs):
    return ProcessingRunFactory(platform_connection=PlatformConnectionFactory(user=user), **kwargs)


# --- posts -------------------------------------------------------------------------------------


def test_posts_isolation():
    assert_isolated(OwnedEndpoint(list_url=POSTS, make=own_post, deletable=False))


def test_a_post_lists_its_images_briefly_in_attachment_order(api, user, stored_png):
    key, _ = stored_png
    post = own_post(user)
    second = ImageFactory(post=post, attachment_index=1, generated_caption="Second.", local_path="")
    first = ImageFactory(
        post=post,
        attachment_index=0,
        reviewed_caption="First, reviewed.",
        local_path=key,
        caption_quality_score=80,
    )
    body = api.get(f"{POSTS}{post.pk}/").json()
    assert body["post_id"] == post.post_id
    assert [image["id"] for image in body["images"]] == [first.pk, second.pk]
    assert body["images"][0] == {
        "id": first.pk,
        "attachment_index": 0,
        "status": "pending",
        "caption": "First, reviewed.",
        "caption_quality_score": 80,
        "needs_special_review": False,
        "image_url": f"http://testserver/api/v1/captions/images/{first.pk}/content/",
    }
    assert body["images"][1]["image_url"] is None


def test_posts_filter_by_connection(api, user):
    post = own_post(user)
    own_post(user)
    rows = api.get(POSTS, {"connection": post.platform_connection_id}).json()["results"]
    assert [row["id"] for row in rows] == [post.pk]
    bad = api.get(POSTS, {"connection": "abc"})
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"connection"}


def test_posts_are_read_only(api, user):
    post = own_post(user)
    assert api.post(POSTS, {}, format="json").status_code == 405
    assert api.patch(f"{POSTS}{post.pk}/", {"post_content": "x"}, format="json").status_code == 405
    assert api.delete(f"{POSTS}{post.pk}/").status_code == 405


@pytest.mark.parametrize("size", [2, 20])
def test_a_post_page_costs_a_fixed_number_of_queries(api, user, size, count_queries):
    connection = PlatformConnectionFactory(user=user)
    for _ in range(size):
        post = PostFactory(platform_connection=connection)
        ImageFactory.create_batch(3, post=post)
    response, queries = count_queries(lambda: api.get(POSTS, {"page_size": size}))
    assert len(response.json()["results"]) == size
    assert all(len(row["images"]) == 3 for row in response.json()["results"])
    assert queries == 4, queries  # rate-limit counter, the caller's connection ids, the posts, their images


def test_a_post_page_does_not_load_whole_images(api, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ImageFactory(post=own_post(user), prompt_used="long prompt " * 100)
    with CaptureQueriesContext(connection) as context:
        api.get(POSTS)
    image_sql = [q["sql"] for q in context.captured_queries if 'FROM "images"' in q["sql"]]
    assert image_sql and not any("prompt_used" in sql or "original_caption" in sql for sql in image_sql)


# --- runs --------------------------------------------------------------------------------------


def test_runs_isolation():
    assert_isolated(OwnedEndpoint(list_url=RUNS, make=own_run, deletable=False))


def test_runs_show_their_counters(api, user):
    run = own_run(user, images_processed=7, captions_generated=6, errors_count=1, retry_attempts=2)
    body = api.get(f"{RUNS}{run.pk}/").json()
    assert (body["images_processed"], body["captions_generated"], body["errors_count"]) == (7, 6, 1)
    assert body["retry_attempts"] == 2
    assert body["status"] == "running"


def test_runs_filters(api, user):
    done = own_run(user, status=ProcessingRunStatus.COMPLETED)
    own_run(user)
    rows = api.get(RUNS, {"status": "completed"}).json()["results"]
    assert [row["id"] for row in rows] == [done.pk]
    rows = api.get(RUNS, {"connection": done.platform_connection_id}).json()["results"]
    assert [row["id"] for row in rows] == [done.pk]
    for query in ({"status": "sleeping"}, {"task": "not-a-uuid"}, {"connection": "-"}):
        response = api.get(RUNS, query)
        assert response.status_code == 400
        assert set(response.json()["error"]["fields"]) == set(query)


def test_runs_are_newest_first_and_read_only(api, user):
    older, newer = own_run(user), own_run(user)
    assert [row["id"] for row in api.get(RUNS).json()["results"]] == [newer.pk, older.pk]
    assert api.post(RUNS, {}, format="json").status_code == 405
    assert api.delete(f"{RUNS}{older.pk}/").status_code == 405


@pytest.mark.parametrize("size", [2, 20])
def test_a_run_page_costs_a_fixed_number_of_queries(api, user, size, count_queries):
    for _ in range(size):
        own_run(user)
    response, queries = count_queries(lambda: api.get(RUNS, {"page_size": size}))
    assert len(response.json()["results"]) == size
    assert queries == 3, queries  # rate-limit counter, the caller's connection ids, the page


def test_a_strangers_run_is_not_listed(api):
    own_run(UserFactory())
    assert api.get(RUNS).json()["results"] == []


def test_runs_and_tasks_show_their_warnings(api, user):
    from tests.factories.captions import CaptionGenerationTaskFactory

    warning = "The instance's description limit could not be read; captions were held to 1500."
    run = own_run(user, warnings=[warning])
    task = CaptionGenerationTaskFactory(platform_connection=run.platform_connection, warnings=[warning])
    assert api.get(f"{RUNS}{run.pk}/").json()["warnings"] == [warning]
    assert api.get(f"/api/v1/captions/tasks/{task.pk}/").json()["warnings"] == [warning]
