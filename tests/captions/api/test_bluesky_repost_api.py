"""/api/v1/captions/posts/{id}/repost/ and posting back on Bluesky, against the fake PDS."""

import functools
import io

import pytest
from PIL import Image as PILImage

from accounts.models import Role
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
from tests.isolation import client_for

pytestmark = pytest.mark.django_db

POSTS = "/api/v1/captions/posts/"
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
def scanned(fake, user):
    """A Bluesky post of the user with two images lacking alt text, scanned."""
    session = fake.issue_session()
    connection = PlatformConnectionFactory(
        user=user,
        platform_type=PlatformType.BLUESKY,
        instance_url=fake.base_url,
        username=fake.handle,
        access_token=session["accessJwt"],
        refresh_token=session["refreshJwt"],
        extra={"did": fake.did, "handle": fake.handle, "pds_url": fake.base_url},
    )
    uri = fake.add_post("Two squares", images=[(png((200, 0, 0)), ""), (png((0, 0, 200)), "")])
    with CLIENT(connection) as api:
        scan_feed_connection(connection=connection, api=api, max_posts=5)
    return Post.objects.get(post_id=uri), list(Image.objects.order_by("attachment_index"))


def approve_all(images, user):
    for number, image in enumerate(images, start=1):
        caption_approve(image=image, reviewer=user, text=f"Square number {number}.")


def test_repost_creates_one_new_post_and_keeps_the_old_one_by_default(api, user, fake, scanned):
    post, images = scanned
    approve_all(images, user)
    response = api.post(f"{POSTS}{post.pk}/repost/", {}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["repost_uri"] and body["repost_url"].startswith("https://bsky.app/profile/")
    assert body["original_deleted_at"] is None
    assert [image["status"] for image in body["images"]] == ["posted", "posted"]
    new = next(p for p in fake.posts if p["uri"] == body["repost_uri"])
    assert [i["alt"] for i in new["value"]["embed"]["images"]] == ["Square number 1.", "Square number 2."]
    assert len(fake.posts) == 2 and fake.count("POST", DELETE) == 0
    again = api.post(f"{POSTS}{post.pk}/repost/", {"delete_original": True}, format="json")
    assert again.status_code == 200 and again.json()["original_deleted_at"]
    assert [p["uri"] for p in fake.posts] == [body["repost_uri"]] and fake.count("POST", CREATE) == 1


def test_repost_before_every_caption_is_approved_is_a_409(api, user, fake, scanned):
    post, images = scanned
    approve_all(images[:1], user)
    response = api.post(f"{POSTS}{post.pk}/repost/", {"delete_original": True}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "repost_not_ready"
    assert len(fake.posts) == 1 and fake.count("POST", CREATE) == 0


def test_a_bad_delete_original_is_a_400_and_changes_nothing(api, user, fake, scanned):
    post, images = scanned
    approve_all(images, user)
    response = api.post(f"{POSTS}{post.pk}/repost/", {"delete_original": "perhaps"}, format="json")
    assert response.status_code == 400
    assert fake.count("POST", CREATE) == 0


def test_another_users_post_is_a_404(fake, scanned, user):
    post, images = scanned
    approve_all(images, user)
    stranger = client_for(UserFactory(role=Role.USER))
    assert stranger.post(f"{POSTS}{post.pk}/repost/", {}, format="json").status_code == 404
    assert fake.count("POST", CREATE) == 0


def test_posting_back_a_bluesky_caption_is_a_409_that_says_why(api, user, fake, scanned):
    _, images = scanned
    approve_all(images, user)
    response = api.post(f"/api/v1/captions/images/{images[0].pk}/post/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "posting_unsupported"
    assert error["message"] == "Bluesky posts cannot be edited; use Repost with alt text."
    assert Image.objects.get(pk=images[0].pk).status == ImageStatus.APPROVED


def test_reposting_a_mastodon_post_is_a_409(api, user):
    from tests.factories.captions import ImageFactory, PostFactory

    post = PostFactory(platform_connection=PlatformConnectionFactory(user=user))
    ImageFactory(post=post, status=ImageStatus.APPROVED, final_caption="A cat.")
    response = api.post(f"{POSTS}{post.pk}/repost/", {}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "repost_unsupported"
