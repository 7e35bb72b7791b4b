"""/api/v1/platforms/connections/: CRUD for the owner, write-only credentials, one default, verify."""

import json
import re
import time

import pytest
from django.db import connection as db_connection
from werkzeug import Response

from accounts.models import AuditLog, Role
from accounts.tokens import hash_secret
from platforms import services
from platforms.models import PlatformConnection, PlatformType
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.isolation import OwnedEndpoint, assert_isolated, client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/platforms/connections/"
VERIFY_PATH = "/api/v1/accounts/verify_credentials"
TOKEN = "access-token-that-must-never-leak-0001"
CLIENT_KEY = "client-key-that-must-never-leak-0002"
CLIENT_SECRET = "client-secret-that-must-never-leak-0003"
SECRETS = (TOKEN, CLIENT_KEY, CLIENT_SECRET)


def detail(obj) -> str:
    return f"{URL}{obj.pk}/"


def body(**overrides) -> dict:
    data = {
        "name": "My Mastodon",
        "platform_type": "mastodon",
        "instance_url": "https://social.example/",
        "username": "alice",
        "access_token": TOKEN,
        "client_key": CLIENT_KEY,
        "client_secret": CLIENT_SECRET,
        "extra": {"description_limit": 1500},
    }
    data.update(overrides)
    return data


def assert_no_secret(response) -> None:
    text = response.content.decode()
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture
def user():
    return UserFactory(role=Role.USER)


@pytest.fixture
def api(user):
    return client_for(user)


# --- create ---------------------------------------------------------------------------------


def test_create_returns_the_connection_with_a_masked_hint_only(api, user, raw_column):
    response = api.post(URL, body(), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["name"] == "My Mastodon"
    assert data["instance_url"] == "https://social.example"  # normalised
    assert data["credential_hint"] == "••••0001"
    assert data["extra"] == {"description_limit": 1500}
    assert data["is_active"] is True
    assert data["is_default"] is False
    assert data["last_used"] is None
    for field in ("access_token", "client_key", "client_secret"):
        assert field not in data
    assert_no_secret(response)

    stored = PlatformConnection.objects.get(pk=data["id"])
    assert stored.user == user
    assert (stored.access_token, stored.client_key, stored.client_secret) == SECRETS
    for column, secret in zip(("access_token", "client_key", "client_secret"), SECRETS, strict=True):
        assert secret not in raw_column(PlatformConnection, stored.pk, column)


def test_create_is_audited_without_credentials(api, user):
    response = api.post(URL, body(), format="json", HTTP_USER_AGENT="tests/1.0")
    log = AuditLog.objects.get(action="connection.created")
    assert log.user == user
    assert log.resource_type == "platform_connection"
    assert log.resource_id == str(response.json()["id"])
    assert log.user_agent == "tests/1.0"
    assert log.ip_address == "127.0.0.1"
    assert log.details["instance_url"] == "https://social.example"
    dumped = json.dumps(log.details)
    for secret in SECRETS:
        assert secret not in dumped


def test_access_token_is_required_on_create(api):
    data = body()
    del data["access_token"]
    response = api.post(URL, data, format="json")
    assert response.status_code == 400
    assert "access_token" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "url",
    [
        "http://social.example",
        "http://localhost:3000",
        "ftp://social.example",
        "https://user:pass@social.example",
        "https://social.example/?x=1",
        "social.example",
    ],
)
def test_instance_url_must_be_https(api, url):
    response = api.post(URL, body(instance_url=url), format="json")
    assert response.status_code == 400, response.content
    assert "instance_url" in response.json()["error"]["fields"]
    assert not PlatformConnection.objects.exists()


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("http://wp.intranet/blog", "http://wp.intranet:80"),
    ],
)
def test_plain_http_is_accepted_for_an_allowed_origin(api, settings, url, origin):
    settings.OUTBOUND_ALLOWED_ORIGINS = [origin]
    response = api.post(URL, body(instance_url=url), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["instance_url"] == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["http://social.example", "http://localhost:3000", "http://127.0.0.1:8081", "http://[::1]:3000"]
)
def test_plain_http_is_refused_outside_the_allowed_origins_even_under_debug(api, settings, url):
    settings.DEBUG = True
    settings.OUTBOUND_ALLOWED_ORIGINS = ["http://127.0.0.1:8080", "https://localhost:3000"]
    response = api.post(URL, body(instance_url=url), format="json")
    assert response.status_code == 400
    assert "OUTBOUND_ALLOWED_ORIGINS" in response.json()["error"]["fields"]["instance_url"][0]
    assert not PlatformConnection.objects.exists()


