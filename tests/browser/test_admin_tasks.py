"""A moderator cancels a running caption task from the task list."""

import pytest
from django.utils import timezone

from accounts.models import AuditLog, Role
from captions.models import CaptionGenerationTask, TaskStatus
from tests.browser.chromium import screenshot
from tests.browser.pages import PASSWORD, admin_login, messages, open_admin, row_checkbox, run_action
from tests.factories.captions import CaptionGenerationTaskFactory

pytestmark = pytest.mark.browser


def running_task(**fields) -> CaptionGenerationTask:
    now = timezone.now()
    fields.setdefault("progress_percent", 40)
    fields.setdefault("current_step", "captioning image 4 of 10")
    return CaptionGenerationTaskFactory(status=TaskStatus.RUNNING, started_at=now, heartbeat_at=now, **fields)


def test_a_moderator_cancels_a_running_task(browser, live_server, user_of):
    moderator = user_of(Role.MODERATOR, username="mona", full_name="Mona Moderator")
    # Other people's tasks: moderators manage everyone's.
    task = running_task(
        platform_connection__user=user_of(Role.USER, username="ann"),
        platform_connection__name="ann@owl.town",
    )
    other = running_task(
        platform_connection__user=user_of(Role.USER, username="bob"),
        platform_connection__name="bob@pix.town",
        progress_percent=75,
        current_step="captioning image 15 of 20",
    )

    admin_login(browser, live_server, username="mona", password=PASSWORD)
    browser.set_window_size(1280, 900)
    open_admin(browser, live_server, "captions_captiongenerationtask_changelist")
    assert row_checkbox(browser, task.pk) and row_checkbox(browser, other.pk)
    screenshot(browser, "caption-tasks")

    run_action(browser, "cancel_selected", [task.pk])
    assert messages(browser, "success"), messages(browser, "warning")
    screenshot(browser, "caption-tasks-cancelled")

    # The cancel is cooperative: the status is the flag the worker reads before its next image
    # (its progress UPDATE matches running tasks only), and "cancelling" says it has not stopped yet.
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    assert task.current_step == "cancelling"
    assert task.completed_at is not None
    assert not CaptionGenerationTask.objects.filter(pk=task.pk, status=TaskStatus.RUNNING).exists()
    assert CaptionGenerationTask.objects.get(pk=other.pk).status == TaskStatus.RUNNING

    logged = AuditLog.objects.get(action="caption_task.cancelled")
    assert logged.user == moderator
    assert logged.resource_id == str(task.pk)
    assert logged.details == {"from": TaskStatus.RUNNING}
