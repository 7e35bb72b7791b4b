import base64
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_q.models import Schedule

from accounts.models import AuditLog
from captions.models import ImageCaption
from generation.backends import ImageBackendRefused
from generation.backends.builtin import BuiltinImageBackend
from generation.models import AspectRatio, GeneratedImage, GenerationModel, Prompt, PromptStatus
from generation.services.prompts import (
    generated_image_caption,
    prompt_create,
    prompt_generate,
    prompt_recover_stale,
)
from platforms.models import PlatformType
from tests.factories.accounts import UserFactory
from tests.factories.generation import GeneratedImageFactory, PromptFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.imagefx import FakeImageFX

pytestmark = pytest.mark.django_db


@pytest.fixture
def imagefx(httpserver, settings):
    fake = FakeImageFX(httpserver)
    settings.IMAGE_BACKEND = "imagefx"
    settings.IMAGEFX_LABS_URL = fake.labs_url
    settings.IMAGEFX_API_URL = fake.api_url
    return fake


def _connect(user, fake):
    PlatformConnectionFactory(
        user=user,
        platform_type=PlatformType.IMAGEFX,
        access_token=fake.cookie,
        instance_url="https://labs.google",
    )


def _queued(**kwargs):
    return PromptFactory(status=PromptStatus.QUEUED, **kwargs)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prompt_text", ""),
        ("prompt_text", "   "),
        ("prompt_text", "x" * 5001),
        ("prompt_text", "a\x00b"),
        ("seed", -1),
        ("seed", 2**31),
        ("seed", "7"),
        ("seed", True),
        ("number_of_images", 0),
        ("number_of_images", 9),
        ("aspect_ratio", "IMAGE_ASPECT_RATIO_WIDE"),
        ("generation_model", "IMAGEN_9"),
    ],
)
def test_create_validates_every_field(field, value):
    fields = {"prompt_text": "a lighthouse", field: value}
    with pytest.raises(ValidationError) as caught:
        prompt_create(user=UserFactory(), **fields)
    assert set(caught.value.message_dict) == {field}
    assert not Prompt.objects.exists()


def test_create_queues_and_the_builtin_backend_completes_it(settings, django_capture_on_commit_callbacks):
    settings.IMAGE_BACKEND = "builtin"
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        prompt = prompt_create(
            user=user,
            prompt_text="  a lighthouse at dusk  ",
            seed=11,
            number_of_images=3,
            aspect_ratio=AspectRatio.PORTRAIT,
            generation_model=GenerationModel.IMAGEN_3_1,
        )
    prompt.refresh_from_db()
    assert prompt.prompt_text == "a lighthouse at dusk"
    assert prompt.status == PromptStatus.COMPLETED and prompt.completed_at and prompt.attempts == 1
    assert prompt.backend == "builtin" and prompt.error_message is None
    images = list(prompt.generated_images.order_by("id"))
    assert len(images) == 3
    assert all(i.user_id == user.pk and i.seed == 11 for i in images)
    assert images[0].aspect_ratio == AspectRatio.PORTRAIT and images[0].mime_type == "image/png"
    assert base64.b64decode(images[0].encoded_image).startswith(b"\x89PNG")
    assert images[0].metadata["synthetic"] is True
    assert AuditLog.objects.filter(action="prompt.created", resource_id=str(prompt.pk)).exists()
    assert AuditLog.objects.filter(action="prompt.completed", resource_id=str(prompt.pk)).exists()


def test_generate_claims_once():
    prompt = _queued()
    assert (
        prompt_generate(prompt_id=prompt.pk, backend=BuiltinImageBackend()).status == PromptStatus.COMPLETED
    )
    assert prompt_generate(prompt_id=prompt.pk, backend=BuiltinImageBackend()) is None
    assert GeneratedImage.objects.filter(prompt=prompt).count() == 1


def test_imagefx_images_keep_every_field(imagefx):
    prompt = _queued(seed=5, number_of_images=2, generation_model=GenerationModel.IMAGEN_3_5)
    _connect(prompt.user, imagefx)
    prompt = prompt_generate(prompt_id=prompt.pk)
    assert prompt.status == PromptStatus.COMPLETED and prompt.backend == "imagefx"
    images = list(prompt.generated_images.order_by("seed"))
    stored = imagefx.images[images[0].media_generation_id]
    assert images[0].encoded_image == stored["encodedImage"]
    assert images[0].seed == 5 and images[1].seed == 6
    assert images[0].model_name_type == "IMAGEN_3_5"
    assert images[0].fingerprint_log_record_id == stored["fingerprintLogRecordId"]
    assert images[0].workflow_id == stored["workflowId"] == prompt.workflow_id


def test_expired_cookie_fails_the_prompt_clearly(imagefx):
    prompt = _queued()
    _connect(prompt.user, imagefx)
    imagefx.expire_cookie()
    prompt = prompt_generate(prompt_id=prompt.pk)
    assert prompt.status == PromptStatus.FAILED
    assert "expired" in prompt.error_message and "fresh cookie" in prompt.error_message
    assert imagefx.cookie not in prompt.error_message
    assert not prompt.generated_images.exists()


def test_missing_connection_fails_the_prompt_clearly(imagefx):
    prompt = prompt_generate(prompt_id=_queued().pk)
    assert prompt.status == PromptStatus.FAILED
    assert "Add an ImageFX connection" in prompt.error_message


