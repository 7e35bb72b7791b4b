"""X and LinkedIn by OAuth 2.0 against local fakes of their authorize and token endpoints: the code
exchange with PKCE, refreshing before expiry (X rotating its refresh tokens), a revoked grant, the
browser callback and the API, and no token in plain form in logs, responses or the database."""

import functools
import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification, NotificationEvent
from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.health import connection_health_check
from platforms.kinds.publishing import publisher_for
from platforms.models import ConnectionHealth, OAuth2SignIn, PlatformConnection, PlatformType
from platforms.oauth2 import connection_token_refresh, oauth2_finish, oauth2_start
from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import AcceptedPlatformStateFactory, PublishingJobFactory
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.oauth2 import CLIENT_ID, CLIENT_SECRET
from tests.fakes.x import FakeX
from workflows.models import Platform, PublishingStatus, WorkflowStatus
from workflows.services import publishing as publishing_module
from workflows.services.publishing import publishing_job_publish

pytestmark = pytest.mark.django_db

REDIRECT = "https://desk.example.test/platforms/oauth2/callback/"


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setattr(
        publishing_module,
        "publisher_for",
        functools.partial(
            publisher_for,
            policy=RetryPolicy(attempts=2, base_delay=0.0),
            sleep=lambda seconds: None,
            throttle=HostThrottle(rate=10_000, sleep=lambda seconds: None),
        ),
    )


@pytest.fixture
def x(httpserver, settings):
    fake = FakeX(httpserver)
    settings.X_CLIENT_ID, settings.X_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    settings.X_OAUTH_AUTHORIZE_URL = f"{fake.base_url}/i/oauth2/authorize"
    settings.X_OAUTH_TOKEN_URL = f"{fake.base_url}/2/oauth2/token"
    settings.X_API_URL = fake.base_url
    settings.OUTBOUND_ALLOWED_ORIGINS = [fake.base_url]
    return fake


@pytest.fixture
def linkedin(httpserver, settings):
    fake = FakeLinkedIn(httpserver)
    settings.LINKEDIN_CLIENT_ID, settings.LINKEDIN_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    settings.LINKEDIN_OAUTH_AUTHORIZE_URL = f"{fake.base_url}/oauth/v2/authorization"
    settings.LINKEDIN_OAUTH_TOKEN_URL = f"{fake.base_url}/oauth/v2/accessToken"
    settings.LINKEDIN_API_URL = fake.base_url
    settings.OUTBOUND_ALLOWED_ORIGINS = [fake.base_url]
    return fake


@pytest.fixture
def user():
    return UserFactory()


