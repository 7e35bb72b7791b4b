import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import AuditLog
from generation.models import GeneratedImage, GeneratedImageArchive
from tests.factories.generation import GeneratedImageArchiveFactory, GeneratedImageFactory
from tests.factories.workflows import WorkflowFactory
from workflows.models import Workflow, WorkflowStatus

pytestmark = pytest.mark.django_db


def archive(*args: str) -> str:
    out = StringIO()
    call_command("archive", *args, stdout=out)
    return out.getvalue()


def image(age_days: float) -> GeneratedImage:
    return GeneratedImageFactory(created_at=timezone.now() - timedelta(days=age_days))


def completed_workflow(idle_days: float) -> Workflow:
    row = WorkflowFactory(status=WorkflowStatus.COMPLETED)
    Workflow.objects.filter(pk=row.pk).update(updated_at=timezone.now() - timedelta(days=idle_days))
    return row


def summary_rows(output: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in output.splitlines() if line.strip()}


@pytest.fixture
def data():
    return {
        "old_images": [image(100), image(200), image(95)],
        "new_image": image(30),
        "old_workflows": [completed_workflow(120), completed_workflow(91)],
        "new_workflow": completed_workflow(10),
    }


def test_archives_both_policies_prints_a_summary_and_audits_once(data):
    output = archive("--batch-size", "2")

    rows = summary_rows(output)
    assert rows["workflows"][:2] == ["2", "1"]
    assert rows["generated_images"][:2] == ["3", "2"]
    assert list(GeneratedImage.objects.values_list("pk", flat=True)) == [data["new_image"].pk]
    assert set(GeneratedImageArchive.objects.values_list("pk", flat=True)) == {
        row.pk for row in data["old_images"]
    }
    assert set(Workflow.objects.filter(status=WorkflowStatus.ARCHIVED).values_list("pk", flat=True)) == {
        row.pk for row in data["old_workflows"]
    }
    assert Workflow.objects.get(pk=data["new_workflow"].pk).status == WorkflowStatus.COMPLETED

    log = AuditLog.objects.get(action="maintenance.archive")
    assert log.details["dry_run"] is False
    assert log.details["older_than_days"] == 90
    assert log.details["batch_size"] == 2
    assert log.details["policies"]["workflows"]["rows"] == 2
    assert log.details["policies"]["generated_images"]["rows"] == 3
    assert "error" not in log.details


def test_older_than_moves_the_cutoff(data):
    archive("--older-than", "150")

    assert list(GeneratedImageArchive.objects.values_list("pk", flat=True)) == [data["old_images"][1].pk]
    assert Workflow.objects.filter(status=WorkflowStatus.ARCHIVED).count() == 0


def test_dry_run_counts_and_changes_nothing(data):
    workflows_before = dict(Workflow.objects.values_list("pk", "updated_at"))
    images_before = set(GeneratedImage.objects.values_list("pk", flat=True))

    output = archive("--dry-run")

    rows = summary_rows(output)
    assert rows["workflows"][0] == "2"
    assert rows["generated_images"][0] == "3"
    assert "Dry run: nothing was changed." in output
    assert dict(Workflow.objects.values_list("pk", "updated_at")) == workflows_before
    assert set(GeneratedImage.objects.values_list("pk", flat=True)) == images_before
    assert not GeneratedImageArchive.objects.exists()
    log = AuditLog.objects.get(action="maintenance.archive")
    assert log.details["dry_run"] is True


def test_a_second_run_finds_nothing_to_do(data):
    archive()
    output = archive()

    assert summary_rows(output)["generated_images"][0] == "0"
    assert summary_rows(output)["workflows"][0] == "0"
    assert AuditLog.objects.filter(action="maintenance.archive").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_failure_mid_run_is_audited_keeps_rows_whole_and_a_rerun_continues():
    ids = sorted(image(100).pk for _ in range(4))
    blocker = GeneratedImageArchiveFactory(
        media_generation_id=GeneratedImage.objects.get(pk=ids[3]).media_generation_id
    )

    with pytest.raises(CommandError, match="run the command again"):
        archive("--batch-size", "3")

    live = set(GeneratedImage.objects.values_list("pk", flat=True))
    archived = set(GeneratedImageArchive.objects.exclude(pk=blocker.pk).values_list("pk", flat=True))
    assert (live, archived) == ({ids[3]}, set(ids[:3]))
    log = AuditLog.objects.get(action="maintenance.archive")
    assert "IntegrityError" in log.details["error"]

    blocker.delete()
    archive("--batch-size", "3")
    assert not GeneratedImage.objects.exists()
    assert set(GeneratedImageArchive.objects.values_list("pk", flat=True)) == set(ids)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "0"], "--older-than must be between 1"),
        (["--older-than", "-5"], "--older-than must be between 1"),
        (["--batch-size", "0"], "--batch-size must be between 1"),
        (["--batch-size", "1000000"], "--batch-size must be between 1"),
        (["--older-than", "ninety"], "invalid int value"),
    ],
)
def test_bad_arguments_are_refused_without_changes(data, args, message):
    with pytest.raises(CommandError, match=message):
        archive(*args)
    assert not GeneratedImageArchive.objects.exists()
    assert not AuditLog.objects.filter(action="maintenance.archive").exists()


def test_bad_arguments_exit_non_zero_from_the_command_line():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "archive", "--batch-size", "0"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "--batch-size must be between 1" in result.stderr


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar(data):
    out = Terminal()
    call_command("archive", "--batch-size", "2", stdout=out)

    output = out.getvalue()
    assert "\rgenerated_images" in output
    assert "[" + "#" * 30 + "] 3/3" in output
    assert "\r" not in archive()  # not a terminal: plain lines only


def test_other_output_gets_one_plain_line_per_policy_then_the_table(data):
    lines = archive("--batch-size", "2").splitlines()
    assert [line.split(",")[0] for line in lines[:2]] == [
        "workflows: 2 rows archived in 1 batches",
        "generated_images: 3 rows archived in 2 batches",
    ]
    assert lines[2].split() == ["policy", "archived", "batches", "seconds"]


def test_each_app_declares_its_archive_policies_and_they_run_in_app_order():
    from core.archive import archive_policies

    policies = archive_policies()
    assert [policy.name for policy in policies] == ["workflows", "generated_images"]
    # Found in <app>/archive.py, like retention policies: core names no app.
    assert [policy.count.__module__ for policy in policies] == ["workflows.archive", "generation.archive"]
