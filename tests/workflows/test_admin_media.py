"""The Media section of the workflow review page (admin:workflows_workflow_review): every button
calls its workflows.services.media service; a service's ValidationError is shown next to its field
and a DomainError as a message, with nothing changed; who may do what (docs/roles.md); each post's
media gate beside its buttons; the read-only MediaAttachment list and the files it serves."""

from dataclasses import replace
from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, Role
from accounts.services.users import user_set_role
from platforms.kinds.registry import kind_of
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
from workflows.models import AltTextStatus, MediaAttachment, Platform, PlatformStatus, WorkflowStatus
from workflows.services import media as media_service

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """The caption backends are asked in the background; here only that they are."""
    queue = mock.Mock()
    monkeypatch.setattr(media_service, "async_task", queue)
    return queue


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def with_role(role):
    return user_set_role(user=UserFactory(), role=role)


@pytest.fixture
def owner():
    return with_role(Role.USER)


def workflow_of(user, *platforms):
    """A workflow awaiting review for Mastodon (the owner has a Mastodon connection: its posts
    take images, with alt text up to 1,500 characters)."""
    workflow = WorkflowFactory(user=user, status=WorkflowStatus.AWAITING_REVIEW)
    PlatformConnectionFactory(user=user, platform_type="mastodon", extra={})
    for platform in platforms or (Platform.MASTODON,):
        draft = DraftFactory(workflow=workflow, platform=platform, content="Version 2 is out. #release")
        PlatformStateFactory(
            workflow=workflow, platform=platform, status=PlatformStatus.AWAITING_REVIEW, active_draft=draft
        )
    return workflow


@pytest.fixture
def workflow(owner):
    return workflow_of(owner)


def review_url(workflow) -> str:
    return reverse("admin:workflows_workflow_review", args=[workflow.pk])


def press(client, attachment, action, **fields):
    """One button of an attachment's form, with its editor's fields (prefixed as the page does)."""
    data = {"media": str(attachment.pk), "media_action": action}
    data.update({f"media-{attachment.pk}-{name}": value for name, value in fields.items()})
    return client.post(review_url(attachment.workflow), data)


def attach(client, workflow, **fields):
    data = {"media_action": "attach", **{f"attach-{name}": value for name, value in fields.items()}}
    return client.post(review_url(workflow), data)


def page_messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def media_panel(response, attachment):
    return next(p for p in response.context["media_panels"] if p.attachment.pk == attachment.pk)


def fresh(attachment) -> MediaAttachment:
    return MediaAttachment.objects.get(pk=attachment.pk)


def unchanged(attachment) -> bool:
    now = fresh(attachment)
    fields = ("alt_text", "alt_status", "position", "alt_reviewed_by_id", "alt_score")
    return all(getattr(now, name) == getattr(attachment, name) for name in fields)


# --- the section ----------------------------------------------------------------------------------


