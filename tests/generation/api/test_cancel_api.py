"""POST prompts/{id}/cancel/ and avatar-tasks/{task_id}/cancel/: 200 with the cancelled row, 409
once finished, 404 for another user's row, 403 for a viewer, and in the OpenAPI schema."""

import pytest

from accounts.models import AuditLog, Role
from generation.models import GenerationTask, Prompt, PromptStatus, TaskStatus
from tests.factories.accounts import UserFactory
from tests.factories.generation import GenerationTaskFactory, PromptFactory
from tests.isolation import client_for

pytestmark = pytest.mark.django_db

PROMPTS = "/api/v1/generation/prompts/"
TASKS = "/api/v1/generation/avatar-tasks/"


@pytest.mark.parametrize("status", [PromptStatus.QUEUED, PromptStatus.RUNNING])
def test_cancel_a_prompt(status):
    owner = UserFactory(role=Role.USER)
    prompt = PromptFactory(user=owner, status=status)
    response = client_for(owner).post(f"{PROMPTS}{prompt.pk}/cancel/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == prompt.pk and body["status"] == "cancelled"
    assert Prompt.objects.get(pk=prompt.pk).status == PromptStatus.CANCELLED
    assert AuditLog.objects.filter(action="prompt.cancelled", resource_id=str(prompt.pk)).count() == 1
    # Twice: the same answer, nothing written again.
    again = client_for(owner).post(f"{PROMPTS}{prompt.pk}/cancel/")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert AuditLog.objects.filter(action="prompt.cancelled", resource_id=str(prompt.pk)).count() == 1
    listed = client_for(owner).get(PROMPTS, {"status": "cancelled"}).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [row["id"] for row in rows] == [prompt.pk]


@pytest.mark.parametrize("status", [PromptStatus.COMPLETED, PromptStatus.FAILED])
def test_a_finished_prompt_is_a_409(status):
    owner = UserFactory(role=Role.USER)
    prompt = PromptFactory(user=owner, status=status)
    response = client_for(owner).post(f"{PROMPTS}{prompt.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "prompt_finished"
    assert Prompt.objects.get(pk=prompt.pk).status == status


def test_prompt_cancel_is_isolated_and_refused_to_viewers_and_anonymous():
    owner, stranger = UserFactory(role=Role.USER), UserFactory(role=Role.USER)
    prompt = PromptFactory(user=owner, status=PromptStatus.QUEUED)
    url = f"{PROMPTS}{prompt.pk}/cancel/"
    assert client_for().post(url).status_code == 401
    assert client_for(stranger).post(url).status_code == 404
    assert client_for(UserFactory(role=Role.VIEWER)).post(url).status_code == 403
    assert client_for(stranger).post(f"{PROMPTS}999999999/cancel/").status_code == 404
    assert client_for(stranger).post(f"{PROMPTS}abc/cancel/").status_code == 404
    assert client_for(owner).get(url).status_code == 405
    assert Prompt.objects.get(pk=prompt.pk).status == PromptStatus.QUEUED
    moderator = UserFactory(role=Role.MODERATOR)
    assert client_for(moderator).post(url).json()["status"] == "cancelled"


@pytest.mark.parametrize("status", [TaskStatus.PENDING, TaskStatus.GENERATING_IMAGES])
def test_cancel_a_persona_task(status):
    owner = UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=owner, status=status, personas_generated=4, images_generated=3)
    response = client_for(owner).post(f"{TASKS}{task.task_id}/cancel/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["task_id"] == task.task_id and body["status"] == "cancelled"
    assert body["personas_generated"] == 4 and body["images_generated"] == 3
    assert body["completed_at"] is not None
    assert GenerationTask.objects.get(pk=task.pk).status == TaskStatus.CANCELLED
    again = client_for(owner).post(f"{TASKS}{task.task_id}/cancel/")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert AuditLog.objects.filter(action="avatar_task.cancelled", resource_id=task.task_id).count() == 1
    listed = client_for(owner).get(TASKS, {"status": "cancelled"}).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [row["task_id"] for row in rows] == [task.task_id]


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.FAILED])
def test_a_finished_persona_task_is_a_409(status):
    owner = UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=owner, status=status)
    response = client_for(owner).post(f"{TASKS}{task.task_id}/cancel/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "task_finished"
    assert GenerationTask.objects.get(pk=task.pk).status == status


def test_persona_task_cancel_is_isolated_and_refused_to_viewers_and_anonymous():
    owner, stranger = UserFactory(role=Role.USER), UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=owner, status=TaskStatus.GENERATING_DATA)
    url = f"{TASKS}{task.task_id}/cancel/"
    assert client_for().post(url).status_code == 401
    assert client_for(stranger).post(url).status_code == 404
    assert client_for(UserFactory(role=Role.VIEWER)).post(url).status_code == 403
    assert client_for(owner).get(url).status_code == 405
    assert GenerationTask.objects.get(pk=task.pk).status == TaskStatus.GENERATING_DATA


def test_the_cancel_endpoints_and_status_are_in_the_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    prompt_cancel = next(v for k, v in paths.items() if k.endswith("/generation/prompts/{id}/cancel/"))
    task_cancel = next(
        v for k, v in paths.items() if k.endswith("/generation/avatar-tasks/{task_id}/cancel/")
    )
    assert "post" in prompt_cancel and "post" in task_cancel
    assert "200" in prompt_cancel["post"]["responses"] and "200" in task_cancel["post"]["responses"]
    enums = [c.get("enum", []) for c in schema["components"]["schemas"].values()]
    assert any("cancelled" in e and "queued" in e for e in enums)
    assert any("cancelled" in e and "generating-data" in e for e in enums)
