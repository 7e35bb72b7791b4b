"""A workflow's images go out with the alt text a person approved: from attaching to the post on a
local fake Mastodon, through the caption backends, review, the gate and the publishing job."""

import functools

import pytest

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.publishing import publisher_for
from platforms.models import PlatformType
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import AcceptedPlatformStateFactory, png_bytes
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server: hanging answers)
from tests.fakes.mastodon import FakeMastodon
from workflows.errors import AltTextNotApproved, MediaRefused
from workflows.models import (
    AltTextStatus,
    MediaAttachment,
    Platform,
    PlatformStatus,
    PublishingStatus,
    WorkflowStatus,
)
from workflows.services import publishing as publishing_module
from workflows.services.media import media_alt_text_approve, media_alt_text_edit, media_attach
from workflows.services.publishing import publishing_job_create, publishing_job_publish
from workflows.services.review import workflow_review

pytestmark = pytest.mark.django_db

ALT_TEXTS = [
    "A cat asleep on a keyboard.\nThe screen shows a build log.",
    "Ein Diagramm: Build-Zeiten fallen von 9 auf 4 Minuten.",
    "夜の東京タワー 🗼 seen from the river",
]


@pytest.fixture(autouse=True)
def _instant_retries(monkeypatch, settings):
    settings.PUBLISHING_MAX_ATTEMPTS = 3
    monkeypatch.setattr(
        publishing_module,
        "publisher_for",
        functools.partial(
            publisher_for,
            policy=RetryPolicy(attempts=3, base_delay=0.0),
            sleep=lambda seconds: None,
            throttle=HostThrottle(rate=10_000, sleep=lambda seconds: None),
        ),
    )


@pytest.fixture
def mastodon(httpserver):
    return FakeMastodon(httpserver)


@pytest.fixture
def workflow(mastodon, django_capture_on_commit_callbacks):
    connection = PlatformConnectionFactory(
        platform_type=PlatformType.MASTODON,
        instance_url=mastodon.base_url,
        access_token=mastodon.token,
        extra={"timeout": 0.5},
    )
    state = AcceptedPlatformStateFactory(
        platform=Platform.MASTODON,
        status=PlatformStatus.AWAITING_REVIEW,
        workflow__user=connection.user,
        workflow__status=WorkflowStatus.AWAITING_REVIEW,
        active_draft__content="Release 2.0 is out: faster builds, fewer bugs.",
    )
    workflow = state.workflow
    with django_capture_on_commit_callbacks(execute=True):  # the caption backends write each one
        for shade in range(3):
            media_attach(
                workflow=workflow,
                actor=workflow.user,
                data=png_bytes(color=(40 * shade, 90, 160)),
                filename=f"shot-{shade + 1}.png",
            )
    return workflow


def approve_all(workflow):
    for attachment, text in zip(workflow.media.order_by("position"), ALT_TEXTS, strict=True):
        assert attachment.alt_status == AltTextStatus.AWAITING_REVIEW and attachment.alt_text
        media_alt_text_edit(attachment=attachment, actor=workflow.user, text=text)
        media_alt_text_approve(attachment=attachment, actor=workflow.user)


def test_three_images_arrive_in_order_each_with_its_approved_alt_text_exact(
    mastodon, workflow, django_capture_on_commit_callbacks
):
    owner = workflow.user
    with pytest.raises(AltTextNotApproved):
        workflow_review(workflow=workflow, platform=Platform.MASTODON, action="accept", reviewer=owner)
    approve_all(workflow)
    workflow_review(workflow=workflow, platform=Platform.MASTODON, action="accept", reviewer=owner)
    with django_capture_on_commit_callbacks(execute=True):
        job = publishing_job_create(workflow=workflow, platform=Platform.MASTODON, actor=owner)
    job.refresh_from_db()

    assert job.status == PublishingStatus.PUBLISHED, job.error_message
    [status] = mastodon.statuses_created()
    attached = mastodon.status(status["id"])["media_attachments"]
    assert [media["description"] for media in attached] == ALT_TEXTS
    uploads = mastodon.requests_to("/api/v2/media", method="POST")
    assert len(uploads) == 3
    # In order: the bytes of each upload are the attachment's file, first to last.
    stored = [a.storage_key for a in workflow.media.order_by("position")]
    assert [mastodon.files[m["id"]] for m in attached] == [open_bytes(key) for key in stored]


def test_a_lost_answer_after_the_status_was_created_does_not_post_twice(mastodon, workflow):
    approve_all(workflow)
    workflow_review(workflow=workflow, platform=Platform.MASTODON, action="accept", reviewer=workflow.user)
    job = publishing_job_create(workflow=workflow, platform=Platform.MASTODON, actor=workflow.user)
    mastodon.accept_then_hang_next(seconds=1.5, path="/api/v1/statuses")

    job = publishing_job_publish(job_id=job.pk)

    assert job.status == PublishingStatus.PUBLISHED, job.error_message
    [status] = mastodon.statuses_created()
    assert [m["description"] for m in mastodon.status(status["id"])["media_attachments"]] == ALT_TEXTS
    assert len(mastodon.requests_to("/api/v2/media", method="POST")) == 3, "uploads are not repeated"


