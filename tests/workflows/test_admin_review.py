"""The workflow review page of the admin (admin:workflows_workflow_review): every platform's draft
side by side, each button calling the review and publishing services; the links that lead to it;
progress and cancel; and the moderators' list actions."""

from datetime import UTC, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, Role
from accounts.services.users import user_set_role
from platforms.models import PlatformType
from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory
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
    PublishingJob,
    PublishingStatus,
    WorkflowStatus,
)

pytestmark = pytest.mark.django_db


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def with_role(role, *, staff=False):
    """A user of `role` (every role enters the admin; `staff` is kept for the callers that ask)."""
    user = user_set_role(user=UserFactory(), role=role)
    if staff and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def reviewer():
    return with_role(Role.REVIEWER)


@pytest.fixture
def workflow(reviewer):
    """A reviewer's own workflow: X awaiting review (second draft, based on the first), LinkedIn accepted."""
    workflow = WorkflowFactory(
        user=reviewer,
        status=WorkflowStatus.AWAITING_REVIEW,
        source_content={"text": "We shipped the new release today.", "title": "SOURCE-TITLE", "urls": []},
    )
    first = DraftFactory(workflow=workflow, platform=Platform.X, content="FIRST-DRAFT text. #a #b")
    EvaluationFactory(draft=first, score=58, feedback="too long")
    second = DraftFactory(
        workflow=workflow, platform=Platform.X, content="SECOND-DRAFT text. #a #b", based_on=first
    )
    EvaluationFactory(
        draft=second, score=77, feedback="CLEAR-FEEDBACK", criteria_scores={"clarity": 90, "grammar": 88}
    )
    PlatformStateFactory(
        workflow=workflow,
        platform=Platform.X,
        status=PlatformStatus.AWAITING_REVIEW,
        active_draft=second,
        iteration=1,
    )
    linkedin = DraftFactory(workflow=workflow, platform=Platform.LINKEDIN, content="LINKEDIN-DRAFT text.")
    PlatformStateFactory(
        workflow=workflow, platform=Platform.LINKEDIN, status=PlatformStatus.ACCEPTED, active_draft=linkedin
    )
    return workflow


def review_url(workflow) -> str:
    return reverse("admin:workflows_workflow_review", args=[workflow.pk])


def press(client, workflow, platform, action, **fields):
    data = {"platform": platform, "action": action}
    data.update({f"{platform}-{name}": value for name, value in fields.items()})
    return client.post(review_url(workflow), data)


def state_of(workflow, platform):
    return workflow.platform_states.select_related("active_draft").get(platform=platform)


def errors_of(response, platform) -> dict:
    panel = next(p for p in response.context["panels"] if p.state.platform == platform)
    return panel.form.errors


def page_messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


# --- the page ---------------------------------------------------------------------------------------


def test_the_page_shows_every_platform_side_by_side_with_score_history_and_lineage(reviewer, workflow):
    response = client_of(reviewer).get(review_url(workflow))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index('id="platform-linkedin"') < html.index('id="platform-x"')
    assert "SECOND-DRAFT text." in html and "LINKEDIN-DRAFT text." in html
    assert "77/100" in html and "CLEAR-FEEDBACK" in html
    assert "clarity" in html and 'value="90"' in html  # the criteria, each with a meter
    assert "FIRST-DRAFT text." in html and "score 58" in html  # history
    assert "SOURCE-TITLE" in html  # lineage: back to the source
    x = next(p for p in response.context["panels"] if p.state.platform == Platform.X)
    assert [d.content for d in x.lineage] == ["SECOND-DRAFT text. #a #b", "FIRST-DRAFT text. #a #b"]
    assert [value for value, _ in x.actions] == [
        "accept",
        "reject",
        "edit_and_refine",
        "edit_and_publish",
        "schedule",
    ]
    linkedin = next(p for p in response.context["panels"] if p.state.platform == Platform.LINKEDIN)
    assert "accept" not in dict(linkedin.actions), "an accepted draft cannot be accepted again"
    assert 'src="/static/workflows/review.js"' in html and "workflows/review.css" in html


