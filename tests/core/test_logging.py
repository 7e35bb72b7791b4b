"""Structured log lines and the secrets filter (core.logging), through the handler the settings configure."""

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from core.logging import MASK, RedactSecrets, StructuredFormatter, redact
from tests.factories.accounts import UserFactory

ROOT = Path(__file__).resolve().parents[2]
# key=value, the value bare or double-quoted with backslash escapes.
LOGFMT_PAIR = re.compile(r'([A-Za-z0-9_.-]+)=("(?:\\.|[^"\\])*"|[^\s"]*)')


def configured_handler() -> logging.Handler:
    """The root handler built from settings.LOGGING (the one with the secrets filter)."""
    (handler,) = [
        h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecrets) for f in h.filters)
    ]
    return handler


@pytest.fixture
def log_output():
    """What the configured handler writes, for the duration of a test."""
    handler = configured_handler()
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    if previous is not None:
        handler.setStream(previous)


class RawMessages(logging.Handler):
    """Records a logger's messages as the code logged them, before the root handler's filter runs
    (a logger's own handlers are called before its parents')."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def raw_messages():
    attached = []

    def attach(name: str) -> RawMessages:
        handler = RawMessages()
        logging.getLogger(name).addHandler(handler)
        attached.append((name, handler))
        return handler

    yield attach
    for name, handler in attached:
        logging.getLogger(name).removeHandler(handler)


def emit(logger: str, level: int, msg: str, *args, **kwargs) -> None:
    logging.getLogger(logger).log(level, msg, *args, **kwargs)


# --- the configuration ---------------------------------------------------------------------------


def test_the_root_and_django_q_loggers_share_the_filtered_structured_handler():
    handler = configured_handler()
    assert isinstance(handler.formatter, StructuredFormatter)
    assert handler.formatter.output == "logfmt"
    q_logger = logging.getLogger("django-q")
    # (pytest adds capturing handlers of its own to loggers that do not propagate.)
    assert [h for h in q_logger.handlers if not type(h).__module__.startswith("_pytest")] == [handler]
    assert q_logger.propagate is False
    # Django's default handlers (a DEBUG-only console, runserver's own format) are gone: its events
    # reach the root handler once.
    for name in ("django", "django.server"):
        assert not [
            h for h in logging.getLogger(name).handlers if not type(h).__module__.startswith("_pytest")
        ]
        assert logging.getLogger(name).propagate


def _settings_in_subprocess(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env_overrides}
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('socialdesk.check').warning('started', extra={'token': 'abcdef123456'})"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_log_format_json_writes_json_lines():
    result = _settings_in_subprocess({"LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    event = json.loads(line)
    assert event["level"] == "warning"
    assert event["logger"] == "socialdesk.check"
    assert event["msg"] == "started"
    assert event["token"] == MASK


def test_an_unknown_log_format_refuses_to_start():
    result = _settings_in_subprocess({"LOG_FORMAT": "xml"})
    assert result.returncode != 0
    assert "LOG_FORMAT must be logfmt or json" in result.stderr


# --- the line format ---------------------------------------------------------------------------


def test_logfmt_line_has_the_fields_extras_and_quoting(log_output):
    emit("socialdesk.test", logging.WARNING, 'said "%s"', "hi there", extra={"task_id": 7, "state": "queued"})
    (line,) = log_output.getvalue().splitlines()
    pairs = LOGFMT_PAIR.findall(line)
    assert " ".join(f"{key}={value}" for key, value in pairs) == line, "nothing but key=value pairs"
    keys = [key for key, _ in pairs]
    assert keys == ["ts", "level", "logger", "msg", "task_id", "state"]
    fields = dict(pairs)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fields["ts"])
    assert fields["level"] == "warning"
    assert fields["logger"] == "socialdesk.test"
    assert fields["msg"] == r'"said \"hi there\""'
    assert (fields["task_id"], fields["state"]) == ("7", "queued")


def test_an_exception_is_folded_into_the_same_line(log_output):
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        logging.getLogger("socialdesk.test").exception("it broke")
    output = log_output.getvalue()
    assert output.count("\n") == 1, output
    assert 'msg="it broke"' in output
    assert 'exc="Traceback (most recent call last):\\n' in output
    assert "ValueError: first line\\nsecond line" in output


def test_json_lines_keep_the_traceback_in_one_object():
    formatter = StructuredFormatter(output="json")
    try:
        raise KeyError("missing")
    except KeyError:
        record = logging.getLogger("socialdesk.test").makeRecord(
            "socialdesk.test", logging.ERROR, __file__, 1, "lost %s", ("it",), sys.exc_info()
        )
    record.attempt = 2
    line = formatter.format(record)
    assert "\n" not in line
    event = json.loads(line)
    assert event["msg"] == "lost it"
    assert event["level"] == "error"
    assert event["attempt"] == 2
    assert event["exc"].startswith("Traceback") and "KeyError: 'missing'" in event["exc"]


def test_an_unknown_output_is_refused():
    with pytest.raises(ValueError, match="logfmt, json"):
        StructuredFormatter(output="xml")


def test_a_request_extra_names_method_and_path_without_the_query(log_output, rf):
    request = rf.get("/api/v1/things/", {"access_token": "query-secret-0001", "page": "2"})
    emit("django.request", logging.WARNING, "Not Found: %s", request.path, extra={"request": request})
    line = log_output.getvalue()
    assert 'request="GET /api/v1/things/"' in line
    assert "query-secret-0001" not in line


# --- what is masked ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("Authorization: Bearer abc.DEF-123_xyz", "abc.DEF-123_xyz", "Authorization: Bearer ***"),
        ("headers={'Authorization': 'Bearer tok-0001-abcd'}", "tok-0001-abcd", "'Authorization': "),
        ("retrying with Bearer eyJhbGciOiJI.eyJzdWIi.c2lnbmF0 after 401", "eyJhbGciOiJI", "after 401"),
        ("Authorization: Api-Key sdk_live_9f8e7d6c", "sdk_live_9f8e7d6c", "Authorization: Api-Key ***"),
        ("Authorization: Basic YWxpY2U6czNjcmV0", "YWxpY2U6czNjcmV0", "Authorization: Basic ***"),
        ("GET /oauth/cb?access_token=at-0001&page=2", "at-0001", "access_token=***&page=2"),
        ("login with password=hunter2! failed", "hunter2!", "password=*** failed"),
        ('body {"password": "two words"}', "two words", '"password": "***"'),
        ('{"api_key": "sk-proj-0001", "model": "llava"}', "sk-proj-0001", '"model": "llava"'),
        ("api_key=sk-0002 model=llava", "sk-0002", "model=llava"),
        ("x-api-key: key-0003", "key-0003", "x-api-key: ***"),
        ("POST /hook?token=hook-0004", "hook-0004", "token=***"),
        ("client_secret=cs-0005&client_id=app", "cs-0005", "client_id=app"),
        ("{'access_token': 'mastodon-0006', 'id': 3}", "mastodon-0006", "'id': 3"),
        ("Cookie: __Secure-1PSID=g.a000-0007; NID=511", "g.a000-0007", "Cookie: ***"),
        ("DATABASE_URL=postgres://desk:pg-pass-0008@db:5432/desk", "pg-pass-0008", "postgres://desk:***@db"),
    ],
)
def test_each_pattern_is_masked(text, secret, kept):
    masked = redact(text)
    assert secret not in masked
    assert kept in masked


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=500 temperature=0.2",
        "token_count=12 tokens=40",
        "Authorization: Bearer ***",
        "captioned 4 images in 2.1 s",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_the_secret_settings_are_masked_wherever_they_appear(log_output, settings):
    settings.AI_API_KEY = "sk-ai-key-not-shaped-like-anything"
    settings.ADMIN_PASSWORD = "operator password 4711"
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "PASSWORD": "db-password-0009"}}
    secrets = [
        settings.SECRET_KEY,
        *settings.FIELD_ENCRYPTION_KEYS,
        settings.AI_API_KEY,
        settings.ADMIN_PASSWORD,
        "db-password-0009",
    ]
    emit("socialdesk.test", logging.ERROR, "config dump: %s", " | ".join(secrets))
    emit("socialdesk.test", logging.ERROR, "as an extra", extra={"detail": settings.AI_API_KEY})
    output = log_output.getvalue()
    for secret in secrets:
        assert secret not in output
    assert output.count(MASK) >= len(secrets) + 1


def test_secret_named_extras_and_arguments_are_masked(log_output):
    emit(
        "socialdesk.test",
        logging.INFO,
        "called with %r",
        {"access_token": "tok-arg-0010", "limit": 20},
        extra={"api_key": "key-extra-0011", "refresh_token": "rt-0012", "page": 2},
    )
    output = log_output.getvalue()
    for secret in ("tok-arg-0010", "key-extra-0011", "rt-0012"):
        assert secret not in output
    assert "'limit': 20" in output and "page=2" in output


def test_a_traceback_is_masked(log_output):
    try:
        raise RuntimeError("upstream said: invalid access_token=tb-secret-0013")
    except RuntimeError:
        logging.getLogger("socialdesk.test").exception("call failed")
    output = log_output.getvalue()
    assert "tb-secret-0013" not in output
    assert "access_token=***" in output


def test_a_record_with_mismatched_arguments_is_still_written_masked(log_output):
    emit("socialdesk.test", logging.WARNING, "two %s %s", "password=pw-0014")
    output = log_output.getvalue()
    assert "pw-0014" not in output
    assert "two %s %s" in output


# --- real flows ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_signing_in_through_the_api_never_logs_the_password_or_the_token(log_output, caplog, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": "1000/5m"}
    password = "correct horse battery staple"  # UserFactory's
    user = UserFactory()
    client = APIClient()
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="django"):
        refused = client.post(
            # A careless client that also puts the password in the URL: the request is logged.
            f"/api/v1/auth/login/?password={password.replace(' ', '+')}",
            {"username": user.username, "password": password + " typo"},
        )
        accepted = client.post("/api/v1/auth/login/", {"username": user.username, "password": password})
        token = accepted.json()["token"]
        APIClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/auth/nowhere/")
    assert refused.status_code in (400, 401)
    assert accepted.status_code == 200
    output = log_output.getvalue()
    assert "logger=django.request" in output, "the refused sign-in and the 404 were logged"
    for secret in (password, password.replace(" ", "+"), "battery", token):
        assert secret not in output


@pytest.mark.django_db
def test_publishing_to_a_webhook_whose_url_carries_a_token_never_logs_it(
    log_output, raw_messages, httpserver
):
    from core.outbound import HostThrottle
    from core.retry import RetryPolicy
    from platforms.kinds.publishing import Publication, publisher_for
    from platforms.models import PlatformConnection, PlatformType
    from tests.fakes.webhook import FakeWebhook

    fake = FakeWebhook(httpserver)
    url_token = "hook-url-token-0015"
    publisher = publisher_for(
        PlatformConnection(
            name="hook",
            platform_type=PlatformType.WEBHOOK,
            instance_url=f"{fake.url}?token={url_token}",
            access_token=fake.secret,
            extra={},
        ),
        timeout=5.0,
        policy=RetryPolicy(attempts=1),
        sleep=lambda seconds: None,
        throttle=HostThrottle(rate=10_000, sleep=lambda seconds: None),
    )
    raw = raw_messages("httpx")

    publisher.publish(Publication(text="Hello", title=None, idempotency_key="key-0015"))

    assert len(fake.posts) == 1
    assert any(url_token in message for message in raw.messages), "httpx logged the URL as it was"
    output = log_output.getvalue()
    assert "logger=httpx" in output and "token=***" in output
    assert url_token not in output
    assert fake.secret not in output


# --- percent-encoded secrets, webhook paths, sensitive SystemConfig values (issue 17) -----------

KEY = "sdk_live_4f9a8b7c6d5e4f3a2b1c"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"GET /admin/login/?next=/x%3Fapi_key%3D{KEY} HTTP/1.1", "GET /admin/login/?next=/x?api_key=***"),
        (f"GET /login/?next=%2Fx%3Fa%3D1%26access_token%3D{KEY}", "&access_token=***"),
        (f"GET /login/?next=%252Fx%253Fpassword%253D{KEY}", "password=***"),  # encoded twice
        (f"GET /cb?next=api%5Fkey%3D{KEY}", "api_key=***"),  # the name encoded too
        (f"POST https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/{KEY[4:]}", "/services/T0AB12CD3/"),
        (
            "POST https://discord.com/api/webhooks/123456789012345678/"
            "Xh3f9aK2mQ-pL8vR4tW1yZ6bN0cD5eF7gH9jK2mQ4pL8vR1tW6yZ3bN0cD5eF7gH9j/ 204",
            "https://discord.com/api/webhooks/123456789012345678/***/ 204",
        ),
        (
            "POST https://hooks.example.com/services/T000/B000/XXXXSECRET9plus7chars",
            "/services/T000/B000/***",
        ),
    ],
)
def test_encoded_and_path_secrets_are_masked(text, kept):
    masked = redact(text)
    assert kept in masked
    assert "4f9a8b7c6d5e4f3a2b1c" not in masked
    assert "Xh3f9aK2mQ" not in masked and "XXXXSECRET" not in masked


@pytest.mark.parametrize(
    "text",
    [
        "GET https://mastodon.example/@alice/112233445566778899 200",
        "GET https://desk.example/api/v1/workflows/3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b/ 200",
        "GET https://blog.example/2024/05/a-very-long-post-slug-about-coffee-in-tokyo/ 200",
        "GET https://cdn.example/media/IMG_20240101_123456.jpg 200",
        "GET /search/?q=caf%C3%A9%20tokyo&page=2 200",
    ],
)
def test_ids_slugs_and_harmless_encodings_stay_readable(text):
    assert redact(text) == text


@pytest.mark.django_db(transaction=True)
def test_runserver_access_lines_mask_a_key_in_a_percent_encoded_query(log_output):
    """A live request through Django's own development server, whose access line holds the whole
    request line, query string included."""
    import threading
    import urllib.request

    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler, allow_reuse_address=False)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/admin/login/?next=/x%3Fapi_key%3D{KEY}"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
    finally:
        server.shutdown()
        server.server_close()
    output = log_output.getvalue()
    assert "logger=django.server" in output, output
    assert "api_key=***" in output
    assert KEY not in output and "4f9a8b7c6d5e4f3a2b1c" not in output


@pytest.mark.django_db
def test_publishing_to_a_webhook_with_a_secret_in_its_path_never_logs_it(
    log_output, raw_messages, httpserver
):
    from core.outbound import HostThrottle
    from core.retry import RetryPolicy
    from platforms.kinds.publishing import Publication, publisher_for
    from platforms.models import PlatformConnection, PlatformType
    from tests.fakes.webhook import FakeWebhook

    fake = FakeWebhook(httpserver)
    path_secret = "Zq8vN2kXw5Rt7Lm3Hb9Pc4Jd"  # Slack-shaped: 24 letters and digits
    fake.path = f"/hooks/services/T0AB12CD3/B0EF45GH6/{path_secret}"
    fake.url = f"{fake.base_url}{fake.path}"
    publisher = publisher_for(
        PlatformConnection(
            name="hook",
            platform_type=PlatformType.WEBHOOK,
            instance_url=fake.url,
            access_token=fake.secret,
            extra={},
        ),
        timeout=5.0,
        policy=RetryPolicy(attempts=1),
        sleep=lambda seconds: None,
        throttle=HostThrottle(rate=10_000, sleep=lambda seconds: None),
    )
    raw = raw_messages("httpx")

    publisher.publish(Publication(text="Hello", title=None, idempotency_key="key-path-0016"))

    assert len(fake.posts) == 1
    assert any(path_secret in message for message in raw.messages), "httpx logged the URL as it was"
    output = log_output.getvalue()
    assert "logger=httpx" in output and "/hooks/services/T0AB12CD3/B0EF45GH6/***" in output
    assert path_secret not in output


@pytest.fixture
def fresh_sensitive_config():
    from core.logging import SENSITIVE_CONFIG

    SENSITIVE_CONFIG.forget()
    yield SENSITIVE_CONFIG
    SENSITIVE_CONFIG.forget()


@pytest.mark.django_db
def test_a_sensitive_setting_saved_through_the_api_is_masked_in_request_logs(
    log_output, fresh_sensitive_config
):
    from accounts.models import Role

    secret = "webhook-signing-value-7f3k9q"
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.ADMIN))
    created = client.post(
        "/api/v1/system-config/",
        {"key": "partner_webhook_secret", "value": secret, "type": "string", "is_sensitive": True},
        format="json",
    )
    assert created.status_code == 201, created.content
    # A client that puts it in a URL: the 404 is logged with the path.
    assert client.get(f"/api/v1/nowhere/{secret}/").status_code == 404
    logging.getLogger("socialdesk.test").warning("partner answered for %s", secret)
    output = log_output.getvalue()
    assert "logger=django.request" in output and "Not Found: /api/v1/nowhere/***/" in output
    assert 'msg="partner answered for ***"' in output
    assert secret not in output


@pytest.mark.django_db(transaction=True)
def test_a_sensitive_setting_another_process_saved_is_read_on_first_use(
    log_output, fresh_sensitive_config, django_assert_num_queries
):
    from core.models import ConfigType, SystemConfig
    from tests.factories.core import SystemConfigFactory

    secret = "saved-by-the-worker-9x7c5v"
    # Written as another process would have: this process's services never saw it.
    SystemConfigFactory(
        key="worker_secret", value=None, secret_value=secret, is_sensitive=True, type=ConfigType.STRING
    )
    SystemConfigFactory(key="plain_setting", value="plain-value-not-secret")
    assert SystemConfig.objects.filter(is_sensitive=True).count() == 1
    # The read goes through a connection of its own: the caller's queries (and transaction) are
    # untouched.
    with django_assert_num_queries(0):
        logging.getLogger("socialdesk.test").error(
            "upstream refused %s and %s", secret, "plain-value-not-secret"
        )
    output = log_output.getvalue()
    assert secret not in output
    assert 'msg="upstream refused *** and plain-value-not-secret"' in output


@pytest.mark.django_db
def test_the_config_service_makes_a_sensitive_value_known_at_once(fresh_sensitive_config):
    from core.services import config_set

    fresh_sensitive_config.values()  # read once: the next read is a minute away
    config_set(key="smtp_password", value="smtp-password-4471", is_sensitive=True)
    config_set(key="greeting", value="hello there, world", is_sensitive=False)
    assert "smtp-password-4471" in fresh_sensitive_config.values()
    assert "hello there, world" not in fresh_sensitive_config.values()
    assert (
        redact("login refused: smtp-password-4471", fresh_sensitive_config.values()) == "login refused: ***"
    )