def test_refusal_fails_the_prompt(imagefx):
    prompt = _queued()
    _connect(prompt.user, imagefx)
    imagefx.refuse_next()
    prompt = prompt_generate(prompt_id=prompt.pk)
    assert prompt.status == PromptStatus.FAILED and "safety policy" in prompt.error_message


def test_transient_failure_requeues_with_backoff_then_gives_up(imagefx, settings):
    settings.IMAGE_GENERATION_MAX_ATTEMPTS = 2
    prompt = _queued()
    _connect(prompt.user, imagefx)
    imagefx.fail_next(503)
    prompt = prompt_generate(prompt_id=prompt.pk)
    assert prompt.status == PromptStatus.QUEUED and prompt.attempts == 1
    assert "HTTP 503" in prompt.error_message and "Trying again in" in prompt.error_message
    schedule = Schedule.objects.get(func="generation.tasks.generate_prompt_images")
    assert schedule.args == repr(prompt.pk)
    assert schedule.next_run > timezone.now() + timedelta(seconds=20)

    imagefx.fail_next(503)
    prompt = prompt_generate(prompt_id=prompt.pk)
    assert prompt.status == PromptStatus.FAILED and prompt.attempts == 2
    assert "gave up after 2 attempts" in prompt.error_message
    assert Schedule.objects.count() == 1


def test_retry_after_sets_the_requeue_delay(imagefx):
    prompt = _queued()
    _connect(prompt.user, imagefx)
    imagefx.rate_limit_next(retry_after="600", times=3)
    prompt = prompt_generate(prompt_id=prompt.pk, backend=imagefx.backend())
    assert prompt.status == PromptStatus.QUEUED
    assert Schedule.objects.get().next_run > timezone.now() + timedelta(seconds=590)


def test_malformed_answer_is_transient(imagefx):
    prompt = _queued()
    _connect(prompt.user, imagefx)
    imagefx.malformed_next()
    assert prompt_generate(prompt_id=prompt.pk).status == PromptStatus.QUEUED


def test_unexpected_crash_fails_the_prompt():
    class Broken:
        name = "broken"

        def generate(self, request):
            raise RuntimeError("boom")

    prompt = prompt_generate(prompt_id=_queued().pk, backend=Broken())
    assert prompt.status == PromptStatus.FAILED and "unexpectedly" in prompt.error_message


def test_duplicate_media_id_fails_without_half_storing():
    existing = GeneratedImageFactory(media_generation_id="dup-1")

    class Repeats(BuiltinImageBackend):
        def generate(self, request):
            from dataclasses import replace

            return [replace(r, media_generation_id="dup-1") for r in super().generate(request)]

    prompt = prompt_generate(prompt_id=_queued(number_of_images=2).pk, backend=Repeats())
    assert prompt.status == PromptStatus.FAILED and "already stored" in prompt.error_message
    assert list(GeneratedImage.objects.values_list("pk", flat=True)) == [existing.pk]


def test_recover_stale_requeues_or_fails(settings, django_capture_on_commit_callbacks):
    settings.IMAGE_BACKEND = "builtin"
    settings.IMAGE_GENERATION_MAX_ATTEMPTS = 2
    old = timezone.now() - timedelta(hours=2)
    retry = PromptFactory(status=PromptStatus.RUNNING, heartbeat_at=old, attempts=1)
    spent = PromptFactory(status=PromptStatus.RUNNING, heartbeat_at=old, attempts=2)
    fresh = PromptFactory(status=PromptStatus.RUNNING, heartbeat_at=timezone.now(), attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert prompt_recover_stale() == {"requeued": 1, "failed": 1}
    retry.refresh_from_db()
    spent.refresh_from_db()
    fresh.refresh_from_db()
    assert retry.status == PromptStatus.COMPLETED  # queued again and run (sync queue)
    assert spent.status == PromptStatus.FAILED
    assert fresh.status == PromptStatus.RUNNING


def test_caption_stores_image_captions_with_the_media_id(settings):
    settings.IMAGE_BACKEND = "builtin"
    prompt = prompt_generate(prompt_id=_queued().pk, backend=BuiltinImageBackend())
    image = prompt.generated_images.get()
    captions = generated_image_caption(image=image, user=prompt.user, count=2)
    assert 1 <= len(captions) <= 2
    row = ImageCaption.objects.get(pk=captions[0].pk)
    assert row.media_generation_id == image.media_generation_id
    assert row.user == prompt.user and row.image_type == "png"
    assert row.image_path == f"generation/images/{image.pk}"
    assert "square image" in row.caption_text


def test_caption_through_imagefx(imagefx):
    image = GeneratedImageFactory()
    _connect(image.user, imagefx)
    imagefx.captions = ["A lighthouse.", "A tower by the sea."]
    captions = generated_image_caption(image=image, user=image.user, count=2)
    assert [c.caption_text for c in captions] == ["A lighthouse.", "A tower by the sea."]


def test_caption_refusal_stores_nothing(imagefx):
    image = GeneratedImageFactory()
    _connect(image.user, imagefx)
    imagefx.fail_next(
        200,
        body={"result": {"data": {"json": {"result": {"candidates": []}}}}},
        path="/fx/api/trpc/backbone.captionImage",
    )
    with pytest.raises(ImageBackendRefused):
        generated_image_caption(image=image, user=image.user)
    assert not ImageCaption.objects.exists()


@pytest.mark.parametrize("count", [0, 9, "2"])
def test_caption_count_is_validated(count):
    with pytest.raises(ValidationError) as caught:
        generated_image_caption(image=GeneratedImageFactory(), user=UserFactory(), count=count)
    assert "count" in caught.value.message_dict
