"""BlueskyMediaClient against the fake PDS/AppView: the account's own posts with images from
app.bsky.feed.getAuthorFeed, paged by cursor; reposts, other authors and pins left out."""

import io

import pytest
from PIL import Image

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.bluesky.client import at_uri_parts
from platforms.kinds.bluesky.media import BlueskyMediaClient
from platforms.kinds.common import PlatformAuthError
from platforms.kinds.registry import media_client_for
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.bluesky import FakeBluesky

FEED = "/xrpc/app.bsky.feed.getAuthorFeed"


@pytest.fixture
def fake(httpserver):
    return FakeBluesky(httpserver)


def png(color="red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), color).save(out, format="PNG")
    return out.getvalue()


def connection_for(fake):
    session = fake.issue_session()
    return PlatformConnection(
        name="bluesky",
        platform_type=PlatformType.BLUESKY,
        instance_url=fake.base_url,
        username=fake.handle,
        access_token=session["accessJwt"],
        refresh_token=session["refreshJwt"],
        extra={"did": fake.did, "handle": fake.handle, "pds_url": fake.base_url},
    )


def client(fake) -> BlueskyMediaClient:
    return media_client_for(
        connection_for(fake),
        policy=RetryPolicy(attempts=3),
        sleep=lambda s: None,
        throttle=HostThrottle(rate=10_000, sleep=lambda s: None),
    )


def test_the_kind_declares_a_scan_without_writing_descriptions(fake):
    api = client(fake)
    assert isinstance(api, BlueskyMediaClient) and api.can_write_descriptions is False
    assert api.read_description_limit().limit == 2000 and api.read_description_limit().problem is None


def test_own_posts_with_their_images_in_order(fake):
    uri = fake.add_post(
        "Two pictures",
        images=[(png("red"), ""), (png("blue"), "A blue square.\nSecond line")],
        sizes=[(20, 10), (30, 15)],
        langs=["en", "de"],
    )
    with client(fake) as api:
        page = api.own_media_posts(limit=10)
    assert page.cursor is None
    [post] = page.posts
    assert post.uri == uri and post.rkey == at_uri_parts(uri)[2]
    assert post.url == f"https://bsky.app/profile/{fake.handle}/post/{post.rkey}"
    assert (post.text, post.langs) == ("Two pictures", ("en", "de"))
    assert [image.alt for image in post.images] == ["", "A blue square.\nSecond line"]
    assert [(image.width, image.height) for image in post.images] == [(20, 10), (30, 15)]
    assert all("/img/feed_fullsize/plain/" in image.fullsize for image in post.images)
    assert all("/img/feed_thumbnail/plain/" in image.thumb for image in post.images)
    [request] = fake.requests_to(FEED)
    assert request.arg("actor") == fake.did and request.arg("filter") == "posts_with_media"
    assert request.arg("limit") == "10" and request.arg("cursor") is None


def test_quote_posts_with_images_count_and_videos_are_other_media(fake):
    quoted = "at://did:plc:bobbobbobbobbobbobbobbob/app.bsky.feed.post/3kabcdefghijk"
    fake.add_post("quote", images=[(png(), "")], quote=quoted)
    fake.add_post("video", video=True)
    fake.add_post("text only")
    with client(fake) as api:
        posts = api.own_media_posts().posts
    assert [(post.text, len(post.images), post.other_media) for post in posts] == [
        ("video", 0, 1),
        ("quote", 1, 0),
    ]


def test_reposts_and_other_authors_are_left_out_where_the_appview_ignores_the_filter(fake):
    fake.ignores_feed_filter = True
    mine = fake.add_post("mine", images=[(png(), "")])
    fake.add_repost_of_other()
    fake.add_post("no media")
    with client(fake) as api:
        posts = api.own_media_posts().posts
    assert [post.uri for post in posts] == [mine]


def test_replies_to_others_follow_the_setting_and_own_threads_always_stay(fake):
    first = fake.add_post("thread start", images=[(png(), "")])
    fake.add_post("thread reply", images=[(png(), "")], reply_to=first)
    other = "at://did:plc:bobbobbobbobbobbobbobbob/app.bsky.feed.post/3kabcdefghijk"
    fake.add_post("reply to bob", images=[(png(), "")], reply_to=other)
    with client(fake) as api:
        everything = [post.text for post in api.own_media_posts().posts]
        own = [post.text for post in api.own_media_posts(include_replies=False).posts]
    assert everything == ["reply to bob", "thread reply", "thread start"]
    assert own == ["thread reply", "thread start"]


def test_pages_follow_the_opaque_cursor_to_the_end(fake):
    uris = [fake.add_post(f"post {n}", images=[(png(), "")]) for n in range(5)]
    seen, cursor, pages = [], None, 0
    with client(fake) as api:
        while True:
            page = api.own_media_posts(cursor=cursor, limit=2)
            seen += [post.uri for post in page.posts]
            pages += 1
            cursor = page.cursor
            if cursor is None:
                break
    assert seen == list(reversed(uris)) and pages == 3
    first, *following = fake.requests_to(FEED)
    assert first.arg("cursor") is None and all("::" in r.arg("cursor") for r in following)


def test_an_expired_session_is_renewed_and_a_server_error_retried(fake):
    fake.add_post("p", images=[(png(), "")])
    api = client(fake)
    fake.expire_access_tokens()
    fake.fail_next(502, path=FEED, method="GET")
    with api:
        assert len(api.own_media_posts().posts) == 1
    assert api.retry_stats.attempts >= 2


def test_a_refused_feed_is_an_auth_error(fake):
    fake.fail_next(400, body={"error": "BlockedActor", "message": "blocked"}, path=FEED, method="GET")
    with client(fake) as api, pytest.raises(PlatformAuthError, match="BlockedActor"):
        api.own_media_posts()


def test_deleting_a_post_by_its_uri_and_only_this_accounts(fake, sleeper=lambda s: None):
    from platforms.kinds.publishing import publisher_for

    uri = fake.add_post("to go", images=[(png(), "")])
    with publisher_for(connection_for(fake), sleep=sleeper) as publisher:
        with pytest.raises(ValueError, match="not a post of this account"):
            publisher.delete_post(
                uri="at://did:plc:bobbobbobbobbobbobbobbob/app.bsky.feed.post/3kabcdefghijk"
            )
        publisher.delete_post(uri=uri)
        publisher.delete_post(uri=uri)  # gone already: still a success
    assert fake.posts == []
    assert fake.count("POST", "/xrpc/com.atproto.repo.deleteRecord") == 2