def test_instance_url_is_normalised(api):
    response = api.post(URL, body(instance_url="https://Social.Example/sub/path/"), format="json")
    assert response.json()["instance_url"] == "https://social.example/sub/path"


def test_name_is_unique_per_user(api, user):
    PlatformConnectionFactory(user=user, name="My Mastodon")
    response = api.post(URL, body(), format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]
    assert PlatformConnection.objects.filter(user=user).count() == 1


def test_the_same_name_is_fine_for_another_user(api):
    PlatformConnectionFactory(name="My Mastodon")
    assert api.post(URL, body(), format="json").status_code == 201


def test_the_same_account_twice_is_a_400_naming_username(api, user):
    PlatformConnectionFactory(user=user, instance_url="https://social.example", username="alice")
    response = api.post(URL, body(name="other"), format="json")
    assert response.status_code == 400
    assert "username" in response.json()["error"]["fields"]


def test_a_race_on_the_name_is_a_409(api, user, monkeypatch):
    """The service checks first; a concurrent insert that wins the race trips the constraint."""
    PlatformConnectionFactory(user=user, name="My Mastodon")
    monkeypatch.setattr(services, "connection_name_taken", lambda **kwargs: False)
    response = api.post(URL, body(), format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert PlatformConnection.objects.filter(user=user).count() == 1
    assert not AuditLog.objects.filter(action="connection.created").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("extra", "not an object"),
        ("extra", [1, 2]),
        ("platform_type", "myspace"),
        ("is_active", "maybe"),
        ("name", "x" * 101),
        ("name", "   "),
        ("username", "u" * 201),
        ("access_token", ""),
        ("access_token", "a\x00b"),
        ("instance_url", "not a url"),
        ("instance_url", 42),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, field, value):
    response = api.post(URL, body(**{field: value}), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not PlatformConnection.objects.exists()


def test_an_empty_username_is_stored_as_none(api):
    response = api.post(URL, body(username=""), format="json")
    assert response.status_code == 201
    assert response.json()["username"] is None


# --- read -----------------------------------------------------------------------------------


def test_list_and_detail_never_show_credentials(api, user):
    connection = PlatformConnectionFactory(
        user=user, access_token=TOKEN, client_key=CLIENT_KEY, client_secret=CLIENT_SECRET
    )
    listing = api.get(URL)
    assert listing.status_code == 200
    assert [row["id"] for row in listing.json()["results"]] == [connection.pk]
    assert_no_secret(listing)
    one = api.get(detail(connection))
    assert one.json()["credential_hint"] == "••••0001"
    assert_no_secret(one)


def test_list_filters(api, user):
    mastodon = PlatformConnectionFactory(user=user, platform_type=PlatformType.MASTODON)
    PlatformConnectionFactory(user=user, platform_type=PlatformType.X, is_active=False)
    rows = api.get(URL, {"platform_type": "mastodon", "is_active": "true"}).json()["results"]
    assert [row["id"] for row in rows] == [mastodon.pk]
    bad = api.get(URL, {"platform_type": "myspace"})
    assert bad.status_code == 400
    assert "platform_type" in bad.json()["error"]["fields"]


@pytest.mark.parametrize("count", [3, 30])
def test_list_costs_the_same_queries_at_any_page_size(api, user, count, django_assert_max_num_queries):
    PlatformConnectionFactory.create_batch(count, user=user)
    with django_assert_max_num_queries(4):
        response = api.get(URL, {"page_size": count})
    assert len(response.json()["results"]) == count


def test_list_paginates_with_a_cursor(api, user):
    PlatformConnectionFactory.create_batch(5, user=user)
    page = api.get(URL, {"page_size": 2}).json()
    assert len(page["results"]) == 2
    assert "cursor=" in page["next"]
    seen = [row["id"] for row in page["results"]]
    for _ in range(5):
        if not page["next"]:
            break
        page = api.get(page["next"]).json()
        seen += [row["id"] for row in page["results"]]
    assert seen == sorted(PlatformConnection.objects.values_list("pk", flat=True), reverse=True)


def test_connections_are_isolated():
    assert_isolated(
        OwnedEndpoint(
            list_url=URL,
            make=lambda owner: PlatformConnectionFactory(user=owner),
            update={"name": "renamed"},
            create=body(),
        )
    )


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.ADMIN])
def test_moderators_and_admins_see_and_manage_everyones(role):
    connection = PlatformConnectionFactory()
    staff = client_for(UserFactory(role=role))
    assert connection.pk in [row["id"] for row in staff.get(URL).json()["results"]]
    response = staff.patch(detail(connection), {"name": "checked"}, format="json")
    assert response.status_code == 200
    connection.refresh_from_db()
    assert connection.name == "checked"


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.USER])
def test_other_roles_do_not_see_others(role):
    PlatformConnectionFactory()
    assert client_for(UserFactory(role=role)).get(URL).json()["results"] == []


