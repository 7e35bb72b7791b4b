"""Captions for Bluesky against the fake PDS/AppView: the scan lists images without alt text
(paged by the feed's cursor), they are captioned through the same pipeline, posting back is
refused (posts cannot be edited), and "Repost with alt text" makes one new post and deletes the
old one only when asked."""

import functools
import io

import pytest
from django.core.exceptions import ValidationError
from PIL import Image as PILImage

from accounts.models import AuditLog, Role
from captions.errors import PostingUnsupported, PostNotFound, RepostFailed, RepostNotReady
from captions.models import CaptionGenerationTask, Image, ImageStatus, Post, ScanCursor, TaskStatus
from captions.services import tasks as tasks_module
from captions.services.posting import caption_approve_and_post, caption_post
from captions.services.repost import post_repost_with_alt_text
from captions.services.review import caption_approve
from captions.services.scan import scan_feed_connection
from captions.services.tasks import caption_task_create, caption_task_run
from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.bluesky.client import at_uri_parts
from platforms.kinds.publishing import publisher_for
from platforms.kinds.registry import media_client_for
from platforms.models import PlatformType
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationTaskFactory, CaptionGenerationUserSettingsFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.bluesky import FakeBluesky

pytestmark = pytest.mark.django_db

FEED = "/xrpc/app.bsky.feed.getAuthorFeed"
CREATE = "/xrpc/com.atproto.repo.createRecord"
DELETE = "/xrpc/com.atproto.repo.deleteRecord"
NO_WAIT = {
    "policy": RetryPolicy(attempts=3),
    "sleep": lambda seconds: None,
    "throttle": HostThrottle(rate=10_000, sleep=lambda seconds: None),
}
CLIENT = functools.partial(media_client_for, **NO_WAIT)
PUBLISHER = functools.partial(publisher_for, timeout=2.0, **NO_WAIT)


def png(colour=(40, 120, 200), size=(240, 160)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.AI_BACKEND = "builtin"
    settings.CAPTION_CONCURRENCY = 1


@pytest.fixture
def fake(httpserver):
    return FakeBluesky(httpserver)


@pytest.fixture
def connection(fake):
    session = fake.issue_session()
    connection = PlatformConnectionFactory(
        platform_type=PlatformType.BLUESKY,
        instance_url=fake.base_url,
        username=fake.handle,
        access_token=session["accessJwt"],
        refresh_token=session["refreshJwt"],
        extra={"did": fake.did, "handle": fake.handle, "pds_url": fake.base_url},
    )
    CaptionGenerationUserSettingsFactory(
        user=connection.user, platform_connection=connection, processing_delay=0, max_posts_per_run=20
    )
    return connection


def scan(connection, max_posts, **kwargs):
    with CLIENT(connection) as api:
        return scan_feed_connection(connection=connection, api=api, max_posts=max_posts, **kwargs)


def recorded_posts() -> set[str]:
    return set(Post.objects.values_list("post_id", flat=True))


# The scan ---------------------------------------------------------------------------------------


def test_the_scan_records_only_images_without_alt_text(fake, connection):
    uri = fake.add_post(
        "Three pictures",
        images=[(png((1, 2, 3)), ""), (png((4, 5, 6)), "A described square."), (png((7, 8, 9)), "🖼️ 📷")],
        sizes=[(240, 160)] * 3,
        langs=["en"],
    )
    described = fake.add_post("described", images=[(png(), "Already has alt text.")])
    result = scan(connection, 10)
    assert (result.posts_seen, result.images_created, result.images_skipped) == (2, 2, 2)
    assert result.backlog_done
    images = list(Image.objects.order_by("attachment_index"))
    rkey = at_uri_parts(uri)[2]
    assert [(image.image_post_id, image.original_caption) for image in images] == [
        (f"{rkey}/0", ""),
        (f"{rkey}/2", "🖼️ 📷"),  # emoji only: missing
    ]
    assert all(
        image.status == ImageStatus.PENDING and "/img/feed_fullsize/" in image.image_url for image in images
    )
    post = Post.objects.get(post_id=uri)
    assert post.post_content == "Three pictures" and post.language == "en"
    assert post.post_url == f"https://bsky.app/profile/{fake.handle}/post/{rkey}"
    assert [entry["alt"] for entry in post.platform_details["images"]] == ["", "A described square.", "🖼️ 📷"]
    assert post.platform_details["langs"] == ["en"]
    assert Post.objects.filter(post_id=described).exists()  # seen, nothing to caption
    assert not Image.objects.filter(post__post_id=described).exists()


def test_repeated_runs_page_by_cursor_then_pick_up_new_posts_first(fake, connection):
    uris = [fake.add_post(f"post {n}", images=[(png(), "")]) for n in range(5)]  # oldest first
    first = scan(connection, 2)
    assert recorded_posts() == set(uris[3:]) and not first.backlog_done
    cursor = ScanCursor.objects.get(platform_connection=connection)
    assert cursor.feed_cursor and "::" in cursor.feed_cursor
    assert [request.arg("limit") for request in fake.requests_to(FEED)] == ["2"]

    newer = fake.add_post("new", images=[(png(), "")])
    second = scan(connection, 2)
    # The new post first (the top, stopping at a post seen before), then the backlog goes on.
    assert recorded_posts() == {*uris[2:], newer}
    assert second.posts_seen == 2 and not second.backlog_done

    third = scan(connection, 10)
    assert recorded_posts() == {*uris, newer} and third.backlog_done
    assert Image.objects.count() == 6
    calls = len(fake.requests_to(FEED))
    fourth = scan(connection, 10)
    assert fourth.posts_seen == 0 and len(fake.requests_to(FEED)) == calls + 1  # one look at the top


def test_a_run_that_stops_inside_new_posts_resumes_there(fake, connection):
    old = fake.add_post("old", images=[(png(), "")])
    scan(connection, 5)
    burst = [fake.add_post(f"new {n}", images=[(png(), "")]) for n in range(4)]
    scan(connection, 2)
    assert recorded_posts() == {old, *burst[2:]}
    assert ScanCursor.objects.get(platform_connection=connection).feed_gap_cursor
    scan(connection, 5)
    assert recorded_posts() == {old, *burst}
    assert ScanCursor.objects.get(platform_connection=connection).feed_gap_cursor is None


def test_new_posts_end_where_the_feed_reached_before_even_after_retention(fake, connection):
    described = [fake.add_post(f"described {n}", images=[(png(), "Alt.")]) for n in range(3)]
    scan(connection, 10)
    Post.objects.filter(images__isnull=True).delete()  # what retention does to posts without images
    newer = fake.add_post("new", images=[(png(), "")])
    calls = len(fake.requests_to(FEED))
    result = scan(connection, 10)
    assert result.posts_seen == 1 and recorded_posts() == {newer}
    assert len(fake.requests_to(FEED)) == calls + 1
    assert not set(described) & recorded_posts()


def test_a_rescan_never_touches_a_caption_under_review(fake, connection):
    fake.add_post("p", images=[(png(), "")])
    scan(connection, 5)
    image = Image.objects.get()
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.APPROVED, final_caption="Mine.")
    ScanCursor.objects.filter(platform_connection=connection).update(backlog_done=False, feed_cursor=None)
    scan(connection, 5, reprocess_existing=True)
    image.refresh_from_db()
    assert (image.status, image.final_caption) == (ImageStatus.APPROVED, "Mine.")