def test_the_counter_shows_the_platforms_limit_as_the_service_counts(reviewer, workflow):
    response = client_of(reviewer).get(review_url(workflow))
    panels = {p.state.platform: p for p in response.context["panels"]}
    assert panels[Platform.X].limit == 280
    assert panels[Platform.LINKEDIN].limit == 3000
    assert panels[Platform.X].count == len("SECOND-DRAFT text. #a #b")
    assert 'data-limit="280"' in response.content.decode()


def test_a_mastodon_instances_own_limit_is_the_counters_limit(reviewer):
    workflow = WorkflowFactory(user=reviewer, status=WorkflowStatus.AWAITING_REVIEW)
    draft = DraftFactory(workflow=workflow, platform=Platform.MASTODON, content="Toot.")
    PlatformStateFactory(
        workflow=workflow,
        platform=Platform.MASTODON,
        status=PlatformStatus.AWAITING_REVIEW,
        active_draft=draft,
    )
    PlatformConnectionFactory(
        user=reviewer, platform_type=PlatformType.MASTODON, extra={"max_characters": 1000}
    )

    response = client_of(reviewer).get(review_url(workflow))

    assert response.context["panels"][0].limit == 1000
    # The service refuses by the same limit: 1001 characters are too many, 1000 are not.
    assert errors_of(
        press(client_of(reviewer), workflow, "mastodon", "edit_and_refine", content="x" * 1001), "mastodon"
    )


def test_a_bluesky_counter_counts_graphemes_as_the_service(reviewer):
    flag = "\U0001f1fa\U0001f1e6"  # one grapheme, two code points
    workflow = WorkflowFactory(user=reviewer, status=WorkflowStatus.AWAITING_REVIEW)
    draft = DraftFactory(workflow=workflow, platform=Platform.BLUESKY, content=f"Hello {flag}")
    PlatformStateFactory(
        workflow=workflow,
        platform=Platform.BLUESKY,
        status=PlatformStatus.AWAITING_REVIEW,
        active_draft=draft,
    )
    response = client_of(reviewer).get(review_url(workflow))
    (panel,) = response.context["panels"]
    assert (panel.limit, panel.count, panel.unit) == (300, 7, "graphemes")
    html = response.content.decode()
    assert 'data-limit="300" data-graphemes="true"' in html
    assert "/ 300 graphemes" in html
    # The service refuses by the same count: 301 flags are too many, 300 are not.
    assert errors_of(
        press(client_of(reviewer), workflow, "bluesky", "edit_and_refine", content=flag * 301), "bluesky"
    )


def test_a_missing_workflow_is_a_404(reviewer):
    response = client_of(reviewer).get(reverse("admin:workflows_workflow_review", args=["not-a-uuid"]))
    assert response.status_code == 404
    response = client_of(reviewer).get(
        reverse("admin:workflows_workflow_review", args=["7b0f4c1e-0000-4000-8000-000000000000"])
    )
    assert response.status_code == 404


def test_another_users_workflow_is_a_404_and_untouched(workflow):
    other = with_role(Role.USER)
    client = client_of(other)
    assert client.get(review_url(workflow)).status_code == 404
    assert press(client, workflow, "x", "accept").status_code == 404
    assert client.post(reverse("admin:workflows_workflow_cancel", args=[workflow.pk])).status_code == 404
    assert state_of(workflow, Platform.X).status == PlatformStatus.AWAITING_REVIEW


def test_reviewers_review_everyones_drafts_but_publish_and_cancel_only_their_own(workflow):
    # The draft review queue is everyone's for reviewers (docs/roles.md); publishing and cancelling
    # stay the owner's, as in the API.
    client = client_of(with_role(Role.REVIEWER))
    page = client.get(review_url(workflow))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="accept"' in html and 'value="edit_and_publish"' not in html
    assert press(client, workflow, "x", "edit_and_publish", content="Edited. #a #b").status_code == 403
    assert client.post(reverse("admin:workflows_workflow_cancel", args=[workflow.pk])).status_code == 404
    assert press(client, workflow, "x", "accept").status_code == 302
    assert state_of(workflow, Platform.X).status == PlatformStatus.ACCEPTED
    assert not PublishingJob.objects.exists()
    workflow.refresh_from_db()
    assert workflow.status != WorkflowStatus.CANCELLED


def test_moderators_review_everyones_workflows(workflow):
    client = client_of(with_role(Role.MODERATOR))
    assert client.get(review_url(workflow)).status_code == 200
    assert press(client, workflow, "x", "accept").status_code == 302
    assert state_of(workflow, Platform.X).status == PlatformStatus.ACCEPTED


