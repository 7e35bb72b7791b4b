"""The avatar-tasks API: create and validate, isolation, retry, delete, personas, streamed exports."""

import csv
import io
import json
import zipfile

import pytest
from django.http import StreamingHttpResponse

from accounts.models import ApiKey, AuditLog, Role
from generation.models import GeneratedPersona, GenerationTask, TaskStatus
from tests.factories.accounts import UserFactory
from tests.factories.generation import GeneratedPersonaFactory, GenerationTaskFactory
from tests.isolation import OwnedEndpoint, assert_isolated, client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/generation/avatar-tasks/"
VALID = {
    "persona_description": "Retired teachers who garden and post recipes.",
    "bio_language": "English",
    "number_to_generate": 3,
    "images_per_persona": 4,
}


@pytest.fixture(autouse=True)
def offline(settings, tmp_path):
    settings.AI_BACKEND = "builtin"
    settings.IMAGE_BACKEND = "builtin"
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_isolation_of_every_task_endpoint():
    assert_isolated(
        OwnedEndpoint(
            list_url=URL,
            make=lambda user: GenerationTaskFactory(user=user, status=TaskStatus.COMPLETED),
            create=VALID,
            lookup=lambda task: task.task_id,
        )
    )


@pytest.mark.parametrize("suffix", ["personas/", "export/", "export/?format=zip"])
def test_isolation_of_the_nested_routes(suffix):
    owner, stranger = UserFactory(role=Role.USER), UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=owner, status=TaskStatus.COMPLETED)
    url = f"{URL}{task.task_id}/{suffix}"
    assert client_for().get(url).status_code == 401
    assert client_for(stranger).get(url).status_code == 404
    assert client_for(owner).get(url).status_code == 200
    assert client_for(UserFactory(role=Role.MODERATOR)).get(url).status_code == 200


def test_retry_is_isolated():
    owner, stranger = UserFactory(role=Role.USER), UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=owner, status=TaskStatus.FAILED)
    assert client_for(stranger).post(f"{URL}{task.task_id}/retry/").status_code == 404
    assert client_for(UserFactory(role=Role.VIEWER)).post(f"{URL}{task.task_id}/retry/").status_code == 403
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED


def test_create_queues_a_task_that_runs_to_completion(django_capture_on_commit_callbacks):
    user = UserFactory(role=Role.USER)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post(URL, VALID, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["task_id"]) == 8 and body["id"] == body["task_id"]
    assert body["status"] == TaskStatus.PENDING  # as created; the (sync) worker ran on commit
    task = GenerationTask.objects.get(task_id=body["task_id"])
    assert task.user == user and task.status == TaskStatus.COMPLETED
    assert task.personas_generated == 3 and task.images_generated == 12
    assert task.completed_at is not None
    assert AuditLog.objects.filter(action="avatar_task.created", resource_id=task.task_id).exists()
    detail = client_for(user).get(f"{URL}{task.task_id}/").json()
    assert detail["status"] == "completed" and detail["images_expected"] == 12
    personas = client_for(user).get(f"{URL}{task.task_id}/personas/").json()["results"]
    assert [p["position"] for p in personas] == [0, 1, 2]
    assert all(len(p["images"]) == 4 for p in personas)


def test_task_ids_are_unique():
    user = UserFactory(role=Role.USER)
    ids = {client_for(user).post(URL, VALID, format="json").json()["task_id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("persona_description", ""),
        ("persona_description", "   "),
        ("persona_description", "x" * 5001),
        ("persona_description", None),
        ("bio_language", ""),
        ("bio_language", "x" * 101),
        ("number_to_generate", 0),
        ("number_to_generate", 301),
        ("number_to_generate", "many"),
        ("number_to_generate", 2.5),
        ("images_per_persona", 5),
        ("images_per_persona", 0),
        ("images_per_persona", "eight"),
        ("images_per_persona", True),
    ],
)
def test_each_field_is_validated(field, value):
    response = client_for(UserFactory(role=Role.USER)).post(URL, {**VALID, field: value}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not GenerationTask.objects.exists()


@pytest.mark.parametrize("field", list(VALID))
def test_each_field_is_required(field):
    body = {k: v for k, v in VALID.items() if k != field}
    response = client_for(UserFactory(role=Role.USER)).post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_limits_are_accepted():
    client = client_for(UserFactory(role=Role.USER))
    for number, images in ((1, 4), (300, 8)):
        body = {**VALID, "number_to_generate": number, "images_per_persona": images}
        body["persona_description"] = "d" * 5000
        assert client.post(URL, body, format="json").status_code == 201


def test_api_key_scopes():
    from accounts.services.api_keys import api_key_create

    user = UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=user)
    read_key, _ = api_key_create(user=user, key_name="read", permissions=["generation:read"], actor=user)
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {read_key}")
    assert client.get(f"{URL}{task.task_id}/").status_code == 200
    assert client.post(URL, VALID, format="json").status_code == 403
    assert ApiKey.objects.filter(user=user).count() == 1


