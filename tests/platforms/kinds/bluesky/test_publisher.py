"""BlueskyPublisher against a stateful fake PDS (XRPC): blobs, the post record, facets, the record
key that makes a second post impossible, session renewal, and every refusal."""

import io
import time

import pytest
from PIL import Image

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.bluesky.publisher import BlueskyPublisher
from platforms.kinds.bluesky.richtext import TID_RE, tid_from_key
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
from platforms.kinds.media import MediaItem
from platforms.kinds.publishing import Publication, publisher_for
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.bluesky import FakeBluesky

CREATE = "/xrpc/com.atproto.repo.createRecord"
UPLOAD = "/xrpc/com.atproto.repo.uploadBlob"
GET_RECORD = "/xrpc/com.atproto.repo.getRecord"
REFRESH = "/xrpc/com.atproto.server.refreshSession"
KEY = "0b5e2f4c-1111-4000-8000-0000000000b5"
TEXT = "Shipping the Bluesky publisher today https://example.com/posts/1"


@pytest.fixture
def fake(httpserver):
    return FakeBluesky(httpserver)


def connection_for(fake, **overrides):
    session = fake.issue_session()
    fields = {
        "name": "bluesky",
        "platform_type": PlatformType.BLUESKY,
        "instance_url": fake.base_url,
        "username": fake.handle,
        "access_token": session["accessJwt"],
        "refresh_token": session["refreshJwt"],
        "extra": {"did": fake.did, "handle": fake.handle, "pds_url": fake.base_url},
    }
    fields.update(overrides)
    return PlatformConnection(**fields)


def publisher(fake, sleeper, *, connection=None, timeout=2.0):
    return publisher_for(
        connection or connection_for(fake),
        timeout=timeout,
        policy=RetryPolicy(attempts=3),
        sleep=sleeper,
        throttle=HostThrottle(rate=10_000, sleep=lambda s: None),
    )


def png(width, height, color="red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def image(key, *, alt, width=40, height=30, data=None, media_type="image/png"):
    data = data if data is not None else png(width, height)
    return MediaItem(
        key=key,
        media_type=media_type,
        filename=f"{key}.png",
        size=len(data),
        read=lambda: data,
        alt_text=alt,
        width=width,
        height=height,
    )


def publication(text=TEXT, *, media=(), key=KEY, options=None):
    return Publication(text=text, idempotency_key=key, media=tuple(media), options=options or {})


def test_a_post_is_a_record_with_a_key_derived_from_the_job(fake, sleeper):
    pub = publisher(fake, sleeper)
    assert isinstance(pub, BlueskyPublisher)
    published = pub.publish(publication())
    (post,) = fake.posts
    rkey = tid_from_key(KEY)
    assert TID_RE.match(rkey)
    assert post["rkey"] == rkey
    assert post["value"]["text"] == TEXT
    assert post["value"]["$type"] == "app.bsky.feed.post"
    assert post["value"]["createdAt"].endswith("Z")
    assert published.post_id == f"at://{fake.did}/app.bsky.feed.post/{rkey}"
    assert published.url == f"https://bsky.app/profile/{fake.handle}/post/{rkey}"
    assert published.details == {"status": 200, "cid": post["cid"], "attempts": 1, "recovered": False}
    (request,) = fake.requests_to(CREATE, "POST")
    assert request.json["repo"] == fake.did
    assert request.json["collection"] == "app.bsky.feed.post"
    assert request.headers["Authorization"].startswith("Bearer ")


def test_the_record_key_is_a_valid_tid_for_any_key_and_stable():
    keys = ["", "k", KEY, "ключ-🔑", "x" * 500]
    for key in keys:
        assert TID_RE.match(tid_from_key(key)), key
        assert tid_from_key(key) == tid_from_key(key)
    assert len({tid_from_key(key) for key in keys}) == len(keys)


def test_two_images_are_uploaded_and_embedded_in_order_with_their_exact_alt_text(fake, sleeper):
    first = image("a1", alt="A red square.\nSecond line kept.", width=40, height=30)
    second = image("a2", alt="  Blue, with spaces kept  ", width=30, height=60, data=png(30, 60, "blue"))
    pub = publisher(fake, sleeper)
    pub.publish(publication(media=[first, second]))
    uploads = fake.requests_to(UPLOAD, "POST")
    assert [r.body for r in uploads] == [first.read(), second.read()]
    assert [r.headers["Content-Type"] for r in uploads] == ["image/png", "image/png"]
    (post,) = fake.posts
    embed = post["value"]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    assert [i["alt"] for i in embed["images"]] == [first.alt_text, second.alt_text]
    assert [i["aspectRatio"] for i in embed["images"]] == [
        {"width": 40, "height": 30},
        {"width": 30, "height": 60},
    ]
    links = [i["image"]["ref"]["$link"] for i in embed["images"]]
    assert [fake.blobs[link]["data"] for link in links] == [first.read(), second.read()]
    assert embed["images"][0]["image"] == {
        "$type": "blob",
        "ref": {"$link": links[0]},
        "mimeType": "image/png",
        "size": first.size,
    }


def test_a_retried_post_reuses_its_uploads(fake, sleeper):
    fake.fail_next(503)
    pub = publisher(fake, sleeper)
    pub.publish(publication(media=[image("a1", alt="One")]))
    assert fake.count("POST", UPLOAD) == 1
    assert fake.count("POST", CREATE) == 2
    assert len(fake.posts) == 1


def test_an_image_the_pds_finds_too_large_is_refused_and_nothing_is_posted(fake, sleeper):
    fake.max_image_bytes = 20
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication(media=[image("big", alt="Big")]))
    assert caught.value.status == 400
    assert "BlobTooLarge" in str(caught.value)
    assert fake.posts == []