# --- the buttons ------------------------------------------------------------------------------------


def test_accept(reviewer, workflow):
    response = press(client_of(reviewer), workflow, "x", "accept", content="SECOND-DRAFT text. #a #b")

    assert response.status_code == 302
    assert response["Location"].endswith("#platform-x")
    assert state_of(workflow, Platform.X).status == PlatformStatus.ACCEPTED
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.COMPLETED
    assert AuditLog.objects.filter(action="workflow.reviewed", details__action="accept").exists()


def test_reject_keeps_the_reason(reviewer, workflow):
    response = press(client_of(reviewer), workflow, "x", "reject", feedback="Off-brand.")

    assert response.status_code == 302
    assert state_of(workflow, Platform.X).status == PlatformStatus.REJECTED
    checkpoint = workflow.checkpoints.get(step="review_reject")
    assert checkpoint.metadata["feedback"] == "Off-brand."
    page = client_of(reviewer).get(review_url(workflow)).content.decode()
    assert "Off-brand." in page  # shown under "Feedback given"


def test_edit_and_refine_sends_the_edit_and_feedback_to_the_engine(
    reviewer, workflow, django_capture_on_commit_callbacks, settings
):
    settings.AI_BACKEND = "builtin"
    with django_capture_on_commit_callbacks(execute=True):
        response = press(
            client_of(reviewer),
            workflow,
            "x",
            "edit_and_refine",
            content="Hand-edited release note.\r\nSecond line. #release",
            feedback="Mention the date.",
        )

    assert response.status_code == 302
    human = Draft.objects.get(workflow=workflow, source=DraftSource.HUMAN)
    assert human.content == "Hand-edited release note.\nSecond line. #release", (
        "CRLF from the browser is one break"
    )
    assert human.created_by == reviewer
    assert workflow.checkpoints.get(step="review_edit_and_refine").metadata["feedback"] == "Mention the date."
    state = state_of(workflow, Platform.X)
    # The engine ran (django-q sync in tests) and wrote a new AI draft from the human one.
    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert state.active_draft.source == DraftSource.AI
    assert state.active_draft.created_at >= human.created_at


def blog_connection(user):
    return PlatformConnectionFactory(
        user=user, platform_type=PlatformType.WEBHOOK, instance_url="https://blog.example.test/hooks/blog"
    )


def test_edit_and_publish_saves_the_edit_then_queues_the_publication(
    reviewer, workflow, django_capture_on_commit_callbacks
):
    PlatformConnectionFactory(user=reviewer, platform_type=PlatformType.X)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = press(client_of(reviewer), workflow, "x", "edit_and_publish", content="Edited. #a #b")

    assert response.status_code == 302
    state = state_of(workflow, Platform.X)
    assert state.status == PlatformStatus.ACCEPTED
    assert (state.active_draft.source, state.active_draft.content) == (DraftSource.HUMAN, "Edited. #a #b")
    job = PublishingJob.objects.get(workflow=workflow, platform=Platform.X)
    assert (job.status, job.draft, job.scheduled_for) == (PublishingStatus.QUEUED, state.active_draft, None)
    assert callbacks, "the publish task is queued on commit, as the API does"


def test_publish_an_unchanged_draft_accepts_it_without_a_copy(reviewer, workflow):
    PlatformConnectionFactory(user=reviewer, platform_type=PlatformType.X)
    press(client_of(reviewer), workflow, "x", "edit_and_publish", content="SECOND-DRAFT text. #a #b\r\n")

    state = state_of(workflow, Platform.X)
    assert state.status == PlatformStatus.ACCEPTED
    assert state.active_draft.content == "SECOND-DRAFT text. #a #b"
    assert not Draft.objects.filter(source=DraftSource.HUMAN).exists()
    assert PublishingJob.objects.filter(workflow=workflow, platform=Platform.X).exists()


def test_publish_refused_by_the_service_leaves_the_edit_unsaved(reviewer, workflow):
    # No connection can publish to X: the publishing service refuses, so the edit is rolled back.
    response = press(client_of(reviewer), workflow, "x", "edit_and_publish", content="Edited. #a #b")

    assert response.status_code == 200
    assert not Draft.objects.filter(source=DraftSource.HUMAN).exists()
    state = state_of(workflow, Platform.X)
    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert not PublishingJob.objects.exists()
    assert any("Connect an account" in str(e) for e in errors_of(response, "x").get("__all__", []))


