"""MastodonApi against a stateful fake Mastodon / Pixelfed instance on a local HTTP server."""

import time
from datetime import datetime
from email.utils import formatdate

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from captions.alt_text import alt_text_missing
from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.common import (
    PlatformAccount,
    PlatformAuthError,
    PlatformError,
    PlatformUnavailableError,
)
from platforms.kinds.mastodon.client import (
    DEFAULT_DESCRIPTION_LIMIT,
    MastodonApi,
    PostChangedError,
    description_idempotency_key,
    mastodon_verify_credentials,
)
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.base import Sleeper
from tests.fakes.mastodon import DEFAULT_TOKEN, FakeMastodon


@pytest.fixture(scope="module")
def make_httpserver():
    """A threaded server, so a request the fake keeps hanging does not hold up the next one."""
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def fake(httpserver):
    return FakeMastodon(httpserver)


@pytest.fixture
def pixelfed(httpserver):
    return FakeMastodon(httpserver, flavor="pixelfed")


def api_for(
    fake, *, sleeper=None, timeout=2.0, platform_type="mastodon", token=None, throttle=None, **policy
):
    return MastodonApi(
        instance_url=fake.base_url,
        access_token=token or fake.token,
        platform_type=platform_type,
        timeout=timeout,
        policy=RetryPolicy(**policy) if policy else RetryPolicy(),
        sleep=sleeper or Sleeper(),
        throttle=throttle,
    )


def held_throttle() -> tuple[HostThrottle, Sleeper]:
    """A throttle of the test's own whose waits are recorded, not slept. A Retry-After pauses the
    host for every worker (core.outbound), so the retry also waits its turn there; with the
    process-wide throttle that wait would be real seconds of the suite's time."""
    held = Sleeper()
    return HostThrottle(rate=10_000, sleep=held), held


def statuses_path(fake):
    return f"/api/v1/accounts/{fake.account['id']}/statuses"


# Building and verifying -----------------------------------------------------------------------


def test_from_connection_uses_the_connection_and_makes_no_request(httpserver):
    connection = PlatformConnection(
        name="photos",
        platform_type=PlatformType.PIXELFED,
        instance_url=httpserver.url_for("/"),
        access_token=DEFAULT_TOKEN,
    )
    api = MastodonApi.from_connection(connection, timeout=3)
    assert api.platform_type == "pixelfed"
    assert api.instance_url == httpserver.url_for("/").rstrip("/")
    assert api.timeout == 3
    assert httpserver.log == []
    assert DEFAULT_TOKEN not in repr(vars(api))


def test_from_connection_refuses_other_platforms():
    connection = PlatformConnection(platform_type=PlatformType.LINKEDIN, instance_url="https://x.test")
    with pytest.raises(ValueError, match="Mastodon API"):
        MastodonApi.from_connection(connection)


def test_verify_returns_the_account(fake):
    account = api_for(fake).verify()
    assert account == PlatformAccount(
        id=fake.account["id"],
        username="alttext",
        acct="alttext",
        display_name="Alttext",
        url=fake.account["url"],
    )
    (request,) = fake.requests_to("/api/v1/accounts/verify_credentials")
    assert request.headers["Authorization"] == f"Bearer {fake.token}"