def test_a_failed_upload_is_not_a_post_that_may_exist(fake, sleeper):
    fake.fail_next(500, path=UPLOAD, times=5)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication(media=[image("a1", alt="One")]))
    assert caught.value.ambiguous is False
    assert fake.count("POST", CREATE) == 0


def test_facets_carry_utf8_byte_offsets_for_emoji_and_cyrillic(fake, sleeper):
    text = "Привет 👋 #тест https://example.com @alice.test"
    publisher(fake, sleeper).publish(publication(text))
    (post,) = fake.posts
    data = text.encode("utf-8")
    spans = {
        feature["$type"].rsplit("#", 1)[1]: (
            data[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode("utf-8"),
            feature,
        )
        for facet in post["value"]["facets"]
        for feature in facet["features"]
    }
    assert spans["tag"] == ("#тест", {"$type": "app.bsky.richtext.facet#tag", "tag": "тест"})
    assert spans["link"] == (
        "https://example.com",
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com"},
    )
    assert spans["mention"] == ("@alice.test", {"$type": "app.bsky.richtext.facet#mention", "did": fake.did})
    starts = [facet["index"]["byteStart"] for facet in post["value"]["facets"]]
    assert starts == sorted(starts)
    # Bytes, not characters: the hashtag starts after 6 two-byte letters, a space, a 4-byte emoji.
    assert starts[0] == 6 * 2 + 1 + 4 + 1


def test_a_mention_that_does_not_resolve_gets_no_facet(fake, sleeper):
    publisher(fake, sleeper).publish(publication("Thanks @bob.test and @nobody.test!"))
    (post,) = fake.posts
    mentions = [f for facet in post["value"]["facets"] for f in facet["features"]]
    assert mentions == [{"$type": "app.bsky.richtext.facet#mention", "did": fake.handles["bob.test"]}]
    assert fake.count("GET", "/xrpc/com.atproto.identity.resolveHandle") == 2


def test_langs_from_the_options_go_on_the_record(fake, sleeper):
    publisher(fake, sleeper).publish(publication(options={"langs": ["ru", "en"]}))
    assert fake.posts[0]["value"]["langs"] == ["ru", "en"]


def test_the_connections_langs_apply_unless_the_job_names_its_own(fake, sleeper):
    extra = {"did": fake.did, "handle": fake.handle, "langs": ["de"]}
    publisher(fake, sleeper, connection=connection_for(fake, extra=extra)).publish(publication(key="k-de"))
    pub = publisher(fake, sleeper, connection=connection_for(fake, extra=extra))
    pub.publish(publication(key="k-ja", options={"langs": ["ja"]}))
    assert {post["rkey"]: post["value"]["langs"] for post in fake.posts} == {
        tid_from_key("k-de"): ["de"],
        tid_from_key("k-ja"): ["ja"],
    }


def test_300_emoji_fit_as_graphemes_and_301_do_not(fake, sleeper):
    # A flag is two code points and eight UTF-8 bytes, one grapheme: 300 take 2,400 bytes.
    flag = "🇺🇦"
    publisher(fake, sleeper).publish(publication(flag * 300, key="k-300"))
    assert len(fake.posts) == 1
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication(flag * 301, key="k-301"))
    assert caught.value.status == 400
    assert "300 graphemes" in str(caught.value)
    assert len(fake.posts) == 1


def test_an_answer_lost_to_a_timeout_is_found_by_its_record_key(fake, sleeper):
    fake.accept_then_hang_next(1.5)
    published = publisher(fake, sleeper, timeout=0.4).publish(publication())
    (post,) = fake.posts
    assert published.post_id == post["uri"]
    assert published.details["recovered"] is True
    assert fake.count("POST", CREATE) == 1
    (lookup,) = fake.requests_to(GET_RECORD, "GET")
    assert lookup.query == {
        "repo": [fake.did],
        "collection": ["app.bsky.feed.post"],
        "rkey": [tid_from_key(KEY)],
    }


def test_a_second_run_of_the_same_job_finds_the_post_instead_of_posting_twice(fake, sleeper):
    publisher(fake, sleeper).publish(publication())
    again = publisher(fake, sleeper).publish(publication())
    assert len(fake.posts) == 1
    assert again.post_id == fake.posts[0]["uri"]
    assert again.details["recovered"] is True