def authorize(url: str) -> dict[str, str]:
    """What the browser does: open the authorize URL; the fake sends it back with code and state."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def sign_in(user, platform_type: str, **kwargs) -> PlatformConnection:
    back = authorize(oauth2_start(user=user, platform_type=platform_type, redirect_uri=REDIRECT, **kwargs))
    return oauth2_finish(user=user, state=back["state"], code=back["code"])


def database_text() -> str:
    """Every cell of every table, as text: what a database dump would show."""
    cells = []
    with db_connection.cursor() as cursor:
        for model in apps.get_models():
            table = db_connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
            cells.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(cells)


def broke_notifications(user) -> list[Notification]:
    return list(Notification.objects.filter(user=user, event=NotificationEvent.CONNECTION_BROKE))


# Starting ---------------------------------------------------------------------------------------


def test_the_authorize_url_asks_for_a_code_with_pkce_and_keeps_the_attempt_hashed(x, user, raw_column):
    url = oauth2_start(user=user, platform_type="x", redirect_uri=REDIRECT)
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{x.base_url}/i/oauth2/authorize"
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT
    assert query["scope"].split() == [
        "tweet.read",
        "tweet.write",
        "users.read",
        "offline.access",
        "media.write",
    ]
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    [attempt] = OAuth2SignIn.objects.all()
    assert attempt.state_hash != query["state"] and query["state"] not in attempt.state_hash
    assert 43 <= len(attempt.code_verifier) <= 128
    assert attempt.code_verifier not in raw_column(OAuth2SignIn, attempt.pk, "code_verifier")
    assert timedelta(minutes=9) < attempt.expires_at - timezone.now() <= timedelta(minutes=10)


def test_linkedin_asks_for_its_openid_and_posting_scopes(linkedin, user):
    query = parse_qs(urlsplit(oauth2_start(user=user, platform_type="linkedin", redirect_uri=REDIRECT)).query)
    assert query["scope"] == ["openid profile w_member_social"]


@pytest.mark.parametrize("platform_type", ["mastodon", "bluesky", "nonsense"])
def test_only_x_and_linkedin_sign_in(x, user, platform_type):
    with pytest.raises(ValidationError) as caught:
        oauth2_start(user=user, platform_type=platform_type, redirect_uri=REDIRECT)
    assert "platform_type" in caught.value.message_dict
    assert not OAuth2SignIn.objects.exists()


def test_a_network_the_operator_did_not_set_up_says_so(user, settings):
    settings.X_CLIENT_ID = settings.X_CLIENT_SECRET = ""
    with pytest.raises(ValidationError) as caught:
        oauth2_start(user=user, platform_type="x", redirect_uri=REDIRECT)
    assert "X_CLIENT_ID" in str(caught.value)


# The code exchange ------------------------------------------------------------------------------


def test_x_code_exchange_stores_the_connection_with_encrypted_tokens(x, user, raw_column):
    connection = sign_in(user, "x")

    assert connection.platform_type == PlatformType.X and connection.username == x.user["username"]
    assert connection.instance_url == x.base_url
    assert connection.access_token == x.token
    [refresh] = x.oauth.current_refresh_tokens()
    assert connection.refresh_token == refresh
    assert timedelta(minutes=119) < connection.token_expires_at - timezone.now() <= timedelta(hours=2)
    assert connection.health == ConnectionHealth.OK
    for column in ("access_token", "refresh_token"):
        assert getattr(connection, column) not in raw_column(PlatformConnection, connection.pk, column)
    # A confidential client: HTTP Basic with the operator's id and secret, the verifier in the form.
    [token_request] = x.requests_to("/2/oauth2/token", "POST")
    assert token_request.headers["Authorization"].startswith("Basic ")
    assert b"code_verifier=" in token_request.body and b"grant_type=authorization_code" in token_request.body


def test_linkedin_code_exchange_learns_the_author(linkedin, user):
    connection = sign_in(user, "linkedin")
    assert connection.extra["author_urn"] == linkedin.author_urn
    assert connection.access_token == linkedin.token
    assert connection.refresh_token in linkedin.oauth.current_refresh_tokens()
    assert connection.token_expires_at - timezone.now() > timedelta(days=59)
    [token_request] = linkedin.requests_to("/oauth/v2/accessToken", "POST")
    assert b"client_secret=" in token_request.body and "Authorization" not in token_request.headers


def test_a_state_works_once(x, user):
    back = authorize(oauth2_start(user=user, platform_type="x", redirect_uri=REDIRECT))
    oauth2_finish(user=user, state=back["state"], code=back["code"])
    with pytest.raises(ValidationError) as caught:
        oauth2_finish(user=user, state=back["state"], code=back["code"])
    assert "used or has expired" in str(caught.value)
    assert PlatformConnection.objects.count() == 1


def test_an_expired_or_someone_elses_state_is_refused(x, user):
    back = authorize(oauth2_start(user=user, platform_type="x", redirect_uri=REDIRECT))
    with pytest.raises(ValidationError):
        oauth2_finish(user=UserFactory(), state=back["state"], code=back["code"])
    OAuth2SignIn.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationError):
        oauth2_finish(user=user, state=back["state"], code=back["code"])
    assert not PlatformConnection.objects.exists()
    assert x.count("POST", "/2/oauth2/token") == 0


def test_a_wrong_verifier_is_refused_by_the_network_and_nothing_is_stored(x, user):
    back = authorize(oauth2_start(user=user, platform_type="x", redirect_uri=REDIRECT))
    OAuth2SignIn.objects.update(code_verifier="a" * 64)  # not the one the challenge was made from
    with pytest.raises(ValidationError) as caught:
        oauth2_finish(user=user, state=back["state"], code=back["code"])
    assert "refused" in str(caught.value)
    assert not PlatformConnection.objects.exists()


def test_a_denied_authorisation_stores_nothing(x, user):
    x.oauth.deny_next = True
    back = authorize(oauth2_start(user=user, platform_type="x", redirect_uri=REDIRECT))
    with pytest.raises(ValidationError) as caught:
        oauth2_finish(user=user, state=back["state"], code=None, error=back["error"])
    assert "access_denied" in str(caught.value)
    assert not PlatformConnection.objects.exists()


# Refreshing -------------------------------------------------------------------------------------


def x_job(connection):
    state = AcceptedPlatformStateFactory(
        platform=Platform.X,
        workflow__user=connection.user,
        workflow__status=WorkflowStatus.COMPLETED,
        active_draft__content="Release 2.0 is out. Faster builds, fewer bugs.",
    )
    return PublishingJobFactory(
        workflow=state.workflow,
        platform=state.platform,
        draft=state.active_draft,
        platform_connection=connection,
        status=PublishingStatus.QUEUED,
    )


def test_a_token_expiring_in_a_minute_is_refreshed_before_the_publish(x, user):
    connection = sign_in(user, "x")
    old_refresh = connection.refresh_token
    PlatformConnection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(minutes=1)
    )
    job = x_job(connection)

    publishing_job_publish(job_id=job.pk)

    job.refresh_from_db()
    connection.refresh_from_db()
    assert job.status == PublishingStatus.PUBLISHED, job.error_message
    assert len(x.posts) == 1
    assert connection.access_token == x.token  # the new access token did the post
    assert connection.refresh_token != old_refresh
    assert x.oauth.current_refresh_tokens() == [connection.refresh_token]
    assert connection.token_expires_at - timezone.now() > timedelta(hours=1)
    # The old refresh token was spent: the network refuses it now.
    response = httpx.post(
        f"{x.base_url}/2/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": old_refresh},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_a_token_far_from_expiry_is_not_refreshed(x, user):
    connection = sign_in(user, "x")
    publishing_job_publish(job_id=x_job(connection).pk)
    assert x.count("POST", "/2/oauth2/token") == 1  # the code exchange only
    assert len(x.posts) == 1


def test_linkedin_keeps_its_refresh_token_on_refresh(linkedin, user):
    connection = sign_in(user, "linkedin")
    refresh = connection.refresh_token
    PlatformConnection.objects.filter(pk=connection.pk).update(token_expires_at=timezone.now())
    connection.refresh_from_db()
    connection_token_refresh(connection=connection)
    connection.refresh_from_db()
    assert connection.refresh_token == refresh and connection.access_token == linkedin.token
    assert connection.token_expires_at - timezone.now() > timedelta(days=59)


def test_a_revoked_refresh_token_marks_the_connection_revoked_tells_the_owner_once_and_holds_publishing(
    x, user
):
    connection = sign_in(user, "x")
    PlatformConnection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(minutes=1)
    )
    x.oauth.revoke()  # the person removed the app's access on X

    first = x_job(connection)
    publishing_job_publish(job_id=first.pk)

    first.refresh_from_db()
    connection.refresh_from_db()
    assert connection.health == ConnectionHealth.REVOKED
    assert "invalid_grant" in connection.health_reason
    assert first.status == PublishingStatus.FAILED
    assert first.response_data["error"]["reason"] == "connection_broken"
    assert "revoked" in first.error_message and connection.name in first.error_message
    assert x.posts == []
    [note] = broke_notifications(user)
    assert reverse("admin:platforms_platformconnection_change", args=[connection.pk]) == note.url

    # The daily check finds it still revoked (the refresh token is refused again): no second notification.
    connection_health_check(connection=connection)
    assert len(broke_notifications(user)) == 1

    # Signing in again reconnects the same connection; the held job goes out.
    reconnected = sign_in(user, "x", connection=connection)
    assert reconnected.pk == connection.pk and reconnected.health == ConnectionHealth.OK
    first.refresh_from_db()
    assert first.status == PublishingStatus.QUEUED  # re-queued (the queue runs it on commit)
    publishing_job_publish(job_id=first.pk)
    first.refresh_from_db()
    assert first.status == PublishingStatus.PUBLISHED, first.error_message
    assert len(x.posts) == 1


def test_the_daily_check_refreshes_a_token_about_to_expire(x, user):
    connection = sign_in(user, "x")
    PlatformConnection.objects.filter(pk=connection.pk).update(token_expires_at=timezone.now())
    connection.refresh_from_db()
    assert connection_health_check(connection=connection) == ConnectionHealth.OK
    connection.refresh_from_db()
    assert connection.access_token == x.token and connection.token_expires_at > timezone.now()


# No token in plain form ---------------------------------------------------------------------------


def test_no_token_reaches_the_logs_or_the_database_in_plain_form(x, user, caplog):
    caplog.set_level(logging.DEBUG)
    connection = sign_in(user, "x")
    first_access, first_refresh = connection.access_token, connection.refresh_token
    PlatformConnection.objects.filter(pk=connection.pk).update(token_expires_at=timezone.now())
    connection.refresh_from_db()
    connection_token_refresh(connection=connection)
    x.oauth.revoke()
    PlatformConnection.objects.filter(pk=connection.pk).update(token_expires_at=timezone.now())
    connection.refresh_from_db()
    connection_health_check(connection=connection)  # the refresh is refused: revoked
    connection.refresh_from_db()
    assert connection.health == ConnectionHealth.REVOKED

    tokens = {first_access, first_refresh, connection.access_token, connection.refresh_token, CLIENT_SECRET}
    verifiers = [attempt.code_verifier for attempt in OAuth2SignIn.objects.all()]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    dumped = database_text()
    for secret in [*tokens, *verifiers]:
        assert secret not in logged
        assert secret not in dumped


# The browser and the API --------------------------------------------------------------------------


def test_the_callback_view_needs_a_signed_in_person(client, x):
    response = client.get(reverse("platforms-oauth2-callback"), {"state": "s", "code": "c"})
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_the_admin_connect_button_and_callback_make_the_connection(admin_client, x, settings):
    settings.PUBLIC_BASE_URL = "https://desk.example.test"
    page = admin_client.get(reverse("admin:platforms_platformconnection_changelist"))
    assert b"Connect X" in page.content

    response = admin_client.post(reverse("admin:platforms_platformconnection_oauth2_start", args=["x"]))
    assert response.status_code == 302
    back = authorize(response["Location"])
    response = admin_client.get(reverse("platforms-oauth2-callback"), back)

    connection = PlatformConnection.objects.get()
    assert response["Location"] == reverse("admin:platforms_platformconnection_change", args=[connection.pk])
    page = admin_client.get(response["Location"])
    assert connection.access_token.encode() not in page.content
    assert connection.refresh_token.encode() not in page.content


def test_a_refused_callback_tells_why_on_the_list(admin_client, x):
    response = admin_client.get(
        reverse("platforms-oauth2-callback"), {"state": "unknown", "code": "c"}, follow=True
    )
    assert b"Connecting failed" in response.content
    assert not PlatformConnection.objects.exists()


def test_the_api_starts_a_sign_in(x, settings):
    from rest_framework.test import APIClient

    settings.PUBLIC_BASE_URL = "https://desk.example.test"
    owner = UserFactory()
    api = APIClient()
    api.force_authenticate(owner)
    response = api.post("/api/v1/platforms/oauth2/start/", {"platform_type": "x"}, format="json")
    assert response.status_code == 200, response.content
    query = parse_qs(urlsplit(response.json()["authorize_url"]).query)
    assert query["redirect_uri"] == [REDIRECT]
    assert OAuth2SignIn.objects.get().user == owner

    bad = api.post("/api/v1/platforms/oauth2/start/", {"platform_type": "mastodon"}, format="json")
    assert bad.status_code == 400
    theirs = PlatformConnectionFactory(platform_type=PlatformType.X)
    other = api.post(
        "/api/v1/platforms/oauth2/start/", {"platform_type": "x", "connection": theirs.pk}, format="json"
    )
    assert other.status_code == 404
    for beyond in (0, 2**63):  # a 400 naming the field, not a database error
        refused = api.post(
            "/api/v1/platforms/oauth2/start/", {"platform_type": "x", "connection": beyond}, format="json"
        )
        assert refused.status_code == 400 and "connection" in refused.json()["error"]["fields"]


def test_an_access_token_refused_before_its_time_is_refreshed_once_and_the_post_goes(x, user):
    connection = sign_in(user, "x")
    x.oauth.expire_access()  # X stopped taking it although its expiry is an hour and more away
    job = x_job(connection)

    publishing_job_publish(job_id=job.pk)

    job.refresh_from_db()
    connection.refresh_from_db()
    assert job.status == PublishingStatus.PUBLISHED, job.error_message
    assert len(x.posts) == 1
    assert connection.access_token == x.token and connection.health == ConnectionHealth.OK
    assert x.count("POST", "/2/oauth2/token") == 2  # the code exchange, then one refresh


def test_expired_sign_in_attempts_are_cleaned_up(x, user):
    from core.retention import policies

    oauth2_start(user=user, platform_type="x", redirect_uri=REDIRECT)
    oauth2_start(user=user, platform_type="x", redirect_uri=REDIRECT)
    old, _recent = OAuth2SignIn.objects.order_by("pk")
    OAuth2SignIn.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=2))
    [policy] = [policy for policy in policies() if policy.name == "platforms.oauth2_sign_ins"]
    assert list(policy.rows(now=timezone.now(), age=policy.age())) == [old]


def test_reconnecting_with_another_account_is_refused(x, user):
    connection = sign_in(user, "x")
    PlatformConnection.objects.filter(pk=connection.pk).update(username="someone_else")
    connection.refresh_from_db()
    before = connection.access_token
    with pytest.raises(ValidationError) as caught:
        sign_in(user, "x", connection=connection)
    assert "someone_else" in str(caught.value)
    connection.refresh_from_db()
    assert connection.access_token == before