# The task ---------------------------------------------------------------------------------------


def test_a_bluesky_task_scans_and_captions_through_the_same_pipeline(
    fake, connection, django_capture_on_commit_callbacks
):
    fake.add_post("cats", images=[(png((200, 10, 10)), ""), (png((10, 200, 10)), "A green square.")])
    fake.add_repost_of_other()
    with django_capture_on_commit_callbacks(execute=True):
        task = caption_task_create(user=connection.user, connection=connection)
    # The default client factory builds the Bluesky client; run again here with no waiting.
    task.refresh_from_db()
    if task.status != TaskStatus.COMPLETED:
        pytest.fail(task.error_message)
    assert task.results_json["posts_seen"] == 1 and task.results_json["images_found"] == 1
    assert task.results_json["skipped"] == 1 and task.results_json["description_limit"] == 2000
    image = Image.objects.get()
    assert image.generated_caption and image.local_path and image.status == ImageStatus.PENDING
    connection.refresh_from_db()
    assert connection.extra["description_limit"] == 2000


def test_a_bluesky_task_with_an_injected_client_factory(fake, connection):
    fake.add_post("one", images=[(png(), "")])
    task = CaptionGenerationTaskFactory(
        platform_connection=connection,
        user=connection.user,
        settings_json=tasks_module.caption_settings_snapshot(user=connection.user, connection=connection),
    )
    caption_task_run(task_id=task.pk, api_factory=CLIENT, sleep=lambda s: None)
    task = CaptionGenerationTask.objects.get(pk=task.pk)
    assert task.status == TaskStatus.COMPLETED, task.error_message
    assert task.results_json["captions_generated"] == 1


def test_a_connection_without_captions_is_still_refused(connection):
    other = PlatformConnectionFactory(platform_type=PlatformType.X, user=connection.user)
    with pytest.raises(ValidationError, match="X connections have no captions"):
        caption_task_create(user=connection.user, connection=other)


# Posting back ------------------------------------------------------------------------------------


