import pytest
from django.urls import reverse

from core.models import SystemConfig
from core.selectors import config_get
from core.services import config_set
from tests.admin_pages import form_fields, readonly_fields

pytestmark = pytest.mark.django_db


def add_url():
    return reverse("admin:core_systemconfig_add")


def test_changelist_masks_sensitive_values(admin_client):
    config_set(key="openai_api_key", value="sk-very-secret-value-9876", is_sensitive=True)
    response = admin_client.get(reverse("admin:core_systemconfig_changelist"), {"q": "openai"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "openai_api_key" in body
    assert "sk-very-secret" not in body
    assert "••••9876" in body


def test_change_page_never_renders_the_secret(admin_client):
    entry = config_set(key="smtp_password", value="hunter2-but-longer", is_sensitive=True)
    response = admin_client.get(reverse("admin:core_systemconfig_change", args=[entry.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "hunter2" not in html
    # What the page shows instead: the key (not editable), the last four characters masked, and an
    # empty field for a new secret.
    assert response.context["original"] == entry
    assert {"key", "shown_value"} <= readonly_fields(response)
    assert {"new_secret", "is_sensitive", "description"} <= set(form_fields(response))
    assert '<div class="readonly">••••nger</div>' in html
    assert response.context["adminform"].form["new_secret"].value() in (None, "")


def test_adding_a_typed_value_goes_through_the_service(admin_client):
    response = admin_client.post(
        add_url(), {"key": "evaluation_threshold", "type": "int", "new_value": "70", "description": ""}
    )
    assert response.status_code == 302
    assert config_get(key="evaluation_threshold") == 70


def test_a_value_of_the_wrong_type_is_a_form_error_and_changes_nothing(admin_client):
    response = admin_client.post(
        add_url(), {"key": "evaluation_threshold", "type": "int", "new_value": "seventy"}
    )
    assert response.status_code == 200
    assert "Not a valid int" in response.content.decode()
    assert not SystemConfig.objects.filter(key="evaluation_threshold").exists()


def test_a_sensitive_setting_needs_its_secret(admin_client):
    response = admin_client.post(add_url(), {"key": "api_token", "type": "string", "is_sensitive": "on"})
    assert response.status_code == 200
    assert "needs its value" in response.content.decode()


def test_leaving_the_secret_empty_keeps_it(admin_client):
    entry = config_set(key="api_token", value="keep-this-token-1234", is_sensitive=True)
    response = admin_client.post(
        reverse("admin:core_systemconfig_change", args=[entry.pk]),
        {"type": "string", "is_sensitive": "on", "new_secret": "", "description": "updated"},
    )
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.secret_value == "keep-this-token-1234"
    assert entry.description == "updated"
