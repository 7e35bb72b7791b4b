"""The admin's "Repost with alt text" page and the refusal to post back on Bluesky, against the
fake PDS."""

import functools
import io

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image as PILImage

from accounts.models import Role
from accounts.services.users import user_set_role
from captions.models import Image, ImageStatus, Post
from captions.services.review import caption_approve
from captions.services.scan import scan_feed_connection
from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.registry import media_client_for
from platforms.models import PlatformType
from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.bluesky import FakeBluesky

pytestmark = pytest.mark.django_db

CREATE = "/xrpc/com.atproto.repo.createRecord"
DELETE = "/xrpc/com.atproto.repo.deleteRecord"
CLIENT = functools.partial(
    media_client_for,
    policy=RetryPolicy(attempts=1),
    sleep=lambda s: None,
    throttle=HostThrottle(rate=10_000, sleep=lambda s: None),
)


def png(colour) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (60, 40), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def fake(httpserver):
    return FakeBluesky(httpserver)


@pytest.fixture
def moderator():
    client = Client()
    client.force_login(user_set_role(user=UserFactory(), role=Role.MODERATOR))
    return client


@pytest.fixture
def scanned(fake):
    session = fake.issue_session()
    connection = PlatformConnectionFactory(
        platform_type=PlatformType.BLUESKY,
        instance_url=fake.base_url,
        username=fake.handle,
        access_token=session["accessJwt"],
        refresh_token=session["refreshJwt"],
        extra={"did": fake.did, "handle": fake.handle, "pds_url": fake.base_url},
    )
    uri = fake.add_post(
        "Two squares", images=[(png((200, 0, 0)), ""), (png((0, 0, 200)), "Blue, described.")]
    )
    with CLIENT(connection) as api:
        scan_feed_connection(connection=connection, api=api, max_posts=5)
    return Post.objects.get(post_id=uri), Image.objects.get()


def page_url(post) -> str:
    return reverse("admin:captions_post_repost", args=[post.pk])


def test_the_confirmation_page_says_what_will_happen_and_does_nothing(moderator, fake, scanned):
    post, image = scanned
    caption_approve(image=image, reviewer=image.platform_connection.user, text="A red square.")
    page = moderator.get(page_url(post)).content.decode()
    assert "A <strong>new post</strong> will be created on Bluesky" in page
    assert "it is <strong>deleted</strong> once the new" in page
    assert '<input type="checkbox" name="delete_original">' in page  # unticked
    assert "A red square." in page and "Blue, described." in page and "keeps its alt text" in page
    assert fake.count("POST", CREATE) == 0 and fake.count("POST", DELETE) == 0
    change = moderator.get(reverse("admin:captions_post_change", args=[post.pk])).content.decode()
    assert page_url(post) in change


def test_confirming_creates_the_new_post_and_keeps_the_old_one(moderator, fake, scanned):
    post, image = scanned
    caption_approve(image=image, reviewer=image.platform_connection.user, text="A red square.")
    response = moderator.post(page_url(post), {}, follow=True)
    assert "The new post was created" in response.content.decode()
    post.refresh_from_db()
    assert post.repost_uri and post.original_deleted_at is None
    assert len(fake.posts) == 2 and fake.count("POST", DELETE) == 0
    new = next(p for p in fake.posts if p["uri"] == post.repost_uri)
    assert [i["alt"] for i in new["value"]["embed"]["images"]] == ["A red square.", "Blue, described."]


def test_ticking_the_box_deletes_the_old_post(moderator, fake, scanned):
    post, image = scanned
    caption_approve(image=image, reviewer=image.platform_connection.user, text="A red square.")
    response = moderator.post(page_url(post), {"delete_original": "on"}, follow=True)
    assert "The original post was deleted." in response.content.decode()
    assert [p["uri"] for p in fake.posts] == [Post.objects.get(pk=post.pk).repost_uri]


def test_before_approval_the_page_refuses(moderator, fake, scanned):
    post, _ = scanned
    page = moderator.get(page_url(post)).content.decode()
    assert "Every image needs an approved caption" in page and "Yes, create the new post" not in page
    response = moderator.post(page_url(post), {"delete_original": "on"})
    assert response.status_code == 409
    assert fake.count("POST", CREATE) == 0 and len(fake.posts) == 1


def test_the_post_action_says_bluesky_posts_cannot_be_edited(moderator, fake, scanned):
    post, image = scanned
    caption_approve(image=image, reviewer=image.platform_connection.user, text="A red square.")
    response = moderator.post(
        reverse("admin:captions_image_changelist"),
        {"action": "post_selected", "_selected_action": [image.pk], "post": "yes"},
        follow=True,
    )
    assert (
        "1 not posted: Bluesky posts cannot be edited; use Repost with alt text" in response.content.decode()
    )
    assert Image.objects.get(pk=image.pk).status == ImageStatus.APPROVED
    review = moderator.get(reverse("admin:captions_image_review", args=[image.pk])).content.decode()
    assert "Bluesky posts cannot be edited; use Repost with alt text." in review and page_url(post) in review