def test_media_are_frozen_while_the_job_is_live_and_checked_again_at_send_time(mastodon, workflow):
    approve_all(workflow)
    workflow_review(workflow=workflow, platform=Platform.MASTODON, action="accept", reviewer=workflow.user)
    job = publishing_job_create(workflow=workflow, platform=Platform.MASTODON, actor=workflow.user)
    first = workflow.media.order_by("position").first()
    with pytest.raises(MediaRefused, match="cancel its job first"):
        media_alt_text_edit(attachment=first, actor=workflow.user, text="Changed after approval.")
    # Whatever changed the row anyway (an operator in the database), the job looks again at send time.
    MediaAttachment.objects.filter(pk=first.pk).update(alt_status=AltTextStatus.AWAITING_REVIEW)

    job = publishing_job_publish(job_id=job.pk)

    assert job.status == PublishingStatus.FAILED
    assert "Image 1 (shot-1.png): alt text is awaiting review" in job.error_message
    assert mastodon.statuses_created() == [] and not mastodon.requests_to("/api/v2/media", method="POST")


def open_bytes(key: str) -> bytes:
    from django.core.files.storage import default_storage

    with default_storage.open(key, "rb") as handle:
        return handle.read()


def test_a_webhook_blog_receives_signed_links_that_serve_the_files(httpserver, settings, client):
    from urllib.parse import urlsplit

    from tests.factories.workflows import MediaAttachmentFactory
    from tests.fakes.webhook import FakeWebhook

    settings.PUBLIC_BASE_URL = "https://desk.example.org"
    blog = FakeWebhook(httpserver)
    connection = PlatformConnectionFactory(
        platform_type=PlatformType.WEBHOOK, instance_url=blog.url, access_token=blog.secret, extra={}
    )
    state = AcceptedPlatformStateFactory(
        platform=Platform.BLOG, workflow__user=connection.user, workflow__status=WorkflowStatus.COMPLETED
    )
    attachment = MediaAttachmentFactory(
        workflow=state.workflow, alt_text="A chart:\nbuild times halved.", alt_status=AltTextStatus.APPROVED
    )
    job = publishing_job_create(workflow=state.workflow, platform=Platform.BLOG, actor=connection.user)

    job = publishing_job_publish(job_id=job.pk)

    assert job.status == PublishingStatus.PUBLISHED, job.error_message
    [post] = blog.posts
    [image] = post["images"]
    assert image["alt_text"] == "A chart:\nbuild times halved." and image["media_type"] == "image/png"
    assert image["url"].startswith("https://desk.example.org/")
    served = client.get(urlsplit(image["url"]).path)
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == open_bytes(attachment.storage_key)


def test_a_bluesky_post_carries_two_images_with_their_approved_alt_text(httpserver):
    from tests.factories.workflows import MediaAttachmentFactory
    from tests.fakes.bluesky import FakeBluesky

    bluesky = FakeBluesky(httpserver)
    session = bluesky.issue_session()
    connection = PlatformConnectionFactory(
        platform_type=PlatformType.BLUESKY,
        instance_url=bluesky.base_url,
        username=bluesky.handle,
        access_token=session["accessJwt"],
        refresh_token=session["refreshJwt"],
        extra={"did": bluesky.did, "handle": bluesky.handle, "pds_url": bluesky.base_url},
    )
    state = AcceptedPlatformStateFactory(
        platform=Platform.BLUESKY,
        workflow__user=connection.user,
        workflow__status=WorkflowStatus.COMPLETED,
        active_draft__content="Release 2.0 ist da 🎉 https://example.com/v2 #release",
    )
    texts = ["Zwei Balken: vorher 9 Minuten,\nnachher 4.", "Скриншот журнала сборки 🚀"]
    for position, text in enumerate(texts):
        MediaAttachmentFactory(
            workflow=state.workflow,
            position=position,
            data=png_bytes(color=(position * 90, 30, 30)),
            alt_text=text,
            alt_status=AltTextStatus.APPROVED,
        )
    job = publishing_job_create(workflow=state.workflow, platform=Platform.BLUESKY, actor=connection.user)

    job = publishing_job_publish(job_id=job.pk)

    assert job.status == PublishingStatus.PUBLISHED, job.error_message
    [post] = bluesky.posts
    images = post["value"]["embed"]["images"]
    assert [image["alt"] for image in images] == texts
    assert [image["aspectRatio"] for image in images] == [{"width": 120, "height": 90}] * 2
