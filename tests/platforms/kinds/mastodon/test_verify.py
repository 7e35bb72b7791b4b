"""The Mastodon-API client against a real local HTTP server speaking verify_credentials."""

import time

import pytest
from werkzeug import Response

from platforms.kinds.mastodon import client as clients

PATH = "/api/v1/accounts/verify_credentials"
TOKEN = "local-test-token-0123456789"

# Trimmed from a real Mastodon 4.x verify_credentials answer.
ACCOUNT = {
    "id": "109382847538472",
    "username": "alttext",
    "acct": "alttext",
    "display_name": "Alt Text Bot",
    "locked": False,
    "bot": True,
    "discoverable": True,
    "group": False,
    "created_at": "2022-11-21T00:00:00.000Z",
    "note": "<p>Describes images.</p>",
    "url": "https://social.example/@alttext",
    "uri": "https://social.example/users/alttext",
    "avatar": "https://social.example/avatars/original/missing.png",
    "avatar_static": "https://social.example/avatars/original/missing.png",
    "header": "https://social.example/headers/original/missing.png",
    "header_static": "https://social.example/headers/original/missing.png",
    "followers_count": 12,
    "following_count": 3,
    "statuses_count": 40,
    "last_status_at": "2026-11-20",
    "source": {
        "privacy": "public",
        "sensitive": False,
        "language": "en",
        "note": "Describes images.",
        "fields": [],
    },
    "emojis": [],
    "fields": [],
}


def base(httpserver) -> str:
    return httpserver.url_for("/").rstrip("/")


def verify(httpserver, **kwargs):
    return clients.mastodon_verify_credentials(instance_url=base(httpserver), access_token=TOKEN, **kwargs)


def test_success_returns_the_account_and_sends_the_bearer_token(httpserver):
    httpserver.expect_oneshot_request(
        PATH, method="GET", headers={"Authorization": f"Bearer {TOKEN}"}
    ).respond_with_json(ACCOUNT)
    account = verify(httpserver)
    assert account == clients.PlatformAccount(
        id="109382847538472",
        username="alttext",
        acct="alttext",
        display_name="Alt Text Bot",
        url="https://social.example/@alttext",
    )
    httpserver.check_assertions()


def test_building_a_client_makes_no_request(httpserver):
    client = clients.mastodon_http(instance_url=base(httpserver), access_token=TOKEN, timeout=1)
    assert client.timeout.read == 1
    assert httpserver.log == []


def test_unauthorized_is_an_auth_error_without_the_token(httpserver):
    httpserver.expect_request(PATH).respond_with_json({"error": "The access token is invalid"}, status=401)
    with pytest.raises(clients.PlatformAuthError) as caught:
        verify(httpserver)
    assert caught.value.status == 401
    assert "401" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_forbidden_is_an_auth_error(httpserver):
    httpserver.expect_request(PATH).respond_with_json(
        {"error": "This action is outside the authorized scopes"}, status=403
    )
    with pytest.raises(clients.PlatformAuthError) as caught:
        verify(httpserver)
    assert caught.value.status == 403


def test_missing_endpoint_is_an_auth_error_naming_the_url(httpserver):
    httpserver.expect_request(PATH).respond_with_data("Not Found", status=404)
    with pytest.raises(clients.PlatformAuthError, match="instance URL"):
        verify(httpserver)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_unavailable(httpserver, status):
    httpserver.expect_request(PATH).respond_with_data(
        "<html>oops</html>", status=status, content_type="text/html"
    )
    with pytest.raises(clients.PlatformUnavailableError) as caught:
        verify(httpserver)
    assert caught.value.status == status


@pytest.mark.timing
def test_rate_limit_is_unavailable_and_not_slept_on(httpserver):
    httpserver.expect_request(PATH).respond_with_json(
        {"error": "Too many requests"},
        status=429,
        headers={"Retry-After": "300", "X-RateLimit-Reset": "2099-01-01T00:00:00Z"},
    )
    started = time.monotonic()
    with pytest.raises(clients.PlatformUnavailableError) as caught:
        verify(httpserver)
    assert time.monotonic() - started < 5
    assert caught.value.status == 429


@pytest.mark.timing
def test_timeout_is_unavailable(httpserver):
    def slow(request):
        time.sleep(1.0)
        return Response("{}", content_type="application/json")

    httpserver.expect_request(PATH).respond_with_handler(slow)
    started = time.monotonic()
    with pytest.raises(clients.PlatformUnavailableError, match="could not be reached"):
        verify(httpserver, timeout=0.2)
    assert time.monotonic() - started < 0.9


def test_connection_refused_is_unavailable(httpserver):
    url = base(httpserver)
    httpserver.stop()
    try:
        with pytest.raises(clients.PlatformUnavailableError):
            clients.mastodon_verify_credentials(instance_url=url, access_token=TOKEN, timeout=1)
    finally:
        httpserver.start()


def test_malformed_json_is_unavailable(httpserver):
    httpserver.expect_request(PATH).respond_with_data(
        '{"id": "1", "username": ', content_type="application/json"
    )
    with pytest.raises(clients.PlatformUnavailableError, match="not the JSON of an account"):
        verify(httpserver)


@pytest.mark.parametrize("body", [[], {"id": "1"}, {"username": "x"}, "just a string"])
def test_json_that_is_not_an_account_is_unavailable(httpserver, body):
    httpserver.expect_request(PATH).respond_with_json(body)
    with pytest.raises(clients.PlatformUnavailableError):
        verify(httpserver)


def test_minimal_account_fills_acct_from_username(httpserver):
    httpserver.expect_request(PATH).respond_with_json({"id": 7, "username": "gts"})
    account = verify(httpserver)
    assert account.as_dict() == {"id": "7", "username": "gts", "acct": "gts", "display_name": "", "url": ""}
