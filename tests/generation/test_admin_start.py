"""Starting image prompts and persona tasks from the admin; their progress, the persona export
and the thumbnails of generated and persona images."""

import io
import json
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image as PILImage

from accounts.models import Role
from generation.models import (
    MAX_IMAGES_PER_PROMPT,
    MAX_PERSONAS_PER_TASK,
    GenerationTask,
    Prompt,
    PromptStatus,
    TaskStatus,
)
from generation.services import avatar_tasks, prompts
from generation.services.prompts import SEED_MAX
from tests.admin_start import assert_error_next_to, user_with_role
from tests.factories.generation import (
    GeneratedImageFactory,
    GeneratedPersonaFactory,
    GenerationTaskFactory,
    PromptFactory,
)

pytestmark = pytest.mark.django_db

PROMPT_ADD = "admin:generation_prompt_add"
TASK_ADD = "admin:generation_generationtask_add"
PROMPT = {
    "prompt_text": "a lighthouse at dusk, watercolour",
    "number_of_images": "2",
    "aspect_ratio": "IMAGE_ASPECT_RATIO_LANDSCAPE",
    "generation_model": "IMAGEN_3_1",
    "seed": "42",
}
TASK = {
    "persona_description": "Urban cyclists who care about local food.",
    "bio_language": "de",
    "number_to_generate": "3",
    "images_per_persona": "4",
}


@pytest.fixture
def reviewer(client):
    user = user_with_role(Role.REVIEWER, username="gen")
    client.force_login(user)
    return user


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(prompts, "_queue", lambda prompt_id: calls.append(("prompt", prompt_id)))
    monkeypatch.setattr(avatar_tasks, "_queue", lambda task_id: calls.append(("task", task_id)))
    return calls


# --- prompts -------------------------------------------------------------------------------------


def test_the_prompt_form_shows_the_ranges(client, reviewer):
    html = client.get(reverse(PROMPT_ADD)).content.decode()
    assert f'name="number_of_images" value="1" min="1" max="{MAX_IMAGES_PER_PROMPT}"' in html
    assert f'name="seed" value="0" min="0" max="{SEED_MAX}"' in html
    assert '<option value="IMAGE_ASPECT_RATIO_SQUARE" selected>Square</option>' in html


def test_a_valid_prompt_is_created_once_and_queued(
    client, reviewer, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(PROMPT_ADD), PROMPT)
    prompt = Prompt.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:generation_prompt_change", args=[prompt.pk])
    assert (prompt.user, prompt.number_of_images, prompt.seed) == (reviewer, 2, 42)
    assert prompt.aspect_ratio == "IMAGE_ASPECT_RATIO_LANDSCAPE" and prompt.generation_model == "IMAGEN_3_1"
    assert prompt.status == PromptStatus.QUEUED
    assert queued == [("prompt", prompt.pk)]


