import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditLog, Role
from captions.models import Image, ImageStatus
from captions.services.review import (
    InvalidTransition,
    caption_approve,
    caption_bulk_approve,
    caption_bulk_reject,
    caption_edit,
    caption_reject,
)
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationUserSettingsFactory, ImageFactory

pytestmark = pytest.mark.django_db

S = ImageStatus


@pytest.fixture
def reviewer():
    return UserFactory(role=Role.REVIEWER)


def test_edit_stores_the_wording_and_marks_reviewed(reviewer):
    image = ImageFactory()
    image = caption_edit(image=image, editor=reviewer, text="  A grey heron  in shallow water. ")
    assert image.reviewed_caption == "A grey heron in shallow water."
    assert image.status == S.REVIEWED
    assert image.reviewed_by == reviewer
    assert image.generated_caption == "A heron standing in shallow water at dusk.", "the AI caption is kept"
    assert AuditLog.objects.filter(action="caption.edited", resource_id=str(image.pk)).exists()


def test_an_edit_keeps_its_line_breaks(reviewer):
    image = ImageFactory()
    typed = "  A sign reading:\r\nOPEN\r\n\r\n\r\nMon-Fri  9-17 \r\n"
    image = caption_edit(image=image, editor=reviewer, text=typed)
    assert image.reviewed_caption == "A sign reading:\nOPEN\n\nMon-Fri 9-17"
    image = caption_approve(image=image, reviewer=reviewer)
    assert image.final_caption == "A sign reading:\nOPEN\n\nMon-Fri 9-17"


def test_the_limit_counts_each_line_break_as_one_character(reviewer):
    image = ImageFactory()
    CaptionGenerationUserSettingsFactory(platform_connection=image.platform_connection, max_caption_length=9)
    assert caption_edit(image=image, editor=reviewer, text="Four\r\nfive").reviewed_caption == "Four\nfive"
    with pytest.raises(ValidationError, match="has 10 characters; this image allows 9"):
        caption_edit(image=image, editor=reviewer, text="Four\n\nfive")


def test_approve_takes_the_reviewed_caption_over_the_generated_one(reviewer):
    image = ImageFactory(reviewed_caption="A grey heron at dusk.", status=S.REVIEWED)
    image = caption_approve(image=image, reviewer=reviewer)
    assert image.final_caption == "A grey heron at dusk."
    assert image.status == S.APPROVED
    assert image.reviewed_at is not None


def test_approve_with_text_sets_both_reviewed_and_final(reviewer):
    image = caption_approve(image=ImageFactory(), reviewer=reviewer, text="Heron, dusk, river.")
    assert image.final_caption == image.reviewed_caption == "Heron, dusk, river."


def test_approve_falls_back_to_the_generated_caption(reviewer):
    image = caption_approve(image=ImageFactory(), reviewer=reviewer)
    assert image.final_caption == "A heron standing in shallow water at dusk."


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_caption_is_refused_and_nothing_changes(reviewer, text):
    image = ImageFactory()
    with pytest.raises(ValidationError) as excinfo:
        caption_edit(image=image, editor=reviewer, text=text)
    assert "reviewed_caption" in excinfo.value.message_dict
    image.refresh_from_db()
    assert image.status == S.PENDING


def test_captions_longer_than_the_users_limit_are_refused(reviewer):
    image = ImageFactory()
    CaptionGenerationUserSettingsFactory(platform_connection=image.platform_connection, max_caption_length=20)
    with pytest.raises(ValidationError, match="allows 20"):
        caption_approve(image=image, reviewer=reviewer, text="A heron standing in the shallows.")
    image.refresh_from_db()
    assert image.status == S.PENDING and image.final_caption is None


def test_the_instance_limit_caps_the_users_limit(reviewer):
    image = ImageFactory()
    connection = image.platform_connection
    connection.extra = {"description_limit": 10}
    connection.save()
    with pytest.raises(ValidationError, match="allows 10"):
        caption_edit(image=image, editor=reviewer, text="Eleven char")


def test_reject_keeps_notes(reviewer):
    image = caption_reject(image=ImageFactory(), reviewer=reviewer, notes="Describes the wrong bird.")
    assert image.status == S.REJECTED
    assert image.reviewer_notes == "Describes the wrong bird."
    assert AuditLog.objects.filter(action="caption.rejected").count() == 1


@pytest.mark.parametrize(
    ("status", "service"),
    [
        (S.POSTED, "approve"),
        (S.POSTED, "reject"),
        (S.REJECTED, "approve"),
        (S.REJECTED, "reject"),
    ],
)
def test_moves_outside_the_transitions_are_a_conflict_and_change_nothing(reviewer, status, service):
    image = ImageFactory(status=status)
    call = {
        "approve": lambda: caption_approve(image=image, reviewer=reviewer),
        "reject": lambda: caption_reject(image=image, reviewer=reviewer),
    }[service]
    with pytest.raises(InvalidTransition):
        call()
    image.refresh_from_db()
    assert image.status == status


def test_a_posted_caption_can_be_edited_to_post_again(reviewer):
    image = caption_edit(image=ImageFactory(status=S.POSTED), editor=reviewer, text="A better caption.")
    assert image.status == S.REVIEWED


def test_service_reads_the_current_row_not_the_callers_stale_copy(reviewer):
    image = ImageFactory()
    stale = Image.objects.get(pk=image.pk)
    caption_reject(image=image, reviewer=reviewer)
    with pytest.raises(InvalidTransition):
        caption_approve(image=stale, reviewer=reviewer)


def test_bulk_approve_changes_only_eligible_images_in_one_go(reviewer, django_assert_max_num_queries):
    pending = ImageFactory()
    reviewed = ImageFactory(status=S.REVIEWED, reviewed_caption="Reviewed words.")
    posted = ImageFactory(status=S.POSTED, final_caption="Already out.")
    rejected = ImageFactory(status=S.REJECTED)
    nothing_to_approve = ImageFactory(generated_caption=None)
    with django_assert_max_num_queries(6):
        changed = caption_bulk_approve(images=Image.objects.all(), reviewer=reviewer)
    assert changed == 2
    statuses = dict(Image.objects.values_list("pk", "status"))
    assert statuses[pending.pk] == statuses[reviewed.pk] == S.APPROVED
    assert statuses[posted.pk] == S.POSTED
    assert statuses[rejected.pk] == S.REJECTED
    assert statuses[nothing_to_approve.pk] == S.PENDING
    finals = dict(Image.objects.values_list("pk", "final_caption"))
    assert finals[pending.pk] == "A heron standing in shallow water at dusk."
    assert finals[reviewed.pk] == "Reviewed words."
    entry = AuditLog.objects.get(action="caption.bulk_approved")
    assert entry.details["count"] == 2


def test_bulk_reject_leaves_posted_images_alone(reviewer):
    ImageFactory()
    posted = ImageFactory(status=S.POSTED)
    assert caption_bulk_reject(images=Image.objects.all(), reviewer=reviewer) == 1
    posted.refresh_from_db()
    assert posted.status == S.POSTED


def test_bulk_on_nothing_writes_no_audit_row(reviewer):
    assert caption_bulk_approve(images=Image.objects.none(), reviewer=reviewer) == 0
    assert not AuditLog.objects.filter(action="caption.bulk_approved").exists()
