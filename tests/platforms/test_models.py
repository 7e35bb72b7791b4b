import pytest

from platforms.models import PlatformConnection
from tests.constraints import violates
from tests.factories.platforms import PlatformConnectionFactory

pytestmark = pytest.mark.django_db


def test_name_is_unique_per_user():
    connection = PlatformConnectionFactory()
    with violates("uq_user_platform_name"):
        PlatformConnectionFactory(user=connection.user, name=connection.name)


def test_same_name_for_different_users_is_fine():
    connection = PlatformConnectionFactory()
    PlatformConnectionFactory(name=connection.name)


def test_instance_and_username_are_unique_per_user():
    connection = PlatformConnectionFactory()
    with violates("uq_user_instance_username"):
        PlatformConnectionFactory(
            user=connection.user, instance_url=connection.instance_url, username=connection.username
        )


def test_only_one_default_connection_per_user():
    first = PlatformConnectionFactory(is_default=True)
    PlatformConnectionFactory(user=first.user, is_default=False)
    with violates("uq_user_default_platform"):
        PlatformConnectionFactory(user=first.user, is_default=True)


def test_unknown_platform_type_is_rejected():
    with violates("ck_platform_type"):
        PlatformConnectionFactory(platform_type="myspace")


def test_unknown_health_is_rejected():
    with violates("ck_platform_health"):
        PlatformConnectionFactory(health="fine")


def test_an_oauth2_sign_in_is_for_x_or_linkedin_only():
    from datetime import timedelta

    from django.utils import timezone

    from platforms.models import OAuth2SignIn

    connection = PlatformConnectionFactory()
    with violates("ck_oauth2_signin_platform"):
        OAuth2SignIn.objects.create(
            user=connection.user,
            platform_type="mastodon",
            state_hash="0" * 64,
            code_verifier="v" * 43,
            redirect_uri="https://desk.example.org/platforms/oauth2/callback/",
            expires_at=timezone.now() + timedelta(minutes=10),
        )


def test_credentials_are_encrypted_at_rest(raw_column):
    connection = PlatformConnectionFactory(access_token="secret-access-token", client_secret="secret-client")
    stored = raw_column(PlatformConnection, connection.pk, "access_token")
    assert "secret-access-token" not in stored
    assert "secret-client" not in raw_column(PlatformConnection, connection.pk, "client_secret")
    reloaded = PlatformConnection.objects.get(pk=connection.pk)
    assert reloaded.access_token == "secret-access-token"
    assert reloaded.client_secret == "secret-client"
    assert reloaded.access_token_hint == "••••oken"
