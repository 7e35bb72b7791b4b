"""The caption pipeline for one image, against real local servers: the image host and the AI server
(pytest-httpserver speaking plain HTTP for the image and chat completions for the OpenAI backend)."""

import base64
import dataclasses
import io
import json

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PillowImage
from PIL import ImageDraw
from werkzeug import Response

from accounts.models import AuditLog, Role
from captions.images import ImageRejected, normalise_image
from captions.models import Image, ImageCategory, ImageStatus, Post
from captions.prompts import CATEGORY_PROMPTS, FALLBACK_PROMPT, caption_prompt
from captions.quality import REVIEW_BELOW, caption_quality
from captions.services.generation import caption_generate, caption_regenerate
from captions.services.review import InvalidTransition, caption_approve, caption_edit, caption_reject
from captions.tasks import generate_image_caption
from core.ai.builtin import REVIEW_NOTE, BuiltinBackend
from core.ai.openai_backend import CLASSIFY_SYSTEM, OpenAIBackend
from core.retry import RetryStats
from core.services import config_set
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationUserSettingsFactory, ImageFactory

pytestmark = pytest.mark.django_db

S = ImageStatus
CHAT = "/v1/chat/completions"
MAIN_MODEL = "vision-main"
BACKUP_MODEL = "vision-backup"

GOOD = "A grey heron stands on one leg in shallow river water at dusk, its reflection rippling below it."
LOW = "This image shows a bird. It appears to be a heron, possibly near some water."
WORSE = "I'm sorry, I think it is a bird"
BETTER_THAN_LOW = (
    "This image shows a heron in the water at dusk, possibly fishing, maybe near the reeds of the river bank."
)


def score(text, *, optimal_min=80, optimal_max=200, limit=500):
    return caption_quality(text=text, optimal_min=optimal_min, optimal_max=optimal_max, limit=limit).score


def test_the_sample_captions_score_as_the_tests_assume():
    assert score(GOOD) >= REVIEW_BELOW
    assert score(LOW) < REVIEW_BELOW
    assert score(WORSE) < score(LOW) < score(BETTER_THAN_LOW) < REVIEW_BELOW


# --- images and servers ----------------------------------------------------------------------------


def photo_jpeg(size=(320, 240)) -> bytes:
    """A small "landscape": sky, a sun and a green field."""
    picture = PillowImage.new("RGB", size, (110, 160, 230))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, size[1] * 2 // 3, size[0], size[1]), fill=(60, 150, 60))
    draw.ellipse((20, 20, 80, 80), fill=(250, 220, 40))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def photo():
    return photo_jpeg()


@pytest.fixture
def serve_image(httpserver, photo):
    def serve(path="/media/heron.jpg", data=None, **kwargs):
        kwargs.setdefault("content_type", "image/jpeg")
        httpserver.expect_request(path).respond_with_data(photo if data is None else data, **kwargs)
        return httpserver.url_for(path)

    return serve


@pytest.fixture
def image(serve_image):
    return ImageFactory(image_url=serve_image(), local_path="", media_type=None, generated_caption=None)


def chat_completion(content, *, model=MAIN_MODEL, **message):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def json_response(body, status=200):
    return Response(json.dumps(body), status=status, content_type="application/json")


def server_error():
    return json_response({"error": {"message": "model crashed", "type": "server_error"}}, status=500)


class VisionServer:
    """Chat completions that answer classification with `category` and captions per (prompt kind,
    model): "main" is the category prompt, "fallback" the simpler one. An answer is caption text or a
    werkzeug Response (errors); `calls` records (kind, model, user text, image data URL)."""

    def __init__(self, httpserver, *, category="landscape"):
        self.category = category
        self.answers: dict[tuple[str, str], object] = {}
        self.calls: list[tuple[str, str, str, str]] = []
        httpserver.expect_request(CHAT, method="POST").respond_with_handler(self.handle)

    def handle(self, request):
        body = json.loads(request.get_data())
        system, user = body["messages"]
        text, picture = user["content"]
        url = picture["image_url"]["url"]
        model = body["model"]
        if system["content"] == CLASSIFY_SYSTEM:
            self.calls.append(("classify", model, text["text"], url))
            answer = self.answers.get(("classify", model), self.category)
        else:
            kind = "fallback" if text["text"].startswith(FALLBACK_PROMPT) else "main"
            self.calls.append((kind, model, text["text"], url))
            answer = self.answers.get((kind, model), GOOD)
        if isinstance(answer, Response):
            return answer
        return json_response(chat_completion(answer, model=model))

    def caption_calls(self):
        return [(kind, model) for kind, model, _text, _url in self.calls if kind != "classify"]


