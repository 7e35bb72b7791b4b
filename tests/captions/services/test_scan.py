import pytest

from captions.models import Image, ImageStatus, Post, ScanCursor
from captions.services.scan import scan_connection
from platforms.kinds.mastodon.client import MastodonApi
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.mastodon import FakeMastodon

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(httpserver):
    return FakeMastodon(httpserver)


@pytest.fixture
def connection(fake):
    return PlatformConnectionFactory(instance_url=fake.base_url, access_token=fake.token)


def scan(connection, fake, max_posts, **kwargs):
    with MastodonApi(instance_url=fake.base_url, access_token=fake.token, sleep=lambda s: None) as api:
        return scan_connection(connection=connection, api=api, max_posts=max_posts, **kwargs)


def scanned_post_ids():
    return set(Post.objects.values_list("post_id", flat=True))


def test_repeated_runs_reach_older_posts_instead_of_rescanning_the_newest(fake, connection):
    ids = [fake.add_status(text=f"post {n}", media=[None])["id"] for n in range(5)]  # oldest first
    first = scan(connection, fake, max_posts=3)
    assert scanned_post_ids() == set(ids[2:])
    assert first.images_created == 3 and not first.backlog_done

    second = scan(connection, fake, max_posts=3)
    assert scanned_post_ids() == set(ids)
    assert second.posts_seen == 2 and second.backlog_done

    third = scan(connection, fake, max_posts=3)
    assert third.posts_seen == 0
    assert Image.objects.count() == 5, "nothing recorded twice"


def test_new_posts_are_picked_up_before_the_backlog(fake, connection):
    old = [fake.add_status(text=f"old {n}", media=[None])["id"] for n in range(4)]
    scan(connection, fake, max_posts=2)  # the newest two old posts
    new = [fake.add_status(text=f"new {n}", media=[None])["id"] for n in range(2)]
    result = scan(connection, fake, max_posts=2)
    assert result.posts_seen == 2
    assert scanned_post_ids() == set(old[2:]) | set(new)
    scan(connection, fake, max_posts=10)
    assert scanned_post_ids() == set(old) | set(new)


def test_a_run_that_stops_inside_a_burst_of_new_posts_resumes_there(fake, connection):
    first = fake.add_status(text="first", media=[None])["id"]
    scan(connection, fake, max_posts=5)
    burst = [fake.add_status(text=f"burst {n}", media=[None])["id"] for n in range(5)]
    scan(connection, fake, max_posts=2)
    assert scanned_post_ids() == {first, *burst[3:]}
    scan(connection, fake, max_posts=2)
    assert scanned_post_ids() == {first, *burst[1:]}
    scan(connection, fake, max_posts=2)
    assert scanned_post_ids() == {first, *burst}
    cursor = ScanCursor.objects.get(platform_connection=connection)
    assert cursor.newest_post_id == burst[-1] and cursor.gap_max_id is None


def test_only_images_without_alt_text_are_recorded_in_their_order(fake, connection):
    fake.add_status(
        text="three things",
        media=["A grey cat asleep.", None, {"type": "video", "description": None}, "🐱✨"],
    )
    result = scan(connection, fake, max_posts=5)
    images = list(Image.objects.order_by("attachment_index"))
    assert [image.attachment_index for image in images] == [1, 3]
    assert images[1].original_caption == "🐱✨"
    assert all(image.status == ImageStatus.PENDING for image in images)
    assert result.images_skipped == 2


def test_existing_alt_text_in_any_script_is_left_alone(fake, connection):
    fake.add_status(text="haiku", media=["古い池に蛙が飛び込む", "قطة رمادية نائمة"])
    scan(connection, fake, max_posts=5)
    assert not Image.objects.exists()


def test_reprocess_existing_records_captioned_images_too(fake, connection):
    fake.add_status(text="captioned", media=["A grey cat asleep."])
    scan(connection, fake, max_posts=5, reprocess_existing=True)
    assert Image.objects.get().original_caption == "A grey cat asleep."