def test_left_empty_the_numbers_take_the_apis_defaults(client, reviewer, queued):
    client.post(reverse(PROMPT_ADD), {**PROMPT, "number_of_images": "", "seed": ""})
    prompt = Prompt.objects.get()
    assert (prompt.number_of_images, prompt.seed) == (1, 0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prompt_text": ""}, "prompt_text"),
        ({"prompt_text": "   "}, "prompt_text"),
        ({"prompt_text": "x" * 5001}, "prompt_text"),
        ({"number_of_images": "0"}, "number_of_images"),
        ({"number_of_images": str(MAX_IMAGES_PER_PROMPT + 1)}, "number_of_images"),
        ({"number_of_images": "two"}, "number_of_images"),
        ({"seed": "-1"}, "seed"),
        ({"seed": str(SEED_MAX + 1)}, "seed"),
        ({"aspect_ratio": "IMAGE_ASPECT_RATIO_WIDE"}, "aspect_ratio"),
        ({"generation_model": "DALL_E"}, "generation_model"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_bad_prompt_value_is_an_error_next_to_its_field(
    client, reviewer, queued, django_capture_on_commit_callbacks, changes, field
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(PROMPT_ADD), {**PROMPT, **changes})
    assert_error_next_to(response, field)
    assert not Prompt.objects.exists()
    assert queued == []


def test_prompt_progress(client, reviewer):
    prompt = PromptFactory(user=reviewer, number_of_images=2, status=PromptStatus.RUNNING)
    GeneratedImageFactory(prompt=prompt)
    url = reverse("admin:generation_prompt_progress", args=[prompt.pk])
    assert client.get(url).json() == {
        "status": "running",
        "status_label": "Running",
        "percent": None,
        "step": "1 of 2 images",
        "terminal": False,
        "cancellable": False,
        "error": "",
    }
    html = client.get(reverse("admin:generation_prompt_change", args=[prompt.pk])).content.decode()
    assert f'data-progress-url="{url}"' in html
    assert "sd-progress-cancel" not in html  # generation has no cancel service
    Prompt.objects.filter(pk=prompt.pk).update(status=PromptStatus.FAILED, error_message="backend down")
    data = client.get(url).json()
    assert data["terminal"] is True and data["error"] == "backend down"


# --- persona tasks -------------------------------------------------------------------------------


def test_a_valid_persona_task_is_created_once_and_queued(
    client, reviewer, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(TASK_ADD), TASK)
    task = GenerationTask.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:generation_generationtask_change", args=[task.pk])
    assert (task.user, task.bio_language, task.number_to_generate, task.images_per_persona) == (
        reviewer,
        "de",
        3,
        4,
    )
    assert task.status == TaskStatus.PENDING and len(task.task_id) == 8
    assert queued == [("task", task.task_id)]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"persona_description": ""}, "persona_description"),
        ({"persona_description": "x" * 5001}, "persona_description"),
        ({"bio_language": ""}, "bio_language"),
        ({"bio_language": "x" * 101}, "bio_language"),
        ({"number_to_generate": "0"}, "number_to_generate"),
        ({"number_to_generate": str(MAX_PERSONAS_PER_TASK + 1)}, "number_to_generate"),
        ({"number_to_generate": "many"}, "number_to_generate"),
        ({"images_per_persona": "5"}, "images_per_persona"),
        ({"images_per_persona": ""}, "images_per_persona"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_bad_persona_value_is_an_error_next_to_its_field(
    client, reviewer, queued, django_capture_on_commit_callbacks, changes, field
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(TASK_ADD), {**TASK, **changes})
    assert_error_next_to(response, field)
    assert not GenerationTask.objects.exists()
    assert queued == []


def test_viewers_start_nothing(client):
    viewer = user_with_role(Role.VIEWER)
    viewer.is_staff = True
    viewer.save(update_fields=["is_staff"])
    client.force_login(viewer)
    assert client.post(reverse(TASK_ADD), TASK).status_code == 403
    assert client.post(reverse(PROMPT_ADD), PROMPT).status_code == 403
    assert not GenerationTask.objects.exists() and not Prompt.objects.exists()


def test_persona_task_progress_and_export_buttons(client, reviewer):
    task = GenerationTaskFactory(
        user=reviewer, status=TaskStatus.GENERATING_IMAGES, number_to_generate=2, personas_generated=2,
        images_generated=4,
    )  # fmt: skip
    url = reverse("admin:generation_generationtask_progress", args=[task.pk])
    data = client.get(url).json()
    # 2 of 2 personas and 4 of 8 images: 6 of 10 steps.
    assert data["percent"] == 60 and data["step"] == "2 of 2 personas, 4 of 8 images"
    assert data["terminal"] is False and data["cancellable"] is False
    html = client.get(reverse("admin:generation_generationtask_change", args=[task.pk])).content.decode()
    assert f'data-progress-url="{url}"' in html
    for fmt in ("json", "csv", "zip"):
        export = reverse("admin:generation_generationtask_export", args=[task.pk, fmt])
        assert f'href="{export}" download>Export {fmt.upper()}</a>' in html


def _png(colour="red") -> bytes:
    output = io.BytesIO()
    PILImage.new("RGB", (400, 300), colour).save(output, "PNG")
    return output.getvalue()


def _persona_with_images(user, count=2):
    task = GenerationTaskFactory(user=user, status=TaskStatus.COMPLETED, number_to_generate=1)
    keys = []
    for number in range(count):
        key = f"personas/{task.task_id}/0/{number}.png"
        if default_storage.exists(key):
            default_storage.delete(key)
        keys.append(default_storage.save(key, ContentFile(_png())))
    return GeneratedPersonaFactory(task=task, position=0, first_name="Ada", images=keys)


def test_exports_answer_each_format_as_the_api(client, reviewer):
    persona = _persona_with_images(reviewer)
    task = persona.task

    def export(fmt):
        response = client.get(reverse("admin:generation_generationtask_export", args=[task.pk, fmt]))
        assert response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="personas-{task.task_id}.{fmt}"'
        return response, b"".join(response.streaming_content)

    response, body = export("json")
    assert response["Content-Type"] == "application/json"
    assert json.loads(body)["personas"][0]["first_name"] == "Ada"
    response, body = export("csv")
    assert response["Content-Type"].startswith("text/csv") and b"Ada" in body
    response, body = export("zip")
    assert response["Content-Type"] == "application/zip"
    assert len(zipfile.ZipFile(io.BytesIO(body)).namelist()) >= 3  # data and two images

    assert (
        client.get(reverse("admin:generation_generationtask_export", args=[task.pk, "xml"])).status_code
        == 404
    )
    theirs = GenerationTaskFactory()
    assert (
        client.get(reverse("admin:generation_generationtask_export", args=[theirs.pk, "json"])).status_code
        == 404
    )


# --- thumbnails ----------------------------------------------------------------------------------


def test_generated_images_show_as_thumbnails_from_an_admin_view(client, reviewer):
    image = GeneratedImageFactory(prompt=PromptFactory(user=reviewer))
    url = reverse("admin:generation_generatedimage_thumbnail", args=[image.pk])
    assert (
        f'src="{url}"' in client.get(reverse("admin:generation_generatedimage_changelist")).content.decode()
    )
    page = client.get(reverse("admin:generation_generatedimage_change", args=[image.pk])).content.decode()
    assert f'src="{url}"' in page
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert PILImage.open(io.BytesIO(response.content)).size == (1, 1)


def test_an_undecodable_or_another_users_generated_image_is_a_404(client, reviewer):
    broken = GeneratedImageFactory(prompt=PromptFactory(user=reviewer), encoded_image="not base64 at all!")
    assert (
        client.get(reverse("admin:generation_generatedimage_thumbnail", args=[broken.pk])).status_code == 404
    )
    theirs = GeneratedImageFactory()
    assert (
        client.get(reverse("admin:generation_generatedimage_thumbnail", args=[theirs.pk])).status_code == 404
    )
    assert client.get(reverse("admin:generation_generatedimage_thumbnail", args=[10**9])).status_code == 404


def test_persona_images_show_as_thumbnails_not_storage_keys(client, reviewer):
    persona = _persona_with_images(reviewer)
    first = reverse("admin:generation_generatedpersona_image", args=[persona.pk, 0])
    second = reverse("admin:generation_generatedpersona_image", args=[persona.pk, 1])
    page = client.get(reverse("admin:generation_generatedpersona_change", args=[persona.pk])).content.decode()
    assert f'src="{first}"' in page and f'src="{second}"' in page
    assert persona.images[0] not in page  # the storage key is not shown
    assert (
        f'src="{first}"'
        in client.get(reverse("admin:generation_generatedpersona_changelist")).content.decode()
    )
    task_page = client.get(reverse("admin:generation_generationtask_change", args=[persona.task.pk]))
    assert f'src="{first}"' in task_page.content.decode()

    response = client.get(first)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert max(PILImage.open(io.BytesIO(response.content)).size) == 160
    large = client.get(reverse("admin:generation_generatedpersona_image_large", args=[persona.pk, 0]))
    assert large.status_code == 200 and PILImage.open(io.BytesIO(large.content)).size == (400, 300)


def test_a_missing_persona_image_or_another_users_persona_is_a_404(client, reviewer):
    persona = _persona_with_images(reviewer, count=1)
    assert (
        client.get(reverse("admin:generation_generatedpersona_image", args=[persona.pk, 1])).status_code
        == 404
    )
    default_storage.delete(persona.images[0])
    assert (
        client.get(reverse("admin:generation_generatedpersona_image", args=[persona.pk, 0])).status_code
        == 404
    )
    theirs = _persona_with_images(user_with_role(Role.REVIEWER))
    assert (
        client.get(reverse("admin:generation_generatedpersona_image", args=[theirs.pk, 0])).status_code == 404
    )