@pytest.fixture
def openai_settings(settings, httpserver):
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = httpserver.url_for("/v1")
    settings.AI_API_KEY = "test-key"
    settings.AI_VISION_MODEL = MAIN_MODEL
    settings.AI_VISION_BACKUP_MODEL = BACKUP_MODEL
    return settings


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def backend(openai_settings, sleeps):
    """The OpenAI backend configured from settings, with retry delays recorded instead of slept."""
    return OpenAIBackend(sleep=sleeps.append, timeout=2.0)


@pytest.fixture
def vision(httpserver, openai_settings):
    return VisionServer(httpserver)


@pytest.fixture
def builtin(settings):
    settings.AI_BACKEND = "builtin"
    return settings


def image_requests(httpserver, path="/media/heron.jpg"):
    return [request for request, _ in httpserver.log if request.path == path]


# --- the builtin backend ---------------------------------------------------------------------------


def test_builtin_happy_path_downloads_stores_classifies_and_captions(builtin, image, photo, httpserver):
    result = caption_generate(image=image)

    assert result.status == S.PENDING
    assert result.processing_error is None
    assert result.local_path.startswith(f"captions/{image.platform_connection_id}/")
    assert result.local_path.endswith(".jpg")
    assert result.media_type == "image/jpeg"
    assert result.original_filename == "heron.jpg"
    with default_storage.open(result.local_path, "rb") as stored:
        assert stored.read() == normalise_image(data=photo).data

    assert result.image_category in ImageCategory.values
    assert result.generated_caption and result.generated_caption.endswith(".")
    assert result.caption_quality_score <= 10, "a placeholder: the lowest band, whatever the text"
    assert result.prompt_used == caption_prompt(
        category=result.image_category, language=None, max_length=500, optimal_min=80, optimal_max=200
    )
    assert "English" in result.prompt_used and "at most 500 characters" in result.prompt_used
    assert result.needs_special_review is True
    assert REVIEW_NOTE in result.reviewer_notes
    assert isinstance(result.retry_stats, RetryStats)
    assert result.retry_stats.attempts == 1, "one download, no retries (the builtin backend reports none)"
    assert Image.objects.get(pk=image.pk).generated_caption == result.generated_caption
    assert len(image_requests(httpserver)) == 1


class CountingBuiltin(BuiltinBackend):
    def __init__(self):
        self.requests = []

    def caption_image(self, request):
        self.requests.append(request)
        return super().caption_image(request)


def test_a_builtin_placeholder_scores_in_the_lowest_band_however_well_it_reads(builtin, image):
    CaptionGenerationUserSettingsFactory(
        platform_connection=image.platform_connection, optimal_min_length=10, optimal_max_length=200
    )
    spy = CountingBuiltin()

    result = caption_generate(image=image, backend=spy)

    report = caption_quality(text=result.generated_caption, optimal_min=10, optimal_max=200, limit=500)
    assert report.score >= 70 and not report.needs_special_review, "the text alone would pass"
    # Levels: 90 excellent, 70 good, 40 fair, below that poor (the lowest band).
    assert result.caption_quality_score < 40
    assert result.needs_special_review is True, "the builtin backend's metadata asks for review"
    assert result.reviewer_notes == REVIEW_NOTE, "its own reason, said once"
    assert len(spy.requests) == 1, "a backend that ignores prompts is not asked again"