def test_the_section_shows_each_attachment_in_order_with_its_facts_status_and_buttons(owner, workflow):
    reviewer = with_role(Role.REVIEWER)
    chart = MediaAttachmentFactory(
        workflow=workflow,
        position=0,
        filename="chart.png",
        alt_text="A bar chart: builds got 40% faster.",
        alt_status=AltTextStatus.APPROVED,
        alt_reviewed_by=reviewer,
        alt_reviewed_at=timezone.now(),
        alt_score=81,
        alt_notes="CLEAR-NOTES",
    )
    clip = MediaAttachmentFactory(
        workflow=workflow,
        position=1,
        filename="demo.mp4",
        media_type="video/mp4",
        alt_text="",
        alt_status=AltTextStatus.NEEDS_WRITING,
        alt_score=None,
        alt_notes="",
    )
    response = client_of(owner).get(review_url(workflow))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index(f'id="media-{chart.pk}"') < html.index(f'id="media-{clip.pk}"')
    thumbnail = reverse("admin:workflows_mediaattachment_thumbnail", args=[chart.pk])
    full = reverse("admin:workflows_mediaattachment_file", args=[chart.pk])
    assert f'<a href="{full}"' in html and f'src="{thumbnail}"' in html  # click for full size
    video = reverse("admin:workflows_mediaattachment_file", args=[clip.pk])
    assert f'<video src="{video}" controls preload="metadata"' in html and "autoplay" not in html
    assert "image/png" in html and "video/mp4" in html and "Mastodon" in html
    assert f"Approved</span> by {reviewer.username}," in " ".join(html.split())
    assert "81/100" in html and "CLEAR-NOTES" in html and "To be written by a person" in html

    first, second = response.context["media_panels"]
    assert (first.count, first.limit) == (len(chart.alt_text), 1500)
    assert 'data-limit="1500"' in html and f'<span class="wf-count">{len(chart.alt_text)}</span>' in html
    assert first.may_review and first.may_remove and first.may_reorder
    assert (first.first, second.last) == (True, True)
    first_form = html[html.index(f'id="media-{chart.pk}"') : html.index(f'id="media-{clip.pk}"')]
    for button in ("save", "approve", "regenerate", "down", "remove"):
        assert f'value="{button}"' in first_form
    assert 'value="up"' not in first_form
    second_form = html[html.index(f'id="media-{clip.pk}"') : html.index('id="media-add"')]
    assert 'value="regenerate"' not in second_form, "a video's alt text is written by a person"
    assert 'value="up"' in second_form and 'value="down"' not in second_form
    assert 'enctype="multipart/form-data"' in html  # Add media


def test_the_counter_counts_as_the_service_does(owner, workflow):
    text = "  Two  lines:\r\n\r\n\r\n🎉 cake   "
    attachment = MediaAttachmentFactory(workflow=workflow, alt_text="old")
    response = press(client_of(owner), attachment, "save", alt_text=text + "x" * 1500)

    assert response.status_code == 200
    panel = media_panel(response, attachment)
    cleaned = "Two lines:\n\n🎉 cake " + "x" * 1500  # spaces collapsed, one blank line, ends trimmed
    assert panel.count == len(cleaned) == 1519
    assert panel.form.errors["alt_text"] == [
        "The alt text has 1519 characters; the networks it goes to allow 1500."
    ]


# --- alt text ----------------------------------------------------------------------------------


def test_save_keeps_the_edited_text_which_then_needs_approving(owner, workflow):
    attachment = MediaAttachmentFactory(workflow=workflow, alt_status=AltTextStatus.APPROVED)
    response = press(client_of(owner), attachment, "save", alt_text="A cat\r\non a desk.")

    assert response.status_code == 302 and response.url.endswith(f"#media-{attachment.pk}")
    saved = fresh(attachment)
    assert (saved.alt_text, saved.alt_status) == ("A cat\non a desk.", AltTextStatus.AWAITING_REVIEW)
    assert AuditLog.objects.filter(action="workflow.alt_text_edited").count() == 1


def test_approve_saves_the_edited_text_and_approves_it_in_one_go(owner, workflow):
    attachment = MediaAttachmentFactory(workflow=workflow)
    response = press(client_of(owner), attachment, "approve", alt_text="A red-orange square.")

    assert response.status_code == 302
    approved = fresh(attachment)
    assert approved.alt_text == "A red-orange square."
    assert (approved.alt_status, approved.alt_reviewed_by) == (AltTextStatus.APPROVED, owner)
    follow = client_of(owner).get(review_url(workflow))
    assert f"by {owner.username}" in follow.content.decode()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("🙂 → !!", "Write what the image shows: alt text needs words, not only symbols."),
        ("word " * 400, "The alt text has 1999 characters; the networks it goes to allow 1500."),
    ],
)
@pytest.mark.parametrize("action", ["save", "approve"])
def test_bad_alt_text_is_an_error_next_to_the_field_and_changes_nothing(owner, workflow, text, error, action):
    attachment = MediaAttachmentFactory(workflow=workflow)
    response = press(client_of(owner), attachment, action, alt_text=text)

    assert response.status_code == 200
    form = media_panel(response, attachment).form
    assert form.errors["alt_text"] == [error]
    assert form["alt_text"].value() == text, "the person's text is kept in the editor"
    assert error in response.content.decode().replace("&#x27;", "'")
    assert unchanged(attachment)