# --- update ---------------------------------------------------------------------------------


def test_update_keeps_credentials_that_are_left_out(api, user):
    connection = PlatformConnectionFactory(user=user, access_token=TOKEN, client_secret=CLIENT_SECRET)
    response = api.patch(detail(connection), {"name": "renamed", "extra": {"a": 1}}, format="json")
    assert response.status_code == 200, response.content
    connection.refresh_from_db()
    assert (connection.name, connection.extra) == ("renamed", {"a": 1})
    assert connection.access_token == TOKEN
    assert connection.client_secret == CLIENT_SECRET


def test_update_replaces_and_removes_credentials(api, user):
    connection = PlatformConnectionFactory(
        user=user, access_token="old-token-abcdefghijkl", client_secret="old"
    )
    response = api.patch(detail(connection), {"access_token": TOKEN, "client_secret": None}, format="json")
    assert response.status_code == 200
    assert response.json()["credential_hint"] == "••••0001"
    assert_no_secret(response)
    connection.refresh_from_db()
    assert connection.access_token == TOKEN
    assert connection.client_secret is None


def test_update_is_audited_with_field_names_only(api, user):
    connection = PlatformConnectionFactory(user=user)
    api.patch(detail(connection), {"access_token": TOKEN, "name": "renamed"}, format="json")
    log = AuditLog.objects.get(action="connection.updated")
    assert log.details["changed"] == ["access_token", "name"]
    assert TOKEN not in json.dumps(log.details)


def test_put_replaces_the_fields_and_keeps_the_token(api, user):
    connection = PlatformConnectionFactory(user=user, access_token=TOKEN)
    data = body(name="replaced", instance_url="https://other.example")
    del data["access_token"]
    response = api.put(detail(connection), data, format="json")
    assert response.status_code == 200, response.content
    connection.refresh_from_db()
    assert (connection.name, connection.instance_url, connection.access_token) == (
        "replaced",
        "https://other.example",
        TOKEN,
    )


def test_update_to_a_taken_name_is_a_400(api, user):
    PlatformConnectionFactory(user=user, name="taken")
    connection = PlatformConnectionFactory(user=user)
    response = api.patch(detail(connection), {"name": "taken"}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]


def test_update_to_a_plain_http_url_is_a_400(api, user):
    connection = PlatformConnectionFactory(user=user)
    response = api.patch(detail(connection), {"instance_url": "http://social.example"}, format="json")
    assert response.status_code == 400
    assert "instance_url" in response.json()["error"]["fields"]


def test_delete_removes_and_audits(api, user):
    connection = PlatformConnectionFactory(user=user)
    assert api.delete(detail(connection)).status_code == 204
    assert not PlatformConnection.objects.filter(pk=connection.pk).exists()
    log = AuditLog.objects.get(action="connection.deleted")
    assert log.resource_id == str(connection.pk)


# --- one default per user -------------------------------------------------------------------


def defaults(user) -> list[int]:
    return list(PlatformConnection.objects.filter(user=user, is_default=True).values_list("pk", flat=True))