def test_sorting_by_score_puts_a_placeholder_before_a_fair_model_caption(builtin, image):
    placeholder = caption_generate(image=image, backend=BuiltinBackend())
    fair = ImageFactory(generated_caption=LOW, caption_quality_score=score(LOW))
    first = Image.objects.filter(pk__in=[placeholder.pk, fair.pk]).order_by("caption_quality_score").first()
    assert first.pk == placeholder.pk


def test_a_backend_that_ignores_prompts_is_asked_once_even_for_a_low_score(builtin, image):
    class LowScoring(CountingBuiltin):
        def caption_image(self, request):
            result = super().caption_image(request)
            return dataclasses.replace(result, text="this image shows maybe a thing")

    spy = LowScoring()
    result = caption_generate(image=image, backend=spy)
    assert result.caption_quality_score < REVIEW_BELOW
    assert len(spy.requests) == 1, "its metadata says prompt_used False: another prompt changes nothing"
    assert result.status == S.PENDING and result.needs_special_review


def test_without_a_chosen_language_the_posts_own_language_is_used(builtin, image):
    Post.objects.filter(pk=image.post_id).update(language="es")
    spy = CountingBuiltin()
    result = caption_generate(image=Image.objects.get(pk=image.pk), backend=spy)
    assert "in Spanish" in result.prompt_used
    assert spy.requests[0].language == "es"


def test_the_users_language_wins_over_the_posts(builtin, image):
    Post.objects.filter(pk=image.post_id).update(language="es")
    CaptionGenerationUserSettingsFactory(platform_connection=image.platform_connection, language="de")
    result = caption_generate(image=Image.objects.get(pk=image.pk), backend=CountingBuiltin())
    assert "in German" in result.prompt_used


def test_the_users_language_is_named_and_requested(builtin, image):
    CaptionGenerationUserSettingsFactory(platform_connection=image.platform_connection, language="de")
    spy = CountingBuiltin()
    result = caption_generate(image=image, backend=spy)
    assert "in German" in result.prompt_used
    assert spy.requests[0].language == "de"
    assert "writes English only" in result.reviewer_notes, "the builtin backend's language note"


def test_a_stored_copy_is_used_without_downloading(builtin, image, httpserver):
    first = caption_generate(image=image)
    Image.objects.filter(pk=image.pk).update(generated_caption=None)

    again = caption_generate(image=first)

    assert again.local_path == first.local_path
    assert len(image_requests(httpserver)) == 1


def test_a_lost_stored_copy_is_downloaded_again(builtin, image, httpserver):
    Image.objects.filter(pk=image.pk).update(local_path="captions/gone/missing.jpg", media_type="image/jpeg")
    result = caption_generate(image=image)
    assert result.status == S.PENDING
    assert result.local_path.startswith(f"captions/{image.platform_connection_id}/")
    assert default_storage.exists(result.local_path)
    assert len(image_requests(httpserver)) == 1


def test_a_transient_download_failure_is_retried(builtin, httpserver, photo, sleeps):
    answers = iter(
        [
            Response("busy", status=503, headers={"Retry-After": "2"}),
            Response(photo, status=200, content_type="image/jpeg"),
        ]
    )
    httpserver.expect_request("/media/flaky.jpg").respond_with_handler(lambda request: next(answers))
    image = ImageFactory(
        image_url=httpserver.url_for("/media/flaky.jpg"), local_path="", generated_caption=None
    )

    result = caption_generate(image=image, sleep=sleeps.append)

    assert result.status == S.PENDING and result.generated_caption
    assert sleeps == [2.0], "Retry-After is honoured"
    assert result.retry_stats.retries == 1 and result.retry_stats.successes_after_retry == 1


def test_an_image_that_is_no_longer_pending_is_left_alone_without_outside_calls(builtin, image, httpserver):
    Image.objects.filter(pk=image.pk).update(status=S.APPROVED, final_caption="A heron.")
    result = caption_generate(image=image)
    assert result.status == S.APPROVED
    assert result.generated_caption is None
    assert httpserver.log == []


