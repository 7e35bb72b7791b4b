"""workflows.services.media: attaching media (checked by content and against each network's rules),
the alt text written by the caption backends, edited and approved by a person, and the gate."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from accounts.models import AltTextGate, AuditLog
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationUserSettingsFactory
from tests.factories.generation import GeneratedImageFactory, GeneratedPersonaFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import (
    DraftFactory,
    MediaAttachmentFactory,
    PlatformStateFactory,
    WorkflowFactory,
    png_bytes,
)
from workflows.errors import AltTextNotApproved, MediaRefused
from workflows.models import (
    AltTextStatus,
    MediaAttachment,
    MediaOrigin,
    Platform,
    PlatformStatus,
    WorkflowStatus,
)
from workflows.services.media import (
    alt_text_limit_of,
    media_alt_text_approve,
    media_alt_text_edit,
    media_alt_text_regenerate,
    media_alt_text_write,
    media_attach,
    media_gate_problems,
    media_remove,
    media_reorder,
)
from workflows.services.review import workflow_review

pytestmark = pytest.mark.django_db

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


def workflow_for(*platforms, status=WorkflowStatus.AWAITING_REVIEW, **fields):
    """A workflow whose owner publishes its Mastodon posts through a Mastodon (not Pixelfed) account."""
    workflow = WorkflowFactory(status=status, **fields)
    PlatformConnectionFactory(user=workflow.user, platform_type="mastodon", extra={})
    for platform in platforms:
        draft = DraftFactory(workflow=workflow, platform=platform, content="Version 2 is out. #release")
        PlatformStateFactory(
            workflow=workflow, platform=platform, status=PlatformStatus.AWAITING_REVIEW, active_draft=draft
        )
    return workflow


def attach(workflow, data=None, **kwargs):
    return media_attach(
        workflow=workflow,
        actor=workflow.user,
        data=png_bytes() if data is None else data,
        filename="a.png",
        **kwargs,
    )


def test_an_upload_is_stored_and_described_by_the_caption_backends(django_capture_on_commit_callbacks):
    workflow = workflow_for(Platform.MASTODON)
    CaptionGenerationUserSettingsFactory(user=workflow.user, language="de")
    with django_capture_on_commit_callbacks(execute=True):
        attachment = attach(workflow, focus=[0.25, -0.5])
    attachment.refresh_from_db()
    assert (attachment.media_type, attachment.width, attachment.height) == ("image/png", 120, 90)
    assert default_storage.exists(attachment.storage_key)
    assert (attachment.focus_x, attachment.focus_y, attachment.language) == (0.25, -0.5, "de")
    # The builtin backend wrote it (in the test settings): alt text waits for a person.
    assert attachment.alt_status == AltTextStatus.AWAITING_REVIEW
    assert attachment.alt_text and attachment.alt_text == attachment.generated_alt_text
    assert 1 <= attachment.alt_score <= 100
    assert AuditLog.objects.filter(action="workflow.media_attached").count() == 1


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (png_bytes()[:-30], "damaged"),
        (b"%PDF-1.7 a document", "not an image or video"),
    ],
)
def test_the_content_decides_and_nothing_is_stored_for_bad_input(data, problem):
    workflow = workflow_for(Platform.MASTODON)
    with pytest.raises(ValidationError) as error:
        attach(workflow, data=data)
    assert problem in str(error.value.message_dict["file"])
    assert not MediaAttachment.objects.exists()


def test_too_many_pixels_is_refused_before_decoding():
    output = io.BytesIO()
    PILImage.new("1", (12_000, 9_000)).save(output, "PNG")  # 108 million pixels, a few kilobytes
    with pytest.raises(ValidationError) as error:
        attach(workflow_for(Platform.MASTODON), data=output.getvalue())
    assert "pixels" in str(error.value.message_dict["file"])


def test_each_network_limits_the_count_mastodon_four():
    workflow = workflow_for(Platform.MASTODON)
    for shade in range(4):
        attach(workflow, data=png_bytes(color=(shade, 0, 0)))
    with pytest.raises(ValidationError) as error:
        attach(workflow, data=png_bytes(color=(9, 9, 9)))
    assert "At most 4 media per post" in str(error.value.message_dict["file"])
    assert MediaAttachment.objects.count() == 4


def test_a_network_without_media_refuses_them_by_name():
    workflow = workflow_for(Platform.MASTODON, Platform.BLOG)
    with pytest.raises(ValidationError) as error:
        attach(workflow, platform=Platform.LINKEDIN)
    assert "platform" in error.value.message_dict  # the workflow does not write for LinkedIn


def test_a_video_waits_for_a_person_to_write_its_alt_text(django_capture_on_commit_callbacks):
    workflow = workflow_for(Platform.MASTODON)
    with django_capture_on_commit_callbacks(execute=True):
        video = attach(workflow, data=MP4)
    video.refresh_from_db()
    assert (video.media_type, video.alt_status, video.alt_text) == (
        "video/mp4",
        AltTextStatus.NEEDS_WRITING,
        "",
    )
    assert "written by a person" in video.alt_notes
    with pytest.raises(MediaRefused):
        media_alt_text_regenerate(attachment=video, actor=workflow.user)


def test_a_generated_image_and_a_persona_image_are_taken_from_their_owner_only(tmp_path):
    workflow = workflow_for(Platform.MASTODON)
    mine = GeneratedImageFactory(user=workflow.user)
    attachment = media_attach(workflow=workflow, actor=workflow.user, source="generated", ref=str(mine.pk))
    assert (attachment.origin, attachment.origin_ref) == (MediaOrigin.GENERATED, str(mine.pk))
    stranger = GeneratedImageFactory()
    with pytest.raises(ValidationError) as error:
        media_attach(workflow=workflow, actor=workflow.user, source="generated", ref=str(stranger.pk))
    assert "no generated image" in str(error.value.message_dict["ref"])

    key = default_storage.save("personas/t/0/1.png", io.BytesIO(png_bytes(color=(1, 2, 3))))
    persona = GeneratedPersonaFactory(task__user=workflow.user, images=[key])
    from_persona = media_attach(
        workflow=workflow, actor=workflow.user, source="persona", ref=f"{persona.pk}/1"
    )
    assert from_persona.origin == MediaOrigin.PERSONA and from_persona.position == 1
    with pytest.raises(ValidationError):
        media_attach(workflow=workflow, actor=workflow.user, source="persona", ref=f"{persona.pk}/2")


def test_edit_scores_and_needs_approval_and_approval_keeps_line_breaks():
    attachment = MediaAttachmentFactory(workflow=workflow_for(Platform.MASTODON))
    reviewer = UserFactory()
    text = "A sign reads:\nOPEN\nevery day · 每天开放"
    edited = media_alt_text_edit(attachment=attachment, actor=reviewer, text=f"  {text}\r\n")
    assert (edited.alt_text, edited.alt_status) == (text, AltTextStatus.AWAITING_REVIEW)
    approved = media_alt_text_approve(attachment=attachment, actor=reviewer)
    assert (approved.alt_status, approved.alt_reviewed_by, approved.alt_text) == (
        AltTextStatus.APPROVED,
        reviewer,
        text,
    )
    # Editing approved text takes the approval back.
    again = media_alt_text_edit(attachment=attachment, actor=reviewer, text="Another wording of the sign.")
    assert again.alt_status == AltTextStatus.AWAITING_REVIEW and again.alt_reviewed_by is None


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂", ":blobcat:"])
def test_alt_text_needs_words(text):
    attachment = MediaAttachmentFactory(workflow=workflow_for(Platform.MASTODON))
    with pytest.raises(ValidationError) as error:
        media_alt_text_approve(attachment=attachment, actor=attachment.workflow.user, text=text)
    assert "alt_text" in error.value.message_dict
    attachment.refresh_from_db()
    assert attachment.alt_status == AltTextStatus.AWAITING_REVIEW


def test_alt_text_is_held_to_the_smallest_limit_of_the_networks_it_goes_to():
    attachment = MediaAttachmentFactory(workflow=workflow_for(Platform.MASTODON))
    limit = alt_text_limit_of(attachment)
    assert limit == 1500  # Mastodon's documented default
    with pytest.raises(ValidationError) as error:
        media_alt_text_edit(attachment=attachment, actor=attachment.workflow.user, text="a" * (limit + 1))
    assert f"allow {limit}" in str(error.value.message_dict["alt_text"])


def test_writing_again_is_safe_and_a_persons_edit_meanwhile_wins():
    attachment = MediaAttachmentFactory(
        workflow=workflow_for(Platform.MASTODON), alt_status=AltTextStatus.PENDING
    )
    media_alt_text_edit(attachment=attachment, actor=attachment.workflow.user, text="A person's own words.")
    media_alt_text_write(attachment_id=attachment.pk)  # a late or repeated task
    attachment.refresh_from_db()
    assert attachment.alt_text == "A person's own words."


def test_regenerate_asks_again_with_the_instruction(django_capture_on_commit_callbacks, monkeypatch):
    from workflows.services import media

    queued = []
    monkeypatch.setattr(media, "async_task", lambda *args, **kwargs: queued.append((args, kwargs)))
    attachment = MediaAttachmentFactory(
        workflow=workflow_for(Platform.MASTODON), alt_status=AltTextStatus.APPROVED
    )
    with django_capture_on_commit_callbacks(execute=True):
        media_alt_text_regenerate(
            attachment=attachment, actor=attachment.workflow.user, instruction="read the sign"
        )
    attachment.refresh_from_db()
    assert attachment.alt_status == AltTextStatus.PENDING and attachment.alt_reviewed_by is None
    assert queued == [
        (
            ("workflows.tasks.write_alt_text", str(attachment.pk)),
            {"task_name": f"alt-text-{attachment.pk}", "instruction": "read the sign"},
        )
    ]


def test_reorder_and_remove_keep_positions_without_gaps():
    workflow = workflow_for(Platform.MASTODON)
    first, second, third = (MediaAttachmentFactory(workflow=workflow, position=n) for n in range(3))
    media_reorder(workflow=workflow, actor=workflow.user, order=[third.pk, first.pk, second.pk])
    assert list(workflow.media.order_by("position").values_list("pk", flat=True)) == [
        third.pk,
        first.pk,
        second.pk,
    ]
    with pytest.raises(ValidationError):
        media_reorder(workflow=workflow, actor=workflow.user, order=[third.pk, first.pk])
    media_remove(attachment=first, actor=workflow.user)
    assert list(workflow.media.order_by("position").values_list("pk", "position")) == [
        (third.pk, 0),
        (second.pk, 1),
    ]


def test_a_cancelled_workflows_media_no_longer_change():
    workflow = workflow_for(Platform.MASTODON, status=WorkflowStatus.CANCELLED)
    with pytest.raises(MediaRefused):
        attach(workflow)


# The gate ---------------------------------------------------------------------------------------


def test_accepting_a_draft_with_an_unapproved_image_is_refused_naming_it_then_approval_lets_it_through():
    workflow = workflow_for(Platform.MASTODON)
    ready = MediaAttachmentFactory(
        workflow=workflow, position=0, filename="ready.png", alt_status=AltTextStatus.APPROVED
    )
    waiting = MediaAttachmentFactory(workflow=workflow, position=1, filename="waiting.png")
    with pytest.raises(AltTextNotApproved) as error:
        workflow_review(
            workflow=workflow, platform=Platform.MASTODON, action="accept", reviewer=workflow.user
        )
    assert error.value.fields["media"] == [
        "Image 2 (waiting.png): alt text is awaiting review, not approved."
    ]
    assert "ready.png" not in str(error.value)
    assert workflow.platform_states.get().status == PlatformStatus.AWAITING_REVIEW

    media_alt_text_approve(attachment=waiting, actor=workflow.user)
    state = workflow_review(
        workflow=workflow, platform=Platform.MASTODON, action="accept", reviewer=workflow.user
    )
    assert state.status == PlatformStatus.ACCEPTED
    assert ready.alt_status == AltTextStatus.APPROVED


def test_an_image_on_another_platforms_post_does_not_hold_this_one():
    workflow = workflow_for(Platform.MASTODON, Platform.X)
    MediaAttachmentFactory(workflow=workflow, platform=Platform.MASTODON)
    assert media_gate_problems(workflow=workflow, platform=Platform.X) == []
    assert len(media_gate_problems(workflow=workflow, platform=Platform.MASTODON)) == 1


def test_the_owner_may_relax_the_gate_only_to_non_empty_alt_text():
    workflow = workflow_for(Platform.MASTODON)
    workflow.user.alt_text_gate = AltTextGate.NON_EMPTY
    workflow.user.save()
    MediaAttachmentFactory(workflow=workflow, position=0)  # written by the AI, not reviewed
    assert media_gate_problems(workflow=workflow, platform=Platform.MASTODON) == []
    MediaAttachmentFactory(workflow=workflow, position=1, alt_text="", alt_status=AltTextStatus.NEEDS_WRITING)
    assert media_gate_problems(workflow=workflow, platform=Platform.MASTODON) == [
        "Image 2 (" + workflow.media.get(position=1).filename + "): has no alt text yet."
    ]
