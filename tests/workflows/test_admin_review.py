"""The admin's draft review page and the moderators' actions on workflows and publishing jobs."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from accounts.services.users import user_set_role
from tests.factories.accounts import UserFactory
from tests.factories.workflows import (
    DraftFactory,
    EvaluationFactory,
    PlatformStateFactory,
    PublishingJobFactory,
    WorkflowFactory,
)
from workflows.models import (
    Draft,
    DraftSource,
    Platform,
    PlatformStatus,
    PublishingStatus,
    WorkflowStatus,
)

pytestmark = pytest.mark.django_db


def client_of(role) -> Client:
    client = Client()
    client.force_login(user_set_role(user=UserFactory(), role=role))
    return client


@pytest.fixture
def state():
    workflow = WorkflowFactory(status=WorkflowStatus.AWAITING_REVIEW)
    first = DraftFactory(workflow=workflow, platform=Platform.X, content="FIRST-DRAFT text. #a #b")
    EvaluationFactory(draft=first, score=58, feedback="too long")
    second = DraftFactory(
        workflow=workflow, platform=Platform.X, content="SECOND-DRAFT text. #a #b", based_on=first
    )
    EvaluationFactory(
        draft=second,
        score=77,
        feedback="CLEAR-FEEDBACK",
        criteria_scores={"clarity": 90, "grammar": 88},
    )
    return PlatformStateFactory(
        workflow=workflow,
        platform=Platform.X,
        status=PlatformStatus.AWAITING_REVIEW,
        active_draft=second,
        iteration=1,
    )


def review_url(state) -> str:
    return reverse("admin:workflows_platformstate_review", args=[state.pk])


def test_the_review_page_shows_draft_evaluation_and_history_side_by_side(state):
    response = client_of(Role.REVIEWER).get(review_url(state))

    assert response.status_code == 200
    html = response.content.decode()
    assert "SECOND-DRAFT text." in html
    assert "77/100" in html
    assert "CLEAR-FEEDBACK" in html
    assert "clarity" in html
    assert "FIRST-DRAFT text." in html  # history
    assert "score 58" in html
    assert 'value="accept"' in html


def test_a_reviewer_accepts_from_the_review_page(state):
    response = client_of(Role.REVIEWER).post(
        review_url(state), {"action": "accept", "content": "", "feedback": ""}
    )

    assert response.status_code == 302
    state.refresh_from_db()
    assert state.status == PlatformStatus.ACCEPTED
    state.workflow.refresh_from_db()
    assert state.workflow.status == WorkflowStatus.COMPLETED


def test_edit_and_publish_from_the_review_page_makes_a_human_draft(state):
    reviewer = user_set_role(user=UserFactory(), role=Role.REVIEWER)
    client = Client()
    client.force_login(reviewer)

    response = client.post(
        review_url(state), {"action": "edit_and_publish", "content": "Edited by hand. #a #b", "feedback": ""}
    )

    assert response.status_code == 302
    state.refresh_from_db()
    assert state.status == PlatformStatus.ACCEPTED
    assert state.active_draft.source == DraftSource.HUMAN
    assert state.active_draft.created_by == reviewer
    assert state.active_draft.content == "Edited by hand. #a #b"


def test_a_bad_edit_is_a_form_error_and_changes_nothing(state):
    response = client_of(Role.REVIEWER).post(
        review_url(state), {"action": "edit_and_publish", "content": "x" * 400, "feedback": ""}
    )

    assert response.status_code == 200
    assert response.context["form"].errors
    state.refresh_from_db()
    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert not Draft.objects.filter(source=DraftSource.HUMAN).exists()


def test_a_wrong_state_is_an_error_message(state):
    state.status = PlatformStatus.GENERATING
    state.save(update_fields=["status"])
    response = client_of(Role.REVIEWER).post(review_url(state), {"action": "accept"}, follow=True)
    assert any(message.level_tag == "error" for message in response.context["messages"])
    state.refresh_from_db()
    assert state.status == PlatformStatus.GENERATING


def test_users_without_the_review_permission_cannot_review(state):
    # The owner (who may view the state) but staff without the review permission (no role group).
    user = state.workflow.user
    type(user).objects.filter(pk=user.pk).update(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_platformstate"))
    client = Client()
    client.force_login(user)
    response = client.post(review_url(state), {"action": "accept"})
    assert response.status_code in {302, 403}
    state.refresh_from_db()
    assert state.status == PlatformStatus.AWAITING_REVIEW


def test_the_workflow_page_links_to_the_review_page(state, admin_client):
    response = admin_client.get(reverse("admin:workflows_workflow_change", args=[state.workflow_id]))
    assert review_url(state) in response.content.decode()


def test_moderators_cancel_workflows(state):
    url = reverse("admin:workflows_workflow_changelist")
    response = client_of(Role.MODERATOR).post(
        url, {"action": "cancel_selected", "_selected_action": [state.workflow_id]}, follow=True
    )
    assert response.status_code == 200
    state.workflow.refresh_from_db()
    assert state.workflow.status == WorkflowStatus.CANCELLED


def test_moderators_cancel_scheduled_jobs_and_retry_failed_ones():
    scheduled = PublishingJobFactory(status=PublishingStatus.SCHEDULED, scheduled_for=timezone.now())
    failed = PublishingJobFactory(
        platform=Platform.X, status=PublishingStatus.FAILED, error_message="HTTP 503"
    )
    PlatformStateFactory(
        workflow=failed.workflow,
        platform=Platform.X,
        status=PlatformStatus.ACCEPTED,
        active_draft=failed.draft,
    )
    client = client_of(Role.MODERATOR)
    url = reverse("admin:workflows_publishingjob_changelist")

    client.post(
        url, {"action": "cancel_selected", "_selected_action": [scheduled.pk, failed.pk]}, follow=True
    )
    client.post(url, {"action": "retry_selected", "_selected_action": [failed.pk]}, follow=True)

    scheduled.refresh_from_db()
    failed.refresh_from_db()
    assert scheduled.status == PublishingStatus.CANCELLED
    assert failed.status == PublishingStatus.QUEUED
