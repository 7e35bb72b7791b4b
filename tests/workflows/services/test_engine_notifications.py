# ruff: noqa: F811  (fixtures imported from the neighbouring test module)
"""A draft that reaches review tells the workflow's owner, once per draft, on each channel they chose."""

import pytest
from django.core import mail

from accounts.models import Notification, NotificationEvent
from accounts.services.notifications import notification_preferences_set
from tests.workflows.services.test_engine import drive, pending_state, queued, scripted  # noqa: F401
from workflows.models import PlatformStatus
from workflows.services import engine

pytestmark = pytest.mark.django_db


def test_a_draft_awaiting_review_is_told_once_per_draft(scripted, django_capture_on_commit_callbacks):
    scripted(scores=[60, 85])
    state = pending_state()
    owner = state.workflow.user
    notification_preferences_set(user=owner, choices={"drafts_awaiting_review": {"email": True}})
    with django_capture_on_commit_callbacks(execute=True):
        state = drive(state)
        engine.platform_step_run(state_id=state.pk)  # a redelivered step finds nothing to do
    assert state.status == PlatformStatus.AWAITING_REVIEW
    [told] = Notification.objects.filter(event=NotificationEvent.DRAFTS_AWAITING_REVIEW)
    assert told.user == owner and told.key == f"{state.pk}:{state.active_draft_id}"
    assert told.url == f"/admin/workflows/workflow/{state.workflow_id}/review/"
    assert "iteration 2" in told.body
    assert len(mail.outbox) == 1 and "awaits your review" in mail.outbox[0].subject
