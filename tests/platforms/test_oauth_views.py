"""The screens of the fediverse sign-in: the API's start and disconnect, the browser's callback
(signed in, state as its CSRF token), and the admin's "Connect an account" page and action."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.services.users import user_set_role
from platforms.models import OAuthApplication, OAuthSignIn, PlatformConnection
from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.mastodon import FakeMastodon
from tests.isolation import client_for
from tests.platforms.oauth_steps import authorize_params, consent

pytestmark = pytest.mark.django_db

START = "/api/v1/platforms/oauth/start/"
CALLBACK = "/connections/oauth/callback/"


@pytest.fixture
def fake(httpserver, settings):
    fake = FakeMastodon(httpserver)
    settings.OUTBOUND_ALLOWED_ORIGINS = [fake.base_url]
    settings.PUBLIC_BASE_URL = "https://desk.example.org"
    return fake


@pytest.fixture
def person():
    return user_set_role(user=UserFactory(), role=Role.USER)


@pytest.fixture
def browser_of(person):
    client = Client()
    client.force_login(person)
    return client


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


# --- API -------------------------------------------------------------------------------------


def test_the_api_starts_a_sign_in(fake, person):
    response = client_for(person).post(
        START, {"platform_type": "mastodon", "instance_url": fake.base_url}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["redirect_uri"] == f"https://desk.example.org{CALLBACK}"
    params = authorize_params(body["authorize_url"])
    assert params["redirect_uri"] == body["redirect_uri"]
    assert OAuthSignIn.objects.get().user == person


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"platform_type": "x", "instance_url": "https://x.example"}, "platform_type"),
        ({"platform_type": "mastodon", "instance_url": "http://mastodon.example"}, "instance_url"),
        ({"platform_type": "mastodon"}, "instance_url"),
    ],
)
def test_the_api_refuses_bad_input_with_the_field(fake, person, data, field):
    response = client_for(person).post(START, data, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not OAuthApplication.objects.exists()


def test_the_api_answers_an_unreachable_instance_with_a_502(person, settings):
    settings.OUTBOUND_ALLOWED_ORIGINS = ["http://127.0.0.1:9"]
    response = client_for(person).post(
        START, {"platform_type": "mastodon", "instance_url": "http://127.0.0.1:9"}, format="json"
    )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "platform_unavailable"


def test_viewers_and_anonymous_callers_cannot_start(fake):
    viewer = user_set_role(user=UserFactory(), role=Role.VIEWER)
    data = {"platform_type": "mastodon", "instance_url": fake.base_url}
    assert client_for(viewer).post(START, data, format="json").status_code == 403
    assert client_for().post(START, data, format="json").status_code == 401
    assert fake.requests == []


def test_the_api_disconnects_and_reports_the_revocation(fake, person, browser_of):
    url = (
        client_for(person)
        .post(START, {"platform_type": "mastodon", "instance_url": fake.base_url}, format="json")
        .json()["authorize_url"]
    )
    browser_of.get(CALLBACK, consent(url))
    connection = PlatformConnection.objects.get()

    stranger = UserFactory(role=Role.USER)
    disconnect = f"/api/v1/platforms/connections/{connection.pk}/disconnect/"
    assert client_for(stranger).post(disconnect).status_code == 404
    response = client_for(person).post(disconnect)
    assert response.status_code == 200
    assert response.json() == {"revoked": True, "problem": None}
    assert fake.revoked == [connection.access_token]
    assert not PlatformConnection.objects.exists()


def test_pasting_a_token_still_works(fake, person):
    response = client_for(person).post(
        "/api/v1/platforms/connections/",
        {
            "name": "pasted",
            "platform_type": "mastodon",
            "instance_url": fake.base_url,
            "access_token": fake.token,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    verified = client_for(person).post(f"/api/v1/platforms/connections/{response.json()['id']}/verify/")
    assert verified.status_code == 200 and verified.json()["account"]["username"] == "alttext"


# --- the callback ----------------------------------------------------------------------------


def test_the_callback_stores_the_connection_and_opens_its_page(fake, person, browser_of):
    url = (
        client_for(person)
        .post(START, {"platform_type": "mastodon", "instance_url": fake.base_url}, format="json")
        .json()["authorize_url"]
    )
    response = browser_of.get(CALLBACK, consent(url), follow=True)

    connection = PlatformConnection.objects.get()
    assert response.redirect_chain[-1][0] == reverse(
        "admin:platforms_platformconnection_change", args=[connection.pk]
    )
    assert any("Connected alttext@" in text for text in messages_of(response))


def test_a_replayed_callback_is_refused_with_a_message(fake, person, browser_of):
    url = (
        client_for(person)
        .post(START, {"platform_type": "mastodon", "instance_url": fake.base_url}, format="json")
        .json()["authorize_url"]
    )
    back = consent(url)
    browser_of.get(CALLBACK, back)
    response = browser_of.get(CALLBACK, back, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:platforms_platformconnection_changelist")
    assert any("already completed" in text for text in messages_of(response))
    assert fake.count("POST", "/oauth/token") == 1


def test_the_callback_needs_a_signed_in_person(fake, person):
    url = (
        client_for(person)
        .post(START, {"platform_type": "mastodon", "instance_url": fake.base_url}, format="json")
        .json()["authorize_url"]
    )
    response = Client().get(CALLBACK, consent(url))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert not PlatformConnection.objects.exists()
    assert OAuthSignIn.objects.get().used_at is None


def test_the_callback_takes_only_get(browser_of):
    assert browser_of.post(CALLBACK, {"state": "x", "code": "y"}).status_code == 405


def test_a_declined_consent_comes_back_as_a_message(fake, person, browser_of):
    url = (
        client_for(person)
        .post(START, {"platform_type": "mastodon", "instance_url": fake.base_url}, format="json")
        .json()["authorize_url"]
    )
    response = browser_of.get(CALLBACK, consent(url, decision="deny"), follow=True)
    assert any("You declined" in text for text in messages_of(response))
    assert not PlatformConnection.objects.exists()


# --- the admin -------------------------------------------------------------------------------


def test_the_connect_page_sends_the_person_to_the_instance(fake, person, browser_of):
    page = reverse("admin:platforms_platformconnection_connect")
    assert page in browser_of.get(reverse("admin:platforms_platformconnection_changelist")).content.decode()
    form = browser_of.get(page)
    assert form.status_code == 200
    # Its answer redirects to the instance: this page alone lets a form go there.
    policy = form["Content-Security-Policy"]
    assert f"form-action 'self' https: {fake.base_url}" in policy
    other = browser_of.get(reverse("admin:platforms_platformconnection_changelist"))
    assert "form-action 'self';" in other["Content-Security-Policy"]

    host = fake.base_url.split("://")[1]
    response = browser_of.post(page, {"platform_type": "mastodon", "instance_url": fake.base_url})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{fake.base_url}/oauth/authorize?")
    assert host in response["Location"]


def test_the_connect_page_shows_an_unusable_address_at_its_field(fake, person, browser_of, settings):
    page = reverse("admin:platforms_platformconnection_connect")
    response = browser_of.post(page, {"platform_type": "mastodon", "instance_url": "ftp://mastodon.example"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["instance_url"]
    # An address that cannot be reached: above the form, and nothing stored.
    settings.OUTBOUND_ALLOWED_ORIGINS = ["http://127.0.0.1:9"]
    response = browser_of.post(page, {"platform_type": "mastodon", "instance_url": "http://127.0.0.1:9"})
    assert response.status_code == 200
    assert "could not be reached" in " ".join(response.context["adminform"].form.non_field_errors())
    assert not OAuthApplication.objects.exists()


def test_viewers_get_no_connect_page(fake):
    viewer = user_set_role(user=UserFactory(), role=Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    assert client.get(reverse("admin:platforms_platformconnection_connect")).status_code == 403


def test_the_disconnect_action_revokes(fake, person, browser_of):
    url = (
        client_for(person)
        .post(START, {"platform_type": "mastodon", "instance_url": fake.base_url}, format="json")
        .json()["authorize_url"]
    )
    browser_of.get(CALLBACK, consent(url))
    connection = PlatformConnection.objects.get()
    pasted = PlatformConnectionFactory(user=person, client_key=None)
    response = browser_of.post(
        reverse("admin:platforms_platformconnection_changelist"),
        {"action": "disconnect_selected", "_selected_action": [connection.pk, pasted.pk]},
        follow=True,
    )
    texts = messages_of(response)
    assert any("the instance revoked its token" in text for text in texts)
    assert any("no application credentials" in text for text in texts)
    assert fake.revoked == [connection.access_token]
    assert not PlatformConnection.objects.exists()
    assert AuditLog.objects.filter(action="connection.deleted").count() == 2
