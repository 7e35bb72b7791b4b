import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from captions.models import ImageCaption
from generation.models import GeneratedImage, Prompt, PromptStatus
from tests.factories.accounts import UserFactory
from tests.factories.generation import GeneratedImageFactory, PromptFactory
from tests.isolation import OwnedEndpoint, assert_isolated, client_for

pytestmark = pytest.mark.django_db

PROMPTS = "/api/v1/generation/prompts/"
IMAGES = "/api/v1/generation/images/"


@pytest.fixture(autouse=True)
def _builtin(settings):
    settings.IMAGE_BACKEND = "builtin"


@pytest.fixture
def user():
    return UserFactory(role=Role.USER)


def test_prompts_are_isolated():
    assert_isolated(
        OwnedEndpoint(
            list_url=PROMPTS,
            make=lambda user: PromptFactory(user=user),
            create={"prompt_text": "a lighthouse"},
            deletable=False,
        )
    )


def test_images_are_isolated():
    assert_isolated(
        OwnedEndpoint(
            list_url=IMAGES,
            make=lambda user: GeneratedImageFactory(prompt=PromptFactory(user=user)),
            deletable=False,
        )
    )


def test_image_content_and_caption_are_isolated(user):
    image = GeneratedImageFactory(prompt=PromptFactory(user=user))
    stranger = client_for(UserFactory(role=Role.USER))
    assert stranger.get(f"{IMAGES}{image.pk}/content/").status_code == 404
    assert stranger.post(f"{IMAGES}{image.pk}/caption/", {}, format="json").status_code == 404
    assert client_for().get(f"{IMAGES}{image.pk}/content/").status_code == 401
    viewer = UserFactory(role=Role.VIEWER)
    own = GeneratedImageFactory(prompt=PromptFactory(user=viewer))
    assert client_for(viewer).get(f"{IMAGES}{own.pk}/content/").status_code == 200
    assert client_for(viewer).post(f"{IMAGES}{own.pk}/caption/", {}, format="json").status_code == 403
    moderator = client_for(UserFactory(role=Role.MODERATOR))
    assert moderator.get(f"{IMAGES}{image.pk}/content/").status_code == 200


