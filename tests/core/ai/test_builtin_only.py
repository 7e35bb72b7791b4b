"""A person who chose builtin AI only: nothing of their work reaches an AI server.

The site is set to the OpenAI-compatible backend, pointed at a local fake chat-completions server
(tests/fakes/openai_chat.py) that counts every request. A builtin-only person's caption scan,
workflow (drafts, scores) and the alt text of their workflow's image make no request to it; the
same work for another person does, carrying their images and text.
"""

import functools
import io

import pytest
from PIL import Image as PILImage

from captions.models import Image, ImageStatus
from captions.services import tasks as tasks_module
from captions.services.tasks import caption_task_run
from core.ai import backend_for, backend_name_for
from generation.backends import image_backend_for
from generation.backends.builtin import BuiltinImageBackend
from platforms.kinds.mastodon.client import MastodonApi
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationTaskFactory, CaptionGenerationUserSettingsFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import png_bytes
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.openai_chat import DEFAULT_KEY, DEFAULT_MODEL, FakeOpenAIChat
from workflows.models import Draft, MediaAttachment, Platform, WorkflowMode
from workflows.services.media import media_attach
from workflows.services.workflows import workflow_create
from workflows.writing import CRITERIA

pytestmark = pytest.mark.django_db

NO_WAIT = functools.partial(MastodonApi.from_connection, sleep=lambda seconds: None)
CAPTION = "A blue square on a plain white background, evenly lit, with no text and no people in it."
SOURCE = {
    "text": "Our team shipped version 2 of the app today. It starts twice as fast and works offline.",
    "title": "Version 2",
}


@pytest.fixture
def ai(httpserver, settings):
    """The site's AI is the OpenAI-compatible backend at a local fake that answers every request."""
    fake = FakeOpenAIChat(httpserver, default_reply=CAPTION)
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = fake.base_url
    settings.AI_API_KEY = DEFAULT_KEY
    settings.AI_VISION_MODEL = settings.AI_VISION_BACKUP_MODEL = settings.AI_TEXT_MODEL = DEFAULT_MODEL
    settings.IMAGE_BACKEND = "openai"
    settings.CAPTION_CONCURRENCY = 1
    return fake


def png(colour) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (240, 160), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def image_parts(request) -> list[dict]:
    return [
        part
        for message in request.messages
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "image_url"
    ]


# --- choosing the backend ----------------------------------------------------------------------


def test_backend_for_a_builtin_only_person_is_the_builtin_one(ai):
    careful, other = UserFactory(ai_builtin_only=True), UserFactory()
    assert backend_for(user=careful).name == "builtin"
    assert backend_name_for(user=careful) == "builtin"
    assert backend_for(user=other).name == "openai"
    assert backend_for(user=None).name == "openai"  # work of no one: the site's


def test_image_generation_for_a_builtin_only_person_is_the_builtin_image_backend(ai):
    careful = UserFactory(ai_builtin_only=True)
    assert isinstance(image_backend_for(user=careful), BuiltinImageBackend)
    assert isinstance(image_backend_for(user=careful, name="imagefx"), BuiltinImageBackend)
    assert not isinstance(image_backend_for(user=UserFactory()), BuiltinImageBackend)


# --- a caption scan ----------------------------------------------------------------------------


def run_caption_scan(httpserver, user) -> list[Image]:
    mastodon = FakeMastodon(httpserver, description_limit=900)
    status = mastodon.add_status(text="pictures", media=[None, None])
    for index, media in enumerate(status["media_attachments"]):
        mastodon.files[media["id"]] = png((20 + 100 * index, 90, 200))
    connection = PlatformConnectionFactory(
        user=user, instance_url=mastodon.base_url, access_token=mastodon.token, extra={}
    )
    CaptionGenerationUserSettingsFactory(user=user, platform_connection=connection, processing_delay=0)
    task = CaptionGenerationTaskFactory(
        platform_connection=connection,
        user=user,
        settings_json=tasks_module.caption_settings_snapshot(user=user, connection=connection),
    )
    caption_task_run(task_id=task.pk, api_factory=NO_WAIT)
    return list(Image.objects.filter(platform_connection=connection).order_by("attachment_index"))


def test_a_builtin_only_persons_caption_scan_sends_nothing(ai, httpserver):
    images = run_caption_scan(httpserver, UserFactory(ai_builtin_only=True))
    assert ai.count() == 0
    assert len(images) == 2
    assert all(image.status == ImageStatus.PENDING and image.generated_caption for image in images)


def test_another_persons_caption_scan_sends_their_images(ai, httpserver):
    images = run_caption_scan(httpserver, UserFactory())
    assert len(images) == 2
    assert ai.count() > 0
    assert any(image_parts(request) for request in ai.requests)


# --- a workflow: drafts, scores and the alt text of its image -----------------------------------


def run_workflow(capture, user):
    with capture(execute=True):
        workflow = workflow_create(
            user=user, mode=WorkflowMode.MANUAL, platforms=[Platform.LINKEDIN], source_content=SOURCE
        )
    with capture(execute=True):
        media_attach(workflow=workflow, actor=user, data=png_bytes(), filename="a.png")
    return workflow


def test_a_builtin_only_persons_workflow_sends_nothing(ai, django_capture_on_commit_callbacks):
    workflow = run_workflow(django_capture_on_commit_callbacks, UserFactory(ai_builtin_only=True))
    assert ai.count() == 0
    draft = Draft.objects.filter(workflow=workflow).first()
    assert draft is not None and draft.content
    attachment = MediaAttachment.objects.get(workflow=workflow)
    assert attachment.generated_alt_text


def test_another_persons_workflow_sends_their_text_and_image(ai, django_capture_on_commit_callbacks):
    ai.reply("Version 2 of our app starts twice as fast and works offline. What will you try first? #apps")
    ai.reply_json({"score": 95, "feedback": "Clear.", "criteria_scores": dict.fromkeys(CRITERIA, 95)})
    run_workflow(django_capture_on_commit_callbacks, UserFactory())
    assert ai.count() >= 3
    assert "version 2 of the app" in ai.requests[0].prompt
    assert any(image_parts(request) for request in ai.requests)
