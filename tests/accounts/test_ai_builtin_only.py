"""A person's "builtin AI only" choice (User.ai_builtin_only): set on the preferences page or with
PATCH /api/v1/auth/me/, and what the AI sees, shown there and on the pages that start AI work."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.services.users import user_set_role
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationUserSettingsFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.isolation import client_for

pytestmark = pytest.mark.django_db

PREFERENCES = reverse("admin-preferences")
ME = "/api/v1/auth/me/"
AI_HOST = "ai.example.test"


@pytest.fixture(autouse=True)
def _remote_ai(settings):
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = f"https://{AI_HOST}/v1"


def person(**fields):
    """A signed-in-to-the-admin person with the plain user role (their own connections and settings)."""
    return user_set_role(user=UserFactory(**fields), role=Role.USER)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_off_by_default():
    assert UserFactory().ai_builtin_only is False


def test_set_and_cleared_through_the_api_which_shows_what_the_ai_sees():
    user = UserFactory()
    api = client_for(user)
    before = api.get(ME).json()
    assert before["ai_builtin_only"] is False
    assert before["ai"] == {
        "backend": "openai",
        "host": AI_HOST,
        "leaves_machine": True,
        "builtin_only": False,
        "site_backend": "openai",
    }

    response = api.patch(ME, {"ai_builtin_only": True}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ai_builtin_only"] is True
    assert body["ai"] == {
        "backend": "builtin",
        "host": None,
        "leaves_machine": False,
        "builtin_only": True,
        "site_backend": "openai",
    }
    user.refresh_from_db()
    assert user.ai_builtin_only is True
    audit = AuditLog.objects.filter(action="user.profile_updated", user=user).latest("created_at")
    assert audit.details == {"fields": ["ai_builtin_only"]}

    assert api.patch(ME, {"ai_builtin_only": False}, format="json").json()["ai"]["host"] == AI_HOST
    user.refresh_from_db()
    assert user.ai_builtin_only is False


def test_the_api_refuses_a_non_boolean_and_changes_nothing():
    user = UserFactory(ai_builtin_only=True)
    refused = client_for(user).patch(ME, {"ai_builtin_only": "sometimes"}, format="json")
    assert refused.status_code == 400 and "ai_builtin_only" in refused.json()["error"]["fields"]
    user.refresh_from_db()
    assert user.ai_builtin_only is True


def test_the_ai_field_is_read_only():
    user = UserFactory()
    response = client_for(user).patch(ME, {"ai": {"backend": "builtin"}}, format="json")
    assert response.status_code == 200
    assert response.json()["ai"]["backend"] == "openai"


def test_the_preferences_page_sets_and_clears_it_and_says_where_things_go():
    user = UserFactory(is_staff=True)
    client = signed_in(user)
    page = client.get(PREFERENCES).content.decode()
    assert 'name="ai_builtin_only"' in page
    assert f"sent to {AI_HOST} (another machine)" in page
    assert "To keep everything on this server" not in page  # the choice is right here

    saved = client.post(PREFERENCES, {"time_zone": "", "ai_builtin_only": "on"})
    assert saved.status_code == 302
    user.refresh_from_db()
    assert user.ai_builtin_only is True
    page = client.get(PREFERENCES).content.decode()
    assert "do not leave the machine" in page and AI_HOST not in page

    # An unticked box is sent as nothing: the choice is cleared, the gate left as it was.
    assert client.post(PREFERENCES, {"time_zone": ""}).status_code == 302
    user.refresh_from_db()
    assert user.ai_builtin_only is False
    assert user.alt_text_gate == "approved"


@pytest.mark.parametrize("builtin_only", [False, True])
def test_the_connection_page_says_which_backend_and_host_get_the_owners_images(builtin_only):
    owner = person(ai_builtin_only=builtin_only)
    connection = PlatformConnectionFactory(user=owner)
    page = signed_in(owner).get(reverse("admin:platforms_platformconnection_change", args=[connection.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "What the AI sees" in text
    assert (AI_HOST in text) is not builtin_only
    assert ("do not leave the machine" in text) is builtin_only
    assert ("To keep everything on this server" in text) is not builtin_only


def test_the_add_connection_page_speaks_for_the_signed_in_person():
    someone = person(ai_builtin_only=True)
    text = signed_in(someone).get(reverse("admin:platforms_platformconnection_add")).content.decode()
    assert "do not leave the machine" in text and AI_HOST not in text


@pytest.mark.parametrize("builtin_only", [False, True])
def test_the_caption_settings_page_says_which_backend_and_host_get_the_images(builtin_only):
    owner = person(ai_builtin_only=builtin_only)
    connection = PlatformConnectionFactory(user=owner)
    row = CaptionGenerationUserSettingsFactory(user=owner, platform_connection=connection)
    url = reverse("admin:captions_captiongenerationusersettings_change", args=[row.pk])
    text = signed_in(owner).get(url).content.decode()
    assert "What the AI sees" in text
    assert (AI_HOST in text) is not builtin_only


def test_the_caption_scan_form_says_it_too():
    owner = person()
    text = signed_in(owner).get(reverse("admin:captions_captiongenerationtask_add")).content.decode()
    assert "What the AI sees" in text and AI_HOST in text