def test_already_exists_for_our_record_key_counts_as_posted(fake, sleeper):
    publisher(fake, sleeper).publish(publication())
    fake.fail_next(400, body={"error": "InvalidRequest", "message": "Record already exists"})
    pub = publisher(fake, sleeper)
    assert pub.publish(publication()).details["recovered"] is True
    assert len(fake.posts) == 1


def test_a_timeout_that_did_not_post_posts_once_after_the_lookup(fake, sleeper):
    fake.hang_next(1.0)
    published = publisher(fake, sleeper, timeout=0.3).publish(publication())
    assert len(fake.posts) == 1
    assert published.details["recovered"] is False
    assert fake.count("GET", GET_RECORD) == 1


def test_an_expired_access_token_is_renewed_once_and_both_tokens_are_handed_over(fake, sleeper):
    connection = connection_for(fake)
    old_access, old_refresh = connection.access_token, connection.refresh_token
    fake.expire_access_tokens()
    stored = []
    pub = BlueskyPublisher.from_connection(
        connection, timeout=2.0, on_session=stored.append, sleep=sleeper, policy=RetryPolicy(attempts=3)
    )
    pub.publish(publication())
    assert len(fake.posts) == 1
    (session,) = stored
    assert session.access_token in fake.access_tokens
    assert session.access_token != old_access
    assert session.refresh_token not in (old_refresh, None)
    assert session.expires_at is not None
    (refresh,) = fake.requests_to(REFRESH, "POST")
    assert refresh.headers["Authorization"] == f"Bearer {old_refresh}"
    assert fake.count("POST", CREATE) == 2  # refused as expired, then posted


def test_a_refused_renewal_says_to_sign_in_again(fake, sleeper):
    connection = connection_for(fake)
    fake.expire_access_tokens()
    fake.revoke_refresh_tokens()
    stored = []
    pub = BlueskyPublisher.from_connection(connection, timeout=2.0, on_session=stored.append, sleep=sleeper)
    with pytest.raises(PlatformAuthError) as caught:
        pub.publish(publication())
    assert stored == []
    assert "sign in again" in str(caught.value)
    assert caught.value.ambiguous is False
    assert fake.posts == []


def test_a_refused_token_is_an_auth_error_and_not_retried(fake, sleeper):
    connection = connection_for(fake, access_token="not-a-session-token-never-shown")
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, connection=connection).publish(publication())
    assert caught.value.status == 400
    assert "InvalidToken" in str(caught.value)
    assert "not-a-session-token-never-shown" not in str(caught.value)
    assert sleeper.waits == []


def test_a_401_is_an_auth_error(fake, sleeper):
    fake.fail_next(401, body={"error": "AuthenticationRequired", "message": "Authentication Required"})
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == 401
    assert fake.posts == []


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (403, "AccountNotFound", "Account not found"),
        (404, "NotFound", "Not Found"),
        (400, "InvalidRequest", "Invalid app.bsky.feed.post record: Record/text must not be longer"),
    ],
)
def test_other_refusals_are_auth_errors_naming_the_servers_reason(fake, sleeper, status, error, message):
    fake.fail_next(status, body={"error": error, "message": message})
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == status
    assert caught.value.ambiguous is False
    if status != 404:
        assert f"{error}: {message}" in str(caught.value)
    assert fake.count("POST", CREATE) == 1
    assert fake.posts == []


def test_a_429_waits_the_retry_after_then_posts(fake, sleeper):
    fake.rate_limit_next(retry_after="4")
    published = publisher(fake, sleeper).publish(publication())
    assert sleeper.waits == [4.0]
    assert published.details["attempts"] == 2
    assert len(fake.posts) == 1


def test_a_429_without_retry_after_waits_until_the_ratelimit_reset(fake, sleeper):
    fake.reset_in = 12
    fake.rate_limit_next(retry_after=None)
    publisher(fake, sleeper).publish(publication())
    (wait,) = sleeper.waits
    assert 10 <= wait <= 12


def test_server_errors_that_outlast_the_retries_are_ambiguous(fake, sleeper):
    fake.fail_next(502, times=10)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == 502
    assert caught.value.ambiguous is True
    assert fake.posts == []
    assert fake.count("POST", CREATE) == 3


def test_a_malformed_success_is_recovered_by_the_record_key(fake, sleeper):
    fake.malformed_next()
    published = publisher(fake, sleeper).publish(publication())
    assert published.details["recovered"] is True
    assert fake.count("POST", CREATE) == 1


def test_verify_reads_the_session_account(fake, sleeper):
    pub = publisher(fake, sleeper)
    account = pub.account()
    assert (account.id, account.username) == (fake.did, fake.handle)
    assert account.url == f"https://bsky.app/profile/{fake.handle}"
    assert pub.learned_extra() == {"did": fake.did, "handle": fake.handle, "pds_url": fake.base_url}


def test_the_ratelimit_reset_header_is_read_as_epoch_seconds():
    pub = BlueskyPublisher(base_url="https://pds.example.test", access_token="t")
    assert pub._rate_limit_wait({"RateLimit-Reset": str(int(time.time()) - 5)}) == 0.0
    assert pub._rate_limit_wait({"RateLimit-Reset": "soon"}) is None
    assert "t" not in repr(pub).split()[-1]