def test_an_image_in_error_is_captioned_and_back_to_pending(builtin, image):
    Image.objects.filter(pk=image.pk).update(status=S.ERROR, processing_error="The image server failed.")
    result = caption_generate(image=image)
    assert result.status == S.PENDING
    assert result.processing_error is None
    assert result.generated_caption


def test_the_caption_is_cut_to_the_instance_limit_at_a_sentence(vision, backend, image):
    connection = image.platform_connection
    connection.extra = {"description_limit": 120}
    connection.save()
    long_caption = (
        "A grey heron stands on one leg in shallow water. Reeds line the far bank of the river. "
        "The evening sky is orange and the water reflects it."
    )
    vision.answers[("main", MAIN_MODEL)] = long_caption

    result = caption_generate(image=image, backend=backend)

    assert result.generated_caption == (
        "A grey heron stands on one leg in shallow water. Reeds line the far bank of the river."
    )
    assert "at most 120 characters" in result.prompt_used


# --- the OpenAI backend: prompts -------------------------------------------------------------------


def test_the_category_prompt_is_used_and_the_stored_image_sent(vision, backend, image):
    vision.category = "chart"

    result = caption_generate(image=image, backend=backend)

    assert result.image_category == ImageCategory.CHART
    assert result.prompt_used.startswith(CATEGORY_PROMPTS[ImageCategory.CHART])
    assert "the main trend" in result.prompt_used
    assert result.generated_caption == GOOD
    assert result.caption_quality_score == score(GOOD)
    assert result.needs_special_review is False
    assert result.reviewer_notes is None
    (classify, caption) = vision.calls
    assert classify[:2] == ("classify", MAIN_MODEL)
    assert caption[:3] == ("main", MAIN_MODEL, result.prompt_used)
    with default_storage.open(result.local_path, "rb") as stored:
        expected_url = "data:image/jpeg;base64," + base64.b64encode(stored.read()).decode()
    assert caption[3] == expected_url == classify[3]


def test_the_people_prompt_forbids_guessing_identity(vision, backend, image):
    vision.category = "photo_people"
    result = caption_generate(image=image, backend=backend)
    assert result.image_category == ImageCategory.PHOTO_PEOPLE
    assert "Never guess who a person is" in result.prompt_used


def test_a_system_setting_overrides_the_category_prompt(vision, backend, image):
    config_set(key="caption_prompt_chart", value="Explain the chart's message for a blind reader.")
    vision.category = "chart"
    CaptionGenerationUserSettingsFactory(platform_connection=image.platform_connection, language="fr")

    result = caption_generate(image=image, backend=backend)

    assert result.prompt_used.startswith("Explain the chart's message for a blind reader. ")
    assert "in French" in result.prompt_used
    assert CATEGORY_PROMPTS[ImageCategory.CHART] not in result.prompt_used


def test_a_failed_classification_captions_as_other_and_says_so(vision, backend, image):
    vision.answers[("classify", MAIN_MODEL)] = server_error()
    result = caption_generate(image=image, backend=backend)
    assert result.status == S.PENDING
    assert result.image_category == ImageCategory.OTHER
    assert result.prompt_used.startswith(CATEGORY_PROMPTS[ImageCategory.OTHER])
    assert "could not be determined" in result.reviewer_notes
    assert result.retry_stats.failures == 1 and result.retry_stats.retries == 2


# --- the OpenAI backend: the fallback chain -------------------------------------------------------


def test_a_low_score_then_a_better_fallback_keeps_the_fallback(vision, backend, image):
    vision.answers[("main", MAIN_MODEL)] = LOW
    vision.answers[("fallback", MAIN_MODEL)] = GOOD

    result = caption_generate(image=image, backend=backend)

    assert result.generated_caption == GOOD
    assert result.caption_quality_score == score(GOOD)
    assert result.prompt_used.startswith(FALLBACK_PROMPT)
    assert vision.caption_calls() == [("main", MAIN_MODEL), ("fallback", MAIN_MODEL)], "good enough: stop"


