"""core's django-q2 entry points: the daily cleanup and archive runs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditLog, UserSession
from core.tasks import run_archive, run_cleanup
from tests.factories.accounts import UserSessionFactory
from tests.factories.workflows import WorkflowFactory
from workflows.models import Workflow, WorkflowStatus

pytestmark = pytest.mark.django_db


def test_the_daily_cleanup_removes_expired_sessions_and_audits_the_run():
    expired = UserSessionFactory(expires_at=timezone.now() - timedelta(hours=1))
    live = UserSessionFactory()
    run_cleanup()
    assert list(UserSession.objects.values_list("pk", flat=True)) == [live.pk]
    assert not UserSession.objects.filter(pk=expired.pk).exists()
    assert AuditLog.objects.filter(action="maintenance.cleanup", details__dry_run=False).count() == 1


def test_the_daily_archive_archives_idle_completed_workflows_only():
    idle = WorkflowFactory(status=WorkflowStatus.COMPLETED)
    recent = WorkflowFactory(status=WorkflowStatus.COMPLETED)
    Workflow.objects.filter(pk=idle.pk).update(updated_at=timezone.now() - timedelta(days=91))
    run_archive()
    assert Workflow.objects.get(pk=idle.pk).status == WorkflowStatus.ARCHIVED
    assert Workflow.objects.get(pk=recent.pk).status == WorkflowStatus.COMPLETED
    assert AuditLog.objects.filter(action="maintenance.archive").count() == 1
