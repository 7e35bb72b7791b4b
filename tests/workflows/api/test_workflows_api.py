"""/api/v1/workflows/: create, list, detail, review, cancel."""

import pytest

from accounts.models import AuditLog, Role
from tests.factories.accounts import UserFactory
from tests.factories.workflows import (
    DraftFactory,
    EvaluationFactory,
    PlatformStateFactory,
    ResourceFactory,
    WorkflowFactory,
)
from tests.isolation import OwnedEndpoint, assert_isolated, client_for
from tests.workflows.api.conftest import error_fields
from workflows.models import (
    DraftSource,
    Platform,
    PlatformState,
    PlatformStatus,
    Workflow,
    WorkflowStatus,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows/"
CREATE = {"mode": "manual", "source_content": {"text": "We shipped version 2 today."}, "platforms": ["x"]}


def reviewable(user, platform=Platform.X, **state):
    workflow = WorkflowFactory(user=user, status=WorkflowStatus.AWAITING_REVIEW)
    draft = DraftFactory(workflow=workflow, platform=platform, content="Version 2 is out. #release #python")
    EvaluationFactory(draft=draft, score=81)
    PlatformStateFactory(
        workflow=workflow,
        platform=platform,
        status=state.pop("status", PlatformStatus.AWAITING_REVIEW),
        active_draft=draft,
        **state,
    )
    return workflow


def test_isolation():
    assert_isolated(
        OwnedEndpoint(
            list_url=URL, make=lambda user: WorkflowFactory(user=user), create=CREATE, deletable=False
        )
    )


@pytest.mark.parametrize("suffix", ["review/", "cancel/"])
def test_a_strangers_workflow_is_a_404_for_every_action(api, suffix):
    theirs = reviewable(UserFactory())
    response = api.post(f"{URL}{theirs.pk}/{suffix}", {"platform": "x", "action": "accept"}, format="json")
    assert response.status_code == 404
    assert PlatformState.objects.get(workflow=theirs).status == PlatformStatus.AWAITING_REVIEW


def test_create_returns_at_once_with_one_pending_state_per_platform(api, user):
    body = {
        "mode": "manual",
        "source_content": {
            "text": "Our team shipped version 2 of the app. It is twice as fast.",
            "title": "Version 2",
            "urls": ["https://example.com/release"],
        },
        "manual_options": {"tone": "friendly", "length": "short", "hashtags": ["release"]},
        "platforms": ["linkedin", "x", "blog", "mastodon"],
    }
    response = api.post(URL, body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == WorkflowStatus.RUNNING
    assert data["title"] == "Version 2"
    assert {p["platform"]: p["status"] for p in data["platforms"]} == dict.fromkeys(
        ["blog", "linkedin", "mastodon", "x"], PlatformStatus.PENDING
    )
    workflow = Workflow.objects.get(pk=data["id"])
    assert workflow.user == user
    assert workflow.manual_options["hashtags"] == ["release"]
    assert AuditLog.objects.filter(action="workflow.created", resource_id=str(workflow.pk)).exists()


def test_create_in_template_mode(api):
    response = api.get(f"{URL}templates/")
    assert response.status_code == 200
    template = response.json()[0]
    fields = {
        field["name"]: "https://example.com/launch" if field["kind"] == "url" else "Some value"
        for field in template["fields"]
        if field["required"]
    }

    response = api.post(
        URL,
        {
            "mode": "template",
            "template_input": {"template": template["name"], "fields": fields},
            "platforms": ["x"],
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["template_input"]["template"] == template["name"]
    assert response.json()["source_content"]["text"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**CREATE, "platforms": []}, "platforms"),
        ({**CREATE, "platforms": ["myspace"]}, "platforms.0"),
        ({**CREATE, "mode": "freestyle"}, "mode"),
        ({**CREATE, "source_content": {"title": "no text"}}, "source_content.text"),
        ({**CREATE, "manual_options": {"length": "epic"}}, "manual_options.length"),
        ({**CREATE, "manual_options": {"colour": "red"}}, "manual_options.colour"),
        ({**CREATE, "manual_options": {"hashtags": 3}}, "manual_options.hashtags"),
        ({**CREATE, "resource_ids": ["not-a-uuid"]}, "resource_ids.0"),
        ({"mode": "template", "template_input": {"template": "no-such-template"}, "platforms": ["x"]}, None),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(api, body, field):
    response = api.post(URL, body, format="json")

    assert response.status_code == 400, response.content
    if field is not None:
        assert field in error_fields(response)
    assert not Workflow.objects.exists()


def test_another_users_resource_cannot_be_used(api):
    theirs = ResourceFactory()
    response = api.post(URL, {**CREATE, "resource_ids": [str(theirs.pk)]}, format="json")
    assert response.status_code == 400
    assert any(field.startswith("resource_ids") for field in error_fields(response))
    assert not Workflow.objects.exists()


def test_list_filters_by_status_and_platform_status(api, user):
    waiting = reviewable(user)
    WorkflowFactory(user=user, status=WorkflowStatus.COMPLETED)

    by_status = api.get(URL, {"status": "awaiting_review"}).json()["results"]
    by_platform = api.get(URL, {"platform_status": "awaiting_review"}).json()["results"]

    assert [row["id"] for row in by_status] == [str(waiting.pk)]
    assert [row["id"] for row in by_platform] == [str(waiting.pk)]
    assert api.get(URL, {"status": "nonsense"}).status_code == 400


def test_detail_shows_each_platforms_active_draft_and_latest_evaluation(api, user):
    workflow = reviewable(user)
    draft = workflow.platform_states.get().active_draft
    EvaluationFactory(draft=draft, score=90, feedback="Newest")

    data = api.get(f"{URL}{workflow.pk}/").json()

    (platform,) = data["platforms"]
    assert platform["active_draft"]["id"] == str(draft.pk)
    assert platform["latest_evaluation"]["score"] == 90
    assert platform["latest_evaluation"]["feedback"] == "Newest"


def test_detail_costs_the_same_number_of_queries_for_one_platform_or_four(api, user, count_queries):
    one = reviewable(user)
    four = reviewable(user)
    for platform in (Platform.LINKEDIN, Platform.BLOG, Platform.MASTODON):
        draft = DraftFactory(workflow=four, platform=platform)
        EvaluationFactory(draft=draft)
        EvaluationFactory(draft=draft)
        PlatformStateFactory(workflow=four, platform=platform, active_draft=draft)

    first, few = count_queries(lambda: api.get(f"{URL}{one.pk}/"))
    second, many = count_queries(lambda: api.get(f"{URL}{four.pk}/"))

    assert first.status_code == second.status_code == 200
    assert len(second.json()["platforms"]) == 4
    assert few == many


def test_list_costs_the_same_number_of_queries_for_any_page_size(api, user, count_queries):
    reviewable(user)
    _, few = count_queries(lambda: api.get(URL))
    for _ in range(5):
        reviewable(user, platform=Platform.LINKEDIN)
    response, many = count_queries(lambda: api.get(URL))
    assert len(response.json()["results"]) == 6
    assert few == many


def test_accepting_a_draft(api, user):
    workflow = reviewable(user)

    response = api.post(f"{URL}{workflow.pk}/review/", {"platform": "x", "action": "accept"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["platforms"][0]["status"] == PlatformStatus.ACCEPTED
    assert response.json()["status"] == WorkflowStatus.COMPLETED


def test_edit_and_publish_makes_a_human_draft(api, user):
    workflow = reviewable(user)
    before = workflow.platform_states.get().active_draft

    response = api.post(
        f"{URL}{workflow.pk}/review/",
        {"platform": "x", "action": "edit_and_publish", "content": "Version 2 is here. #release #python"},
        format="json",
    )

    assert response.status_code == 200, response.content
    active = response.json()["platforms"][0]["active_draft"]
    assert active["source"] == DraftSource.HUMAN
    assert active["based_on"] == str(before.pk)
    assert active["content"] == "Version 2 is here. #release #python"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "x", "action": "shrug"}, "action"),
        ({"platform": "tiktok", "action": "accept"}, "platform"),
        ({"platform": "x", "action": "edit_and_publish"}, "content"),
        ({"platform": "x", "action": "edit_and_publish", "content": "x" * 281}, "content"),
    ],
)
def test_bad_review_input_is_a_400(api, user, body, field):
    workflow = reviewable(user)
    response = api.post(f"{URL}{workflow.pk}/review/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_fields(response)
    assert workflow.platform_states.get().status == PlatformStatus.AWAITING_REVIEW


def test_reviewing_a_platform_that_is_not_awaiting_review_is_a_409(api, user):
    workflow = reviewable(user, status=PlatformStatus.GENERATING)
    response = api.post(f"{URL}{workflow.pk}/review/", {"platform": "x", "action": "accept"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"


def test_cancel(api, user):
    workflow = reviewable(user)
    response = api.post(f"{URL}{workflow.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == WorkflowStatus.CANCELLED


def test_viewers_read_but_cannot_review_or_cancel():
    viewer = UserFactory(role=Role.VIEWER)
    workflow = reviewable(viewer)
    client = client_for(viewer)
    assert client.get(f"{URL}{workflow.pk}/").status_code == 200
    assert (
        client.post(f"{URL}{workflow.pk}/review/", {"platform": "x", "action": "accept"}).status_code == 403
    )
    assert client.post(f"{URL}{workflow.pk}/cancel/").status_code == 403


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.ADMIN])
def test_moderators_and_admins_review_everyones_workflows(role):
    workflow = reviewable(UserFactory())
    client = client_for(UserFactory(role=role))
    response = client.post(
        f"{URL}{workflow.pk}/review/", {"platform": "x", "action": "reject"}, format="json"
    )
    assert response.status_code == 200
    assert workflow.platform_states.get().status == PlatformStatus.REJECTED


def test_reviewers_read_and_review_everyones_workflows_but_cancel_and_publish_only_their_own():
    # The draft review queue is everyone's for reviewers (docs/roles.md), as in the admin.
    workflow = reviewable(UserFactory())
    reviewer = client_for(UserFactory(role=Role.REVIEWER))

    assert str(workflow.pk) in {row["id"] for row in reviewer.get(URL).json()["results"]}
    assert reviewer.get(f"{URL}{workflow.pk}/").status_code == 200
    assert str(workflow.pk) in {
        row["workflow"] for row in reviewer.get("/api/v1/workflows/drafts/").json()["results"]
    }
    assert reviewer.post(f"{URL}{workflow.pk}/cancel/").status_code == 404
    publish = reviewer.post(
        "/api/v1/workflows/publishing-jobs/", {"workflow": str(workflow.pk), "platform": "x"}, format="json"
    )
    assert publish.status_code == 400
    assert "workflow" in error_fields(publish)
    response = reviewer.post(
        f"{URL}{workflow.pk}/review/", {"platform": "x", "action": "reject"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert workflow.platform_states.get().status == PlatformStatus.REJECTED
    workflow.refresh_from_db()
    assert workflow.status != WorkflowStatus.CANCELLED


def test_stats_count_only_what_the_caller_sees(api, user):
    reviewable(user)
    reviewable(UserFactory())
    data = api.get(f"{URL}stats/").json()
    assert data["workflows"]["awaiting_review"] == 1
    assert data["platforms_awaiting_review"] == 1


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("2026-01-01T00:00:00-22:18", 200),  # Python accepts the offset, PostgreSQL would not
        ("0001-01-01T00:00:00+05:00", 400),  # before year 1 once in UTC
        ("yesterday", 400),
    ],
)
def test_date_filters_take_any_iso_offset_without_a_database_error(api, user, value, status):
    WorkflowFactory(user=user)
    response = api.get(URL, {"created_after": value})
    assert response.status_code == status, response.content
    if status == 400:
        assert "created_after" in error_fields(response)