@pytest.mark.parametrize(
    ("main", "fallback", "backup", "kept", "prompt_kind"),
    [
        pytest.param(LOW, WORSE, WORSE, LOW, "main", id="worse-fallbacks-not-kept"),
        pytest.param(LOW, BETTER_THAN_LOW, WORSE, BETTER_THAN_LOW, "fallback", id="best-of-three"),
        pytest.param(WORSE, LOW, BETTER_THAN_LOW, BETTER_THAN_LOW, "main", id="backup-best"),
        pytest.param(LOW, LOW, LOW, LOW, "main", id="tie-keeps-the-first"),
    ],
)
def test_the_best_scoring_caption_is_kept_never_a_worse_one(
    vision, backend, image, main, fallback, backup, kept, prompt_kind
):
    vision.answers[("main", MAIN_MODEL)] = main
    vision.answers[("fallback", MAIN_MODEL)] = fallback
    vision.answers[("main", BACKUP_MODEL)] = backup

    result = caption_generate(image=image, backend=backend)

    assert result.generated_caption == kept
    assert result.caption_quality_score == score(kept)
    assert result.needs_special_review is True, "below 70"
    assert (
        result.reviewer_notes
        == caption_quality(text=kept, optimal_min=80, optimal_max=200, limit=500).reviewer_notes
    )
    assert result.prompt_used.startswith(
        FALLBACK_PROMPT if prompt_kind == "fallback" else CATEGORY_PROMPTS["landscape"]
    )
    assert vision.caption_calls() == [("main", MAIN_MODEL), ("fallback", MAIN_MODEL), ("main", BACKUP_MODEL)]


def test_a_failing_main_model_then_the_backup_model_succeeds(vision, backend, image, sleeps):
    vision.answers[("main", MAIN_MODEL)] = server_error()
    vision.answers[("fallback", MAIN_MODEL)] = server_error()
    vision.answers[("main", BACKUP_MODEL)] = GOOD

    result = caption_generate(image=image, backend=backend)

    assert result.status == S.PENDING
    assert result.processing_error is None
    assert result.generated_caption == GOOD
    assert vision.caption_calls() == [("main", MAIN_MODEL)] * 3 + [("fallback", MAIN_MODEL)] * 3 + [
        ("main", BACKUP_MODEL)
    ], "each failing call is retried to exhaustion (3 attempts), then the chain moves on"
    assert len(sleeps) == 4, "two retries per exhausted call, none slept for real"
    assert result.retry_stats.retries == 4
    assert result.retry_stats.failures == 2
    assert result.retry_stats.reasons == {"500": 6}


def test_when_every_attempt_fails_the_image_is_in_error(vision, backend, image):
    for key in [("main", MAIN_MODEL), ("fallback", MAIN_MODEL), ("main", BACKUP_MODEL)]:
        vision.answers[key] = json_response({"error": {"message": "bad request"}}, status=400)

    result = caption_generate(image=image, backend=backend)

    assert result.status == S.ERROR
    assert result.processing_error.startswith("No caption could be written: ")
    assert "HTTP 400" in result.processing_error
    assert result.generated_caption is None
    assert result.local_path, "the stored copy is kept for the next try"


def test_a_refusal_ends_in_error_without_fallback(vision, backend, image):
    vision.answers[("main", MAIN_MODEL)] = json_response(
        chat_completion(None, refusal="I can't describe this image.")
    )

    result = caption_generate(image=image, backend=backend)

    assert result.status == S.ERROR
    assert result.processing_error.startswith("The AI backend refused this image: ")
    assert "I can't describe this image." in result.processing_error
    assert result.generated_caption is None
    assert vision.caption_calls() == [("main", MAIN_MODEL)], "no fallback after a refusal"


def test_a_moderation_refusal_of_the_classification_ends_in_error(vision, backend, image):
    vision.answers[("classify", MAIN_MODEL)] = json_response(
        {
            "error": {
                "message": "flagged",
                "type": "invalid_request_error",
                "code": "content_policy_violation",
            }
        },
        status=400,
    )
    result = caption_generate(image=image, backend=backend)
    assert result.status == S.ERROR
    assert result.processing_error.startswith("The AI backend refused this image: ")
    assert vision.caption_calls() == []


