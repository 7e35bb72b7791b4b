"""Signing in with a fediverse account (platforms.oauth) against the fake instance's OAuth: the
application registered once per instance and reused; PKCE when announced; the callback's state
checked (forged, replayed, another person's, expired); a declined consent and a refused exchange
store nothing; disconnecting revokes; no secret in plain form anywhere in the database."""

import json
import secrets
from datetime import timedelta

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import AuditLog, Role
from platforms import oauth
from platforms.errors import ConnectionConflict, PlatformUnavailable, SignInRefused
from platforms.kinds.pkce import pkce_challenge, state_hash
from platforms.models import OAuthApplication, OAuthSignIn, PlatformConnection
from tests.constraints import violates
from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.mastodon import FakeMastodon
from tests.platforms.oauth_steps import authorize_params, consent

pytestmark = pytest.mark.django_db

PUBLIC = "https://desk.example.org"
CALLBACK = f"{PUBLIC}/connections/oauth/callback/"
GRANULAR = "read:accounts read:statuses write:media write:statuses"


@pytest.fixture
def fake(httpserver, settings):
    fake = FakeMastodon(httpserver)
    settings.OUTBOUND_ALLOWED_ORIGINS = [fake.base_url]
    settings.PUBLIC_BASE_URL = PUBLIC
    return fake


@pytest.fixture
def person():
    return UserFactory(role=Role.USER)


def start(person, fake, platform_type="mastodon") -> str:
    return oauth.oauth_sign_in_start(user=person, platform_type=platform_type, instance_url=fake.base_url)


def sign_in(person, fake, platform_type="mastodon") -> PlatformConnection:
    back = consent(start(person, fake, platform_type))
    return oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])


def verify_with(fake, token: str) -> int:
    with httpx.Client(trust_env=False) as http:
        answer = http.get(
            f"{fake.base_url}/api/v1/accounts/verify_credentials",
            headers={"Authorization": f"Bearer {token}"},
        )
    return answer.status_code


# --- starting: the application, the scopes, PKCE ---------------------------------------------


def test_start_registers_the_application_and_points_at_the_consent_page(fake, person, raw_column):
    url = start(person, fake)

    [registered] = fake.apps_registered()
    assert registered["name"] == "socialdesk"
    assert registered["redirect_uris"] == [CALLBACK]
    assert registered["scopes"] == GRANULAR.split()
    assert registered["website"] == PUBLIC
    assert url.startswith(f"{fake.base_url}/oauth/authorize?")
    params = authorize_params(url)
    assert params["response_type"] == "code"
    assert params["client_id"] == registered["client_id"]
    assert params["redirect_uri"] == CALLBACK
    assert params["scope"] == GRANULAR
    assert len(params["state"]) >= 40

    application = OAuthApplication.objects.get()
    assert (application.instance_url, application.redirect_uri, application.scopes) == (
        fake.base_url,
        CALLBACK,
        GRANULAR,
    )
    assert application.client_secret == registered["client_secret"]
    assert registered["client_secret"] not in raw_column(OAuthApplication, application.pk, "client_secret")
    attempt = OAuthSignIn.objects.get()
    assert attempt.user == person and attempt.used_at is None
    assert attempt.state_hash == state_hash(params["state"]) != params["state"]
    assert timedelta(minutes=9) < attempt.expires_at - timezone.now() <= timedelta(minutes=10)
    assert AuditLog.objects.filter(action="connection.oauth_app_registered", user=person).count() == 1


def test_a_second_person_on_the_same_instance_reuses_the_application(fake, person):
    first = authorize_params(start(person, fake))
    second_person = UserFactory(role=Role.USER)
    second = authorize_params(start(second_person, fake))

    assert fake.count("POST", "/api/v1/apps") == 1
    assert OAuthApplication.objects.count() == 1
    assert second["client_id"] == first["client_id"]
    assert second["state"] != first["state"]


def test_another_instance_gets_its_own_application(fake, person, settings):
    start(person, fake)
    from pytest_httpserver import HTTPServer

    other_server = HTTPServer()
    other_server.start()
    try:
        other = FakeMastodon(other_server)
        settings.OUTBOUND_ALLOWED_ORIGINS = [fake.base_url, other.base_url]
        start(person, other)
        assert other.count("POST", "/api/v1/apps") == 1
    finally:
        other_server.clear()
        other_server.stop()
    assert OAuthApplication.objects.count() == 2


