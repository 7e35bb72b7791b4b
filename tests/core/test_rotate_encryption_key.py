from io import StringIO
from unittest import mock

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import AuditLog
from config.keys import generate_key
from core import crypto
from core.key_rotation import encrypted_fields
from core.models import SystemConfig
from core.services import config_set
from platforms.models import PlatformConnection
from tests.factories.platforms import PlatformConnectionFactory

pytestmark = pytest.mark.django_db


def rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_encryption_key", *args, stdout=out)
    return out.getvalue()


def decrypts_with(key: str, token: str) -> str:
    return Fernet(key.encode("ascii")).decrypt(token.encode("ascii")).decode("utf-8")


def report_row(output: str, model: str, field: str) -> list[str]:
    for line in output.splitlines():
        cells = line.split()
        if cells[:2] == [model, field]:
            return cells[2:]
    raise AssertionError(f"no row for {model}.{field} in:\n{output}")


def write_raw(model, pk, column: str, value: str) -> None:
    quote = connection.ops.quote_name
    table, pk_column = quote(model._meta.db_table), quote(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {quote(column)} = %s WHERE {pk_column} = %s", [value, pk])  # noqa: S608


@pytest.fixture
def old_and_new(settings):
    """Secrets written under `old`; then FIELD_ENCRYPTION_KEYS = [new, old]."""
    old, new = generate_key(), generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    connections = [
        PlatformConnectionFactory(access_token=f"token-{n}", client_key=None, client_secret=f"secret-{n}")
        for n in range(3)
    ]
    config = config_set(key="ai_api_key", value="sk-rotate-me", is_sensitive=True)
    config_set(key="plain_setting", value="not encrypted")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    return {"old": old, "new": new, "connections": connections, "config": config}


def test_every_encrypted_field_is_found():
    found = {(model._meta.label, field.name) for model, field in encrypted_fields()}
    assert {
        ("platforms.PlatformConnection", "access_token"),
        ("platforms.PlatformConnection", "client_key"),
        ("platforms.PlatformConnection", "client_secret"),
        ("core.SystemConfig", "secret_value"),
        ("accounts.NotificationWebhook", "secret"),
    } <= found


def test_rotation_leaves_every_value_readable_with_the_new_key_alone(old_and_new, raw_column, settings):
    output = rotate("--batch-size", "2")
    new = old_and_new["new"]
    for n, conn in enumerate(old_and_new["connections"]):
        assert decrypts_with(new, raw_column(PlatformConnection, conn.pk, "access_token")) == f"token-{n}"
        assert decrypts_with(new, raw_column(PlatformConnection, conn.pk, "client_secret")) == f"secret-{n}"
        assert raw_column(PlatformConnection, conn.pk, "client_key") is None
    secret = raw_column(SystemConfig, old_and_new["config"].pk, "secret_value")
    assert decrypts_with(new, secret) == "sk-rotate-me"
    with pytest.raises(InvalidToken):
        decrypts_with(old_and_new["old"], secret)

    assert report_row(output, "platforms.PlatformConnection", "access_token") == ["3", "3", "0", "0", "0"]
    assert report_row(output, "platforms.PlatformConnection", "client_key") == ["0", "0", "0", "0", "0"]
    assert report_row(output, "core.SystemConfig", "secret_value") == ["1", "1", "0", "0", "0"]
    assert "the old keys can be removed" in output

    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key is gone: the ORM still reads everything
    assert sorted(PlatformConnection.objects.values_list("access_token", flat=True)) == [
        "token-0",
        "token-1",
        "token-2",
    ]
    assert SystemConfig.objects.get(key="ai_api_key").raw_value == "sk-rotate-me"


def test_dry_run_counts_and_changes_nothing(old_and_new, raw_column):
    conn = old_and_new["connections"][0]
    before = raw_column(PlatformConnection, conn.pk, "access_token")
    config_before = raw_column(SystemConfig, old_and_new["config"].pk, "secret_value")
    audits = AuditLog.objects.count()

    output = rotate("--dry-run")

    assert report_row(output, "platforms.PlatformConnection", "access_token") == ["3", "3", "0", "0", "0"]
    assert "nothing was written" in output
    assert raw_column(PlatformConnection, conn.pk, "access_token") == before
    assert raw_column(SystemConfig, old_and_new["config"].pk, "secret_value") == config_before
    assert decrypts_with(old_and_new["old"], before) == "token-0"
    assert AuditLog.objects.count() == audits


def test_running_again_rewrites_nothing(old_and_new, raw_column):
    rotate()
    conn = old_and_new["connections"][1]
    after_first = raw_column(PlatformConnection, conn.pk, "access_token")

    output = rotate()

    assert raw_column(PlatformConnection, conn.pk, "access_token") == after_first
    assert report_row(output, "platforms.PlatformConnection", "access_token") == ["3", "0", "3", "0", "0"]
    assert report_row(output, "core.SystemConfig", "secret_value") == ["1", "0", "1", "0", "0"]


def test_a_run_cut_short_resumes_with_the_rest(old_and_new, raw_column, settings):
    first, *rest = old_and_new["connections"]
    # As if an earlier run had rotated only the first row before stopping.
    write_raw(
        PlatformConnection, first.pk, "access_token", Fernet(old_and_new["new"]).encrypt(b"token-0").decode()
    )

    output = rotate("--batch-size", "1")

    assert report_row(output, "platforms.PlatformConnection", "access_token") == ["3", "2", "1", "0", "0"]
    for conn in [first, *rest]:
        decrypts_with(old_and_new["new"], raw_column(PlatformConnection, conn.pk, "access_token"))


def test_a_value_no_key_reads_is_reported_left_alone_and_fails_the_command(old_and_new, raw_column):
    stranger = Fernet(generate_key()).encrypt(b"lost").decode()
    bad = old_and_new["connections"][2]
    write_raw(PlatformConnection, bad.pk, "access_token", stranger)

    out = StringIO()
    with pytest.raises(CommandError, match="1 value\\(s\\) could not be decrypted"):
        call_command("rotate_encryption_key", stdout=out)

    assert report_row(out.getvalue(), "platforms.PlatformConnection", "access_token") == [
        "3",
        "2",
        "0",
        "1",
        "0",
    ]
    assert raw_column(PlatformConnection, bad.pk, "access_token") == stranger
    good = old_and_new["connections"][0]
    assert (
        decrypts_with(old_and_new["new"], raw_column(PlatformConnection, good.pk, "access_token"))
        == "token-0"
    )


def test_a_value_rewritten_during_the_run_is_not_overwritten(old_and_new, raw_column):
    conn = old_and_new["connections"][0]
    fresh = Fernet(old_and_new["new"]).encrypt(b"changed by the app").decode()
    real_rotate = crypto.rotate

    def rotate_while_the_app_writes(token: str) -> str:
        if token == raw_column(PlatformConnection, conn.pk, "access_token"):
            write_raw(PlatformConnection, conn.pk, "access_token", fresh)
        return real_rotate(token)

    with mock.patch("core.key_rotation.crypto.rotate", side_effect=rotate_while_the_app_writes):
        output = rotate()

    assert raw_column(PlatformConnection, conn.pk, "access_token") == fresh
    assert report_row(output, "platforms.PlatformConnection", "access_token") == ["3", "2", "0", "0", "1"]
    assert "run the command again" in output


def test_a_run_is_audited_without_secrets(old_and_new):
    rotate()
    entry = AuditLog.objects.get(action="encryption_key.rotated")
    assert entry.details["keys_configured"] == 2
    fields = {(f["model"], f["field"]): f["rotated"] for f in entry.details["fields"]}
    assert fields[("platforms.PlatformConnection", "access_token")] == 3
    dumped = str(entry.details)
    assert "token-" not in dumped and "sk-rotate-me" not in dumped
    assert old_and_new["old"] not in dumped and old_and_new["new"] not in dumped


@pytest.mark.parametrize("size", ["0", "-5", "many"])
def test_bad_batch_size_is_refused(size):
    with pytest.raises(CommandError, match="batch-size"):
        rotate("--batch-size", size)


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_line_per_field(old_and_new):
    out = Terminal()
    call_command("rotate_encryption_key", "--batch-size", "2", stdout=out)
    updates = [part.strip() for part in out.getvalue().split("\r")[1:]]
    access = [line for line in updates if line.startswith("platforms.PlatformConnection.access_token:")]
    # Two batches (2 + 1 rows), then the field's final line.
    assert [line.splitlines()[0] for line in access] == [
        "platforms.PlatformConnection.access_token: 2 scanned, 2 re-encrypted",
        "platforms.PlatformConnection.access_token: 3 scanned, 3 re-encrypted",
        "platforms.PlatformConnection.access_token: 3 scanned, 3 re-encrypted",
    ]


def test_other_output_gets_one_plain_line_per_field(old_and_new):
    output = rotate("--dry-run")
    assert "\r" not in output
    lines = output.splitlines()
    fields = [f"{model._meta.label}.{field.name}" for model, field in encrypted_fields()]
    assert [line.split(":")[0] for line in lines[: len(fields)]] == fields
    assert "platforms.PlatformConnection.access_token: 3 scanned, 3 would re-encrypt" in lines
    assert lines[len(fields)].split() == [
        "model",
        "field",
        "scanned",
        "rotated",
        "current",
        "unreadable",
        "changed",
    ]
