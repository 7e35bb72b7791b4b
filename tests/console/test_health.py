import json
import os
import socket
from datetime import timedelta
from unittest import mock

import httpx
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import OperationalError
from django.utils import timezone
from werkzeug import Response

from console import health
from core.tasks import WORKER_HEARTBEAT_KEY, record_worker_heartbeat

pytestmark = pytest.mark.django_db

CHECK_NAMES = {"database", "migrations", "worker", "storage", "ai"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def ready(client):
    response = client.get("/health/ready")
    return response, json.loads(response.content)


def test_live_answers_ok_without_authentication(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_ready_with_every_check_passing_is_200_with_each_check_reported(client, settings):
    settings.AI_BACKEND = "builtin"
    record_worker_heartbeat()
    response, body = ready(client)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert body["status"] == "ok"
    assert set(body["checks"]) == CHECK_NAMES
    for name in ("database", "migrations", "worker", "storage"):
        assert body["checks"][name]["status"] == "ok", name
    assert body["checks"]["ai"] == {"status": "skipped", "backend": "builtin"}
    assert body["checks"]["migrations"]["pending"] == 0


def test_endpoints_refuse_writes(client):
    assert client.post("/health/live").status_code == 405
    assert client.post("/health/ready").status_code == 405


def test_no_heartbeat_means_not_ready(client):
    response, body = ready(client)
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["worker"]["status"] == "fail"
    assert body["checks"]["worker"]["reason"] == "no heartbeat recorded"
    assert body["checks"]["database"]["status"] == "ok"


def test_stale_heartbeat_means_not_ready(client, settings):
    settings.HEALTH_WORKER_MAX_AGE_SECONDS = 60
    cache.set(WORKER_HEARTBEAT_KEY, (timezone.now() - timedelta(seconds=61)).isoformat())
    response, body = ready(client)
    assert response.status_code == 503
    assert body["checks"]["worker"]["reason"] == "heartbeat too old"


def test_heartbeat_age_is_measured_against_the_limit():
    beat = timezone.now()
    cache.set(WORKER_HEARTBEAT_KEY, beat.isoformat())
    assert health.check_worker(now=beat + timedelta(seconds=89))["status"] == "ok"
    assert health.check_worker(now=beat + timedelta(seconds=91))["status"] == "fail"


def test_unreadable_heartbeat_fails():
    cache.set(WORKER_HEARTBEAT_KEY, "not a time")
    assert health.check_worker()["reason"] == "unreadable heartbeat"


def test_unapplied_migration_means_not_ready(client):
    record_worker_heartbeat()
    pending = mock.Mock(app_label="captions", name="0099_pending")
    pending.name = "0099_pending"
    with mock.patch(
        "django.db.migrations.executor.MigrationExecutor.migration_plan", return_value=[(pending, False)]
    ):
        response, body = ready(client)
    assert response.status_code == 503
    assert body["checks"]["migrations"] == {
        "status": "fail",
        "pending": 1,
        "migrations": ["captions.0099_pending"],
    }


def test_storage_failure_means_not_ready_and_hides_the_error_text(client):
    record_worker_heartbeat()
    error = PermissionError("cannot write /srv/media with key AKIASECRET123")
    with mock.patch("console.health.default_storage.save", side_effect=error):
        response, body = ready(client)
    assert response.status_code == 503
    assert body["checks"]["storage"] == {"status": "fail", "error": "PermissionError"}
    assert b"AKIASECRET123" not in response.content


def test_storage_probe_leaves_no_file_behind():
    assert health.check_storage()["status"] == "ok"
    probe_dir = os.path.join(django_settings.MEDIA_ROOT, health.STORAGE_PROBE_DIR)
    assert not os.path.isdir(probe_dir) or os.listdir(probe_dir) == []


def test_database_failure_means_not_ready_and_hides_the_dsn(client):
    record_worker_heartbeat()
    broken = mock.Mock()
    broken.cursor.side_effect = OperationalError("connection to postgres://ops:hunter2@db failed")
    with mock.patch("console.health.connection", broken):
        response, body = ready(client)
    assert response.status_code == 503
    assert body["checks"]["database"] == {"status": "fail", "error": "OperationalError"}
    assert body["checks"]["migrations"]["status"] == "fail"
    assert b"hunter2" not in response.content


def test_ai_server_answering_models_is_ready(client, settings, httpserver):
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = httpserver.url_for("/v1/")
    settings.AI_API_KEY = "sk-health-0123456789"
    httpserver.expect_request("/v1/models", method="GET").respond_with_json({"object": "list", "data": []})
    record_worker_heartbeat()
    response, body = ready(client)
    assert response.status_code == 200
    assert body["checks"]["ai"] == {"status": "ok", "backend": "openai"}
    ((request, _response),) = httpserver.log
    assert request.headers["Authorization"] == "Bearer sk-health-0123456789"
    assert b"sk-health" not in response.content


@pytest.mark.parametrize("status", [401, 404, 500, 503])
def test_ai_server_error_means_not_ready(client, settings, httpserver, status):
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = httpserver.url_for("/v1")
    httpserver.expect_request("/v1/models").respond_with_response(Response("down", status=status))
    record_worker_heartbeat()
    response, body = ready(client)
    assert response.status_code == 503
    assert body["checks"]["ai"] == {"status": "fail", "backend": "openai", "http_status": status}


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again: connecting to it is refused


def test_unreachable_ai_server_hides_credentials_in_its_url(client, settings):
    port = unused_port()
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = f"http://ops:s3cretpass@127.0.0.1:{port}/v1"
    record_worker_heartbeat()
    response, body = ready(client)
    assert response.status_code == 503
    assert body["checks"]["ai"] == {"status": "fail", "backend": "openai", "error": "ConnectError"}
    assert b"s3cretpass" not in response.content


def test_ai_timeout_is_a_failure(settings):
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = "http://127.0.0.1:9/v1"
    with mock.patch("console.health.httpx.get", side_effect=httpx.ReadTimeout("slow")):
        assert health.check_ai() == {"status": "fail", "backend": "openai", "error": "ReadTimeout"}


def test_not_ready_is_logged_as_a_warning_naming_the_checks_not_as_an_error(client, caplog):
    """A starting server is not ready until its worker's first heartbeat: the probe's 503s must not
    fill the log with errors."""
    import logging

    with caplog.at_level(logging.INFO):
        response, _ = ready(client)
    assert response.status_code == 503
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    (record,) = [
        r for r in caplog.records if r.name == "console.health" and r.getMessage().startswith("Not ready")
    ]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "Not ready: worker failing"
    assert not [r for r in caplog.records if r.name == "django.request"]