def test_wrong_token_is_an_auth_error_and_not_retried(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        api_for(fake, sleeper=sleeper, token="wrong-token-xyz").verify()
    assert caught.value.status == 401
    assert "wrong-token-xyz" not in str(caught.value)
    assert fake.count("GET", "/api/v1/accounts/verify_credentials") == 1
    assert sleeper.waits == []


# Paging ---------------------------------------------------------------------------------------


def test_paging_reaches_older_posts_and_stops_on_a_short_page(fake):
    created = [fake.add_status(text=f"post {n}")["id"] for n in range(45)]
    api = api_for(fake)
    pages, max_id = [], None
    while True:
        page = api.own_media_statuses(max_id=max_id, limit=20)
        pages.append(page)
        if page.next_max_id is None:
            break
        max_id = page.next_max_id
    assert [len(page.statuses) for page in pages] == [20, 20, 5]
    seen = [status["id"] for page in pages for status in page.statuses]
    assert seen == list(reversed(created))
    requests = fake.requests_to(statuses_path(fake))
    assert [r.arg("max_id") for r in requests] == [None, seen[19], seen[39]]
    assert all(r.arg("limit") == "20" for r in requests)
    assert fake.count("GET", "/api/v1/accounts/verify_credentials") == 1


def test_paging_stops_on_an_empty_page(fake):
    for n in range(40):
        fake.add_status(text=f"post {n}")
    api = api_for(fake)
    first = api.own_media_statuses()
    assert len(first.statuses) == 40
    assert first.next_max_id == first.statuses[-1]["id"]
    second = api.own_media_statuses(max_id=first.next_max_id)
    assert second.statuses == []
    assert second.next_max_id is None


def test_a_short_page_with_a_next_link_is_not_the_end(fake):
    created = [fake.add_status(text=f"post {n}")["id"] for n in range(12)]
    fake.page_cap = 5  # like GoToSocial or Pixelfed: fewer than asked, and rel="next"
    api = api_for(fake)
    pages, max_id = [], None
    while True:
        page = api.own_media_statuses(max_id=max_id, limit=20)
        pages.append(page)
        if page.next_max_id is None:
            break
        max_id = page.next_max_id
    assert [len(page.statuses) for page in pages] == [5, 5, 2]
    assert [s["id"] for page in pages for s in page.statuses] == list(reversed(created))


def test_without_link_headers_paging_goes_on_until_an_empty_page(fake, httpserver):
    older = fake.add_status(text="older")
    newer = fake.add_status(text="newer")
    path = statuses_path(fake)
    httpserver.expect_oneshot_request(path).respond_with_json([newer])  # short, and no Link
    httpserver.expect_oneshot_request(path).respond_with_json([older])
    httpserver.expect_oneshot_request(path).respond_with_json([])
    api = api_for(fake)
    first = api.own_media_statuses(limit=20)
    assert first.next_max_id == newer["id"]
    second = api.own_media_statuses(max_id=first.next_max_id, limit=20)
    assert second.next_max_id == older["id"]
    assert api.own_media_statuses(max_id=second.next_max_id, limit=20).next_max_id is None


def test_a_status_listed_once_per_image_comes_back_once(fake):
    two = fake.add_status(text="two pictures", media=[None, None])
    one = fake.add_status(text="one picture", media=[None])
    fake.list_once_per_image = True
    page = api_for(fake).own_media_statuses()
    assert [s["id"] for s in page.statuses] == [one["id"], two["id"]]


def test_replies_to_others_are_kept_when_asked_for(fake):
    reply = fake.add_status(text="a reply", in_reply_to_account_id=fake.other_account["id"])
    own = fake.add_status(text="mine")
    page = api_for(fake).own_media_statuses(include_replies=True)
    assert [s["id"] for s in page.statuses] == [own["id"], reply["id"]]
    (request,) = fake.requests_to(statuses_path(fake))
    assert request.arg("exclude_replies") is None


def test_limit_is_capped_at_forty(fake):
    fake.add_status()
    api_for(fake).own_media_statuses(limit=500)
    assert fake.requests_to(statuses_path(fake))[0].arg("limit") == "40"
    with pytest.raises(ValueError):
        api_for(fake).own_media_statuses(limit=0)


def test_replies_and_boosts_are_excluded_by_the_request(fake):
    own = fake.add_status(text="mine", media=["described", None])
    fake.add_status(text="a boost", reblog=True)
    fake.add_status(text="a reply", in_reply_to_account_id=fake.other_account["id"])
    thread = fake.add_status(text="my own thread", in_reply_to_account_id=fake.account["id"])
    fake.add_status(text="no picture", media=[])
    page = api_for(fake).own_media_statuses()
    assert [s["id"] for s in page.statuses] == [thread["id"], own["id"]]
    (request,) = fake.requests_to(statuses_path(fake))
    for name in ("only_media", "exclude_replies", "exclude_reblogs"):
        assert request.arg(name) in ("1", "true"), name
    assert request.arg("pinned") is None


def test_replies_and_boosts_are_dropped_even_when_the_server_ignores_the_parameters(fake, httpserver):
    mine = fake.add_status(text="mine")
    boost = fake.add_status(reblog=True)
    reply = fake.add_status(in_reply_to_account_id=fake.other_account["id"])
    boost["media_attachments"] = boost["reblog"]["media_attachments"]
    httpserver.expect_oneshot_request(statuses_path(fake)).respond_with_json([reply, boost, mine])
    page = api_for(fake).own_media_statuses()
    assert [s["id"] for s in page.statuses] == [mine["id"]]


def test_statuses_are_plain_dicts_with_what_the_scan_needs(fake):
    posted = fake.add_status(text="Hello", language="ja", media=["既存の説明", {"type": "video"}])
    (status,) = api_for(fake).own_media_statuses().statuses
    assert status == {
        "id": posted["id"],
        "url": posted["url"],
        "content": "<p>Hello</p>",
        "created_at": datetime.fromisoformat(posted["created_at"]).isoformat(),
        "language": "ja",
        "sensitive": False,
        "spoiler_text": "",
        "media_attachments": [
            {
                "id": m["id"],
                "type": m["type"],
                "url": m["url"],
                "preview_url": m["preview_url"],
                "description": m["description"],
            }
            for m in posted["media_attachments"]
        ],
    }
    assert type(status["id"]) is str
    assert status["media_attachments"][0]["description"] == "既存の説明"


# Description limit ----------------------------------------------------------------------------


def test_description_limit_from_v2(httpserver):
    fake = FakeMastodon(httpserver, description_limit=4200)
    assert api_for(fake).description_limit() == 4200
    assert fake.count("GET", "/api/v1/instance") == 0


def test_description_limit_from_v1_when_v2_is_missing(fake):
    fake.instance_v2 = None
    fake.instance_v1["configuration"]["media_attachments"]["description_limit"] = 900
    assert api_for(fake).description_limit() == 900
    assert fake.count("GET", "/api/v2/instance") == 1


def test_description_limit_from_pleroma_style_v1(fake):
    fake.instance_v2 = None
    del fake.instance_v1["configuration"]["media_attachments"]["description_limit"]
    fake.instance_v1["description_limit"] = 5000
    assert api_for(fake).description_limit() == 5000


def test_description_limit_from_v1_when_v2_lacks_it(fake):
    del fake.instance_v2["configuration"]["media_attachments"]["description_limit"]
    fake.instance_v1["configuration"]["media_attachments"]["description_limit"] = 700
    assert api_for(fake).description_limit() == 700


def test_description_limit_defaults_when_absent(fake):
    fake.instance_v2 = None
    fake.instance_v1 = {"uri": "old.example", "version": "3.0.0"}
    assert api_for(fake).description_limit() == DEFAULT_DESCRIPTION_LIMIT == 1500


def test_description_limit_defaults_when_unreachable(fake, sleeper):
    fake.error_next("/api/v2/instance", status=503, times=3)
    fake.error_next("/api/v1/instance", status=502, times=3)
    api = api_for(fake, sleeper=sleeper)
    assert api.description_limit() == 1500
    assert len(sleeper.waits) == 4
    assert api.retry_stats.failures == 2


# Pixelfed -------------------------------------------------------------------------------------


def test_pixelfed_description_goes_through_the_media_endpoint(pixelfed):
    post = pixelfed.add_status(text="Three", media=["one", None, "three"])
    media_id = post["media_attachments"][1]["id"]
    result = api_for(pixelfed, platform_type="pixelfed").set_media_description(
        status=post["id"], media_id=media_id, description="A red kite over a field."
    )
    assert result.written is True
    assert result.status["media_attachments"][1]["description"] == "A red kite over a field."
    (put,) = pixelfed.requests_to(f"/api/v1/media/{media_id}", "PUT")
    assert put.form["description"] == ["A red kite over a field."]
    assert pixelfed.count("PUT", f"/api/v1/statuses/{post['id']}") == 0
    descriptions = [m["description"] for m in pixelfed.status(post["id"])["media_attachments"]]
    assert descriptions == ["one", "A red kite over a field.", "three"]


def test_pixelfed_media_put_is_retried_after_a_server_error(pixelfed, sleeper):
    post = pixelfed.add_status()
    media_id = post["media_attachments"][0]["id"]
    pixelfed.error_next(f"/api/v1/media/{media_id}", status=502)
    api = api_for(pixelfed, platform_type="pixelfed", sleeper=sleeper)
    api.set_media_description(status=post, media_id=media_id, description="A kite.")
    assert pixelfed.media(media_id)["description"] == "A kite."
    assert pixelfed.count("PUT", f"/api/v1/media/{media_id}") == 2
    assert len(sleeper.waits) == 1


# The Mastodon status edit ---------------------------------------------------------------------

TEXT = "Three birds & a <fence>\nwith @someone #birds https://example.test/x"


def three_image_post(fake, **extra):
    return fake.add_status(
        text=TEXT,
        spoiler_text="birds, lots of them",
        sensitive=True,
        language="de",
        media=["A blackbird on a fence.", None, "A robin in the snow."],
        poll={"options": ["Blackbird", "Robin", "Wren"], "votes": [5, 3, 1], "multiple": True},
        **extra,
    )


@pytest.mark.parametrize("platform_type", ["mastodon", "pleroma", "gotosocial"])
def test_only_image_two_changes_and_everything_else_is_kept(fake, platform_type):
    post = three_image_post(fake)
    before = fake.status(post["id"])
    media_ids = [m["id"] for m in before["media_attachments"]]
    result = api_for(fake, platform_type=platform_type).set_media_description(
        status=post["id"], media_id=media_ids[1], description="A wren on a twig, tail up."
    )
    after = fake.status(post["id"])
    assert result.written is True
    assert [m["id"] for m in after["media_attachments"]] == media_ids
    assert [m["description"] for m in after["media_attachments"]] == [
        "A blackbird on a fence.",
        "A wren on a twig, tail up.",
        "A robin in the snow.",
    ]
    assert fake.source(post["id"]) == {"id": post["id"], "text": TEXT, "spoiler_text": "birds, lots of them"}
    assert after["content"] == before["content"]
    assert after["spoiler_text"] == "birds, lots of them"
    assert after["language"] == "de"
    assert after["sensitive"] is True
    assert after["poll"]["options"] == before["poll"]["options"]
    assert after["poll"]["multiple"] is True
    assert after["poll"]["votes_count"] == 9
    drift = datetime.fromisoformat(after["poll"]["expires_at"]) - datetime.fromisoformat(
        before["poll"]["expires_at"]
    )
    assert abs(drift.total_seconds()) < 5
    assert after["edited_at"] is not None
    (put,) = fake.requests_to(f"/api/v1/statuses/{post['id']}", "PUT")
    assert put.json["media_ids"] == media_ids
    assert put.json["media_attributes"] == [
        {"id": media_ids[0], "description": "A blackbird on a fence."},
        {"id": media_ids[1], "description": "A wren on a twig, tail up."},
        {"id": media_ids[2], "description": "A robin in the snow."},
    ]
    assert put.headers["Idempotency-Key"] == description_idempotency_key(
        status_id=post["id"], media_id=media_ids[1], description="A wren on a twig, tail up."
    )
    assert [m["description"] for m in result.status["media_attachments"]] == [
        m["description"] for m in after["media_attachments"]
    ]


def test_an_undescribed_neighbour_stays_undescribed(fake):
    post = fake.add_status(media=[None, None])
    first, second = (m["id"] for m in post["media_attachments"])
    api_for(fake).set_media_description(status=post["id"], media_id=second, description="A dog.")
    assert [m["description"] for m in fake.status(post["id"])["media_attachments"]] == ["", "A dog."]
    assert alt_text_missing(fake.status(post["id"])["media_attachments"][0]["description"])
    (put,) = fake.requests_to(f"/api/v1/statuses/{post['id']}", "PUT")
    # Mastodon's documentation allows an empty description; Takahē needs one in every entry.
    assert put.json["media_attributes"][0] == {"id": first, "description": ""}


def test_hidden_poll_totals_stay_hidden(fake):
    post = fake.add_status(poll={"options": ["yes", "no"], "votes": [2, 1], "hide_totals": True})
    media_id = post["media_attachments"][0]["id"]
    api_for(fake).set_media_description(status=post["id"], media_id=media_id, description="A cat.")
    poll = fake.status(post["id"])["poll"]
    assert [option["votes_count"] for option in poll["options"]] == [None, None]
    assert poll["votes_count"] == 3


def test_a_description_already_there_is_not_written_again(fake):
    post = fake.add_status(media=["A cat asleep."])
    media_id = post["media_attachments"][0]["id"]
    result = api_for(fake).set_media_description(
        status=post, media_id=media_id, description=" A cat asleep.\n"
    )
    assert result.written is False
    assert fake.count("PUT", f"/api/v1/statuses/{post['id']}") == 0


def test_unknown_media_is_an_error_without_a_write(fake):
    post = fake.add_status()
    with pytest.raises(PlatformError, match="no media attachment 42"):
        api_for(fake).set_media_description(status=post["id"], media_id="42", description="x")
    assert fake.count("PUT", f"/api/v1/statuses/{post['id']}") == 0


def test_a_deleted_status_is_a_clear_error(fake):
    with pytest.raises(PlatformError, match="no longer exists") as caught:
        api_for(fake).set_media_description(status="999", media_id="1", description="x")
    assert caught.value.status == 404
    assert not isinstance(caught.value, PlatformUnavailableError)


def test_an_edit_that_did_not_land_is_reported(fake, httpserver):
    post = fake.add_status()
    media_id = post["media_attachments"][0]["id"]
    # A server that answers 200 but keeps the old description.
    httpserver.expect_oneshot_request(f"/api/v1/statuses/{post['id']}", method="PUT").respond_with_json(post)
    with pytest.raises(PlatformError, match="did not change"):
        api_for(fake).set_media_description(status=post["id"], media_id=media_id, description="A cat.")


def test_a_too_long_description_is_refused_with_the_servers_reason(httpserver):
    fake = FakeMastodon(httpserver, description_limit=10)
    post = fake.add_status()
    media_id = post["media_attachments"][0]["id"]
    with pytest.raises(PlatformAuthError, match="too long") as caught:
        api_for(fake).set_media_description(status=post["id"], media_id=media_id, description="x" * 11)
    assert caught.value.status == 422
    assert fake.count("PUT", f"/api/v1/statuses/{post['id']}") == 1


def test_edit_without_the_source_endpoint_refuses_rather_than_losing_text(fake, httpserver):
    post = fake.add_status()
    media_id = post["media_attachments"][0]["id"]
    httpserver.expect_oneshot_request(f"/api/v1/statuses/{post['id']}/source").respond_with_json(
        {"error": "Record not found"}, status=404
    )
    with pytest.raises(PlatformError, match="without losing its text"):
        api_for(fake).set_media_description(status=post["id"], media_id=media_id, description="x")
    assert fake.count("PUT", f"/api/v1/statuses/{post['id']}") == 0


def test_a_source_without_text_refuses_rather_than_losing_text(fake, httpserver):
    post = fake.add_status()
    media_id = post["media_attachments"][0]["id"]
    httpserver.expect_oneshot_request(f"/api/v1/statuses/{post['id']}/source").respond_with_json(
        {"id": post["id"], "spoiler_text": ""}
    )
    with pytest.raises(PlatformError, match="without losing its text"):
        api_for(fake).set_media_description(status=post["id"], media_id=media_id, description="x")
    assert fake.count("PUT", f"/api/v1/statuses/{post['id']}") == 0


def test_markdown_source_stays_markdown(fake, httpserver):
    post = fake.add_status(text="**bold**")
    media_id = post["media_attachments"][0]["id"]
    httpserver.expect_oneshot_request(f"/api/v1/statuses/{post['id']}/source").respond_with_json(
        {"id": post["id"], "text": "**bold**", "spoiler_text": "", "content_type": "text/markdown"}
    )
    api_for(fake, platform_type="pleroma").set_media_description(
        status=post["id"], media_id=media_id, description="A cat."
    )
    (put,) = fake.requests_to(f"/api/v1/statuses/{post['id']}", "PUT")
    assert put.json["content_type"] == "text/markdown"
    assert put.json["status"] == "**bold**"


# Lost answers: the edit is applied once ---------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 504])
def test_edit_applied_but_answered_with_an_error_is_not_sent_twice(fake, sleeper, status):
    post = three_image_post(fake)
    media_id = post["media_attachments"][1]["id"]
    fake.error_next(f"/api/v1/statuses/{post['id']}", method="PUT", status=status, apply=True)
    api = api_for(fake, sleeper=sleeper)
    result = api.set_media_description(status=post["id"], media_id=media_id, description="A wren.")
    assert result.written is True
    assert fake.count("PUT", f"/api/v1/statuses/{post['id']}") == 1
    assert fake.status(post["id"])["media_attachments"][1]["description"] == "A wren."
    assert api.retry_stats.successes_after_retry >= 1


@pytest.mark.timing
def test_edit_applied_but_answer_lost_to_a_timeout_is_not_sent_twice(fake, sleeper):
    post = three_image_post(fake)
    media_id = post["media_attachments"][1]["id"]
    fake.hang_next(f"/api/v1/statuses/{post['id']}", method="PUT", seconds=1.0, apply=True)
    api = api_for(fake, sleeper=sleeper, timeout=0.3)
    started = time.monotonic()
    result = api.set_media_description(status=post["id"], media_id=media_id, description="A wren.")
    assert time.monotonic() - started < 0.9
    assert result.written is True
    assert fake.count("PUT", f"/api/v1/statuses/{post['id']}") == 1
    assert api.retry_stats.reasons.get("timeout") == 1


def test_edit_refused_before_it_landed_is_sent_again_with_the_same_key(fake, sleeper):
    post = fake.add_status(media=[None, None])
    media_id = post["media_attachments"][0]["id"]
    fake.error_next(f"/api/v1/statuses/{post['id']}", method="PUT", status=503)
    api_for(fake, sleeper=sleeper).set_media_description(
        status=post["id"], media_id=media_id, description="A."
    )
    puts = fake.requests_to(f"/api/v1/statuses/{post['id']}", "PUT")
    assert len(puts) == 2
    assert puts[0].headers["Idempotency-Key"] == puts[1].headers["Idempotency-Key"]
    assert fake.status(post["id"])["media_attachments"][0]["description"] == "A."


def test_edit_that_keeps_failing_raises_with_stats(fake, sleeper):
    post = fake.add_status()
    media_id = post["media_attachments"][0]["id"]
    fake.error_next(f"/api/v1/statuses/{post['id']}", method="PUT", status=503, times=3)
    with pytest.raises(PlatformUnavailableError) as caught:
        api_for(fake, sleeper=sleeper).set_media_description(
            status=post["id"], media_id=media_id, description="A."
        )
    assert caught.value.status == 503
    assert caught.value.retry_stats.failures == 1
    assert fake.status(post["id"])["media_attachments"][0]["description"] is None


# Transient failures on reads ------------------------------------------------------------------


def test_rate_limit_with_retry_after_is_waited_out_then_succeeds(fake, sleeper):
    fake.add_status()
    fake.rate_limit_next(statuses_path(fake), retry_after="7")
    throttle, held = held_throttle()
    api = api_for(fake, sleeper=sleeper, throttle=throttle)
    page = api.own_media_statuses()
    assert len(page.statuses) == 1
    assert sleeper.waits == [7.0]
    assert len(held.waits) == 1 and 6 <= held.waits[0] <= 7
    assert api.retry_stats.total_wait_seconds == 7.0
    assert api.retry_stats.successes_after_retry == 1
    assert api.retry_stats.reasons == {"429": 1}
    assert api.retry_stats.as_run_fields()["retry_attempts"] == 1


def test_rate_limit_with_an_http_date_is_honoured(fake, sleeper):
    fake.add_status()
    fake.rate_limit_next(statuses_path(fake), retry_after=formatdate(time.time() + 20, usegmt=True))
    throttle, held = held_throttle()
    api_for(fake, sleeper=sleeper, throttle=throttle).own_media_statuses()
    assert len(sleeper.waits) == 1
    assert 17 <= sleeper.waits[0] <= 20
    assert len(held.waits) == 1 and 16 <= held.waits[0] <= 20


def test_rate_limit_without_retry_after_uses_the_reset_header(fake, sleeper):
    fake.add_status()
    fake.rate_limit_next(statuses_path(fake), retry_after=None, reset_in=12)
    throttle, held = held_throttle()
    api_for(fake, sleeper=sleeper, throttle=throttle).own_media_statuses()
    assert len(sleeper.waits) == 1
    assert 10 <= sleeper.waits[0] <= 12
    assert len(held.waits) == 1 and 9 <= held.waits[0] <= 12


def test_server_errors_exhausted_are_unavailable_with_stats(fake, sleeper):
    fake.add_status()
    fake.error_next(statuses_path(fake), status=502, times=3)
    api = api_for(fake, sleeper=sleeper)
    with pytest.raises(PlatformUnavailableError, match="HTTP 502") as caught:
        api.own_media_statuses()
    stats = caught.value.retry_stats
    assert (stats.attempts, stats.retries, stats.failures) == (3, 2, 1)
    assert len(sleeper.waits) == 2
    assert 0.9 <= sleeper.waits[0] <= 1.1
    assert 1.8 <= sleeper.waits[1] <= 2.2
    assert stats.total_wait_seconds == pytest.approx(sum(sleeper.waits))
    assert api.retry_stats.failures == 1
    assert fake.count("GET", statuses_path(fake)) == 3


@pytest.mark.timing
def test_timeout_is_retried(fake, sleeper):
    post = fake.add_status()
    fake.hang_next(f"/api/v1/statuses/{post['id']}", seconds=1.0)
    api = api_for(fake, sleeper=sleeper, timeout=0.3)
    started = time.monotonic()
    assert api.get_status(status_id=post["id"])["id"] == post["id"]
    assert time.monotonic() - started < 0.9
    assert api.retry_stats.reasons == {"timeout": 1}


def test_timeout_exhausted_is_unavailable(fake, sleeper):
    post = fake.add_status()
    fake.hang_next(f"/api/v1/statuses/{post['id']}", seconds=0.6)
    with pytest.raises(PlatformUnavailableError, match="did not answer") as caught:
        api_for(fake, sleeper=sleeper, timeout=0.2, attempts=1).get_status(status_id=post["id"])
    assert caught.value.ambiguous is True


def test_malformed_json_is_retried(fake, sleeper):
    fake.add_status()
    fake.malformed_next(statuses_path(fake))
    api = api_for(fake, sleeper=sleeper)
    assert len(api.own_media_statuses().statuses) == 1
    assert api.retry_stats.reasons == {"malformed": 1}


def test_malformed_json_every_time_fails_cleanly(fake, sleeper):
    fake.malformed_next("/api/v1/accounts/verify_credentials", times=3)
    with pytest.raises(PlatformUnavailableError, match="not JSON"):
        api_for(fake, sleeper=sleeper).verify()


def test_connection_refused_is_unavailable(httpserver, sleeper):
    url = httpserver.url_for("/").rstrip("/")
    httpserver.stop()
    try:
        api = MastodonApi(instance_url=url, access_token="t" * 20, timeout=1, sleep=sleeper)
        with pytest.raises(PlatformUnavailableError, match="could not be reached") as caught:
            api.verify()
        assert caught.value.ambiguous is False
        assert len(sleeper.waits) == 2
    finally:
        httpserver.start()


def test_stats_add_up_across_calls(fake, sleeper):
    post = fake.add_status()
    fake.error_next(statuses_path(fake), status=500)
    fake.rate_limit_next(f"/api/v1/statuses/{post['id']}", retry_after="3")
    api = api_for(fake, sleeper=sleeper, throttle=held_throttle()[0])
    api.own_media_statuses()
    api.get_status(status_id=post["id"])
    fields = api.retry_stats.as_run_fields()
    assert fields["retry_attempts"] == 2
    assert fields["retry_successes"] == 2
    assert fields["retry_failures"] == 0
    assert fields["retry_stats"]["reasons"] == {"429": 1, "500": 1}


# The fake itself (other issues reuse it) --------------------------------------------------------


def test_fake_serves_media_bytes_and_extra_routes(fake):
    post = fake.add_status()
    media = post["media_attachments"][0]
    fake.files[media["id"]] = b"\x89PNG-bytes"
    assert httpx.get(media["url"]).content == b"\x89PNG-bytes"

    fake.route("POST", r"/api/v1/statuses", lambda f, request, match, body: Response("{}", status=201))
    headers = {"Authorization": f"Bearer {fake.token}"}
    assert httpx.post(f"{fake.base_url}/api/v1/statuses", json={}, headers=headers).status_code == 201
    assert httpx.post(f"{fake.base_url}/api/v1/statuses", json={}).status_code == 401
    assert fake.count("POST", "/api/v1/statuses") == 2


def test_fake_applies_mastodons_lossy_edit_rules(fake):
    post = fake.add_status(spoiler_text="cw", media=["a", "b"], poll={"options": ["x", "y"]})
    response = httpx.put(
        f"{fake.base_url}/api/v1/statuses/{post['id']}",
        json={"status": "new text"},
        headers={"Authorization": f"Bearer {fake.token}", "Idempotency-Key": "k"},
    )
    assert response.status_code == 200
    after = fake.status(post["id"])
    assert (after["media_attachments"], after["poll"], after["spoiler_text"]) == ([], None, "")
    missing_key = httpx.put(
        f"{fake.base_url}/api/v1/statuses/{post['id']}",
        json={"status": "x"},
        headers={"Authorization": f"Bearer {fake.token}"},
    )
    assert missing_key.status_code == 422


# What a real Mastodon-API server (Takahē) showed -------------------------------------------------


def test_an_edit_that_changes_the_visibility_is_not_a_success(fake):
    post = fake.add_status(visibility="unlisted", media=[None, "A fern."])
    media_id = post["media_attachments"][0]["id"]
    fake.edit_sets_visibility = "public"  # Takahē's edit endpoint drops the visibility
    with pytest.raises(PostChangedError) as caught:
        api_for(fake).set_media_description(status=post["id"], media_id=media_id, description="A moss.")
    assert caught.value.changes == ["visibility changed from 'unlisted' to 'public'"]
    assert "was written" in str(caught.value) and "'unlisted' to 'public'" in str(caught.value)
    assert fake.status(post["id"])["media_attachments"][0]["description"] == "A moss."
    assert fake.count("PUT", f"/api/v1/statuses/{post['id']}") == 1, "the edit took effect: not retried"


def test_a_server_that_needs_every_description_gets_an_empty_one(fake):
    post = fake.add_status(media=[None, None])
    first, second = (m["id"] for m in post["media_attachments"])
    fake.require_every_description = True
    result = api_for(fake).set_media_description(status=post["id"], media_id=first, description="A gull.")
    assert result.written
    assert [m["description"] for m in fake.status(post["id"])["media_attachments"]] == ["A gull.", ""]
    (put,) = fake.requests_to(f"/api/v1/statuses/{post['id']}", "PUT")
    assert put.json["media_attributes"] == [
        {"id": first, "description": "A gull."},
        {"id": second, "description": ""},
    ]


def test_field_errors_in_error_details_are_kept(fake):
    post = fake.add_status()
    media_id = post["media_attachments"][0]["id"]
    fake.error_next(
        f"/api/v1/statuses/{post['id']}",
        method="PUT",
        status=400,
        body={
            "error": "invalid_input",
            "error_details": [
                {
                    "loc": ["body", "media_attributes", 0, "focus"],
                    "msg": "not a valid focus",
                    "type": "value_error",
                }
            ],
        },
    )
    with pytest.raises(PlatformAuthError) as caught:
        api_for(fake).set_media_description(status=post["id"], media_id=media_id, description="A gull.")
    assert "invalid_input; body.media_attributes.0.focus: not a valid focus" in str(caught.value)


def test_mastodons_validation_details_are_kept(fake):
    post = fake.add_status()
    media_id = post["media_attachments"][0]["id"]
    fake.error_next(
        f"/api/v1/statuses/{post['id']}",
        method="PUT",
        status=422,
        body={
            "error": "Validation failed: Description is too long",
            "details": {
                "description": [{"error": "ERR_TOO_LONG", "description": "is too long (maximum 1500)"}]
            },
        },
    )
    with pytest.raises(PlatformAuthError) as caught:
        api_for(fake).set_media_description(status=post["id"], media_id=media_id, description="A gull.")
    assert "Validation failed: Description is too long; description: is too long (maximum 1500)" in str(
        caught.value
    )


def test_an_error_description_on_a_read_is_kept_and_the_token_masked(fake):
    fake.error_next(
        "/api/v1/accounts/verify_credentials",
        status=403,
        body={
            "error": "insufficient_scope",
            "error_description": f"The token {fake.token} is missing the read:accounts scope",
        },
    )
    with pytest.raises(PlatformAuthError) as caught:
        api_for(fake).verify()
    message = str(caught.value)
    assert "insufficient_scope; The token *** is missing the read:accounts scope" in message
    assert fake.token not in message


def test_a_long_reason_is_trimmed(fake):
    fake.error_next("/api/v1/accounts/verify_credentials", status=400, body={"error": "x " * 1000})
    with pytest.raises(PlatformAuthError) as caught:
        api_for(fake).verify()
    assert len(str(caught.value)) < 500


def test_a_wrong_token_says_the_servers_reason_not_a_guess(fake):
    fake.bad_token_answer = (400, "Invalid Bearer token", "text/plain")  # Takahē
    with pytest.raises(PlatformAuthError) as caught:
        api_for(fake, token="wrong-token-xyz").verify()
    assert "Invalid Bearer token" in str(caught.value)
    assert "scope" not in str(caught.value)


def test_connection_verify_says_the_servers_reason_not_a_guess(fake):
    fake.bad_token_answer = (400, "Invalid Bearer token", "text/plain")
    with pytest.raises(PlatformAuthError) as caught:
        mastodon_verify_credentials(instance_url=fake.base_url, access_token="wrong-token-xyz", timeout=2)
    assert "(HTTP 400)" in str(caught.value) and "Invalid Bearer token" in str(caught.value)
    assert "read scope" not in str(caught.value)


def test_an_html_error_page_is_not_quoted(fake):
    fake.bad_token_answer = (400, "<html><body><h1>Bad Request</h1></body></html>", "text/html")
    with pytest.raises(PlatformAuthError) as caught:
        api_for(fake, token="wrong-token-xyz").verify()
    assert "<html" not in str(caught.value)


@pytest.mark.parametrize(
    ("field", "new", "change"),
    [
        ("content", "<p>Other words</p>", "the text changed"),
        ("spoiler_text", "birds", "the content warning changed from '' to 'birds'"),
        ("sensitive", True, "sensitive changed from False to True"),
        ("language", "de", "the language changed from 'en' to 'de'"),
        ("poll", None, "the poll was removed"),
    ],
)
def test_every_field_an_edit_must_keep_is_compared(fake, httpserver, field, new, change):
    post = fake.add_status(poll={"options": ["yes", "no"]})
    media_id = post["media_attachments"][0]["id"]
    api = api_for(fake)
    api.set_media_description(status=post["id"], media_id=media_id, description="A heron.")
    before = fake.status(post["id"])
    after = {**before, field: new}
    with pytest.raises(PostChangedError) as caught:
        api._check_edit(
            status_id=post["id"], media_id=media_id, description="A heron.", before=before, after=after
        )
    assert caught.value.changes == [change]


def test_reordered_media_is_a_change(fake):
    post = fake.add_status(media=["One.", "Two."])
    before = fake.status(post["id"])
    after = {**before, "media_attachments": list(reversed(before["media_attachments"]))}
    with pytest.raises(PlatformError, match="attachments changed"):
        api_for(fake)._check_edit(
            status_id=post["id"],
            media_id=before["media_attachments"][0]["id"],
            description="One.",
            before=before,
            after=after,
        )
