"""Every operation of the OpenAPI schema, driven by schemathesis in-process over WSGI.

No response may be a server error, and every response must match the schema: its status
code documented, its content type and body as described. Examples are bounded and
derandomized so the run fits CI and repeats; new endpoints are covered automatically.
"""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Role
from accounts.tokens import hash_secret, new_session_token
from config.wsgi import application
from core import pages
from platforms.kinds.base import Kind
from platforms.kinds.bluesky import BlueskyKind
from platforms.kinds.common import PlatformAccount, Session
from platforms.kinds.mastodon import client as clients
from platforms.kinds.mastodon import oauth as oauth_wire
from tests.factories.accounts import UserFactory, UserSessionFactory

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(autouse=True)
def keep_the_test_connection_open():
    """The real WSGI handler closes old connections at each request's start and end, which
    would close the test's transaction mid-test (Django's test client does the same)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def platforms_answer_from_loopback(httpserver, monkeypatch):
    """Generated connections name arbitrary hosts; every platform call goes to a local fake
    Mastodon instead, so no example ever reaches out to the network."""
    httpserver.expect_request("/api/v1/accounts/verify_credentials").respond_with_json(
        {
            "id": "1",
            "username": "fuzz",
            "acct": "fuzz",
            "display_name": "Fuzz",
            "url": httpserver.url_for("/@fuzz"),
        }
    )
    real_client = clients.mastodon_http

    def loopback_client(*, instance_url, access_token, timeout=clients.DEFAULT_TIMEOUT, **kwargs):
        return real_client(
            instance_url=httpserver.url_for("/"), access_token=access_token, timeout=timeout, **kwargs
        )

    monkeypatch.setattr(clients, "mastodon_http", loopback_client)
    # Fediverse sign-in (start, disconnect): registration, discovery and revocation likewise.
    real_oauth_client = oauth_wire.oauth_http
    monkeypatch.setattr(
        oauth_wire,
        "oauth_http",
        lambda *, instance_url, timeout: real_oauth_client(
            instance_url=httpserver.url_for("/"), timeout=timeout
        ),
    )
    # X, LinkedIn and WordPress are verified through their publishers; resources fetch web pages.
    monkeypatch.setattr(
        Kind,
        "verify",
        lambda self, connection, *, timeout: (
            PlatformAccount(
                id="1", username="fuzz", acct="fuzz", display_name="Fuzz", url=httpserver.url_for("/@fuzz")
            ),
            {},
        ),
    )
    # Bluesky signs in on create (an app password for a session) and verifies through its own
    # kind: both answer here too.
    monkeypatch.setattr(BlueskyKind, "verify", Kind.verify)
    monkeypatch.setattr(
        BlueskyKind,
        "sign_in",
        lambda self, **kwargs: Session(
            access_token="fuzz-access-token", refresh_token="fuzz-refresh-token", expires_at=None, extra={}
        ),
    )
    monkeypatch.setattr(
        pages,
        "page_main_text",
        lambda url, **kwargs: pages.PageText(url=url, title="Fuzz", text="A fuzzed page.", language="en"),
    )


@pytest.fixture
def admin_user(db):
    return UserFactory(role=Role.ADMIN, is_staff=True)


# Generating the schema reads no data, so it can load at import time.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@schema.parametrize()
@hypothesis_settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_its_schema(case, admin_user):
    # A fresh token per example: some operations (logout) revoke the one they are called with.
    token = new_session_token()
    UserSessionFactory(user=admin_user, token_hash=hash_secret(token))
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