def test_own_replies_to_others_are_scanned_by_default_and_boosts_never(fake, connection):
    reply = fake.add_status(text="reply", media=[None], in_reply_to_account_id="999")["id"]
    fake.add_status(text="boost", media=[None], reblog=True)
    own = fake.add_status(text="own", media=[None])["id"]
    scan(connection, fake, max_posts=10)
    assert scanned_post_ids() == {own, reply}
    listing = fake.requests_to(f"/api/v1/accounts/{fake.account['id']}/statuses")[0]
    assert listing.arg("only_media") in {"true", "True", "1"}
    assert listing.arg("exclude_replies") is None
    assert listing.arg("exclude_reblogs") in {"true", "True", "1"}


def test_replies_to_others_are_left_out_when_the_setting_is_off(fake, connection):
    fake.add_status(text="reply", media=[None], in_reply_to_account_id="999")
    thread = fake.add_status(text="my thread", media=[None], in_reply_to_account_id=fake.account["id"])["id"]
    own = fake.add_status(text="own", media=[None])["id"]
    scan(connection, fake, max_posts=10, include_replies=False)
    assert scanned_post_ids() == {own, thread}
    listing = fake.requests_to(f"/api/v1/accounts/{fake.account['id']}/statuses")[0]
    assert listing.arg("exclude_replies") in {"true", "True", "1"}


def test_a_server_that_caps_pages_lower_is_paged_by_its_next_links(fake, connection):
    ids = [fake.add_status(text=f"post {n}", media=[None])["id"] for n in range(7)]
    fake.page_cap = 2  # asked for up to 40, it sends 2 and a rel="next" link
    result = scan(connection, fake, max_posts=10)
    assert scanned_post_ids() == set(ids)
    assert result.posts_seen == 7 and result.backlog_done
    assert Image.objects.count() == 7


def test_a_post_listed_once_per_image_is_counted_once(fake, connection):
    two = fake.add_status(text="two pictures", media=[None, None])["id"]
    one = fake.add_status(text="one picture", media=[None])["id"]
    fake.list_once_per_image = True
    result = scan(connection, fake, max_posts=10)
    assert result.posts_seen == 2
    assert scanned_post_ids() == {one, two}
    assert Image.objects.count() == 3


def test_a_rescan_never_touches_a_caption_under_review(fake, connection):
    status = fake.add_status(text="cat", media=[None])
    scan(connection, fake, max_posts=5)
    image = Image.objects.get()
    Image.objects.filter(pk=image.pk).update(
        status=ImageStatus.APPROVED, final_caption="A grey cat.", generated_caption="A cat."
    )
    cursor = ScanCursor.objects.get(platform_connection=connection)
    cursor.newest_post_id, cursor.backlog_max_id, cursor.backlog_done = None, None, False
    cursor.save()
    fake.status(status["id"])  # unchanged on the platform
    scan(connection, fake, max_posts=5)
    image.refresh_from_db()
    assert (image.status, image.final_caption, image.generated_caption) == (
        ImageStatus.APPROVED,
        "A grey cat.",
        "A cat.",
    )
    assert Image.objects.count() == 1


def test_the_posts_language_is_kept(fake, connection):
    fake.add_status(text="Ein grauer Reiher", language="de", media=[None])
    scan(connection, fake, max_posts=5)
    assert Post.objects.get().language == "de"


def test_a_caller_that_verified_already_spends_no_second_turn_on_it(fake, connection):
    fake.add_status(text="a post", media=[None])
    with MastodonApi(instance_url=fake.base_url, access_token=fake.token, sleep=lambda s: None) as api:
        account = api.verify()
        result = scan_connection(connection=connection, api=api, max_posts=5, account_id=account.id)
    assert result.images_created == 1
    assert fake.count("GET", "/api/v1/accounts/verify_credentials") == 1


def test_without_an_account_id_the_scan_verifies_itself(fake, connection):
    fake.add_status(text="a post", media=[None])
    assert scan(connection, fake, max_posts=5).images_created == 1
    assert fake.count("GET", "/api/v1/accounts/verify_credentials") == 1