def test_regenerate_asks_the_ai_again_with_the_instruction(
    owner, workflow, queued, django_capture_on_commit_callbacks
):
    attachment = MediaAttachmentFactory(workflow=workflow)
    with django_capture_on_commit_callbacks(execute=True):
        response = press(client_of(owner), attachment, "regenerate", instruction="Name the colours.")

    assert response.status_code == 302
    assert fresh(attachment).alt_status == AltTextStatus.PENDING
    queued.assert_called_once()
    assert queued.call_args.kwargs["instruction"] == "Name the colours."


def test_a_domain_error_is_a_message_and_nothing_changes(owner, workflow):
    video = MediaAttachmentFactory(
        workflow=workflow, media_type="video/mp4", alt_status=AltTextStatus.NEEDS_WRITING, alt_text=""
    )
    response = press(client_of(owner), video, "regenerate")
    assert response.status_code == 200
    assert page_messages(response) == [("error", media_service.VIDEO_NOTE)]
    assert unchanged(video)

    workflow.status = WorkflowStatus.CANCELLED
    workflow.save(update_fields=["status"])
    image = MediaAttachmentFactory(workflow=workflow)
    response = press(client_of(owner), image, "approve", alt_text="A new text.")
    assert response.status_code == 200
    assert page_messages(response) == [("error", "The workflow is cancelled; its media no longer change.")]
    assert unchanged(image)


def test_a_closed_workflows_media_are_shown_without_buttons(owner, workflow):
    attachment = MediaAttachmentFactory(workflow=workflow)
    workflow.status = WorkflowStatus.ARCHIVED
    workflow.save(update_fields=["status"])

    response = client_of(owner).get(review_url(workflow))
    assert response.context["attach_form"] is None
    html = response.content.decode()
    assert attachment.alt_text in html and 'name="media_action"' not in html


# --- order, remove ---------------------------------------------------------------------------


def test_move_down_and_up_reorder_the_media(owner, workflow):
    first, second, third = (MediaAttachmentFactory(workflow=workflow, position=n) for n in range(3))
    client = client_of(owner)

    assert press(client, first, "down").status_code == 302
    order = list(MediaAttachment.objects.order_by("position").values_list("pk", flat=True))
    assert order == [second.pk, first.pk, third.pk]
    assert press(client, third, "up").status_code == 302
    order = list(MediaAttachment.objects.order_by("position").values_list("pk", flat=True))
    assert order == [second.pk, third.pk, first.pk]

    # The last cannot go further down: a message, nothing moves.
    response = press(client, first, "down")
    assert response.status_code == 200
    assert page_messages(response)[-1] == ("error", f"Image 3 ({first.filename}) is already last.")
    assert list(MediaAttachment.objects.order_by("position").values_list("pk", flat=True)) == order


def test_remove_takes_the_attachment_off_and_renumbers_the_rest(owner, workflow):
    first, second = (MediaAttachmentFactory(workflow=workflow, position=n) for n in range(2))
    response = press(client_of(owner), first, "remove")

    assert response.status_code == 302
    assert list(MediaAttachment.objects.values_list("pk", "position")) == [(second.pk, 0)]
    assert AuditLog.objects.filter(action="workflow.media_removed").count() == 1


# --- add media -------------------------------------------------------------------------------