def test_creating_a_default_replaces_the_previous_one(api, user):
    first = PlatformConnectionFactory(user=user, is_default=True)
    other_users = PlatformConnectionFactory(is_default=True)
    response = api.post(URL, body(is_default=True), format="json")
    assert response.status_code == 201, response.content
    assert defaults(user) == [response.json()["id"]]
    first.refresh_from_db()
    assert first.is_default is False
    other_users.refresh_from_db()
    assert other_users.is_default is True


def test_updating_to_default_replaces_the_previous_one(api, user):
    first = PlatformConnectionFactory(user=user, is_default=True)
    second = PlatformConnectionFactory(user=user)
    response = api.patch(detail(second), {"is_default": True}, format="json")
    assert response.status_code == 200
    assert defaults(user) == [second.pk]
    assert api.get(detail(first)).json()["is_default"] is False


def test_set_default_action(api, user):
    first = PlatformConnectionFactory(user=user, is_default=True)
    second = PlatformConnectionFactory(user=user)
    response = api.post(f"{detail(second)}set-default/")
    assert response.status_code == 200
    assert response.json()["is_default"] is True
    assert defaults(user) == [second.pk]
    assert AuditLog.objects.filter(action="connection.default_set", resource_id=str(second.pk)).exists()
    # Again: nothing changes, still one default.
    assert api.post(f"{detail(second)}set-default/").status_code == 200
    assert defaults(user) == [second.pk]
    first.refresh_from_db()
    assert first.is_default is False


def test_set_default_on_another_users_connection_is_a_404(api):
    theirs = PlatformConnectionFactory()
    assert api.post(f"{detail(theirs)}set-default/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_default is False


def test_set_default_by_a_viewer_is_a_403():
    viewer = UserFactory(role=Role.VIEWER)
    connection = PlatformConnectionFactory(user=viewer)
    assert client_for(viewer).post(f"{detail(connection)}set-default/").status_code == 403


# --- API keys -------------------------------------------------------------------------------


def key_client(user, scopes):
    key = f"sdk_test_{user.pk}_{'_'.join(scopes)}"
    ApiKeyFactory(user=user, key_hash=hash_secret(key), permissions=scopes)
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_api_key_scopes(user):
    PlatformConnectionFactory(user=user)
    reader = key_client(user, ["platforms:read"])
    assert reader.get(URL).status_code == 200
    assert reader.post(URL, body(), format="json").status_code == 403
    writer = key_client(user, ["platforms:write"])
    assert writer.post(URL, body(), format="json").status_code == 201
    unrelated = key_client(user, ["captions:write"])
    assert unrelated.get(URL).status_code == 403


# --- verify ---------------------------------------------------------------------------------


@pytest.fixture
def instance(httpserver, user):
    return PlatformConnectionFactory(
        user=user, instance_url=httpserver.url_for("/").rstrip("/"), username=None, access_token=TOKEN
    )


ACCOUNT = {
    "id": "110",
    "username": "alice",
    "acct": "alice",
    "display_name": "Alice",
    "url": "https://social.example/@alice",
    "locked": False,
    "bot": False,
    "created_at": "2023-01-01T00:00:00.000Z",
    "followers_count": 1,
    "following_count": 2,
    "statuses_count": 3,
}


def verify(api, connection):
    return api.post(f"{detail(connection)}verify/")


def test_verify_success_records_last_used_and_username(api, instance, httpserver):
    httpserver.expect_request(VERIFY_PATH, headers={"Authorization": f"Bearer {TOKEN}"}).respond_with_json(
        ACCOUNT
    )
    response = verify(api, instance)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "ok": True,
        "account": {
            "id": "110",
            "username": "alice",
            "acct": "alice",
            "display_name": "Alice",
            "url": "https://social.example/@alice",
        },
    }
    assert_no_secret(response)
    instance.refresh_from_db()
    assert instance.last_used is not None
    assert instance.username == "alice"
    assert AuditLog.objects.filter(action="connection.verified", resource_id=str(instance.pk)).exists()