def test_pkce_is_sent_when_the_instance_announces_it(fake, person):
    params = authorize_params(start(person, fake))
    assert params["code_challenge_method"] == "S256"
    verifier = OAuthSignIn.objects.get().code_verifier
    assert 43 <= len(verifier) <= 128
    assert params["code_challenge"] == pkce_challenge(verifier)

    back = consent(start(person, fake))
    oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])
    [exchange] = fake.requests_to("/oauth/token", "POST")
    assert exchange.form["code_verifier"] != [""]
    assert exchange.form["grant_type"] == ["authorization_code"]
    assert exchange.form["redirect_uri"] == [CALLBACK]


def test_no_pkce_for_an_instance_that_does_not_announce_it(fake, person):
    fake.announces_pkce = False
    url = start(person, fake)
    params = authorize_params(url)
    assert "code_challenge" not in params and "code_challenge_method" not in params
    assert OAuthSignIn.objects.get().code_verifier == ""

    back = consent(url)
    connection = oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])
    assert connection.username == "alttext"
    [exchange] = fake.requests_to("/oauth/token", "POST")
    assert "code_verifier" not in exchange.form


def test_the_instance_refuses_a_code_without_the_verifier_of_its_challenge(fake, person):
    """The fake checks PKCE as Doorkeeper does: the verifier the service keeps is what makes the
    exchange pass (a lost verifier is an invalid_grant)."""
    back = consent(start(person, fake))
    OAuthSignIn.objects.update(code_verifier=secrets.token_urlsafe(64))
    with pytest.raises(SignInRefused, match="invalid_grant"):
        oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])
    assert not PlatformConnection.objects.exists()


def test_pixelfed_asks_for_the_top_level_scopes_it_knows(httpserver, settings, person):
    fake = FakeMastodon(httpserver, flavor="pixelfed")
    settings.OUTBOUND_ALLOWED_ORIGINS = [fake.base_url]
    settings.PUBLIC_BASE_URL = PUBLIC
    connection = sign_in(person, fake, platform_type="pixelfed")
    assert fake.apps_registered()[0]["scopes"] == ["read", "write"]
    assert connection.platform_type == "pixelfed"


def test_granular_scopes_are_refused_by_a_server_without_them(httpserver, settings, person):
    """Why Pixelfed gets "read write": its registration refuses Mastodon's granular scopes."""
    fake = FakeMastodon(httpserver, flavor="pixelfed")
    settings.OUTBOUND_ALLOWED_ORIGINS = [fake.base_url]
    with pytest.raises(SignInRefused, match="Scopes are invalid"):
        oauth.oauth_sign_in_start(user=person, platform_type="mastodon", instance_url=fake.base_url)
    assert not OAuthApplication.objects.exists() and not OAuthSignIn.objects.exists()


# --- bad input: nothing asked, nothing stored --------------------------------------------------


@pytest.mark.parametrize("platform_type", ["x", "bluesky", "webhook", "myspace"])
def test_networks_without_fediverse_sign_in_are_refused(fake, person, platform_type):
    with pytest.raises(ValidationError) as caught:
        oauth.oauth_sign_in_start(user=person, platform_type=platform_type, instance_url=fake.base_url)
    assert "platform_type" in caught.value.message_dict
    assert fake.requests == []


@pytest.mark.parametrize("url", ["http://mastodon.example", "ftp://x.example", "https://u:p@x.example", ""])
def test_an_unusable_instance_address_is_refused(fake, person, url):
    with pytest.raises(ValidationError) as caught:
        oauth.oauth_sign_in_start(user=person, platform_type="mastodon", instance_url=url)
    assert "instance_url" in caught.value.message_dict
    assert not OAuthApplication.objects.exists()