def test_retry_resumes_a_failed_task(django_capture_on_commit_callbacks):
    user = UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=user, status=TaskStatus.FAILED, number_to_generate=2, error_log="boom")
    GeneratedPersonaFactory(task=task, position=0, first_name="Kept")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post(f"{URL}{task.task_id}/retry/")
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED
    positions = list(GeneratedPersona.objects.filter(task=task).values_list("position", "first_name"))
    assert len(positions) == 2 and ("Kept" in dict(positions).values())
    again = client_for(user).post(f"{URL}{task.task_id}/retry/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "task_not_failed"


def test_delete_removes_personas_and_files_but_not_while_running(django_capture_on_commit_callbacks):
    from django.core.files.storage import default_storage

    user = UserFactory(role=Role.USER)
    with django_capture_on_commit_callbacks(execute=True):
        task_id = (
            client_for(user).post(URL, {**VALID, "number_to_generate": 1}, format="json").json()["task_id"]
        )
    keys = GeneratedPersona.objects.get(task__task_id=task_id).images
    assert keys and all(default_storage.exists(k) for k in keys)
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(user).delete(f"{URL}{task_id}/").status_code == 204
    assert not GenerationTask.objects.filter(task_id=task_id).exists()
    assert not GeneratedPersona.objects.exists()
    assert not any(default_storage.exists(k) for k in keys)

    running = GenerationTaskFactory(user=user, status=TaskStatus.GENERATING_IMAGES)
    response = client_for(user).delete(f"{URL}{running.task_id}/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "task_running"


def test_delete_also_removes_files_an_interrupted_run_wrote_but_never_recorded(
    django_capture_on_commit_callbacks,
):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from generation.personas.images import image_key

    user = UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=user, status=TaskStatus.FAILED)
    recorded = default_storage.save(
        image_key(task_id=task.task_id, position=0, number=1, mime_type="image/png"), ContentFile(b"a")
    )
    GeneratedPersonaFactory(task=task, position=0, images=[recorded])
    # The run stopped between storing image 2 and recording it.
    stray = default_storage.save(
        image_key(task_id=task.task_id, position=0, number=2, mime_type="image/png"), ContentFile(b"b")
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(user).delete(f"{URL}{task.task_id}/").status_code == 204

    assert not default_storage.exists(recorded)
    assert not default_storage.exists(stray)


def test_list_filters_by_status():
    user = UserFactory(role=Role.USER)
    done = GenerationTaskFactory(user=user, status=TaskStatus.COMPLETED)
    GenerationTaskFactory(user=user, status=TaskStatus.FAILED)
    rows = client_for(user).get(URL, {"status": "completed"}).json()["results"]
    assert [r["task_id"] for r in rows] == [done.task_id]


# --- exports through the API --------------------------------------------------------------------


@pytest.fixture
def finished_task(django_capture_on_commit_callbacks):
    user = UserFactory(role=Role.USER)
    with django_capture_on_commit_callbacks(execute=True):
        body = client_for(user).post(URL, {**VALID, "number_to_generate": 4}, format="json").json()
    return user, GenerationTask.objects.get(task_id=body["task_id"])


def _content(response) -> bytes:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content)


def test_export_formats_are_streamed(finished_task):
    user, task = finished_task
    client = client_for(user)

    response = client.get(f"{URL}{task.task_id}/export/")
    assert response["Content-Type"] == "application/json"
    data = json.loads(_content(response))
    assert data["task"]["task_id"] == task.task_id and len(data["personas"]) == 4

    response = client.get(f"{URL}{task.task_id}/export/", {"format": "csv"}, HTTP_ACCEPT="text/html")
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="personas-{task.task_id}.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_content(response).decode("utf-8-sig"))))
    assert len(rows) == 4

    response = client.get(f"{URL}{task.task_id}/export/", {"format": "zip"})
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(_content(response)))
    assert archive.testzip() is None
    assert sum(name.endswith(".png") for name in archive.namelist()) == 16


def test_export_rejects_an_unknown_format(finished_task):
    user, task = finished_task
    response = client_for(user).get(f"{URL}{task.task_id}/export/", {"format": "xml"})
    assert response.status_code == 400
    assert "format" in response.json()["error"]["fields"]