@pytest.fixture
def reviewer():
    return UserFactory(role=Role.REVIEWER)


def approved_post(fake, connection, *, alts=("", "A described one."), captions=("A red square.",)):
    uri = fake.add_post(
        "Look @bob.test https://example.com/x",
        images=[(png((index * 60, 10, 10)), alt) for index, alt in enumerate(alts)],
        sizes=[(240, 160)] * len(alts),
        langs=["en"],
    )
    scan(connection, 10)
    images = list(Image.objects.filter(post__post_id=uri).order_by("attachment_index"))
    for image, caption in zip(images, captions, strict=False):
        caption_approve(image=image, reviewer=connection.user, text=caption)
    return Post.objects.get(post_id=uri), images


def test_posting_back_is_refused_for_bluesky_with_the_reason(fake, connection, reviewer):
    _, [image] = approved_post(fake, connection)
    before = fake.requests[:]
    with pytest.raises(PostingUnsupported, match="Bluesky posts cannot be edited; use Repost with alt text"):
        caption_post(image=image, actor=reviewer)
    image.refresh_from_db()
    assert image.status == ImageStatus.APPROVED and image.posted_at is None
    assert fake.requests == before  # nothing sent


def test_approve_and_post_refuses_before_approving(fake, connection, reviewer):
    fake.add_post("p", images=[(png(), "")])
    scan(connection, 5)
    image = Image.objects.get()
    Image.objects.filter(pk=image.pk).update(generated_caption="A square.")
    with pytest.raises(PostingUnsupported):
        caption_approve_and_post(image=image, reviewer=reviewer, text="A square.")
    image.refresh_from_db()
    assert image.status == ImageStatus.PENDING


# Repost with alt text ----------------------------------------------------------------------------


def repost(post, actor, *, delete_original=False):
    return post_repost_with_alt_text(
        post=post, actor=actor, delete_original=delete_original, publisher_factory=PUBLISHER
    )


def test_repost_makes_one_new_post_with_the_approved_alt_texts_in_order(fake, connection):
    post, images = approved_post(
        fake,
        connection,
        alts=("", "Kept as it was.", "🙂"),
        captions=("A red square.\nWith a second line", "A blue square."),
    )
    original = post.post_id
    post = repost(post, connection.user)
    assert fake.count("POST", CREATE) == 1
    new = [p for p in fake.posts if p["uri"] != original]
    assert len(new) == 1 and post.repost_uri == new[0]["uri"]
    record = new[0]["value"]
    assert record["text"] == "Look @bob.test https://example.com/x" and record["langs"] == ["en"]
    assert [image["alt"] for image in record["embed"]["images"]] == [
        "A red square.\nWith a second line",
        "Kept as it was.",
        "A blue square.",
    ]
    assert [image["aspectRatio"] for image in record["embed"]["images"]] == [
        {"width": 240, "height": 160}
    ] * 3
    features = [facet["features"][0]["$type"].split("#")[1] for facet in record["facets"]]
    assert sorted(features) == ["link", "mention"]
    # The same bytes as the original's images, uploaded again.
    original_blobs = [
        i["image"]["ref"]["$link"]
        for i in fake.records[tuple(original[5:].split("/"))]["value"]["embed"]["images"]
    ]
    assert [i["image"]["ref"]["$link"] for i in record["embed"]["images"]] == original_blobs
    assert any(p["uri"] == original for p in fake.posts), "the original stays unless asked"
    assert fake.count("POST", DELETE) == 0
    for image in images:
        image.refresh_from_db()
        assert image.status == ImageStatus.POSTED and image.posted_at is not None
    assert post.repost_url.startswith(f"https://bsky.app/profile/{fake.handle}/post/")
    assert AuditLog.objects.filter(action="caption.reposted", resource_id=str(post.pk)).exists()

    again = repost(post, connection.user)  # asked twice: nothing new
    assert again.repost_uri == post.repost_uri and fake.count("POST", CREATE) == 1


def test_a_retry_after_a_lost_answer_does_not_post_twice(fake, connection):
    post, _ = approved_post(fake, connection)
    fake.accept_then_hang_next(3.0, path=CREATE)  # the post is made, its answer lost
    fake.fail_next(502, path="/xrpc/com.atproto.repo.getRecord", method="GET")  # and the look too
    with pytest.raises(RepostFailed, match="may have been made"):
        post_repost_with_alt_text(
            post=post,
            actor=connection.user,
            delete_original=False,
            publisher_factory=functools.partial(
                publisher_for, timeout=0.5, **{**NO_WAIT, "policy": RetryPolicy(attempts=1)}
            ),
        )
    post.refresh_from_db()
    assert post.repost_uri is None and len(fake.posts) == 2
    post = repost(post, connection.user)
    assert len(fake.posts) == 2, "the first attempt's post was found, not made again"
    assert post.repost_uri in {p["uri"] for p in fake.posts}
    assert AuditLog.objects.get(action="caption.reposted").details["recovered"] is True