def test_create_queues_and_generates(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post(
            PROMPTS,
            {
                "prompt_text": "a lighthouse",
                "seed": 3,
                "number_of_images": 2,
                "aspect_ratio": "IMAGE_ASPECT_RATIO_LANDSCAPE",
                "generation_model": "IMAGEN_3_5",
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == PromptStatus.QUEUED and body["image_ids"] == []
    detail = client_for(user).get(f"{PROMPTS}{body['id']}/").json()
    assert detail["status"] == PromptStatus.COMPLETED
    assert sorted(detail["image_ids"]) == sorted(
        GeneratedImage.objects.filter(prompt_id=body["id"]).values_list("pk", flat=True)
    )
    assert len(detail["image_ids"]) == 2


def test_create_defaults(user):
    body = client_for(user).post(PROMPTS, {"prompt_text": "x"}, format="json").json()
    assert body["seed"] == 0 and body["number_of_images"] == 1
    assert body["aspect_ratio"] == "IMAGE_ASPECT_RATIO_SQUARE" and body["generation_model"] == "IMAGEN_3"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prompt_text", ""),
        ("prompt_text", "   "),
        ("prompt_text", "x" * 5001),
        ("prompt_text", None),
        ("prompt_text", "a\x00b"),
        ("seed", -1),
        ("seed", 2**31),
        ("seed", "abc"),
        ("number_of_images", 0),
        ("number_of_images", 9),
        ("number_of_images", 1.5),
        ("aspect_ratio", "IMAGE_ASPECT_RATIO_WIDE"),
        ("generation_model", "IMAGEN_4"),
    ],
)
def test_create_rejects_bad_fields(user, field, value):
    body = {"prompt_text": "a lighthouse", field: value}
    response = client_for(user).post(PROMPTS, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Prompt.objects.exists()


def test_prompt_text_of_5000_characters_is_accepted(user):
    assert client_for(user).post(PROMPTS, {"prompt_text": "x" * 5000}, format="json").status_code == 201


def test_image_list_never_loads_encoded_image(user):
    prompt = PromptFactory(user=user)
    GeneratedImageFactory.create_batch(3, prompt=prompt)
    with CaptureQueriesContext(connection) as queries:
        response = client_for(user).get(IMAGES)
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    selects = [q["sql"] for q in queries.captured_queries if "generated_images" in q["sql"]]
    assert selects and not any("encoded_image" in sql for sql in selects)
    assert "encoded_image" not in response.json()["results"][0]
    with CaptureQueriesContext(connection) as queries:
        assert client_for(user).get(PROMPTS).status_code == 200
    assert not any("encoded_image" in q["sql"] for q in queries.captured_queries)


def test_image_list_filters_by_prompt(user):
    first, second = PromptFactory(user=user), PromptFactory(user=user)
    mine = GeneratedImageFactory(prompt=first)
    GeneratedImageFactory(prompt=second)
    rows = client_for(user).get(IMAGES, {"prompt": first.pk}).json()["results"]
    assert [row["id"] for row in rows] == [mine.pk]
    assert client_for(user).get(IMAGES, {"prompt": "abc"}).status_code == 400


@pytest.mark.parametrize(("mime", "magic"), [("image/png", b"\x89PNG"), ("image/jpeg", b"\xff\xd8\xff")])
def test_content_is_the_decoded_image(user, mime, magic):
    data = magic + b"rest-of-image"
    image = GeneratedImageFactory(
        prompt=PromptFactory(user=user), encoded_image=base64.b64encode(data).decode(), mime_type=mime
    )
    response = client_for(user).get(f"{IMAGES}{image.pk}/content/", HTTP_ACCEPT="image/*")
    assert response.status_code == 200
    assert response["Content-Type"] == mime
    assert response.content == data


def test_content_of_a_corrupt_row_is_404(user):
    image = GeneratedImageFactory(prompt=PromptFactory(user=user), encoded_image="!!!not base64")
    assert client_for(user).get(f"{IMAGES}{image.pk}/content/").status_code == 404


def test_unknown_ids_are_json_404(user):
    for url in (f"{IMAGES}abc/", f"{IMAGES}999999/content/", f"{PROMPTS}{2**64}/"):
        response = client_for(user).get(url)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_caption_endpoint_stores_image_captions(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        prompt_id = client_for(user).post(PROMPTS, {"prompt_text": "x"}, format="json").json()["id"]
    image = GeneratedImage.objects.get(prompt_id=prompt_id)
    response = client_for(user).post(f"{IMAGES}{image.pk}/caption/", {"count": 2}, format="json")
    assert response.status_code == 201, response.content
    captions = response.json()["captions"]
    assert captions and all(c["media_generation_id"] == image.media_generation_id for c in captions)
    assert ImageCaption.objects.filter(
        media_generation_id=image.media_generation_id, user=user
    ).count() == len(captions)


@pytest.mark.parametrize("count", [0, 9, "x"])
def test_caption_count_is_validated(user, count):
    image = GeneratedImageFactory(prompt=PromptFactory(user=user))
    response = client_for(user).post(f"{IMAGES}{image.pk}/caption/", {"count": count}, format="json")
    assert response.status_code == 400 and "count" in response.json()["error"]["fields"]


def test_caption_backend_failures_are_not_500(user, settings):
    settings.IMAGE_BACKEND = "imagefx"  # and no connection: a clear error
    image = GeneratedImageFactory(prompt=PromptFactory(user=user))
    response = client_for(user).post(f"{IMAGES}{image.pk}/caption/", {}, format="json")
    assert response.status_code == 502
    assert "Add an ImageFX connection" in response.json()["error"]["message"]


def test_prompts_filter_by_status(user):
    done = PromptFactory(user=user, status=PromptStatus.COMPLETED)
    PromptFactory(user=user, status=PromptStatus.FAILED)
    rows = client_for(user).get(PROMPTS, {"status": "completed"}).json()["results"]
    assert [row["id"] for row in rows] == [done.pk]