@pytest.mark.parametrize(
    ("v2", "v1", "stored"),
    [
        ({"configuration": {"statuses": {"max_characters": 5000}}}, None, 5000),
        (None, {"max_toot_chars": 2000}, 2000),  # Pleroma / Akkoma
        (None, None, None),  # the instance does not say: the writer falls back to 500
    ],
)
def test_verify_records_the_instances_status_limit(api, instance, httpserver, v2, v1, stored):
    httpserver.expect_request(VERIFY_PATH).respond_with_json(ACCOUNT)
    for version, document in (("v2", v2), ("v1", v1)):
        path = re.compile(rf"^/api/{version}/instance/?$")  # Mastodon.py adds a slash
        if document is None:
            httpserver.expect_request(path).respond_with_json({"error": "Not found"}, status=404)
        else:
            httpserver.expect_request(path).respond_with_json(document)

    assert verify(api, instance).status_code == 200

    instance.refresh_from_db()
    assert instance.extra.get("max_characters") == stored


def test_verify_keeps_an_existing_username(api, instance, httpserver):
    PlatformConnection.objects.filter(pk=instance.pk).update(username="kept")
    httpserver.expect_request(VERIFY_PATH).respond_with_json(ACCOUNT)
    assert verify(api, instance).status_code == 200
    instance.refresh_from_db()
    assert instance.username == "kept"


def test_verify_with_a_rejected_token_is_a_400(api, instance, httpserver):
    httpserver.expect_request(VERIFY_PATH).respond_with_json(
        {"error": "The access token is invalid"}, status=401
    )
    response = verify(api, instance)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "verification_failed"
    assert "access token" in error["message"]
    assert_no_secret(response)
    instance.refresh_from_db()
    assert instance.last_used is None
    log = AuditLog.objects.get(action="connection.verify_failed")
    assert log.details["status"] == 401
    assert TOKEN not in json.dumps(log.details)


@pytest.mark.parametrize(
    "respond",
    [
        lambda handler: handler.respond_with_data("upstream down", status=500),
        lambda handler: handler.respond_with_data("bad gateway", status=503),
        lambda handler: handler.respond_with_data('{"id": ', content_type="application/json"),
        lambda handler: handler.respond_with_json({"error": "slow down"}, status=429),
    ],
    ids=["500", "503", "malformed-json", "429"],
)
def test_verify_when_the_platform_fails_is_a_502(api, instance, httpserver, respond):
    respond(httpserver.expect_request(VERIFY_PATH))
    response = verify(api, instance)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "platform_unavailable"
    assert_no_secret(response)
    instance.refresh_from_db()
    assert instance.last_used is None


def test_verify_timeout_is_a_502(api, instance, httpserver, monkeypatch):
    from platforms.kinds import common

    monkeypatch.setattr(common, "DEFAULT_TIMEOUT", 0.2)

    def slow(request):
        time.sleep(1.0)
        return Response("{}", content_type="application/json")

    httpserver.expect_request(VERIFY_PATH).respond_with_handler(slow)
    response = verify(api, instance)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "platform_unavailable"


def test_verify_of_a_platform_without_an_account_to_ask_is_a_400(api, user):
    connection = PlatformConnectionFactory(user=user, platform_type=PlatformType.WEBHOOK)
    response = verify(api, connection)
    assert response.status_code == 400
    assert "Mastodon-compatible" in response.json()["error"]["message"]


@pytest.mark.parametrize("platform_type", ["pixelfed", "pleroma", "gotosocial"])
def test_verify_works_for_every_mastodon_api_platform(api, user, httpserver, platform_type):
    connection = PlatformConnectionFactory(
        user=user, platform_type=platform_type, instance_url=httpserver.url_for("/").rstrip("/")
    )
    httpserver.expect_request(VERIFY_PATH).respond_with_json(ACCOUNT)
    assert verify(api, connection).status_code == 200


def test_verify_of_another_users_connection_is_a_404(api, httpserver):
    theirs = PlatformConnectionFactory(instance_url=httpserver.url_for("/").rstrip("/"))
    assert verify(api, theirs).status_code == 404
    assert httpserver.log == []


def test_credentials_are_stored_encrypted(api):
    response = api.post(URL, body(), format="json")
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, client_key, client_secret FROM platform_connections WHERE id = %s",
            [response.json()["id"]],
        )
        row = cursor.fetchone()
    for stored, secret in zip(row, SECRETS, strict=True):
        assert secret not in stored