# --- image failures ---------------------------------------------------------------------------------


def test_a_download_404_ends_in_error_with_the_reason(vision, backend, httpserver):
    httpserver.expect_request("/media/gone.jpg").respond_with_data("not found", status=404)
    image = ImageFactory(
        image_url=httpserver.url_for("/media/gone.jpg"), local_path="", generated_caption=None
    )

    result = caption_generate(image=image, backend=backend)

    assert result.status == S.ERROR
    assert "HTTP 404" in result.processing_error
    assert httpserver.url_for("/media/gone.jpg") in result.processing_error
    assert result.local_path == ""
    assert vision.calls == [], "no AI call for an image that never arrived"


def test_a_corrupt_image_ends_in_error_with_the_reason(vision, backend, serve_image):
    corrupt = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"garbage" * 50
    image = ImageFactory(
        image_url=serve_image("/media/broken.jpg", data=corrupt), local_path="", generated_caption=None
    )
    with pytest.raises(ImageRejected) as expected:
        normalise_image(data=corrupt)

    result = caption_generate(image=image, backend=backend)

    assert result.status == S.ERROR
    assert result.processing_error == expected.value.reason
    assert result.local_path == ""
    assert vision.calls == []


# --- a reviewer acting meanwhile -------------------------------------------------------------------


class ReviewerMeanwhile:
    """Delegates to the real backend; a reviewer acts on the image while its caption is written."""

    def __init__(self, backend, act):
        self.backend, self.act = backend, act
        self.name = backend.name

    def classify_image(self, image, **kwargs):
        return self.backend.classify_image(image, **kwargs)

    def caption_image(self, request):
        result = self.backend.caption_image(request)
        self.act()
        return result


@pytest.mark.parametrize(
    ("act", "status"),
    [
        (
            lambda image, user: caption_approve(image=image, reviewer=user, text="A heron by a reviewer."),
            S.APPROVED,
        ),
        (
            lambda image, user: caption_edit(image=image, editor=user, text="A heron by a reviewer."),
            S.REVIEWED,
        ),
        (lambda image, user: caption_reject(image=image, reviewer=user, notes="Not useful."), S.REJECTED),
    ],
    ids=["approved", "reviewed", "rejected"],
)
def test_a_reviewers_action_meanwhile_is_not_overwritten(vision, backend, image, act, status):
    reviewer = UserFactory(role=Role.REVIEWER)
    meanwhile = ReviewerMeanwhile(backend, lambda: act(Image.objects.get(pk=image.pk), reviewer))

    result = caption_generate(image=image, backend=meanwhile)

    assert result.status == status
    assert result.generated_caption is None
    assert result.prompt_used is None
    assert result.caption_quality_score is None
    assert result.local_path == "", "the row is left exactly as the reviewer left it"
    assert result.reviewed_by == reviewer


# --- regenerate and the task -----------------------------------------------------------------------