def test_an_unreachable_instance_stores_nothing(person, settings):
    settings.OUTBOUND_ALLOWED_ORIGINS = ["http://127.0.0.1:9"]
    with pytest.raises(PlatformUnavailable, match="could not be reached"):
        oauth.oauth_sign_in_start(user=person, platform_type="mastodon", instance_url="http://127.0.0.1:9")
    assert not OAuthApplication.objects.exists() and not OAuthSignIn.objects.exists()
    assert AuditLog.objects.get(action="connection.oauth_failed").details["stage"] == "register"


def test_a_refused_registration_stores_nothing(fake, person):
    fake.error_next("/api/v1/apps", status=422, body={"error": "Validation failed: Redirect URI is invalid"})
    with pytest.raises(SignInRefused, match="Redirect URI is invalid"):
        start(person, fake)
    assert not OAuthApplication.objects.exists() and not OAuthSignIn.objects.exists()


# --- finishing -------------------------------------------------------------------------------


def test_finishing_stores_the_verified_connection(fake, person):
    back = consent(start(person, fake))
    connection = oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])

    [token] = fake.tokens_issued()
    application = OAuthApplication.objects.get()
    connection.refresh_from_db()
    assert connection.user == person
    assert connection.platform_type == "mastodon"
    assert connection.instance_url == fake.base_url
    assert connection.username == "alttext"
    assert connection.name == f"alttext@{fake.base_url.split('://')[1]}"
    assert connection.access_token == token
    assert (connection.client_key, connection.client_secret) == (
        application.client_id,
        application.client_secret,
    )
    assert connection.extra["max_characters"] == 500  # learned from the instance while verifying
    assert connection.last_used is not None
    assert fake.count("GET", "/api/v1/accounts/verify_credentials") == 1
    assert OAuthSignIn.objects.get().used_at is not None
    actions = list(AuditLog.objects.filter(user=person).order_by("pk").values_list("action", flat=True))
    assert actions == [
        "connection.oauth_app_registered",
        "connection.oauth_started",
        "connection.created",
        "connection.oauth_connected",
    ]


def test_each_person_gets_their_own_account_through_the_shared_application(fake, person):
    mine = sign_in(person, fake)
    fake.add_account("heron")
    fake.signed_in_as = "heron"
    theirs_person = UserFactory(role=Role.USER)
    theirs = sign_in(theirs_person, fake)

    assert fake.count("POST", "/api/v1/apps") == 1
    assert (mine.user, mine.username) == (person, "alttext")
    assert (theirs.user, theirs.username) == (theirs_person, "heron")
    assert mine.client_key == theirs.client_key
    assert mine.access_token != theirs.access_token


def test_signing_in_again_renews_the_same_connection(fake, person):
    first = sign_in(person, fake)
    second = sign_in(person, fake)
    assert second.pk == first.pk
    assert PlatformConnection.objects.filter(user=person).count() == 1
    second.refresh_from_db()
    assert second.access_token == fake.tokens_issued()[-1] != first.access_token


def test_a_replayed_callback_is_refused(fake, person):
    back = consent(start(person, fake))
    oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])
    with pytest.raises(SignInRefused, match="already completed"):
        oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])
    assert fake.count("POST", "/oauth/token") == 1
    assert PlatformConnection.objects.count() == 1
    assert AuditLog.objects.get(action="connection.oauth_refused").details == {"reason": "used"}


def test_a_forged_state_is_refused(fake, person):
    back = consent(start(person, fake))
    with pytest.raises(SignInRefused, match="unknown"):
        oauth.oauth_sign_in_finish(user=person, state=secrets.token_urlsafe(32), code=back["code"])
    assert fake.count("POST", "/oauth/token") == 0
    assert not PlatformConnection.objects.exists()
    assert OAuthSignIn.objects.get().used_at is None


def test_another_persons_state_is_refused_and_left_for_them(fake, person):
    back = consent(start(person, fake))
    intruder = UserFactory(role=Role.USER)
    with pytest.raises(SignInRefused, match="unknown"):
        oauth.oauth_sign_in_finish(user=intruder, state=back["state"], code=back["code"])
    assert fake.count("POST", "/oauth/token") == 0
    assert not PlatformConnection.objects.exists()

    connection = oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])
    assert connection.user == person


def test_an_expired_sign_in_is_refused(fake, person):
    back = consent(start(person, fake))
    OAuthSignIn.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(SignInRefused, match="expired"):
        oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])
    assert fake.count("POST", "/oauth/token") == 0
    assert not PlatformConnection.objects.exists()


