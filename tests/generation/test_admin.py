import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generation.admin import PREVIEW_MAX_ENCODED_CHARS
from tests.admin_pages import form_fields, inline_models, readonly_fields
from tests.factories.generation import (
    TINY_PNG_BASE64,
    GeneratedImageArchiveFactory,
    GeneratedImageFactory,
    GeneratedPersonaFactory,
    GenerationTaskFactory,
    PromptFactory,
)

pytestmark = pytest.mark.django_db

# Recognisable base64 text, too large for a preview (> PREVIEW_MAX_ENCODED_CHARS).
BIG_BLOB = "QkxPQk1BUktFUg" * (PREVIEW_MAX_ENCODED_CHARS // 14 + 100)


def make(model_name: str):
    if model_name == "prompt":
        return PromptFactory(prompt_text="a lighthouse findme")
    if model_name == "generatedimage":
        return GeneratedImageFactory(media_generation_id="findme", encoded_image=BIG_BLOB)
    if model_name == "generatedimagearchive":
        return GeneratedImageArchiveFactory(media_generation_id="findme", encoded_image=BIG_BLOB)
    if model_name == "generationtask":
        return GenerationTaskFactory(task_id="findme")
    return GeneratedPersonaFactory(first_name="Findme")


MODELS = ["prompt", "generatedimage", "generatedimagearchive", "generationtask", "generatedpersona"]


@pytest.mark.parametrize("model_name", MODELS)
def test_changelist_search_and_change_page(admin_client, model_name):
    obj = make(model_name)
    changelist = reverse(f"admin:generation_{model_name}_changelist")

    response = admin_client.get(changelist)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1

    response = admin_client.get(changelist, {"q": "findme"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1

    response = admin_client.get(changelist, {"q": "nothing-like-this"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 0

    response = admin_client.get(reverse(f"admin:generation_{model_name}_change", args=[obj.pk]))
    assert response.status_code == 200
    assert BIG_BLOB[:200] not in response.content.decode()
    assert response.context["original"] == obj
    key_fields, inlines, editable = CHANGE_PAGES[model_name]
    assert set(key_fields) <= set(form_fields(response))
    assert inline_models(response) == inlines
    # Workers write these rows; only a persona's own text is edited by hand.
    assert (set(form_fields(response)) - readonly_fields(response) != set()) is editable
    assert response.context["show_save"] is editable


# Per model: fields the change page must show, its inlines, whether anything on it is editable.
CHANGE_PAGES = {
    "prompt": (["user", "prompt_text", "status", "error_message", "backend"], ["generatedimage"], False),
    "generatedimage": (["prompt", "media_generation_id", "image_preview", "image_size"], [], False),
    "generatedimagearchive": (["media_generation_id", "image_preview", "archived_at"], [], False),
    "generationtask": (
        ["task_id", "user", "status", "persona_progress", "image_progress"],
        ["generatedpersona"],
        False,
    ),
    "generatedpersona": (["task", "first_name", "last_name", "bio_x", "gallery"], [], True),
}


@pytest.mark.parametrize("model_name", ["generatedimage", "generatedimagearchive"])
def test_image_changelist_never_loads_the_blob(admin_client, model_name):
    make(model_name)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(f"admin:generation_{model_name}_changelist"))
    assert response.status_code == 200
    assert BIG_BLOB[:200] not in response.content.decode()
    image_selects = [q["sql"] for q in queries if "generated_images" in q["sql"]]
    assert image_selects
    assert not [sql for sql in image_selects if "encoded_image" in sql]


@pytest.mark.parametrize("model_name", ["generatedimage", "generatedimagearchive"])
def test_large_image_change_page_shows_only_its_size(admin_client, model_name):
    obj = make(model_name)
    response = admin_client.get(reverse(f"admin:generation_{model_name}_change", args=[obj.pk]))
    html = response.content.decode()
    assert "Too large to preview here." in html
    assert f"{len(BIG_BLOB):,} base64 characters" in html
    assert "data:image" not in html


@pytest.mark.parametrize("factory", [GeneratedImageFactory, GeneratedImageArchiveFactory])
def test_small_image_change_page_shows_a_preview(admin_client, factory):
    obj = factory(encoded_image=TINY_PNG_BASE64)
    name = obj._meta.model_name
    response = admin_client.get(reverse(f"admin:generation_{name}_change", args=[obj.pk]))
    assert response.status_code == 200
    assert f'src="data:image/png;base64,{TINY_PNG_BASE64}"' in response.content.decode()


def test_preview_is_refused_for_unexpected_mime_types(admin_client):
    obj = GeneratedImageFactory(encoded_image=TINY_PNG_BASE64, mime_type='text/html"><script>')
    response = admin_client.get(reverse("admin:generation_generatedimage_change", args=[obj.pk]))
    html = response.content.decode()
    assert "<script>" not in html
    assert TINY_PNG_BASE64 not in html


@pytest.mark.parametrize(
    ("model_name", "params"),
    [
        ("prompt", {"status__exact": "queued"}),
        ("prompt", {"generation_model__exact": "IMAGEN_3"}),
        ("prompt", {"aspect_ratio__exact": "IMAGE_ASPECT_RATIO_SQUARE"}),
        ("generatedimage", {"model_name_type": "IMAGEN_3"}),
        ("generatedimage", {"aspect_ratio": "IMAGE_ASPECT_RATIO_SQUARE"}),
        ("generatedimage", {"mime_type": "image/png"}),
        ("generatedimagearchive", {"model_name_type": "IMAGEN_3"}),
        ("generationtask", {"status__exact": "pending"}),
        ("generationtask", {"images_per_persona__exact": "4"}),
    ],
)
def test_list_filters(admin_client, model_name, params):
    make(model_name)
    response = admin_client.get(reverse(f"admin:generation_{model_name}_changelist"), params)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_task_change_page_shows_progress_and_personas(admin_client):
    task = GenerationTaskFactory(number_to_generate=3, personas_generated=2, images_generated=5)
    GeneratedPersonaFactory(task=task, position=0, first_name="Ada", last_name="Quinn")
    GeneratedPersonaFactory(task=task, position=1, first_name="Bo", last_name="Lind")
    response = admin_client.get(reverse("admin:generation_generationtask_change", args=[task.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Ada Quinn" in html
    assert "Bo Lind" in html
    assert "2 / 3" in html
    assert "5 / 12" in html


def test_task_search_by_username(admin_client):
    task = GenerationTaskFactory()
    GenerationTaskFactory()
    response = admin_client.get(
        reverse("admin:generation_generationtask_changelist"), {"q": task.user.username}
    )
    assert response.context["cl"].result_count == 1


def test_prompt_change_page_lists_its_images_without_the_blob(admin_client):
    image = GeneratedImageFactory(media_generation_id="inline-image", encoded_image=BIG_BLOB)
    response = admin_client.get(reverse("admin:generation_prompt_change", args=[image.prompt_id]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "inline-image" in html
    assert BIG_BLOB[:200] not in html


# Prompts and persona tasks are started from their forms (tests/generation/test_admin_start.py).
@pytest.mark.parametrize("model_name", [name for name in MODELS if name not in ("prompt", "generationtask")])
def test_records_written_by_workers_cannot_be_added_here(admin_client, model_name):
    response = admin_client.get(reverse(f"admin:generation_{model_name}_add"))
    assert response.status_code == 403


def test_persona_can_be_edited(admin_client):
    persona = GeneratedPersonaFactory(first_name="Ada", bio_x="old bio")
    url = reverse("admin:generation_generatedpersona_change", args=[persona.pk])
    response = admin_client.get(url)
    form = response.context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data.update(bio_x="new bio", age=persona.age)
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    persona.refresh_from_db()
    assert persona.bio_x == "new bio"
