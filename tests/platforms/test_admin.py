import pytest
from django.urls import reverse

from platforms.models import PlatformConnection
from tests.admin_pages import form_fields
from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory

pytestmark = pytest.mark.django_db

SECRET = "tok-super-secret-value-abcd"


def test_changelist_and_search_never_show_credentials(admin_client):
    connection = PlatformConnectionFactory(access_token=SECRET, client_secret="client-secret-value-wxyz")
    for params in ({}, {"q": connection.name}):
        response = admin_client.get(reverse("admin:platforms_platformconnection_changelist"), params)
        assert response.status_code == 200
        body = response.content.decode()
        assert connection.name in body
        assert SECRET not in body and "client-secret-value" not in body


def test_change_page_shows_only_masked_hints(admin_client):
    connection = PlatformConnectionFactory(access_token=SECRET)
    response = admin_client.get(reverse("admin:platforms_platformconnection_change", args=[connection.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert SECRET not in body
    assert "••••abcd" in body
    assert response.context["original"] == connection
    assert f'value="{connection.name}"' in body
    # New credentials are typed into empty fields; the stored ones are never form fields.
    assert {"new_access_token", "new_client_key", "new_client_secret"} <= set(form_fields(response))
    assert not {"access_token", "client_key", "client_secret"} & set(form_fields(response))


def form_data(user, **overrides):
    data = {
        "user": user.pk,
        "name": "My instance",
        "platform_type": "mastodon",
        "instance_url": "https://social.example.test",
        "username": "me",
        "extra": "{}",
        "is_active": "on",
        "new_access_token": "",
        "new_client_key": "",
        "new_client_secret": "",
    }
    data.update(overrides)
    return data


def test_adding_a_connection_requires_its_token(admin_client):
    user = UserFactory()
    response = admin_client.post(reverse("admin:platforms_platformconnection_add"), form_data(user))
    assert response.status_code == 200
    assert "needs its access token" in response.content.decode()
    assert not PlatformConnection.objects.exists()


def test_adding_a_connection_encrypts_its_token(admin_client, raw_column):
    user = UserFactory()
    response = admin_client.post(
        reverse("admin:platforms_platformconnection_add"), form_data(user, new_access_token=SECRET)
    )
    assert response.status_code == 302
    connection = PlatformConnection.objects.get()
    assert connection.access_token == SECRET
    assert SECRET not in raw_column(PlatformConnection, connection.pk, "access_token")


def test_editing_without_a_new_token_keeps_the_stored_one(admin_client):
    connection = PlatformConnectionFactory(access_token=SECRET)
    response = admin_client.post(
        reverse("admin:platforms_platformconnection_change", args=[connection.pk]),
        form_data(connection.user, name="Renamed", instance_url=connection.instance_url),
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.name == "Renamed"
    assert connection.access_token == SECRET


def test_a_bad_url_is_a_form_error(admin_client):
    user = UserFactory()
    response = admin_client.post(
        reverse("admin:platforms_platformconnection_add"),
        form_data(user, instance_url="not a url", new_access_token=SECRET),
    )
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["instance_url"]
    assert SECRET not in response.content.decode()  # the typed token is not echoed back
    assert not PlatformConnection.objects.exists()


def test_plain_http_is_a_form_error_unless_the_origin_is_listed(admin_client, settings):
    user = UserFactory()
    settings.DEBUG = False
    settings.OUTBOUND_ALLOWED_ORIGINS = []
    add = reverse("admin:platforms_platformconnection_add")
    data = form_data(user, instance_url="http://wp.intranet:8080", new_access_token=SECRET)
    response = admin_client.post(add, data)
    assert response.status_code == 200
    assert "OUTBOUND_ALLOWED_ORIGINS" in response.content.decode()
    assert not PlatformConnection.objects.exists()
    settings.OUTBOUND_ALLOWED_ORIGINS = ["http://wp.intranet:8080"]
    assert admin_client.post(add, data).status_code == 302
    assert PlatformConnection.objects.get().instance_url == "http://wp.intranet:8080"


def test_bad_wordpress_options_are_a_form_error(admin_client):
    user = UserFactory()
    response = admin_client.post(
        reverse("admin:platforms_platformconnection_add"),
        form_data(
            user,
            platform_type="wordpress",
            username="editor",
            extra='{"status": "private"}',
            new_access_token=SECRET,
        ),
    )
    assert response.status_code == 200
    assert "status must be one of publish, draft, pending." in response.content.decode()
    assert not PlatformConnection.objects.exists()