def test_a_bluesky_app_password_is_in_no_column_at_all(api, httpserver, settings):
    """The app password is exchanged for a session and kept nowhere: not encrypted, not in extra."""
    from tests.fakes.bluesky import APP_PASSWORD, FakeBluesky

    fake = FakeBluesky(httpserver)
    settings.OUTBOUND_ALLOWED_ORIGINS = [fake.base_url]
    data = {"platform_type": "bluesky", "instance_url": fake.base_url, "username": fake.handle}
    response = api.post(URL, body(name="Bluesky", access_token=APP_PASSWORD, **data), format="json")
    assert response.status_code == 201, response.content
    stored = PlatformConnection.objects.get(pk=response.json()["id"])
    decrypted = [stored.access_token, stored.client_key, stored.client_secret, stored.refresh_token]
    assert APP_PASSWORD not in json.dumps(decrypted)
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT * FROM platform_connections WHERE id = %s", [stored.pk])
        row = cursor.fetchone()
    assert APP_PASSWORD not in " ".join(str(value) for value in row)
    for secret in (stored.access_token, stored.refresh_token):
        assert secret not in " ".join(str(value) for value in row)
    assert APP_PASSWORD not in json.dumps([log.details for log in AuditLog.objects.all()])


# --- concurrency (PostgreSQL) ---------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_default_changes_leave_exactly_one_default():
    """Parallel set-default calls queue on the owner's row lock: none fails, one default remains."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from django.db import connections

    owner = UserFactory()
    connections_ = PlatformConnectionFactory.create_batch(6, user=owner)
    barrier = Barrier(len(connections_))

    def set_default(connection):
        try:
            barrier.wait(timeout=10)
            return services.connection_set_default(connection=connection, actor=owner).pk
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(connections_)) as pool:
        results = list(pool.map(set_default, connections_))
    assert sorted(results) == sorted(c.pk for c in connections_)
    assert len(defaults(owner)) == 1
    assert AuditLog.objects.filter(action="connection.default_set").count() == len(connections_)


# --- plain http only for the operator's listed origins ------------------------------------------


@pytest.mark.parametrize(
    ("listed", "url"),
    [
        (["http://wp.intranet:8080"], "http://wp.intranet:8080"),
        (["http://WP.Intranet:8080/"], "http://wp.intranet:8080/"),
        (["http://wp.intranet"], "http://wp.intranet:80"),
        (["https://other.example", "http://wp.intranet"], "http://wp.intranet/blog"),
    ],
)
def test_plain_http_is_accepted_for_a_listed_origin(api, settings, listed, url):
    settings.DEBUG = False
    settings.OUTBOUND_ALLOWED_ORIGINS = listed
    response = api.post(URL, body(instance_url=url), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["instance_url"] == url.lower().rstrip("/")


@pytest.mark.parametrize(
    ("listed", "url"),
    [
        ([], "http://wp.intranet:8080"),
        (["http://wp.intranet:8080"], "http://wp.intranet:8081"),
        (["http://wp.intranet:8080"], "http://wp.intranet"),
        (["http://wp.intranet:8080"], "http://blog.wp.intranet:8080"),
        (["https://wp.intranet"], "http://wp.intranet"),
        (["http://*.intranet"], "http://wp.intranet"),
        (["wp.intranet"], "http://wp.intranet"),
    ],
)
def test_plain_http_is_refused_for_any_other_origin(api, settings, listed, url):
    settings.DEBUG = False
    settings.OUTBOUND_ALLOWED_ORIGINS = listed
    response = api.post(URL, body(instance_url=url), format="json")
    assert response.status_code == 400, response.content
    (message,) = response.json()["error"]["fields"]["instance_url"]
    assert "OUTBOUND_ALLOWED_ORIGINS" in message
    assert not PlatformConnection.objects.exists()


def test_a_listed_origin_opens_plain_http_on_update_too(api, user, settings):
    connection = PlatformConnectionFactory(user=user, instance_url="https://wp.intranet")
    settings.OUTBOUND_ALLOWED_ORIGINS = []
    response = api.patch(detail(connection), {"instance_url": "http://wp.intranet:8080"}, format="json")
    assert response.status_code == 400
    settings.OUTBOUND_ALLOWED_ORIGINS = ["http://wp.intranet:8080"]
    response = api.patch(detail(connection), {"instance_url": "http://wp.intranet:8080"}, format="json")
    assert response.status_code == 200, response.content
    connection.refresh_from_db()
    assert connection.instance_url == "http://wp.intranet:8080"