def test_delete_original_deletes_the_old_post_only_when_chosen(fake, connection):
    post, _ = approved_post(fake, connection)
    original = post.post_id
    post = repost(post, connection.user, delete_original=True)
    assert [p["uri"] for p in fake.posts] == [post.repost_uri]
    assert post.original_deleted_at is not None
    [request] = fake.requests_to(DELETE)
    assert request.json == {
        "repo": fake.did,
        "collection": "app.bsky.feed.post",
        "rkey": at_uri_parts(original)[2],
    }
    assert AuditLog.objects.filter(action="caption.original_deleted", resource_id=str(post.pk)).exists()


def test_a_failed_deletion_keeps_the_repost_and_asking_again_only_deletes(fake, connection):
    post, _ = approved_post(fake, connection)
    fake.fail_next(400, body={"error": "InvalidRequest", "message": "no"}, path=DELETE)
    with pytest.raises(RepostFailed, match="new post was made"):
        repost(post, connection.user, delete_original=True)
    post.refresh_from_db()
    assert post.repost_uri and post.original_deleted_at is None and len(fake.posts) == 2
    post = repost(post, connection.user, delete_original=True)
    assert post.original_deleted_at is not None and len(fake.posts) == 1
    assert fake.count("POST", CREATE) == 1


def test_repost_is_refused_while_a_caption_is_not_approved(fake, connection):
    uri = fake.add_post("two", images=[(png(), ""), (png((9, 9, 9)), "")])
    scan(connection, 5)
    first, second = Image.objects.filter(post__post_id=uri).order_by("attachment_index")
    caption_approve(image=first, reviewer=connection.user, text="A square.")
    Image.objects.filter(pk=second.pk).update(generated_caption="Unreviewed.")
    post = Post.objects.get(post_id=uri)
    with pytest.raises(RepostNotReady, match=r"image 2 \(pending review\)"):
        repost(post, connection.user, delete_original=True)
    assert fake.count("POST", CREATE) == 0 and fake.count("POST", DELETE) == 0
    assert len(fake.posts) == 1
    post.refresh_from_db()
    assert post.repost_uri is None


def test_another_users_post_is_not_found(fake, connection):
    post, _ = approved_post(fake, connection)
    stranger = UserFactory(role=Role.USER)
    with pytest.raises(PostNotFound):
        repost(post, stranger, delete_original=True)
    assert fake.count("POST", CREATE) == 0 and len(fake.posts) == 1


def test_an_image_id_fits_its_column_whatever_the_record_key():
    from captions.services.scan import feed_image_id

    assert feed_image_id(rkey="3kabcdefghijk", index=2) == "3kabcdefghijk/2"
    long_one = feed_image_id(rkey="k" * 200, index=3)
    assert len(long_one) <= 100 and long_one.endswith("/3")
    assert long_one != feed_image_id(rkey="k" * 201, index=3)


def test_an_image_the_cdn_no_longer_serves_is_sent_from_the_stored_copy(fake, connection):
    from captions.images import store_image

    post, [image] = approved_post(fake, connection, alts=("",), captions=("A red square.",))
    stored = png((1, 200, 1), size=(120, 80))
    Image.objects.filter(pk=image.pk).update(
        local_path=store_image(data=stored, mime_type="image/png", key_prefix="tests"), media_type="image/png"
    )
    cdn_path = image.image_url.removeprefix(fake.base_url)
    fake.fail_next(404, body={"error": "NotFound"}, path=cdn_path, method="GET")
    post = repost(post, connection.user)
    new = next(p for p in fake.posts if p["uri"] == post.repost_uri)
    [sent] = new["value"]["embed"]["images"]
    assert fake.blobs[sent["image"]["ref"]["$link"]]["data"] == stored
    assert sent["alt"] == "A red square." and sent["aspectRatio"] == {"width": 120, "height": 80}


def test_no_copy_of_an_image_means_nothing_is_posted(fake, connection):
    post, [image] = approved_post(fake, connection, alts=("",), captions=("A red square.",))
    fake.fail_next(
        404, body={"error": "NotFound"}, path=image.image_url.removeprefix(fake.base_url), method="GET"
    )
    with pytest.raises(RepostFailed, match="Image 1 of the post could not be read again"):
        repost(post, connection.user)
    assert fake.count("POST", CREATE) == 0 and fake.count("POST", "/xrpc/com.atproto.repo.uploadBlob") == 0
    post.refresh_from_db()
    assert post.repost_uri is None