def test_schedule_takes_the_users_local_time_and_stores_utc(reviewer, workflow, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    PlatformConnectionFactory(user=reviewer, platform_type=PlatformType.LINKEDIN)
    local = timezone.localtime(timezone.now() + timedelta(days=2)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )

    response = press(
        client_of(reviewer),
        workflow,
        "linkedin",
        "schedule",
        content="LINKEDIN-DRAFT text.",
        scheduled_for=local.strftime("%Y-%m-%dT%H:%M"),
    )

    assert response.status_code == 302
    job = PublishingJob.objects.get(workflow=workflow, platform=Platform.LINKEDIN)
    assert job.status == PublishingStatus.SCHEDULED
    assert job.scheduled_for == local
    in_utc = job.scheduled_for.astimezone(UTC)
    assert (in_utc.hour, in_utc.minute) in {(7, 30), (8, 30)}, "09:30 in Berlin is 07:30 or 08:30 UTC"


@pytest.mark.parametrize(
    ("scheduled_for", "problem"),
    [("", "Give the date and time"), ("2001-01-01T09:00", "in the past"), ("tomorrow", "Enter a valid")],
)
def test_a_bad_schedule_is_a_form_error_and_nothing_changes(reviewer, workflow, scheduled_for, problem):
    PlatformConnectionFactory(user=reviewer, platform_type=PlatformType.LINKEDIN)
    response = press(
        client_of(reviewer),
        workflow,
        "linkedin",
        "schedule",
        content="Changed text.",
        scheduled_for=scheduled_for,
    )

    assert response.status_code == 200
    assert any(problem in message for message in errors_of(response, "linkedin")["scheduled_for"])
    assert not PublishingJob.objects.exists()
    assert not Draft.objects.filter(source=DraftSource.HUMAN).exists()


def test_an_edit_over_the_limit_is_a_form_error_next_to_the_draft(reviewer, workflow):
    response = press(client_of(reviewer), workflow, "x", "edit_and_refine", content="x" * 281)

    assert response.status_code == 200
    assert "X allows 280" in " ".join(errors_of(response, "x")["content"])
    assert 'class="errorlist' in response.content.decode()
    assert state_of(workflow, Platform.X).status == PlatformStatus.AWAITING_REVIEW
    assert not Draft.objects.filter(source=DraftSource.HUMAN).exists()


def test_emoji_count_as_one_character_each_like_the_counter(reviewer, workflow):
    text = "🎉" * 280  # 280 code points, 560 UTF-16 units
    response = press(client_of(reviewer), workflow, "x", "edit_and_refine", content=f"  {text}\n")
    assert response.status_code == 302
    assert Draft.objects.get(source=DraftSource.HUMAN).content == text


def test_a_domain_error_is_a_message_and_nothing_changes(reviewer, workflow):
    PublishingJobFactory(
        workflow=workflow,
        platform=Platform.LINKEDIN,
        draft=state_of(workflow, Platform.LINKEDIN).active_draft,
        status=PublishingStatus.SCHEDULED,
        scheduled_for=timezone.now() + timedelta(days=1),
    )
    response = press(client_of(reviewer), workflow, "linkedin", "reject", feedback="No.")

    assert response.status_code == 200
    assert [level for level, _ in page_messages(response)] == ["error"]
    assert state_of(workflow, Platform.LINKEDIN).status == PlatformStatus.ACCEPTED


def test_an_unknown_button_or_platform_changes_nothing(reviewer, workflow):
    client = client_of(reviewer)
    assert press(client, workflow, "x", "delete_everything").status_code == 200
    assert client.post(review_url(workflow), {"platform": "blog", "action": "accept"}).status_code == 404
    assert state_of(workflow, Platform.X).status == PlatformStatus.AWAITING_REVIEW


# --- permissions ------------------------------------------------------------------------------------


def test_a_viewer_reads_the_page_without_buttons_and_cannot_post():
    viewer = with_role(Role.VIEWER, staff=True)
    workflow = WorkflowFactory(user=viewer, status=WorkflowStatus.AWAITING_REVIEW)
    draft = DraftFactory(workflow=workflow, platform=Platform.X, content="VIEWER-DRAFT text.")
    PlatformStateFactory(
        workflow=workflow, platform=Platform.X, status=PlatformStatus.AWAITING_REVIEW, active_draft=draft
    )
    client = client_of(viewer)

    response = client.get(review_url(workflow))
    assert response.status_code == 200
    html = response.content.decode()
    assert "VIEWER-DRAFT text." in html
    assert 'name="action"' not in html and "You may read this draft but not review it." in html
    assert press(client, workflow, "x", "accept").status_code == 403
    assert state_of(workflow, Platform.X).status == PlatformStatus.AWAITING_REVIEW


def test_an_owner_reviews_their_own_drafts_as_the_api_allows():
    owner = with_role(Role.USER, staff=True)
    workflow = WorkflowFactory(user=owner, status=WorkflowStatus.AWAITING_REVIEW)
    draft = DraftFactory(workflow=workflow, platform=Platform.X, content="Own draft.")
    PlatformStateFactory(
        workflow=workflow, platform=Platform.X, status=PlatformStatus.AWAITING_REVIEW, active_draft=draft
    )
    assert press(client_of(owner), workflow, "x", "accept").status_code == 302
    assert state_of(workflow, Platform.X).status == PlatformStatus.ACCEPTED


def test_publishing_needs_the_publishing_permission(reviewer, workflow):
    from django.contrib.auth.models import Permission

    PlatformConnectionFactory(user=reviewer, platform_type=PlatformType.X)
    reviewer.user_permissions.add(Permission.objects.get(codename="review_platformstate"))
    for group in reviewer.groups.all():
        reviewer.groups.remove(group)
    reviewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_workflow", "change_workflow"])
    )
    reviewer = type(reviewer).objects.get(pk=reviewer.pk)

    response = press(client_of(reviewer), workflow, "x", "edit_and_publish", content="Edited. #a #b")

    assert response.status_code == 403
    assert not PublishingJob.objects.exists()
    assert state_of(workflow, Platform.X).status == PlatformStatus.AWAITING_REVIEW


