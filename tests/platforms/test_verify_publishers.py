"""Verifying and validating the publishing connection types: X, LinkedIn, WordPress, webhook."""

import json

import pytest

from accounts.models import AuditLog, Role
from platforms.models import PlatformConnection, PlatformType
from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.wordpress import FakeWordPress
from tests.fakes.x import FakeX
from tests.isolation import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/platforms/connections/"


@pytest.fixture
def user():
    return UserFactory(role=Role.USER)


@pytest.fixture
def api(user):
    return client_for(user)


def verify(api, connection):
    return api.post(f"{URL}{connection.pk}/verify/")


def create(api, **fields):
    data = {"name": "target", "instance_url": "https://publish.example", "access_token": "secret-token-0001"}
    data.update(fields)
    return api.post(URL, data, format="json")


# --- verify -----------------------------------------------------------------------------------


def test_verify_x_asks_users_me_and_learns_the_username(api, user, httpserver):
    fake = FakeX(httpserver, username="desk")
    connection = PlatformConnectionFactory(
        user=user,
        platform_type=PlatformType.X,
        instance_url=fake.base_url,
        username=None,
        access_token=fake.token,
    )
    response = verify(api, connection)
    assert response.status_code == 200, response.content
    assert response.json()["account"] == {
        "id": fake.user["id"],
        "username": "desk",
        "acct": "desk",
        "display_name": "Socialdesk",
        "url": "https://x.com/desk",
    }
    (request,) = fake.requests_to("/2/users/me")
    assert request.headers["Authorization"] == f"Bearer {fake.token}"
    connection.refresh_from_db()
    assert connection.username == "desk"
    assert connection.last_used is not None


def test_verify_x_with_a_rejected_token_is_a_400_without_the_token(api, user, httpserver):
    fake = FakeX(httpserver)
    connection = PlatformConnectionFactory(
        user=user, platform_type=PlatformType.X, instance_url=fake.base_url, access_token="bad-x-token-0099"
    )
    response = verify(api, connection)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "verification_failed"
    assert "bad-x-token-0099" not in response.content.decode()
    log = AuditLog.objects.get(action="connection.verify_failed")
    assert log.details["status"] == 401
    assert "bad-x-token-0099" not in json.dumps(log.details)


def test_verify_x_rate_limited_is_a_502_at_once(api, user, httpserver):
    fake = FakeX(httpserver)
    fake.rate_limit_next(retry_after="30", path="/2/users/me", method="GET")
    connection = PlatformConnectionFactory(
        user=user, platform_type=PlatformType.X, instance_url=fake.base_url, access_token=fake.token
    )
    response = verify(api, connection)
    assert response.status_code == 502
    assert fake.count("GET", "/2/users/me") == 1


def test_verify_linkedin_learns_the_author_urn_from_userinfo(api, user, httpserver):
    fake = FakeLinkedIn(httpserver)
    connection = PlatformConnectionFactory(
        user=user,
        platform_type=PlatformType.LINKEDIN,
        instance_url=fake.base_url,
        username=None,
        access_token=fake.token,
        extra={},
    )
    response = verify(api, connection)
    assert response.status_code == 200, response.content
    assert response.json()["account"]["acct"] == fake.author_urn
    assert response.json()["account"]["display_name"] == "Ada Lovelace"
    connection.refresh_from_db()
    assert connection.extra == {"author_urn": fake.author_urn}
    assert connection.username == fake.userinfo["sub"]
    (request,) = fake.requests_to("/v2/userinfo")
    assert request.headers["Authorization"] == f"Bearer {fake.token}"


def test_verify_linkedin_keeps_an_organization_author(api, user, httpserver):
    fake = FakeLinkedIn(httpserver)
    connection = PlatformConnectionFactory(
        user=user,
        platform_type=PlatformType.LINKEDIN,
        instance_url=fake.base_url,
        access_token=fake.token,
        extra={"author_urn": fake.organization_urn},
    )
    assert verify(api, connection).status_code == 200
    connection.refresh_from_db()
    assert connection.extra == {"author_urn": fake.organization_urn}


def test_verify_linkedin_without_a_subject_is_a_502(api, user, httpserver):
    fake = FakeLinkedIn(httpserver)
    fake.userinfo = {"name": "No subject"}
    connection = PlatformConnectionFactory(
        user=user, platform_type=PlatformType.LINKEDIN, instance_url=fake.base_url, access_token=fake.token
    )
    assert verify(api, connection).status_code == 502
    connection.refresh_from_db()
    assert "author_urn" not in connection.extra


def test_verify_wordpress_asks_users_me_with_the_application_password(api, user, httpserver):
    fake = FakeWordPress(httpserver)
    connection = PlatformConnectionFactory(
        user=user,
        platform_type=PlatformType.WORDPRESS,
        instance_url=fake.base_url,
        username=fake.username,
        access_token=fake.password,
    )
    response = verify(api, connection)
    assert response.status_code == 200, response.content
    assert response.json()["account"]["username"] == fake.username
    (request,) = fake.requests_to("/wp-json/wp/v2/users/me")
    assert request.arg("context") == "edit"
    assert request.headers["Authorization"].startswith("Basic ")


def test_verify_wordpress_with_a_wrong_password_is_a_400(api, user, httpserver):
    fake = FakeWordPress(httpserver)
    connection = PlatformConnectionFactory(
        user=user,
        platform_type=PlatformType.WORDPRESS,
        instance_url=fake.base_url,
        username=fake.username,
        access_token="wrong wrong wrong",
    )
    response = verify(api, connection)
    assert response.status_code == 400
    assert "wrong wrong" not in response.content.decode()