def test_a_declined_consent_stores_nothing_and_uses_up_the_state(fake, person):
    url = start(person, fake)
    back = consent(url, decision="deny")
    assert back["error"] == "access_denied" and "code" not in back
    with pytest.raises(SignInRefused, match="declined"):
        oauth.oauth_sign_in_finish(user=person, state=back["state"], error=back["error"])
    assert not PlatformConnection.objects.exists()
    assert fake.count("POST", "/oauth/token") == 0
    assert AuditLog.objects.filter(action="connection.oauth_declined").count() == 1
    # The attempt is over: a code for it later is refused too.
    with pytest.raises(SignInRefused, match="already completed"):
        oauth.oauth_sign_in_finish(user=person, state=back["state"], code="anything")


def test_a_refused_code_exchange_stores_nothing(fake, person):
    back = consent(start(person, fake))
    fake.error_next(
        "/oauth/token",
        status=400,
        body={"error": "invalid_grant", "error_description": "The provided authorization grant is invalid"},
    )
    with pytest.raises(SignInRefused, match="invalid_grant"):
        oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])
    assert not PlatformConnection.objects.exists()
    failure = AuditLog.objects.get(action="connection.oauth_failed")
    assert failure.details["stage"] == "token" and failure.details["status"] == 400


def test_an_exchange_the_instance_fails_is_a_502_that_stores_nothing(fake, person):
    back = consent(start(person, fake))
    fake.error_next("/oauth/token", status=503)
    with pytest.raises(PlatformUnavailable):
        oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])
    assert not PlatformConnection.objects.exists()


def test_a_token_whose_account_cannot_be_verified_is_revoked_and_not_stored(fake, person):
    back = consent(start(person, fake))
    fake.error_next(
        "/api/v1/accounts/verify_credentials",
        status=403,
        body={"error": "This action is outside the authorized scopes"},
    )
    with pytest.raises(SignInRefused, match="outside the authorized scopes"):
        oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])
    assert not PlatformConnection.objects.exists()
    assert fake.revoked == fake.tokens_issued()


# --- disconnecting ---------------------------------------------------------------------------


def test_disconnecting_revokes_the_token_at_the_instance(fake, person):
    connection = sign_in(person, fake)
    token = connection.access_token
    assert verify_with(fake, token) == 200

    result = oauth.connection_disconnect(connection=connection, actor=person)

    assert result == oauth.Disconnected(revoked=True)
    [revoke] = fake.requests_to("/oauth/revoke", "POST")
    assert revoke.form["client_id"] == [connection.client_key]
    assert fake.revoked == [token]
    assert verify_with(fake, token) == 401
    assert not PlatformConnection.objects.exists()
    assert OAuthApplication.objects.count() == 1  # kept for the next sign-in
    assert AuditLog.objects.filter(action="connection.token_revoked").count() == 1


def test_a_failed_revocation_is_reported_and_the_token_removed_anyway(fake, person):
    connection = sign_in(person, fake)
    fake.error_next("/oauth/revoke", status=503)
    result = oauth.connection_disconnect(connection=connection, actor=person)
    assert not result.revoked
    assert "revoking its token failed" in result.problem and "503" in result.problem
    assert not PlatformConnection.objects.exists()
    assert AuditLog.objects.get(action="connection.token_not_revoked").details["problem"] == result.problem


def test_a_pasted_token_cannot_be_revoked_and_says_so(fake, person):
    connection = PlatformConnectionFactory(user=person, instance_url=fake.base_url, client_key=None)
    result = oauth.connection_disconnect(connection=connection, actor=person)
    assert not result.revoked and "no application credentials" in result.problem
    assert fake.count("POST", "/oauth/revoke") == 0
    assert not PlatformConnection.objects.exists()


def test_a_connection_still_in_use_keeps_its_token(fake, person, monkeypatch):
    connection = sign_in(person, fake)

    def in_use(**kwargs):
        raise ConnectionConflict("This connection is still in use and cannot be deleted.")

    monkeypatch.setattr(oauth, "connection_delete", in_use)
    with pytest.raises(ConnectionConflict):
        oauth.connection_disconnect(connection=connection, actor=person)
    assert fake.count("POST", "/oauth/revoke") == 0
    assert verify_with(fake, connection.access_token) == 200


