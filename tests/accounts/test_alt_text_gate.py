"""A person's alt text gate: approved by a person (the default), or relaxed to "not empty" on the
preferences page or through the API's current-user endpoint; nothing else."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AltTextGate
from tests.factories.accounts import UserFactory
from tests.isolation import client_for

pytestmark = pytest.mark.django_db

PREFERENCES = reverse("admin-preferences")


def test_the_default_is_approved_by_a_person():
    assert UserFactory().alt_text_gate == AltTextGate.APPROVED


def test_relaxed_on_the_preferences_page_and_set_back():
    user = UserFactory(is_staff=True)
    client = Client()
    client.force_login(user)
    page = client.get(PREFERENCES).content.decode()
    assert 'name="alt_text_gate" value="approved"' in page and "checked" in page
    assert client.post(PREFERENCES, {"time_zone": "", "alt_text_gate": "non_empty"}).status_code == 302
    user.refresh_from_db()
    assert user.alt_text_gate == AltTextGate.NON_EMPTY
    response = client.post(PREFERENCES, {"time_zone": "", "alt_text_gate": "nothing"})
    assert response.status_code == 200 and response.context["form"].errors["alt_text_gate"]
    user.refresh_from_db()
    assert user.alt_text_gate == AltTextGate.NON_EMPTY


def test_through_the_api_only_the_two_choices():
    user = UserFactory()
    api = client_for(user)
    response = api.patch("/api/v1/auth/me/", {"alt_text_gate": "non_empty"}, format="json")
    assert response.status_code == 200 and response.json()["alt_text_gate"] == "non_empty"
    refused = api.patch("/api/v1/auth/me/", {"alt_text_gate": "off"}, format="json")
    assert refused.status_code == 400 and "alt_text_gate" in refused.json()["error"]["fields"]
    user.refresh_from_db()
    assert user.alt_text_gate == AltTextGate.NON_EMPTY
