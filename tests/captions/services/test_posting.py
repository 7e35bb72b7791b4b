import functools

import pytest

from accounts.models import AuditLog, Role
from captions.models import Image, ImageStatus
from captions.services.posting import caption_approve_and_post, caption_post
from captions.services.review import InvalidTransition
from platforms.kinds.mastodon.client import MastodonApi
from tests.factories.accounts import UserFactory
from tests.factories.captions import ImageFactory, PostFactory, ProcessingRunFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.mastodon import FakeMastodon

pytestmark = pytest.mark.django_db

NO_WAIT = functools.partial(MastodonApi.from_connection, sleep=lambda seconds: None)


@pytest.fixture
def reviewer():
    return UserFactory(role=Role.REVIEWER)


def setup_post(httpserver, *, flavor="mastodon", descriptions=("A grey cat.", None, "A black cat.")):
    fake = FakeMastodon(httpserver, flavor=flavor)
    status = fake.add_status(text="Three cats", spoiler_text="cats", language="en", media=list(descriptions))
    connection = PlatformConnectionFactory(
        instance_url=fake.base_url, access_token=fake.token, platform_type=flavor
    )
    post = PostFactory(platform_connection=connection, post_id=status["id"])
    middle = status["media_attachments"][1]
    image = ImageFactory(
        post=post,
        image_post_id=middle["id"],
        attachment_index=1,
        status=ImageStatus.APPROVED,
        final_caption="A ginger cat stretching.",
    )
    return fake, status, image


def test_posting_changes_only_this_images_description(httpserver, reviewer):
    fake, status, image = setup_post(httpserver)
    image = caption_post(image=image, actor=reviewer, api_factory=NO_WAIT)
    assert image.status == ImageStatus.POSTED and image.posted_at is not None
    after = fake.status(status["id"])
    assert [m["description"] for m in after["media_attachments"]] == [
        "A grey cat.",
        "A ginger cat stretching.",
        "A black cat.",
    ]
    assert after["spoiler_text"] == "cats" and after["language"] == "en"
    assert fake.source(status["id"])["text"] == "Three cats"
    assert AuditLog.objects.filter(action="caption.posted", resource_id=str(image.pk)).exists()


def test_a_multi_line_caption_is_posted_with_its_line_breaks(httpserver, reviewer):
    fake, status, image = setup_post(httpserver)
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.REVIEWED)
    image = caption_approve_and_post(
        image=image, reviewer=reviewer, text="A sign:\r\nNO PARKING\r\nExcept Sundays", api_factory=NO_WAIT
    )
    assert image.status == ImageStatus.POSTED, image.processing_error
    (edit,) = fake.requests_to(f"/api/v1/statuses/{status['id']}", method="PUT")
    sent = {entry["id"]: entry["description"] for entry in edit.json["media_attributes"]}
    assert sent[image.image_post_id] == "A sign:\nNO PARKING\nExcept Sundays"
    assert fake.media(image.image_post_id)["description"] == "A sign:\nNO PARKING\nExcept Sundays"


def test_a_post_made_public_by_the_edit_is_not_reported_as_posted(httpserver, reviewer):
    fake = FakeMastodon(httpserver)
    status = fake.add_status(text="Quiet cats", visibility="unlisted", media=[None, None])
    connection = PlatformConnectionFactory(instance_url=fake.base_url, access_token=fake.token)
    run = ProcessingRunFactory(platform_connection=connection, user=connection.user)
    image = ImageFactory(
        post=PostFactory(platform_connection=connection, post_id=status["id"]),
        image_post_id=status["media_attachments"][0]["id"],
        attachment_index=0,
        status=ImageStatus.APPROVED,
        final_caption="A tabby asleep.",
    )
    fake.edit_sets_visibility = "public"  # Takahē
    fake.require_every_description = True  # Takahē too: the other image has none yet

    image = caption_post(image=image, actor=reviewer, api_factory=NO_WAIT)

    assert image.status == ImageStatus.ERROR and image.posted_at is None
    assert image.post_changes == ["visibility changed from 'unlisted' to 'public'"]
    assert "was written" in image.processing_error
    assert "visibility changed from 'unlisted' to 'public'" in image.processing_error
    run.refresh_from_db()
    (warning,) = run.warnings
    assert warning.startswith(f"Image {image.pk}:") and "'unlisted' to 'public'" in warning
    audit = AuditLog.objects.get(action="caption.post_changed", resource_id=str(image.pk))
    assert audit.details["changes"] == ["visibility changed from 'unlisted' to 'public'"]
    assert not AuditLog.objects.filter(action="caption.posted").exists()
    assert [m["description"] for m in fake.status(status["id"])["media_attachments"]] == [
        "A tabby asleep.",
        "",
    ]


def test_one_image_of_two_undescribed_can_be_posted_where_every_description_is_required(httpserver, reviewer):
    fake, status, image = setup_post(httpserver, descriptions=(None, None))
    fake.require_every_description = True
    image = caption_post(image=image, actor=reviewer, api_factory=NO_WAIT)
    assert image.status == ImageStatus.POSTED, image.processing_error
    assert [m["description"] for m in fake.status(status["id"])["media_attachments"]] == [
        "",
        "A ginger cat stretching.",
    ]


def test_pixelfed_gets_a_media_update(httpserver, reviewer):
    fake, _status, image = setup_post(httpserver, flavor="pixelfed")
    caption_post(image=image, actor=reviewer, api_factory=NO_WAIT)
    assert fake.media(image.image_post_id)["description"] == "A ginger cat stretching."
    assert fake.count("PUT", f"/api/v1/media/{image.image_post_id}") == 1


def test_an_image_already_posted_is_not_posted_again(httpserver, reviewer):
    fake, status, image = setup_post(httpserver)
    caption_post(image=image, actor=reviewer, api_factory=NO_WAIT)
    caption_post(image=image, actor=reviewer, api_factory=NO_WAIT)
    assert fake.count("PUT", f"/api/v1/statuses/{status['id']}") == 1


def test_a_platform_failure_sets_error_with_the_reason(httpserver, reviewer):
    fake, status, image = setup_post(httpserver)
    for _ in range(4):
        fake.error_next(f"/api/v1/statuses/{status['id']}", status=503)
    image = caption_post(image=image, actor=reviewer, api_factory=NO_WAIT)
    assert image.status == ImageStatus.ERROR
    assert image.processing_error.startswith("Posting failed:")
    assert image.final_caption == "A ginger cat stretching.", "the approved caption is kept for a retry"
    assert AuditLog.objects.filter(action="caption.post_failed").exists()


def test_only_approved_captions_are_posted(httpserver, reviewer):
    fake, status, image = setup_post(httpserver)
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.PENDING)
    with pytest.raises(InvalidTransition):
        caption_post(image=image, actor=reviewer, api_factory=NO_WAIT)
    assert fake.count("PUT", f"/api/v1/statuses/{status['id']}") == 0


def test_approve_and_post(httpserver, reviewer):
    fake, status, image = setup_post(httpserver)
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.PENDING, final_caption=None)
    image = caption_approve_and_post(
        image=image, reviewer=reviewer, text="A cat mid-yawn.", api_factory=NO_WAIT
    )
    assert image.status == ImageStatus.POSTED
    assert fake.status(status["id"])["media_attachments"][1]["description"] == "A cat mid-yawn."