# --- secrets ---------------------------------------------------------------------------------


def test_no_secret_of_the_sign_in_is_stored_in_plain_form(fake, person, database_text):
    url = start(person, fake)
    state = authorize_params(url)["state"]
    verifier = OAuthSignIn.objects.get().code_verifier
    back = consent(url)
    connection = oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"])
    application = OAuthApplication.objects.get()

    stored = database_text()
    for secret in (
        connection.access_token,
        application.client_id,
        application.client_secret,
        verifier,
        state,
        back["code"],
    ):
        assert secret and secret not in stored
    audit = json.dumps([log.details for log in AuditLog.objects.all()])
    assert connection.access_token not in audit and application.client_secret not in audit


def test_the_dump_would_show_a_secret_stored_in_plain_form(fake, person, database_text):
    """The check above can fail: a value in a plain column shows."""
    connection = sign_in(person, fake)
    PlatformConnection.objects.filter(pk=connection.pk).update(extra={"leak": connection.access_token})
    assert connection.access_token in database_text()


# --- the model -------------------------------------------------------------------------------


def test_one_application_per_instance_redirect_uri_and_scopes():
    fields = {"instance_url": "https://a.example", "redirect_uri": CALLBACK, "scopes": GRANULAR}
    OAuthApplication.objects.create(platform_type="mastodon", client_id="a", client_secret="b", **fields)
    with violates("uq_oauth_app_instance_redirect_scopes"):
        OAuthApplication.objects.create(platform_type="pleroma", client_id="c", client_secret="d", **fields)


def test_cleanup_removes_attempts_that_ended_long_ago(fake, person):
    from io import StringIO

    from django.core.management import call_command

    start(person, fake)
    start(person, fake)
    old, recent = OAuthSignIn.objects.order_by("pk")
    OAuthSignIn.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=8))
    call_command("cleanup", "--only", "platforms.oauth_sign_ins", stdout=StringIO())
    assert list(OAuthSignIn.objects.all()) == [recent]


def test_the_new_secrets_are_encrypted_fields_the_key_rotation_finds():
    from core.key_rotation import encrypted_fields

    found = {(model.__name__, field.name) for model, field in encrypted_fields()}
    assert {
        ("OAuthApplication", "client_id"),
        ("OAuthApplication", "client_secret"),
        ("OAuthSignIn", "code_verifier"),
    } <= found


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_callbacks_with_the_same_state_at_once_exchange_the_code_once(fake, person):
    """The claim is one conditional UPDATE: of callbacks racing with one state, one goes on."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from django.db import connections

    back = consent(start(person, fake))
    racers = 4
    barrier = Barrier(racers)

    def finish(_):
        try:
            barrier.wait(timeout=10)
            return oauth.oauth_sign_in_finish(user=person, state=back["state"], code=back["code"]).pk
        except SignInRefused:
            return None
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=racers) as pool:
        results = list(pool.map(finish, range(racers)))
    assert sum(result is not None for result in results) == 1
    assert fake.count("POST", "/oauth/token") == 1
    assert PlatformConnection.objects.count() == 1


def test_every_sign_in_call_goes_through_the_outbound_guard(fake, person, settings):
    connection = sign_in(person, fake)
    settings.OUTBOUND_ALLOWED_ORIGINS = []
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = False
    before = len(fake.requests)

    with pytest.raises(ValidationError) as caught:
        start(person, fake)
    assert "OUTBOUND_ALLOWED_ORIGINS" in caught.value.message_dict["instance_url"][0]
    https_loopback = fake.base_url.replace("http://", "https://")
    with pytest.raises(ValidationError) as caught:
        oauth.oauth_sign_in_start(user=person, platform_type="mastodon", instance_url=https_loopback)
    assert "loopback" in caught.value.message_dict["instance_url"][0]
    # A stored connection's instance is checked again when it is used.
    result = oauth.connection_disconnect(connection=connection, actor=person)
    assert not result.revoked and "loopback" in result.problem
    assert len(fake.requests) == before
