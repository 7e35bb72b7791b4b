"""`/api/v1/` names every part of the API instead of answering 404."""

from urllib.parse import urlsplit

import pytest
from django.urls import resolve
from rest_framework.test import APIClient

from accounts.models import Role
from core.api.errors import json_not_found
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

# What docs/api.md's "Endpoints" lists, section by section (literal, not read from the view).
EXPECTED_PATHS = {
    "auth": {
        "login": "/api/v1/auth/login/",
        "me": "/api/v1/auth/me/",
        "sessions": "/api/v1/auth/sessions/",
        "api_keys": "/api/v1/api-keys/",
        "notifications": "/api/v1/notifications/",
    },
    "administration": {"audit_logs": "/api/v1/audit-logs/", "system_config": "/api/v1/system-config/"},
    "platforms": {"connections": "/api/v1/platforms/connections/"},
    "captions": {
        "posts": "/api/v1/captions/posts/",
        "images": "/api/v1/captions/images/",
        "image_captions": "/api/v1/captions/image-captions/",
        "tasks": "/api/v1/captions/tasks/",
        "runs": "/api/v1/captions/runs/",
        "settings": "/api/v1/captions/settings/",
    },
    "workflows": {
        "workflows": "/api/v1/workflows/",
        "drafts": "/api/v1/workflows/drafts/",
        "resources": "/api/v1/workflows/resources/",
        "publishing_jobs": "/api/v1/workflows/publishing-jobs/",
        "calendar": "/api/v1/workflows/calendar/",
        "templates": "/api/v1/workflows/templates/",
        "stats": "/api/v1/workflows/stats/",
    },
    "scraping": {"jobs": "/api/v1/scraping/jobs/", "artifacts": "/api/v1/scraping/artifacts/"},
    "generation": {
        "prompts": "/api/v1/generation/prompts/",
        "images": "/api/v1/generation/images/",
        "avatar_tasks": "/api/v1/generation/avatar-tasks/",
    },
}


def test_anyone_gets_the_sections_as_absolute_urls():
    response = APIClient().get("/api/v1/")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == "v1"
    assert body["documentation"] == "http://testserver/api/docs/"
    assert body["schema"] == "http://testserver/api/schema/"
    paths = {
        section: {key: urlsplit(url).path for key, url in urls.items()}
        for section, urls in body["sections"].items()
    }
    assert paths == EXPECTED_PATHS
    assert all(
        url.startswith("http://testserver/") for urls in body["sections"].values() for url in urls.values()
    )


def test_every_named_url_is_a_real_endpoint_for_a_signed_in_admin():
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.ADMIN))
    sections = client.get("/api/v1/").json()["sections"]
    for urls in sections.values():
        for url in urls.values():
            path = urlsplit(url).path
            assert resolve(path).func is not json_not_found, path
            answer = client.get(path)
            if path == "/api/v1/auth/login/":
                assert answer.status_code == 405  # sign-in takes POST only
            elif path == "/api/v1/workflows/calendar/":
                assert answer.status_code == 400  # it asks for its range
                assert set(answer.json()["error"]["fields"]) == {"from", "to"}
            else:
                assert answer.status_code == 200, path


def test_the_root_only_reads_and_unknown_paths_stay_json_404s():
    client = APIClient()
    assert client.post("/api/v1/", {}, format="json").status_code == 405
    missing = client.get("/api/v1/nowhere/")
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("application/json")
