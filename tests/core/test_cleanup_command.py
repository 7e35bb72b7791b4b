from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import AuditLog, UserSession
from tests.factories.accounts import AuditLogFactory, UserSessionFactory

pytestmark = pytest.mark.django_db


def _cleanup(*args):
    out = StringIO()
    call_command("cleanup", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _stale():
    old = AuditLogFactory()
    AuditLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    expired = UserSessionFactory(expires_at=timezone.now() - timedelta(hours=1))
    return old, expired


def test_list_names_every_policy_and_changes_nothing():
    old, _expired = _stale()
    out = _cleanup("--list")
    assert "accounts.audit_logs" in out
    assert "RETENTION_AUDIT_DAYS=365" in out
    assert "workflows.checkpoints" in out
    assert AuditLog.objects.filter(pk=old.pk).exists()
    assert not AuditLog.objects.filter(action="maintenance.cleanup").exists()


def test_cleanup_runs_every_policy_prints_a_summary_and_audits():
    old, expired = _stale()

    out = _cleanup()

    assert not AuditLog.objects.filter(pk=old.pk).exists()
    assert not UserSession.objects.filter(pk=expired.pk).exists()
    assert "policy" in out and "seconds" in out
    assert any(line.split()[:2] == ["accounts.audit_logs", "1"] for line in out.splitlines())
    audit = AuditLog.objects.get(action="maintenance.cleanup")
    assert audit.details["dry_run"] is False
    assert audit.details["policies"]["accounts.sessions"]["rows"] == 1
    assert "captions.images_posted" in audit.details["policies"]


def test_dry_run_reports_counts_and_changes_nothing():
    old, expired = _stale()

    out = _cleanup("--dry-run")

    assert AuditLog.objects.filter(pk=old.pk).exists()
    assert UserSession.objects.filter(pk=expired.pk).exists()
    assert any(line.split()[:2] == ["accounts.sessions", "1"] for line in out.splitlines())
    audit = AuditLog.objects.get(action="maintenance.cleanup")
    assert audit.details["dry_run"] is True
    assert audit.details["policies"]["accounts.audit_logs"]["rows"] == 1


def test_only_runs_the_named_policies():
    old, expired = _stale()

    _cleanup("--only", "accounts.sessions", "--batch-size", "1")

    assert not UserSession.objects.filter(pk=expired.pk).exists()
    assert AuditLog.objects.filter(pk=old.pk).exists()
    audit = AuditLog.objects.get(action="maintenance.cleanup")
    assert set(audit.details["policies"]) == {"accounts.sessions"}
    assert audit.details["batch_size"] == 1


def test_unknown_policy_exits_non_zero_and_changes_nothing():
    _old, expired = _stale()
    with pytest.raises(CommandError, match="Unknown policy: nope"):
        _cleanup("--only", "accounts.sessions", "nope")
    assert UserSession.objects.filter(pk=expired.pk).exists()


@pytest.mark.parametrize("size", ["0", "-5"])
def test_batch_size_below_one_exits_non_zero(size):
    with pytest.raises(CommandError, match="--batch-size"):
        _cleanup("--batch-size", size)


def test_non_numeric_batch_size_exits_non_zero():
    with pytest.raises(CommandError):
        _cleanup("--batch-size", "many")


def test_a_terminal_gets_a_progress_line_rewritten_per_batch():
    for _ in range(3):
        _stale()

    class Terminal(StringIO):
        def isatty(self):
            return True

    out = Terminal()
    call_command("cleanup", "--only", "accounts.sessions", "--batch-size", "1", stdout=out)
    output = out.getvalue()
    updates = [part.split() for part in output.split("\r")[1:]]
    # One rewrite per batch (the fourth finds nothing), then the policy's final line.
    assert [words[:4] for words in updates[:3]] == [
        ["accounts.sessions", str(n), "rows", "removed,"] for n in (1, 2, 3)
    ]
    assert "accounts.sessions: 3 rows removed in" in output.split("\r")[-1]
    assert any(line.split()[:2] == ["accounts.sessions", "3"] for line in output.splitlines())


def test_other_output_gets_one_plain_line_per_policy():
    _stale()
    plain = _cleanup("--only", "accounts.sessions", "accounts.audit_logs", "--batch-size", "1")
    assert "\r" not in plain
    lines = plain.splitlines()
    assert [line.split(" in ")[0] for line in lines[:2]] == [
        "accounts.sessions: 1 rows removed",
        "accounts.audit_logs: 1 rows removed",
    ]
    assert any(line.split()[:2] == ["accounts.sessions", "1"] for line in lines[2:])
    dry = _cleanup("--only", "accounts.sessions", "--dry-run")
    assert dry.splitlines()[0].startswith("accounts.sessions: 0 rows would go in ")
