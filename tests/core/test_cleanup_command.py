import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import AuditLog, UserSession
from captions.models import Image, ImageStatus
from generation.models import Prompt, PromptStatus
from scraping.models import Artifact
from tests.factories.accounts import AuditLogFactory, UserSessionFactory
from tests.factories.captions import ImageFactory
from tests.factories.generation import PromptFactory
from tests.factories.scraping import ArtifactFactory
from tests.fakes.storage import use_unreachable_storage

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


# --- the newer policies and stored files ---------------------------------------------------------


def _row(out: str, name: str) -> list[str]:
    """The summary table's row of a policy (the table follows the per-policy lines)."""
    table = out[out.index("\npolicy") :]
    return next(line.split() for line in table.splitlines() if line.split()[:1] == [name])


def test_list_shows_the_scraping_and_generation_policies_with_their_ages():
    out = _cleanup("--list")
    listed = {line.split()[0]: line.split()[1] for line in out.splitlines()}
    assert listed["scraping.job_items"] == "RETENTION_SCRAPING_ITEM_DAYS=30"
    assert listed["generation.prompts_failed"] == "RETENTION_PROMPT_FAILED_DAYS=30"
    assert listed["generation.avatar_tasks_failed"] == "RETENTION_AVATAR_TASK_FAILED_DAYS=30"
    # Off unless the operator sets an age.
    assert "RETENTION_ARTIFACT_DAYS=off (unset)" in next(
        line for line in out.splitlines() if line.startswith("scraping.artifacts ")
    )


def test_list_shows_an_artifact_age_once_set(settings):
    settings.RETENTION_ARTIFACT_DAYS = 730
    out = _cleanup("--list")
    assert "RETENTION_ARTIFACT_DAYS=730" in out


def test_an_off_policy_is_reported_off_and_removes_nothing():
    artifact = ArtifactFactory()
    Artifact.objects.filter(pk=artifact.pk).update(created_at=timezone.now() - timedelta(days=5000))

    out = _cleanup("--only", "scraping.artifacts")

    assert Artifact.objects.filter(pk=artifact.pk).exists()
    assert out.splitlines()[0] == "scraping.artifacts: off (its setting is unset)"
    assert _row(out, "scraping.artifacts") == ["scraping.artifacts", "off"]
    audit = AuditLog.objects.get(action="maintenance.cleanup")
    assert audit.details["policies"]["scraping.artifacts"] == {"off": True, "rows": 0}


def _old_rejected_image(name: str) -> Image:
    assert default_storage.save(name, ContentFile(b"\xff\xd8 stored copy")) == name
    image = ImageFactory(status=ImageStatus.REJECTED, local_path=name)
    Image.objects.filter(pk=image.pk).update(updated_at=timezone.now() - timedelta(days=31))
    return image


@pytest.mark.django_db(transaction=True)
def test_the_summary_and_the_audit_count_the_files_deleted_per_policy():
    folder = f"captions/{uuid.uuid4().hex}"
    images = [_old_rejected_image(f"{folder}/{n}.jpg") for n in range(2)]
    prompt = PromptFactory(status=PromptStatus.FAILED)
    Prompt.objects.filter(pk=prompt.pk).update(updated_at=timezone.now() - timedelta(days=31))

    out = _cleanup("--only", "captions.images_rejected", "generation.prompts_failed", "--batch-size", "1")

    assert not any(default_storage.exists(image.local_path) for image in images)
    assert out.splitlines()[0].startswith("captions.images_rejected: 2 rows removed, 2 files deleted in ")
    assert out.splitlines()[1].startswith("generation.prompts_failed: 1 rows removed in ")
    assert "files deleted" in out.splitlines()[2]  # the table's heading
    images_row = _row(out, "captions.images_rejected")
    assert (images_row[1], images_row[3]) == ("2", "2")
    assert len(_row(out, "generation.prompts_failed")) == 3  # no files column: it stores none
    assert _row(out, "total")[1:] == ["3", "2"]
    policies = AuditLog.objects.get(action="maintenance.cleanup").details["policies"]
    assert policies["captions.images_rejected"]["files"] == 2
    assert policies["captions.images_rejected"]["files_failed"] == 0
    assert "files" not in policies["generation.prompts_failed"]


@pytest.mark.django_db(transaction=True)
def test_a_file_the_storage_fails_to_delete_is_reported_and_the_run_still_succeeds(settings, caplog):
    use_unreachable_storage(settings)
    folder = f"captions/{uuid.uuid4().hex}"
    deleted = _old_rejected_image(f"{folder}/fine.jpg")
    stuck = _old_rejected_image(f"{folder}/unreachable.jpg")
    err = StringIO()

    out = StringIO()
    call_command("cleanup", "--only", "captions.images_rejected", stdout=out, stderr=err)  # no CommandError

    out = out.getvalue()
    assert not Image.objects.filter(pk__in=[deleted.pk, stuck.pk]).exists()
    assert not default_storage.exists(deleted.local_path)
    assert default_storage.exists(stuck.local_path)
    assert " ".join(_row(out, "captions.images_rejected")[3:]) == "1 (1 failed)"
    assert "1 stored files could not be deleted" in err.getvalue()
    assert stuck.local_path in caplog.text and "AKIAEXAMPLESECRET" not in caplog.text
    policies = AuditLog.objects.get(action="maintenance.cleanup").details["policies"]
    assert (
        policies["captions.images_rejected"]["files"],
        policies["captions.images_rejected"]["files_failed"],
    ) == (
        1,
        1,
    )


@pytest.mark.django_db(transaction=True)
def test_a_dry_run_deletes_no_file():
    image = _old_rejected_image(f"captions/{uuid.uuid4().hex}/dry.jpg")

    out = _cleanup("--only", "captions.images_rejected", "--dry-run")

    assert default_storage.exists(image.local_path)
    assert _row(out, "captions.images_rejected")[1] == "1"
    assert (
        "files"
        not in AuditLog.objects.get(action="maintenance.cleanup").details["policies"][
            "captions.images_rejected"
        ]
    )
