"""/api/v1/workflows/drafts/ (read-only history) and /api/v1/workflows/resources/."""

import pytest

from tests.factories.workflows import DraftFactory, EvaluationFactory, ResourceFactory, WorkflowFactory
from tests.isolation import OwnedEndpoint, assert_isolated
from tests.workflows.api.conftest import error_fields
from workflows.models import DraftSource, Platform, Resource, ResourceType

pytestmark = pytest.mark.django_db

DRAFTS = "/api/v1/workflows/drafts/"
RESOURCES = "/api/v1/workflows/resources/"


def test_drafts_isolation():
    assert_isolated(
        OwnedEndpoint(list_url=DRAFTS, make=lambda user: DraftFactory(workflow__user=user), deletable=False)
    )


def test_drafts_are_read_only(api, user):
    draft = DraftFactory(workflow__user=user)
    assert api.patch(f"{DRAFTS}{draft.pk}/", {"content": "changed"}, format="json").status_code == 405
    assert api.delete(f"{DRAFTS}{draft.pk}/").status_code == 405
    assert api.post(DRAFTS, {"content": "new"}, format="json").status_code == 405


def test_drafts_filter_by_workflow_platform_and_source_with_evaluations(api, user):
    workflow = WorkflowFactory(user=user)
    ai = DraftFactory(workflow=workflow, platform=Platform.X, content="First #a #b")
    EvaluationFactory(draft=ai, score=55)
    EvaluationFactory(draft=ai, score=65)
    human = DraftFactory(workflow=workflow, platform=Platform.X, source=DraftSource.HUMAN, based_on=ai)
    DraftFactory(workflow=workflow, platform=Platform.BLOG)
    DraftFactory(workflow__user=user, platform=Platform.X)

    rows = api.get(DRAFTS, {"workflow": str(workflow.pk), "platform": "x"}).json()["results"]
    assert {row["id"] for row in rows} == {str(ai.pk), str(human.pk)}
    first = next(row for row in rows if row["id"] == str(ai.pk))
    assert [e["score"] for e in first["evaluations"]] == [65, 55]
    assert first["character_count"] == len("First #a #b")

    humans = api.get(DRAFTS, {"workflow": str(workflow.pk), "source": "human"}).json()["results"]
    assert [row["based_on"] for row in humans] == [str(ai.pk)]
    assert api.get(DRAFTS, {"workflow": "nope"}).status_code == 400


def test_resources_isolation():
    assert_isolated(
        OwnedEndpoint(
            list_url=RESOURCES,
            make=lambda user: ResourceFactory(user=user),
            create={"type": "style_sample", "content": "Short sentences. Plain words."},
            update={"title": "renamed"},
        )
    )


def test_create_from_text_update_and_delete(api, user):
    response = api.post(
        RESOURCES,
        {"type": "style_sample", "title": "My voice", "content": "Short sentences. Plain words."},
        format="json",
    )
    assert response.status_code == 201, response.content
    resource = Resource.objects.get(pk=response.json()["id"])
    assert resource.user == user
    assert resource.type == ResourceType.STYLE_SAMPLE

    response = api.patch(f"{RESOURCES}{resource.pk}/", {"content": "Longer sentences now."}, format="json")
    assert response.status_code == 200
    assert response.json()["content"] == "Longer sentences now."

    assert api.delete(f"{RESOURCES}{resource.pk}/").status_code == 204
    assert not Resource.objects.filter(pk=resource.pk).exists()


def test_list_leaves_out_the_full_text(api, user):
    ResourceFactory(user=user, content="word " * 2000)
    (row,) = api.get(RESOURCES).json()["results"]
    assert "content" not in row
    assert len(row["excerpt"]) <= 280


def test_create_from_a_web_page(api, httpserver):
    article = "<p>" + "Plain words work best for busy readers who skim on their phones. " * 6 + "</p>"
    httpserver.expect_request("/post").respond_with_data(
        f"<html><head><title>How I write</title></head><body><article><h1>How I write</h1>{article}"
        "</article></body></html>",
        content_type="text/html; charset=utf-8",
    )

    response = api.post(RESOURCES, {"type": "reference", "url": httpserver.url_for("/post")}, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert "Plain words work best" in data["content"]
    assert data["title"] == "How I write"
    assert data["metadata"]["source_url"] == httpserver.url_for("/post")


def test_a_page_that_cannot_be_fetched_is_a_400_on_url(api, httpserver):
    httpserver.expect_request("/gone").respond_with_data("nope", status=404)
    response = api.post(RESOURCES, {"type": "reference", "url": httpserver.url_for("/gone")}, format="json")
    assert response.status_code == 400
    assert "url" in error_fields(response)
    assert not Resource.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "novel", "content": "text"}, "type"),
        ({"type": "reference"}, None),
        ({"type": "reference", "content": "text", "url": "https://example.com/"}, None),
        ({"type": "reference", "url": "not a url"}, "url"),
    ],
)
def test_bad_resource_input_is_a_400(api, body, field):
    response = api.post(RESOURCES, body, format="json")
    assert response.status_code == 400, response.content
    if field:
        assert field in error_fields(response)
    assert not Resource.objects.exists()
