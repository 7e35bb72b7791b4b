"""Connecting Bluesky in the admin: a sign-in page (handle, app password, server) that creates the
connection, or reconnects one whose session could not be renewed; the app password is never kept."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from platforms import services
from platforms.health import connection_health_check
from platforms.models import ConnectionHealth, PlatformConnection
from tests.factories.accounts import UserFactory
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.bluesky import APP_PASSWORD, FakeBluesky

pytestmark = pytest.mark.django_db

PAGE = reverse("admin:platforms_platformconnection_connect_bluesky")


@pytest.fixture
def fake(httpserver, settings):
    fake = FakeBluesky(httpserver)
    settings.OUTBOUND_ALLOWED_ORIGINS = [fake.base_url]
    return fake


@pytest.fixture
def person():
    from accounts.services.users import user_set_role

    return user_set_role(user=UserFactory(), role=Role.USER)


@pytest.fixture
def browser(person):
    client = Client()
    client.force_login(person)
    return client


def form(fake, **overrides):
    return {"username": fake.handle, "access_token": APP_PASSWORD, "instance_url": fake.base_url, **overrides}


def test_the_list_offers_it_and_signing_in_stores_a_session_not_the_password(
    browser, fake, person, raw_column
):
    listing = browser.get(reverse("admin:platforms_platformconnection_changelist")).content.decode()
    assert f'href="{PAGE}"' in listing
    assert browser.get(PAGE).status_code == 200

    response = browser.post(PAGE, form(fake, username=f"@{fake.handle}"))

    connection = PlatformConnection.objects.get(user=person)
    assert response.status_code == 302
    assert response.url == reverse("admin:platforms_platformconnection_change", args=[connection.pk])
    assert (connection.platform_type, connection.username) == ("bluesky", fake.handle)
    assert connection.access_token in fake.access_tokens
    for column in ("access_token", "refresh_token"):
        assert APP_PASSWORD not in str(raw_column(PlatformConnection, connection.pk, column))
    assert APP_PASSWORD not in str(connection.extra)


def test_a_wrong_app_password_is_an_error_next_to_it_and_nothing_is_stored(browser, fake, person):
    response = browser.post(PAGE, form(fake, access_token="wrong-wrong-wrong-wrong"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["access_token"]
    assert not PlatformConnection.objects.filter(user=person).exists()


def test_a_connection_whose_session_ended_is_reconnected_from_its_page(browser, fake, person):
    connection = services.connection_create(
        user=person,
        name="Bluesky",
        platform_type="bluesky",
        instance_url=fake.base_url,
        username=fake.handle,
        access_token=APP_PASSWORD,
    )
    fake.expire_access_tokens()
    fake.revoke_refresh_tokens()
    assert connection_health_check(connection=connection) == ConnectionHealth.EXPIRED
    change = reverse("admin:platforms_platformconnection_change", args=[connection.pk])
    assert f"{PAGE}?connection={connection.pk}" in browser.get(change).content.decode()

    response = browser.post(f"{PAGE}?connection={connection.pk}", form(fake))

    assert response.status_code == 302 and response.url == change
    connection.refresh_from_db()
    assert connection.health == ConnectionHealth.OK
    assert connection.access_token in fake.access_tokens
    assert PlatformConnection.objects.filter(user=person).count() == 1


def test_someone_elses_connection_cannot_be_reconnected_here(browser, fake):
    other = services.connection_create(
        user=UserFactory(),
        name="Theirs",
        platform_type="bluesky",
        instance_url=fake.base_url,
        username=fake.handle,
        access_token=APP_PASSWORD,
    )
    assert browser.get(f"{PAGE}?connection={other.pk}").status_code == 404
    assert browser.get(f"{PAGE}?connection=x").status_code == 404


def test_a_connection_page_keeps_the_ai_disclosure_and_the_x_reconnect_button(browser, person, settings):
    from tests.factories.platforms import PlatformConnectionFactory

    settings.X_CLIENT_ID, settings.X_CLIENT_SECRET = "operator-client-id", "operator-client-secret"
    connection = PlatformConnectionFactory(user=person, platform_type="x", extra={})
    page = browser.get(reverse("admin:platforms_platformconnection_change", args=[connection.pk]))
    body = page.content.decode()
    assert page.context["ai"] is not None
    assert "Reconnect with X" in body