@pytest.mark.parametrize("platform_type", [PlatformType.WEBHOOK, PlatformType.IMAGEFX])
def test_verify_of_a_webhook_or_imagefx_is_unsupported(api, user, platform_type, httpserver):
    connection = PlatformConnectionFactory(
        user=user, platform_type=platform_type, instance_url=httpserver.url_for("/hook").rstrip("/")
    )
    response = verify(api, connection)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "verification_unsupported"
    assert "cannot be verified" in error["message"]
    assert httpserver.log == []


# --- validation on create and update --------------------------------------------------------------


def test_linkedin_may_leave_the_author_urn_to_verification(api):
    response = create(api, platform_type="linkedin", instance_url="https://api.linkedin.com")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "extra",
    [
        {"author_urn": "urn:li:company:1"},
        {"author_urn": "ada"},
        {"author_urn": 12},
        {"author_urn": "urn:li:person:abc", "linkedin_version": "2024-11"},
    ],
)
def test_linkedin_extra_is_checked(api, extra):
    response = create(api, platform_type="linkedin", instance_url="https://api.linkedin.com", extra=extra)
    assert response.status_code == 400
    assert "extra" in response.json()["error"]["fields"]
    assert not PlatformConnection.objects.exists()


def test_linkedin_accepts_person_and_organization_urns(api):
    for n, urn in enumerate(("urn:li:person:a-B_9", "urn:li:organization:2414183")):
        response = create(
            api,
            name=f"li {n}",
            platform_type="linkedin",
            instance_url=f"https://api{n}.linkedin.com",
            extra={"author_urn": urn, "linkedin_version": "202501"},
        )
        assert response.status_code == 201, response.content


def test_wordpress_needs_a_username(api):
    response = create(api, platform_type="wordpress", instance_url="https://blog.example")
    assert response.status_code == 400
    assert "username" in response.json()["error"]["fields"]
    response = create(api, platform_type="wordpress", instance_url="https://blog.example", username="editor")
    assert response.status_code == 201, response.content


def test_wordpress_username_cannot_be_removed_later(api, user):
    connection = PlatformConnectionFactory(user=user, platform_type=PlatformType.WORDPRESS, username="editor")
    response = api.patch(f"{URL}{connection.pk}/", {"username": ""}, format="json")
    assert response.status_code == 400
    assert "username" in response.json()["error"]["fields"]


def test_a_webhook_needs_https_like_every_connection(api):
    response = create(api, platform_type="webhook", instance_url="http://blog.example/hooks/socialdesk")
    assert response.status_code == 400
    assert "instance_url" in response.json()["error"]["fields"]
    response = create(api, platform_type="webhook", instance_url="https://blog.example/hooks/socialdesk/")
    assert response.status_code == 201, response.content
    assert response.json()["instance_url"] == "https://blog.example/hooks/socialdesk"


@pytest.mark.parametrize(
    "platform_type, extra",
    [("mastodon", {"visibility": "everyone"}), ("x", {"timeout": 0}), ("x", {"timeout": "10"})],
)
def test_publishing_options_in_extra_are_checked(api, platform_type, extra):
    response = create(api, platform_type=platform_type, extra=extra)
    assert response.status_code == 400
    assert "extra" in response.json()["error"]["fields"]


def test_valid_publishing_options_are_accepted(api):
    response = create(api, platform_type="mastodon", extra={"visibility": "unlisted", "timeout": 20})
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"status": "private"}, "status"),
        ({"status": "future"}, "status"),
        ({"category": 0}, "category"),
        ({"category": ""}, "category"),
        ({"category": True}, "category"),
        ({"category": ["News"]}, "category"),
        ({"tags": "kaffee"}, "tags"),
        ({"tags": ["ok", ""]}, "tags"),
        ({"tags": [1]}, "tags"),
        ({"tags": [f"t{n}" for n in range(21)]}, "tags"),
        ({"hashtags_as_tags": "yes"}, "hashtags_as_tags"),
    ],
)
def test_wordpress_publishing_options_are_checked(api, extra, named):
    response = create(
        api, platform_type="wordpress", instance_url="https://blog.example", username="editor", extra=extra
    )
    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["extra"]
    assert message.startswith(f"{named} ")
    assert not PlatformConnection.objects.exists()


@pytest.mark.parametrize(
    "extra",
    [
        {"status": "publish"},
        {"status": "draft", "category": 7},
        {"status": "pending", "category": "Reisen", "tags": ["Kaffee", "東京"], "hashtags_as_tags": True},
    ],
)
def test_wordpress_publishing_options_are_stored(api, extra):
    response = create(
        api, platform_type="wordpress", instance_url="https://blog.example", username="editor", extra=extra
    )
    assert response.status_code == 201, response.content
    assert PlatformConnection.objects.get().extra == extra


def test_wordpress_options_are_checked_on_update_too(api, user):
    connection = PlatformConnectionFactory(user=user, platform_type=PlatformType.WORDPRESS, username="editor")
    response = api.patch(f"{URL}{connection.pk}/", {"extra": {"status": "scheduled"}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["extra"] == ["status must be one of publish, draft, pending."]
    connection.refresh_from_db()
    assert "status" not in connection.extra