def test_regenerate_from_rejected_queues_a_new_caption(builtin, image, django_capture_on_commit_callbacks):
    reviewer = UserFactory(role=Role.REVIEWER)
    Image.objects.filter(pk=image.pk).update(
        status=S.REJECTED,
        generated_caption="A bird.",
        caption_quality_score=20,
        needs_special_review=True,
        processing_error="old",
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queued = caption_regenerate(image=image, actor=reviewer)
        assert queued.status == S.PENDING
        assert queued.generated_caption is None
        assert queued.caption_quality_score is None
        assert queued.needs_special_review is False
        assert queued.processing_error is None

    assert len(callbacks) == 1
    image.refresh_from_db()
    assert image.status == S.PENDING
    assert image.generated_caption and image.generated_caption != "A bird."
    assert image.caption_quality_score is not None
    assert image.needs_special_review is True, "builtin captions are flagged"
    audit = AuditLog.objects.get(action="caption.regenerate_requested", resource_id=str(image.pk))
    assert audit.user == reviewer
    assert audit.details == {"from": S.REJECTED}


@pytest.mark.parametrize("status", [S.ERROR, S.PENDING, S.REVIEWED])
def test_regenerate_is_allowed_from(status, builtin, django_capture_on_commit_callbacks):
    image = ImageFactory(status=status, reviewed_caption="Kept wording." if status == S.REVIEWED else None)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queued = caption_regenerate(image=image, actor=None)
    assert queued.status == S.PENDING
    assert queued.generated_caption is None
    assert len(callbacks) == 1
    assert queued.reviewed_caption is None, "approving afterwards takes the new caption, not old wording"


@pytest.mark.parametrize("status", [S.POSTED, S.APPROVED])
def test_regenerate_is_refused_once_approved_or_posted(status, django_capture_on_commit_callbacks):
    image = ImageFactory(status=status, final_caption="A heron.")
    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(InvalidTransition):
        caption_regenerate(image=image, actor=None)
    assert callbacks == []
    image.refresh_from_db()
    assert image.status == status
    assert image.generated_caption == "A heron standing in shallow water at dusk."
    assert not AuditLog.objects.filter(action="caption.regenerate_requested").exists()


def test_the_task_ignores_a_missing_image():
    assert generate_image_caption(987_654_321) is None


def test_the_task_captions_an_image_without_a_caption(builtin, image):
    assert generate_image_caption(image.pk) == S.PENDING
    image.refresh_from_db()
    assert image.generated_caption


def test_the_task_run_twice_does_not_caption_again(builtin, image, httpserver):
    generate_image_caption(image.pk)
    first = Image.objects.get(pk=image.pk)
    requests = len(httpserver.log)

    assert generate_image_caption(image.pk) == S.PENDING

    again = Image.objects.get(pk=image.pk)
    assert again.updated_at == first.updated_at
    assert again.generated_caption == first.generated_caption
    assert len(httpserver.log) == requests


# --- a reviewer's instruction with a regenerate ----------------------------------------------------

INSTRUCTION = "Transcribe the   text on the sign word for word."


def test_a_regenerate_instruction_reaches_the_models_prompt(
    openai_settings, vision, image, django_capture_on_commit_callbacks
):
    Image.objects.filter(pk=image.pk).update(status=S.REJECTED)
    reviewer = UserFactory(role=Role.REVIEWER)

    with django_capture_on_commit_callbacks(execute=True):
        caption_regenerate(image=image, actor=reviewer, instruction=INSTRUCTION)

    image.refresh_from_db()
    asked = "The reviewer asks for this image: Transcribe the text on the sign word for word."
    prompts = [text for kind, _model, text, _url in vision.calls if kind != "classify"]
    assert prompts and all(asked in text for text in prompts), prompts
    assert image.prompt_used == prompts[0]
    # The rules (language, length, plain text) still come after it, so they hold.
    assert prompts[0].index(asked) < prompts[0].index("at most 500 characters")
    audit = AuditLog.objects.get(action="caption.regenerate_requested", resource_id=str(image.pk))
    assert audit.details == {"from": S.REJECTED, "instruction": " ".join(INSTRUCTION.split())}


def test_without_an_instruction_the_prompt_is_the_categorys(openai_settings, vision, image):
    result = caption_generate(image=image, instruction="   ")
    assert "The reviewer asks" not in result.prompt_used


def test_a_regenerate_instruction_over_its_limit_is_refused_and_nothing_changes(
    django_capture_on_commit_callbacks,
):
    from django.core.exceptions import ValidationError

    from captions.prompts import INSTRUCTION_MAX_CHARS

    image = ImageFactory(status=S.REJECTED)
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(ValidationError) as raised,
    ):
        caption_regenerate(image=image, actor=None, instruction="x" * (INSTRUCTION_MAX_CHARS + 1))
    assert "instruction" in raised.value.message_dict
    assert callbacks == []
    assert Image.objects.get(pk=image.pk).status == S.REJECTED