# --- the links that lead here -------------------------------------------------------------------------


def test_the_workflow_list_has_a_review_column_with_the_count(reviewer, workflow, admin_client):
    idle = WorkflowFactory(status=WorkflowStatus.COMPLETED)
    response = admin_client.get(reverse("admin:workflows_workflow_changelist"))

    html = response.content.decode()
    assert f'href="{review_url(workflow)}">Review (1)</a>' in html
    assert f'href="{review_url(idle)}">Drafts</a>' in html
    assert response.context["cl"].list_display[:3] == ["action_checkbox", "id_short", "review_link"]


def test_platform_state_rows_open_the_review_page(workflow, admin_client):
    url = reverse("admin:workflows_platformstate_changelist")
    response = admin_client.get(url, {"status__exact": PlatformStatus.AWAITING_REVIEW})

    html = response.content.decode()
    target = f"{review_url(workflow)}#platform-x"
    assert f'href="{target}"' in html
    assert reverse("admin:workflows_platformstate_change", args=[state_of(workflow, "x").pk]) not in html


def test_the_dashboards_drafts_link_lists_rows_that_open_the_review_page(workflow, admin_client, admin_user):
    from console.dashboard import admin_attention_items

    (item,) = [
        i
        for i in admin_attention_items(user=admin_user, now=timezone.now())
        if i.label == "Drafts awaiting review"
    ]
    html = admin_client.get(item.url).content.decode()
    assert f'href="{review_url(workflow)}#platform-x"' in html


def test_the_old_platform_review_url_redirects_to_the_workflow_page(workflow, admin_client):
    state = state_of(workflow, Platform.X)
    response = admin_client.get(reverse("admin:workflows_platformstate_review", args=[state.pk]))
    assert response.status_code == 302
    assert response["Location"] == f"{review_url(workflow)}#platform-x"


def test_the_workflow_page_has_a_review_drafts_button(workflow, admin_client):
    response = admin_client.get(reverse("admin:workflows_workflow_change", args=[workflow.pk]))
    html = response.content.decode()
    assert f'<a href="{review_url(workflow)}" class="wf-review-drafts">Review drafts</a>' in html


