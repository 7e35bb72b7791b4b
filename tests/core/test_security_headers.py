"""HSTS on secure responses and the Content-Security-Policy (core.security; settings SECURE_HSTS_*,
CSP_REPORT_ONLY)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import Role
from tests.factories.accounts import UserFactory

ROOT = Path(__file__).resolve().parents[2]
HSTS = "Strict-Transport-Security"
CSP = "Content-Security-Policy"


def hsts_settings(**env) -> str:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECURE_HSTS", "SESSION_COOKIE_SECURE", "DEBUG"))
    }
    environment.update({"DJANGO_SETTINGS_MODULE": "tests.settings", **env})
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "31536000 False False"),  # DEBUG off: cookies secure, HSTS a year
        ({"SESSION_COOKIE_SECURE": "false"}, "0 False False"),  # served over plain http
        ({"DEBUG": "true"}, "0 False False"),
        ({"SECURE_HSTS_SECONDS": "300"}, "300 False False"),
        (
            {
                "SECURE_HSTS_SECONDS": "600",
                "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
                "SECURE_HSTS_PRELOAD": "true",
            },
            "600 True True",
        ),
    ],
)
def test_hsts_follows_the_environment_and_secure_cookies(env, expected):
    assert hsts_settings(**env) == expected


def test_hsts_is_sent_on_secure_responses_only(client, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    assert client.get("/health/live", secure=True)[HSTS] == "max-age=31536000"
    assert HSTS not in client.get("/health/live", secure=False)


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/admin/login/", "/api/docs/"])
def test_html_pages_allow_only_this_origin_and_nothing_inline(url):
    response = Client().get(url)
    assert response.status_code == 200
    policy = directives(response[CSP])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert "'unsafe-inline'" not in response[CSP] and "'unsafe-eval'" not in response[CSP]


INLINE = re.compile(rb"<style|\sstyle=|<script(?![^>]*\ssrc=)[^>]*>|\son[a-z]+=", re.IGNORECASE)


@pytest.mark.django_db
def test_the_admin_pages_and_swagger_ui_have_no_inline_script_or_style():
    from tests.factories.captions import ImageFactory
    from tests.factories.generation import GeneratedImageFactory
    from tests.factories.scraping import ArtifactFactory

    # Rows whose columns used to carry style="" attributes: thumbnails, previews, an over-long
    # caption, extracted text.
    image = ImageFactory(generated_caption="x" * 5000)
    generated = GeneratedImageFactory()
    artifact = ArtifactFactory()
    admin_client = Client()
    admin_client.force_login(UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True))
    pages = {
        "/admin/": b"needs-attention",
        "/admin/captions/image/": b'class="sd-over-limit"',
        f"/admin/captions/image/{image.pk}/change/": b'class="sd-thumb-96"',
        f"/admin/generation/prompt/{generated.prompt.pk}/change/": b'class="sd-thumb-96"',
        f"/admin/generation/generatedimage/{generated.pk}/change/": b'class="sd-preview-256"',
        f"/admin/scraping/artifact/{artifact.pk}/change/": b'class="sd-content-preview"',
        "/admin/core/systemconfig/add/": b"",
    }
    for url, rendered in pages.items():
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert rendered in response.content, url
        assert not INLINE.findall(response.content), (url, INLINE.findall(response.content))
        assert b"/static/core/admin.css" in response.content
    docs = Client().get("/api/docs/")
    assert not INLINE.findall(docs.content), INLINE.findall(docs.content)
    script = Client().get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


@pytest.mark.django_db
def test_json_and_files_get_a_sandboxed_policy(client):
    response = client.get("/api/v1/nowhere/")
    assert response.status_code == 404
    assert directives(response[CSP]) == {
        "default-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "sandbox": [],
    }


@pytest.mark.django_db
def test_report_only_sends_the_policy_without_enforcing_it(settings):
    settings.CSP_REPORT_ONLY = True
    response = Client().get("/admin/login/")
    assert CSP not in response
    assert directives(response["Content-Security-Policy-Report-Only"])["script-src"] == ["'self'"]