def test_an_upload_is_attached_and_its_alt_text_queued(
    owner, workflow, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = attach(
            client_of(owner),
            workflow,
            file=SimpleUploadedFile("cat.png", png_bytes(), content_type="application/octet-stream"),
            platform="mastodon",
            focus_x="0.5",
            focus_y="-0.25",
        )

    assert response.status_code == 302, response.context and response.context["attach_form"].errors
    attachment = MediaAttachment.objects.get()
    assert response.url.endswith(f"#media-{attachment.pk}")
    assert (attachment.filename, attachment.media_type, attachment.platform) == (
        "cat.png",
        "image/png",
        "mastodon",
    )
    assert (attachment.focus_x, attachment.focus_y) == (0.5, -0.25)
    queued.assert_called_once()


def test_the_owners_generated_images_are_offered_and_attached(owner, workflow):
    mine = GeneratedImageFactory(user=owner)
    theirs = GeneratedImageFactory()
    response = client_of(owner).get(review_url(workflow))
    offered = dict(response.context["attach_form"].fields["generated"].choices)
    assert str(mine.pk) in offered and str(theirs.pk) not in offered

    assert attach(client_of(owner), workflow, generated=str(mine.pk)).status_code == 302
    attachment = MediaAttachment.objects.get()
    assert (attachment.origin, attachment.origin_ref) == ("generated", str(mine.pk))


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"file": b"not an image at all"}, "file", None),
        ({}, "file", "Upload a file, or pick a generated or persona image (not both)."),
        (
            {"persona": "999/1"},
            "persona",
            "You have no persona image 999/1 (give '<persona id>/<image number from 1>').",
        ),
        ({"file": "png", "focus_x": "0.5"}, "focus_y", "Give both numbers of the focus point, or neither."),
        ({"file": "png", "focus_x": "2", "focus_y": "0"}, "focus_x", None),
        ({"file": "png", "platform": "linkedin"}, "platform", None),
    ],
)
def test_bad_media_is_an_error_next_to_its_field_and_nothing_is_attached(
    owner, workflow, fields, field, error
):
    data = dict(fields)
    if "file" in data:
        content = png_bytes() if data["file"] == "png" else data["file"]
        data["file"] = SimpleUploadedFile("x.png", content)
    response = attach(client_of(owner), workflow, **data)

    assert response.status_code == 200
    errors = response.context["attach_form"].errors
    assert field in errors, errors
    if error:
        assert errors[field] == [error]
    assert not MediaAttachment.objects.exists()


def test_media_a_post_cannot_carry_are_refused_by_the_networks_rules(owner, workflow):
    limit = kind_of("mastodon").media.max_items
    for position in range(limit):
        MediaAttachmentFactory(workflow=workflow, position=position)
    response = attach(client_of(owner), workflow, file=SimpleUploadedFile("x.png", png_bytes()))
    assert response.status_code == 200
    (error,) = response.context["attach_form"].errors["file"]
    assert error.startswith("Mastodon: ")
    assert MediaAttachment.objects.count() == limit


# --- the gate --------------------------------------------------------------------------------


def test_accept_is_refused_naming_the_images_until_their_alt_text_is_approved(owner, workflow):
    chart = MediaAttachmentFactory(workflow=workflow, position=0, filename="chart.png")
    photo = MediaAttachmentFactory(workflow=workflow, position=1, filename="team.png")
    client = client_of(owner)

    page = client.get(review_url(workflow)).content.decode()
    notice = page[page.index('class="wf-gate wf-gate-blocked"') :]
    assert "Not ready to publish" in notice
    assert "Image 1 (chart.png): alt text is awaiting review, not approved." in notice
    assert "Image 2 (team.png): alt text is awaiting review, not approved." in notice
    assert notice.index("Image 1 (chart.png)") < notice.index('value="accept"'), "beside the buttons"

    accept = {"platform": "mastodon", "action": "accept", "mastodon-content": "Version 2 is out. #release"}
    refused = client.post(review_url(workflow), accept)
    assert refused.status_code == 200
    ((level, message),) = page_messages(refused)
    assert level == "error" and "chart.png" in message and "team.png" in message
    assert workflow.platform_states.get().status == PlatformStatus.AWAITING_REVIEW

    for attachment in (chart, photo):
        assert press(client, attachment, "approve", alt_text=attachment.alt_text).status_code == 302
    page = client.get(review_url(workflow)).content.decode()
    assert "wf-gate-blocked" not in page and "2 media items, each with approved alt text" in page
    assert client.post(review_url(workflow), accept).status_code == 302
    assert workflow.platform_states.get().status == PlatformStatus.ACCEPTED


