"""/api/v1/workflows/{id}/media/: attach, read, edit, approve, regenerate, reorder, remove; the gate's 409."""

from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from tests.factories.accounts import UserFactory
from tests.factories.generation import GeneratedImageFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import (
    DraftFactory,
    MediaAttachmentFactory,
    PlatformStateFactory,
    WorkflowFactory,
    png_bytes,
)
from tests.isolation import client_for
from tests.workflows.api.conftest import error_fields
from workflows.models import AltTextStatus, MediaAttachment, Platform, PlatformStatus, WorkflowStatus
from workflows.services import media as media_service

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    """The caption backends are asked in the background; here only that they are."""
    queued = mock.Mock()
    monkeypatch.setattr(media_service, "async_task", queued)
    return queued


def workflow_of(user, *platforms):
    workflow = WorkflowFactory(user=user, status=WorkflowStatus.AWAITING_REVIEW)
    PlatformConnectionFactory(user=user, platform_type="mastodon", extra={})
    for platform in platforms or (Platform.MASTODON,):
        draft = DraftFactory(workflow=workflow, platform=platform, content="Version 2 is out. #release")
        PlatformStateFactory(
            workflow=workflow, platform=platform, status=PlatformStatus.AWAITING_REVIEW, active_draft=draft
        )
    return workflow


def media_url(workflow, *rest):
    return "/".join([f"/api/v1/workflows/{workflow.pk}/media", *map(str, rest)]) + "/"


def test_upload_by_multipart_lists_it_and_serves_its_file(
    user, api, no_queue, django_capture_on_commit_callbacks
):
    workflow = workflow_of(user)
    data = png_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            media_url(workflow),
            {"file": SimpleUploadedFile("cat.png", data, content_type="text/plain"), "focus": [0.5, 0.5]},
            format="multipart",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["media_type"], body["filename"], body["alt_status"]) == ("image/png", "cat.png", "pending")
    assert body["alt_text_limit"] == 1500 and body["position"] == 0
    no_queue.assert_called_once()
    listed = api.get(media_url(workflow)).json()
    assert [item["id"] for item in listed] == [body["id"]]
    served = api.get(body["file_url"])
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == data
    detail = api.get(f"/api/v1/workflows/{workflow.pk}/").json()
    assert [item["id"] for item in detail["media"]] == [body["id"]]


def test_a_generated_image_is_attached_by_json(user, api):
    workflow = workflow_of(user)
    image = GeneratedImageFactory(user=user)
    response = api.post(media_url(workflow), {"source": "generated", "ref": str(image.pk)}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["origin"] == "generated"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"file": b"not an image at all"}, "file"),
        ({"source": "generated", "ref": "999999"}, "ref"),
        ({}, "file"),
        ({"focus": [2, 0], "file": "png"}, "focus"),
        ({"platform": "linkedin", "file": "png"}, "platform"),
    ],
)
def test_bad_input_is_a_400_on_its_field_and_changes_nothing(user, api, body, field):
    workflow = workflow_of(user)
    payload = dict(body)
    if "file" in payload:
        content = png_bytes() if payload["file"] == "png" else payload["file"]
        payload["file"] = SimpleUploadedFile("x.png", content)
    response = api.post(media_url(workflow), payload, format="multipart")
    assert response.status_code == 400
    assert field in error_fields(response)
    assert not MediaAttachment.objects.exists()


def test_edit_then_approve_and_the_gate_names_the_image(user, api):
    workflow = workflow_of(user)
    attachment = MediaAttachmentFactory(workflow=workflow, filename="chart.png")
    accept = {"platform": "mastodon", "action": "accept"}
    refused = api.post(f"/api/v1/workflows/{workflow.pk}/review/", accept, format="json")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "alt_text_not_approved"
    assert error["fields"]["media"] == ["Image 1 (chart.png): alt text is awaiting review, not approved."]

    edited = api.patch(media_url(workflow, attachment.pk), {"alt_text": "A bar chart:\nbuilds got faster."})
    assert edited.status_code == 200 and edited.json()["alt_text"] == "A bar chart:\nbuilds got faster."
    approved = api.post(media_url(workflow, attachment.pk, "approve"), {}, format="json")
    assert approved.status_code == 200 and approved.json()["alt_status"] == "approved"
    accepted = api.post(f"/api/v1/workflows/{workflow.pk}/review/", accept, format="json")
    assert accepted.status_code == 200, accepted.json()


def test_empty_alt_text_cannot_be_approved(user, api):
    attachment = MediaAttachmentFactory(workflow=workflow_of(user))
    response = api.post(
        media_url(attachment.workflow, attachment.pk, "approve"), {"alt_text": " 🙂 "}, format="json"
    )
    assert response.status_code == 400 and "alt_text" in error_fields(response)
    attachment.refresh_from_db()
    assert attachment.alt_status == AltTextStatus.AWAITING_REVIEW


def test_regenerate_with_an_instruction_and_reorder_and_remove(
    user, api, no_queue, django_capture_on_commit_callbacks
):
    workflow = workflow_of(user)
    first, second = (
        MediaAttachmentFactory(workflow=workflow, position=0),
        MediaAttachmentFactory(workflow=workflow, position=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            media_url(workflow, first.pk, "regenerate"), {"instruction": "transcribe the sign"}, format="json"
        )
    assert response.status_code == 200 and response.json()["alt_status"] == "pending"
    assert no_queue.call_args.kwargs["instruction"] == "transcribe the sign"
    reordered = api.post(
        media_url(workflow, "reorder"), {"order": [str(second.pk), str(first.pk)]}, format="json"
    )
    assert [item["id"] for item in reordered.json()] == [str(second.pk), str(first.pk)]
    assert api.delete(media_url(workflow, second.pk)).status_code == 204
    assert list(workflow.media.values_list("pk", "position")) == [(first.pk, 0)]


def test_another_users_media_are_a_404_and_a_reviewer_reviews_but_does_not_remove(api):
    owner = UserFactory(role=Role.USER)
    workflow = workflow_of(owner)
    attachment = MediaAttachmentFactory(workflow=workflow)
    assert api.get(media_url(workflow)).status_code == 404
    assert api.get(media_url(workflow, attachment.pk)).status_code == 404
    assert api.post(media_url(workflow, attachment.pk, "approve"), {}, format="json").status_code == 404
    upload = {"file": SimpleUploadedFile("x.png", png_bytes())}
    assert api.post(media_url(workflow), upload, format="multipart").status_code == 404

    reviewer = client_for(UserFactory(role=Role.REVIEWER))
    assert reviewer.get(media_url(workflow, attachment.pk)).status_code == 200
    assert reviewer.post(media_url(workflow, attachment.pk, "approve"), {}, format="json").status_code == 200
    assert reviewer.delete(media_url(workflow, attachment.pk)).status_code == 404
    assert reviewer.post(media_url(workflow), upload, format="multipart").status_code == 404
    assert MediaAttachment.objects.count() == 1


def test_a_viewer_reads_but_changes_nothing():
    viewer = UserFactory(role=Role.VIEWER)
    workflow = workflow_of(viewer)
    attachment = MediaAttachmentFactory(workflow=workflow)
    client = client_for(viewer)
    assert client.get(media_url(workflow, attachment.pk)).status_code == 200
    assert client.post(media_url(workflow, attachment.pk, "approve"), {}, format="json").status_code == 403
    assert client.patch(media_url(workflow, attachment.pk), {"alt_text": "x y z"}).status_code == 403
