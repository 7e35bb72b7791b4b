"""/api/v1/captions/tasks/: start, list, follow and cancel caption tasks."""

import pytest

from accounts.models import AuditLog, Role
from captions.models import CaptionGenerationTask, TaskStatus
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationTaskFactory, CaptionGenerationUserSettingsFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.isolation import OwnedEndpoint, assert_isolated, client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/captions/tasks/"


def own_task(user, **kwargs):
    return CaptionGenerationTaskFactory(platform_connection=PlatformConnectionFactory(user=user), **kwargs)


def test_isolation():
    assert_isolated(
        OwnedEndpoint(list_url=URL, make=own_task, create={"platform_connection": 1}, deletable=False)
    )


def test_create_queues_a_task_with_a_snapshot_of_the_settings(api, user, django_capture_on_commit_callbacks):
    connection = PlatformConnectionFactory(user=user)
    CaptionGenerationUserSettingsFactory(platform_connection=connection, max_posts_per_run=12)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(URL, {"platform_connection": connection.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert body["platform_connection"] == connection.pk
    assert body["user"] == user.pk
    assert body["settings_json"]["max_posts_per_run"] == 12
    assert len(callbacks) == 1  # the run is handed to the queue once the task is committed
    assert AuditLog.objects.filter(action="caption_task.created", resource_id=body["id"]).exists()


def test_one_active_task_per_connection(api, user):
    connection = PlatformConnectionFactory(user=user)
    assert api.post(URL, {"platform_connection": connection.pk}, format="json").status_code == 201
    again = api.post(URL, {"platform_connection": connection.pk}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "task_active"
    assert CaptionGenerationTask.objects.count() == 1


@pytest.mark.parametrize("body", [{}, {"platform_connection": "abc"}, {"platform_connection": None}])
def test_create_without_a_connection_is_a_400(api, body):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"platform_connection"}


def test_another_users_connection_is_a_400_like_an_unknown_one(api):
    theirs = PlatformConnectionFactory()
    unknown = api.post(URL, {"platform_connection": 987654}, format="json")
    response = api.post(URL, {"platform_connection": theirs.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == unknown.json()["error"]["fields"]
    for beyond in (2**63, str(2**63), 0, -1):  # out of the key range: the same answer, not a 500
        refused = api.post(URL, {"platform_connection": beyond}, format="json")
        assert refused.status_code == 400, beyond
        assert refused.json()["error"]["fields"] == unknown.json()["error"]["fields"]
    assert not CaptionGenerationTask.objects.exists()


def test_a_connection_without_captions_is_a_400(api, user):
    connection = PlatformConnectionFactory(user=user, platform_type="x")
    response = api.post(URL, {"platform_connection": connection.pk}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"platform_connection"}


def test_a_moderator_starts_a_task_that_belongs_to_the_owner(user):
    connection = PlatformConnectionFactory(user=user)
    moderator = client_for(UserFactory(role=Role.MODERATOR))
    response = moderator.post(URL, {"platform_connection": connection.pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["user"] == user.pk


def test_cancel(api, user):
    task = own_task(user)
    response = api.post(f"{URL}{task.pk}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert api.post(f"{URL}{task.pk}/cancel/").status_code == 200  # cancelling twice changes nothing


def test_cancelling_a_finished_task_is_a_409(api, user):
    task = own_task(user, status=TaskStatus.COMPLETED)
    response = api.post(f"{URL}{task.pk}/cancel/")
    assert response.status_code == 409
    assert CaptionGenerationTask.objects.get(pk=task.pk).status == TaskStatus.COMPLETED


def test_strangers_and_viewers_cannot_cancel(user):
    task = own_task(user)
    assert client_for(UserFactory()).post(f"{URL}{task.pk}/cancel/").status_code == 404
    viewer = UserFactory(role=Role.VIEWER)
    viewers_task = own_task(viewer)
    assert client_for(viewer).post(f"{URL}{viewers_task.pk}/cancel/").status_code == 403
    assert CaptionGenerationTask.objects.filter(status=TaskStatus.QUEUED).count() == 2


def test_filters(api, user):
    running = own_task(user, status=TaskStatus.RUNNING, progress_percent=40, current_step="captioning 2 of 5")
    own_task(user, status=TaskStatus.FAILED)
    rows = api.get(URL, {"status": "running"}).json()["results"]
    assert [row["id"] for row in rows] == [str(running.pk)]
    assert rows[0]["progress_percent"] == 40 and rows[0]["current_step"] == "captioning 2 of 5"
    rows = api.get(URL, {"connection": running.platform_connection_id}).json()["results"]
    assert [row["id"] for row in rows] == [str(running.pk)]
    bad = api.get(URL, {"status": "paused"})
    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) == {"status"}


def test_unknown_ids_are_a_404(api):
    assert api.get(f"{URL}not-a-uuid/").status_code == 404
    assert api.post(f"{URL}00000000-0000-0000-0000-000000000000/cancel/").status_code == 404


@pytest.mark.parametrize("size", [2, 20])
def test_a_page_costs_a_fixed_number_of_queries(api, user, size, count_queries):
    for _ in range(size):
        own_task(user)
    response, queries = count_queries(lambda: api.get(URL, {"page_size": size}))
    assert len(response.json()["results"]) == size
    assert queries == 3, queries  # rate-limit counter, the caller's connection ids, the page