def test_a_network_that_cannot_carry_alt_text_is_named(owner, workflow, monkeypatch):
    mastodon = kind_of("mastodon")
    monkeypatch.setattr(mastodon, "media", replace(mastodon.media, carries_alt_text=False))
    MediaAttachmentFactory(workflow=workflow, alt_status=AltTextStatus.APPROVED)

    page = client_of(owner).get(review_url(workflow)).content.decode()
    assert "Mastodon cannot carry alt text:" in page


def test_a_post_without_media_shows_no_gate(owner, workflow):
    assert 'class="wf-gate' not in client_of(owner).get(review_url(workflow)).content.decode()


# --- who may do what -------------------------------------------------------------------------


def test_another_users_attachment_is_a_404(owner, workflow):
    stranger = with_role(Role.USER)
    theirs = MediaAttachmentFactory(workflow=workflow_of(stranger))
    client = client_of(owner)

    # Named from the owner's own page: not one of its attachments.
    for action in ("save", "approve", "remove", "down"):
        data = {"media": str(theirs.pk), "media_action": action, f"media-{theirs.pk}-alt_text": "Mine now."}
        assert client.post(review_url(workflow), data).status_code == 404
    # On its own workflow's page: the workflow itself is not theirs to see.
    assert press(client, theirs, "approve", alt_text="Mine now.").status_code == 404
    assert client.get(reverse("admin:workflows_mediaattachment_file", args=[theirs.pk])).status_code == 404
    malformed = {"media": "not-an-id", "media_action": "save"}
    assert client.post(review_url(workflow), malformed).status_code == 404
    assert unchanged(theirs)


def test_a_reviewer_approves_anyones_alt_text_but_does_not_remove_order_or_add(owner, workflow):
    reviewer = with_role(Role.REVIEWER)
    first, second = (MediaAttachmentFactory(workflow=workflow, position=n) for n in range(2))
    client = client_of(reviewer)

    page = client.get(review_url(workflow))
    assert page.context["attach_form"] is None
    html = page.content.decode()
    assert 'value="approve"' in html and 'value="remove"' not in html and 'value="down"' not in html

    assert press(client, first, "approve", alt_text="Approved by a reviewer.").status_code == 302
    assert fresh(first).alt_reviewed_by == reviewer

    assert press(client, second, "remove").status_code == 403
    assert press(client, second, "down").status_code == 403
    upload = {"media_action": "attach", "attach-file": SimpleUploadedFile("x.png", png_bytes())}
    assert client.post(review_url(workflow), upload).status_code == 403
    assert MediaAttachment.objects.count() == 2 and unchanged(second)


def test_a_moderator_manages_anyones_media(owner, workflow):
    moderator = with_role(Role.MODERATOR)
    first, second = (MediaAttachmentFactory(workflow=workflow, position=n) for n in range(2))
    assert press(client_of(moderator), first, "remove").status_code == 302
    assert list(MediaAttachment.objects.values_list("pk", flat=True)) == [second.pk]


def test_a_viewer_reads_their_media_and_changes_nothing():
    viewer = with_role(Role.VIEWER)
    workflow = workflow_of(viewer)
    attachment = MediaAttachmentFactory(workflow=workflow)
    client = client_of(viewer)

    page = client.get(review_url(workflow))
    assert page.status_code == 200 and page.context["attach_form"] is None
    html = page.content.decode()
    assert attachment.alt_text in html and 'name="media_action"' not in html
    for action in ("save", "approve", "regenerate", "remove", "up"):
        assert press(client, attachment, action, alt_text="Changed.").status_code == 403
    upload = {"media_action": "attach", "attach-file": SimpleUploadedFile("x.png", png_bytes())}
    assert client.post(review_url(workflow), upload).status_code == 403
    assert unchanged(attachment) and MediaAttachment.objects.count() == 1


