import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.keys import KeyConfigError, generate_key, parse_keys

ROOT = Path(__file__).resolve().parents[2]


def test_parse_accepts_one_or_more_keys():
    first, second = generate_key(), generate_key()
    assert parse_keys(first) == [first]
    assert parse_keys(f" {first} , {second} ") == [first, second]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "is not set"),
        ("", "is not set"),
        ("   ", "is not set"),
        ("not base64 !!", "not url-safe base64"),
        ("c2hvcnQ=", "decodes to 5 bytes"),
        ("{key},", "key 2 is empty"),
    ],
)
def test_parse_rejects_missing_or_malformed_keys(raw, message):
    if raw and "{key}" in raw:
        raw = raw.format(key=generate_key())
    with pytest.raises(KeyConfigError, match=message):
        parse_keys(raw)


def test_error_never_echoes_the_key():
    bad = "A" * 40
    with pytest.raises(KeyConfigError) as excinfo:
        parse_keys(bad)
    assert bad not in str(excinfo.value)


def _start(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if k not in {"FIELD_ENCRYPTION_KEYS", "PLATFORM_ENCRYPTION_KEY"}
    }
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 50, **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"FIELD_ENCRYPTION_KEYS": ""}, "FIELD_ENCRYPTION_KEYS is not set"),
        ({"FIELD_ENCRYPTION_KEYS": "garbage"}, "FIELD_ENCRYPTION_KEYS: key 1"),
    ],
    ids=["missing", "malformed"],
)
def test_the_project_refuses_to_start_without_valid_keys(overrides, message):
    result = _start(overrides)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize("command", [["check"], ["migrate", "--noinput"], ["serve", "--no-worker"]])
@pytest.mark.parametrize("keys", ["garbage", "c2hvcnQ=", "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=,"])
def test_a_malformed_key_is_a_short_message_not_a_traceback(command, keys):
    env = {
        k: v for k, v in os.environ.items() if k not in {"FIELD_ENCRYPTION_KEYS", "PLATFORM_ENCRYPTION_KEY"}
    }
    env.update(
        {"DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 50, "FIELD_ENCRYPTION_KEYS": keys}
    )
    result = subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert lines[0].startswith("Configuration error: FIELD_ENCRYPTION_KEYS: key ")
    assert keys.rstrip(",") not in result.stderr, "the key is never echoed"
    assert result.stdout == ""


def test_platform_encryption_key_is_accepted_as_the_seed_name():
    result = _start({"FIELD_ENCRYPTION_KEYS": "", "PLATFORM_ENCRYPTION_KEY": generate_key()})
    assert result.returncode == 0, result.stderr


def _storage_options(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 50}
    env.setdefault("FIELD_ENCRYPTION_KEYS", generate_key())
    env.update(env_overrides)
    code = "import json; from django.conf import settings; print(json.dumps(settings.STORAGES['default']))"
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_s3_storage_is_configured_from_the_environment():
    result = _storage_options(
        {
            "STORAGE_BACKEND": "storages.backends.s3.S3Storage",
            "S3_BUCKET": "artifacts",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        }
    )
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout)["OPTIONS"]
    assert options["bucket_name"] == "artifacts"
    assert options["endpoint_url"] == "http://127.0.0.1:9000"
    assert options["default_acl"] is None


def test_s3_storage_without_a_bucket_refuses_to_start():
    result = _storage_options({"STORAGE_BACKEND": "storages.backends.s3.S3Storage", "S3_BUCKET": ""})
    assert result.returncode != 0
    assert "S3_BUCKET must be set" in result.stderr