# --- progress and cancel ------------------------------------------------------------------------------


def test_progress_is_json_with_percent_and_step(reviewer):
    workflow = WorkflowFactory(user=reviewer, status=WorkflowStatus.RUNNING)
    PlatformStateFactory(
        workflow=workflow, platform=Platform.X, status=PlatformStatus.EVALUATING, iteration=1
    )
    PlatformStateFactory(workflow=workflow, platform=Platform.BLOG, status=PlatformStatus.AWAITING_REVIEW)
    url = reverse("admin:workflows_workflow_progress", args=[workflow.pk])

    progress = client_of(reviewer).get(url).json()

    assert progress["running"] is True
    assert progress["percent"] == round(100 * (1 + 2 / 3) / 2)
    assert progress["step"] == "X: scoring draft 2"
    assert [p["status"] for p in progress["platforms"]] == ["awaiting_review", "evaluating"]
    page = client_of(reviewer).get(review_url(workflow)).content.decode()
    assert f'data-progress-url="{url}"' in page
    assert client_of(with_role(Role.USER)).get(url).status_code == 404  # another user's


def test_cancel_from_the_page(reviewer):
    workflow = WorkflowFactory(user=reviewer, status=WorkflowStatus.RUNNING)
    PlatformStateFactory(workflow=workflow, platform=Platform.X, status=PlatformStatus.GENERATING)
    url = reverse("admin:workflows_workflow_cancel", args=[workflow.pk])
    client = client_of(reviewer)

    assert url in client.get(review_url(workflow)).content.decode()
    assert client.get(url).status_code == 405
    response = client.post(url, {"next": review_url(workflow)})

    assert response.status_code == 302 and response["Location"] == review_url(workflow)
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.CANCELLED
    again = client.post(url, follow=True)
    assert again.status_code == 200


def test_a_viewer_cannot_cancel():
    viewer = with_role(Role.VIEWER, staff=True)
    workflow = WorkflowFactory(user=viewer, status=WorkflowStatus.RUNNING)
    response = client_of(viewer).post(reverse("admin:workflows_workflow_cancel", args=[workflow.pk]))
    assert response.status_code == 403
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.RUNNING


# --- list actions (unchanged) -----------------------------------------------------------------------


def test_moderators_cancel_workflows(workflow):
    url = reverse("admin:workflows_workflow_changelist")
    response = client_of(with_role(Role.MODERATOR)).post(
        url, {"action": "cancel_selected", "_selected_action": [workflow.pk]}, follow=True
    )
    assert response.status_code == 200
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.CANCELLED


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
    client = client_of(with_role(Role.MODERATOR))
    url = reverse("admin:workflows_publishingjob_changelist")

    client.post(
        url, {"action": "cancel_selected", "_selected_action": [scheduled.pk, failed.pk]}, follow=True
    )
    client.post(url, {"action": "retry_selected", "_selected_action": [failed.pk]}, follow=True)

    scheduled.refresh_from_db()
    failed.refresh_from_db()
    assert scheduled.status == PublishingStatus.CANCELLED
    assert failed.status == PublishingStatus.QUEUED


def test_the_page_costs_the_same_queries_however_many_drafts(
    reviewer, workflow, django_assert_max_num_queries
):
    client = client_of(reviewer)
    client.get(review_url(workflow))  # sessions, permissions and content types cached
    with django_assert_max_num_queries(20) as first:
        client.get(review_url(workflow))
    for index in range(6):
        draft = DraftFactory(workflow=workflow, platform=Platform.X, content=f"Older draft {index}.")
        EvaluationFactory(draft=draft)
    with django_assert_max_num_queries(len(first.captured_queries)):
        response = client.get(review_url(workflow))
    assert "Older draft 5." in response.content.decode()


def test_publishing_an_emptied_editor_is_a_form_error(reviewer, workflow):
    PlatformConnectionFactory(user=reviewer, platform_type=PlatformType.X)
    response = press(client_of(reviewer), workflow, "x", "edit_and_publish", content="  \r\n")

    assert response.status_code == 200
    assert errors_of(response, "x")["content"] == ["Give the edited draft's text."]
    assert state_of(workflow, Platform.X).status == PlatformStatus.AWAITING_REVIEW
    assert not PublishingJob.objects.exists()