# --- the list and the files ------------------------------------------------------------------


CHANGELIST = reverse("admin:workflows_mediaattachment_changelist")


def test_the_list_shows_thumbnails_and_each_row_opens_the_review_page(owner, workflow):
    attachment = MediaAttachmentFactory(workflow=workflow, filename="chart.png", alt_text="A bar chart.")
    response = client_of(owner).get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    thumbnail = reverse("admin:workflows_mediaattachment_thumbnail", args=[attachment.pk])
    assert f'src="{thumbnail}"' in html and "chart.png" in html and "A bar chart." in html
    assert f'href="{review_url(workflow)}#media-{attachment.pk}"' in html
    assert response.context["cl"].model_admin.get_actions(response.wsgi_request) == {}
    assert client_of(owner).get(reverse("admin:workflows_mediaattachment_add")).status_code == 403


def test_the_needs_a_person_filter_lists_what_the_dashboard_counts(owner, workflow):
    awaiting = MediaAttachmentFactory(workflow=workflow, alt_status=AltTextStatus.AWAITING_REVIEW)
    writing = MediaAttachmentFactory(workflow=workflow, alt_status=AltTextStatus.NEEDS_WRITING)
    MediaAttachmentFactory(workflow=workflow, alt_status=AltTextStatus.APPROVED)
    MediaAttachmentFactory(workflow=workflow, alt_status=AltTextStatus.PENDING)
    reviewer = with_role(Role.REVIEWER)  # the review queue: everyone's

    for person in (owner, reviewer):
        response = client_of(person).get(CHANGELIST, {"alt": "needs_person"})
        assert {row.pk for row in response.context["cl"].result_list} == {awaiting.pk, writing.pk}
    approved = client_of(owner).get(CHANGELIST, {"alt": "approved"})
    assert [row.alt_status for row in approved.context["cl"].result_list] == [AltTextStatus.APPROVED]


def test_the_stock_delete_sends_the_person_to_the_review_page(owner, workflow):
    attachment = MediaAttachmentFactory(workflow=workflow)
    url = reverse("admin:workflows_mediaattachment_delete", args=[attachment.pk])
    response = client_of(owner).post(url, {"post": "yes"})
    assert response.status_code == 302 and response.url == f"{review_url(workflow)}#media-{attachment.pk}"
    assert MediaAttachment.objects.filter(pk=attachment.pk).exists()


def test_the_file_and_its_thumbnail_are_served_to_those_who_see_the_attachment(owner, workflow):
    data = png_bytes(640, 480)
    attachment = MediaAttachmentFactory(workflow=workflow, data=data)
    client = client_of(owner)

    served = client.get(reverse("admin:workflows_mediaattachment_file", args=[attachment.pk]))
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served["Content-Security-Policy"]  # an uploaded file runs nothing here
    assert b"".join(served.streaming_content) == data
    thumbnail = client.get(reverse("admin:workflows_mediaattachment_thumbnail", args=[attachment.pk]))
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] in ("image/png", "image/jpeg")
    assert len(thumbnail.content) < len(data)

    default_storage.delete(attachment.storage_key)
    missing = client.get(reverse("admin:workflows_mediaattachment_file", args=[attachment.pk]))
    assert missing.status_code == 404


def test_the_dashboard_links_alt_text_awaiting_review_to_the_filtered_list(owner, workflow):
    MediaAttachmentFactory(workflow=workflow, alt_status=AltTextStatus.AWAITING_REVIEW)
    response = client_of(owner).get(reverse("admin:index"))
    (item,) = [i for i in response.context["attention_items"] if i.label == "Alt text awaiting review"]
    assert item.count == 1 and item.url == f"{CHANGELIST}?alt=needs_person"
