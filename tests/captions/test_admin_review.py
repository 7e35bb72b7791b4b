"""The caption review screen in the admin (captions.admin_review): one image at a time, a queue to
walk, every button the service the API calls, and bulk approve confirmed first."""

import io
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from PIL import Image as PILImage

from accounts.models import AuditLog, Role
from accounts.services.users import user_set_role
from captions.images import store_image
from captions.models import Image, ImageStatus
from captions.prompts import INSTRUCTION_MAX_CHARS
from core.ai.builtin import REVIEW_NOTE
from tests.factories.accounts import UserFactory
from tests.factories.captions import (
    CaptionGenerationUserSettingsFactory,
    ImageFactory,
    PostFactory,
)
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.mastodon import FakeMastodon

pytestmark = pytest.mark.django_db

S = ImageStatus
GENERATED = "A grey heron stands in shallow water at dusk."
EDITED = "A grey heron stands on one leg in shallow water at dusk."


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def staff(role):
    return user_set_role(user=UserFactory(), role=role)


@pytest.fixture
def reviewer():
    return staff(Role.REVIEWER)


@pytest.fixture
def moderator():
    return staff(Role.MODERATOR)


def stored_key(colour=(20, 140, 60), size=(1200, 800)) -> str:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buffer, "JPEG")
    return store_image(data=buffer.getvalue(), mime_type="image/jpeg", key_prefix="review-tests")


def at(minutes_ago: int):
    return timezone.now() - timedelta(minutes=minutes_ago)


def make_image(minutes_ago=10, **fields):
    fields.setdefault("generated_caption", GENERATED)
    fields.setdefault("reviewed_caption", None)
    image = ImageFactory(**fields)
    Image.objects.filter(pk=image.pk).update(created_at=at(minutes_ago))
    return Image.objects.get(pk=image.pk)


@pytest.fixture
def image():
    return make_image(
        local_path=stored_key(),
        caption_quality_score=55,
        needs_special_review=True,
        reviewer_notes='The caption hedges ("appears to").\nThe caption is short.',
        original_caption="IMG_2041.jpg",
        post__post_id="112233445566778899",
        post__post_content="<p>Evening at the lake &amp; a heron.</p><p>Second line</p>",
    )


def review(image, **params) -> str:
    url = reverse("admin:captions_image_review", args=[image.pk])
    if params:
        from urllib.parse import urlencode

        url += "?" + urlencode(params)
    return url


def queue(**params) -> str:
    from urllib.parse import urlencode

    url = reverse("admin:captions_image_review_next")
    return url + ("?" + urlencode(params) if params else "")


def skipped_of(location: str) -> list[int]:
    values = parse_qs(urlsplit(location).query).get("_skip", [""])[0]
    return [int(part) for part in values.split(",") if part]


def fresh(image) -> Image:
    return Image.objects.get(pk=image.pk)


# --- the page ---------------------------------------------------------------------------------------


def test_the_page_shows_everything_a_reviewer_needs(image, reviewer):
    sibling = make_image(post=image.post, attachment_index=1, local_path=stored_key())
    CaptionGenerationUserSettingsFactory(
        platform_connection=image.platform_connection, max_caption_length=420
    )

    response = client_of(reviewer).get(review(image))

    assert response.status_code == 200
    html = response.content.decode()
    assert f'src="{reverse("admin:captions_image_preview", args=[image.pk])}"' in html
    assert f'href="{reverse("admin:captions_image_original", args=[image.pk])}" target="_blank"' in html
    # The generated caption is already in the editor, with the image's real limit for the counter.
    form = response.context["form"]
    assert form["caption"].value() == GENERATED
    assert f">\n{GENERATED}</textarea>" in html
    assert 'data-limit="420"' in html
    assert f">{len(GENERATED)} / 420</output>" in html
    # Context: the post's text (as text, not HTML), its other images, the original alt text.
    assert "Evening at the lake &amp; a heron." in html and "<p>Evening" not in html
    assert reverse("admin:captions_image_review", args=[sibling.pk]) in html
    assert "IMG_2041.jpg" in html
    # Score, its reasons, flags, the short post id with the whole one on hover.
    assert ">55</strong> (fair)" in html
    assert "The caption hedges (&quot;appears to&quot;)." in html and "<li>The caption is short.</li>" in html
    assert "Needs special review" in html
    assert 'title="112233445566778899">Post …778899' in html
    # The buttons, each with its shortcut listed on the page, and the script and styles as files.
    for label, keys in [("Save", "Ctrl+S"), ("Approve", "Ctrl+Enter"), ("Reject", "Alt+Shift+R"),
                        ("Regenerate", "Alt+Shift+G"), ("Skip (next in queue)", "Alt+Shift+N")]:  # fmt: skip
        assert f"<kbd>{keys}</kbd></dt><dd>{label}</dd>" in html
    assert 'value="approve_post"' in html, "reviewers post too (docs/roles.md)"
    assert "/static/captions/review.js" in html and "/static/captions/review.css" in html
    assert "<script>" not in html and "style=" not in html


def test_the_editor_holds_the_reviewed_caption_when_there_is_one(reviewer):
    image = make_image(reviewed_caption=EDITED, status=S.REVIEWED)
    response = client_of(reviewer).get(review(image))
    assert response.context["form"]["caption"].value() == EDITED


def test_flags_for_a_processing_error_and_a_caption_over_the_limit(reviewer):
    image = make_image(
        status=S.ERROR, processing_error="Posting failed: HTTP 500", generated_caption="x" * 30
    )
    connection = image.platform_connection
    connection.extra = {"description_limit": 20}
    connection.save(update_fields=["extra"])
    html = client_of(reviewer).get(review(image)).content.decode()
    assert "Processing error" in html and "Posting failed: HTTP 500" in html
    assert "Over limit" in html and "30 characters; this image allows 20." in html
    assert 'class="sd-counter sd-over-limit"' in html


def test_history_says_who_reviewed_and_when(reviewer, moderator):
    image = make_image(status=S.APPROVED, final_caption=EDITED, reviewed_by=moderator, reviewed_at=at(5))
    html = client_of(reviewer).get(review(image)).content.decode()
    assert f"<dt>Reviewed</dt><dd>{moderator}" in html
    assert "<dt>Approved caption</dt>" in html


@pytest.mark.parametrize("object_id", ["987654321", "not-a-number"])
def test_a_missing_image_is_a_404(reviewer, object_id):
    client = client_of(reviewer)
    for name in ("review", "preview", "original"):
        url = reverse(f"admin:captions_image_{name}", args=[object_id])
        assert client.get(url).status_code == 404, name
    assert (
        client.post(
            reverse("admin:captions_image_review", args=[object_id]), {"action": "approve"}
        ).status_code
        == 404
    )


def test_an_image_outside_the_admins_queryset_is_a_404(image, reviewer, monkeypatch):
    """The page reads through ImageAdmin.get_queryset, so whatever scoping it applies holds here."""
    from django.contrib import admin

    model_admin = admin.site._registry[Image]
    original = type(model_admin).get_queryset
    monkeypatch.setattr(
        type(model_admin), "get_queryset", lambda self, request: original(self, request).exclude(pk=image.pk)
    )
    assert client_of(reviewer).get(review(image)).status_code == 404
    assert (
        client_of(reviewer).post(review(image), {"action": "approve", "caption": GENERATED}).status_code
        == 404
    )
    assert fresh(image).status == S.PENDING


def test_staff_without_view_permission_get_403(image):
    # Their own image, so that scoping (another user's image is a 404) is not what refuses them.
    bare = image.platform_connection.user
    bare.is_staff = True
    bare.save()
    assert client_of(bare).get(review(image)).status_code == 403
    assert client_of(bare).get(queue()).status_code == 403


def test_a_role_that_may_only_view_sees_the_page_read_only(image):
    looker = user_set_role(user=image.platform_connection.user, role=Role.VIEWER)
    client = client_of(looker)

    response = client.get(review(image))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<textarea" not in html and 'name="action"' not in html
    assert GENERATED in html and "You may look at this caption but not change it." in html

    for action in ("save", "approve", "reject", "regenerate", "approve_post"):
        assert client.post(review(image), {"action": action, "caption": EDITED}).status_code == 403
    assert fresh(image).status == S.PENDING and fresh(image).reviewed_caption is None


# --- the buttons --------------------------------------------------------------------------------------


def test_save_edits_through_the_service_and_moves_on(image, reviewer):
    following = make_image(minutes_ago=20)
    response = client_of(reviewer).post(
        review(image), {"action": "save", "caption": "  A heron\r\n\r\n\r\nat  dusk. "}
    )

    assert response.status_code == 302
    saved = fresh(image)
    assert (saved.status, saved.reviewed_caption, saved.reviewed_by) == (
        S.REVIEWED,
        "A heron\n\nat dusk.",
        reviewer,
    )
    assert AuditLog.objects.filter(action="caption.edited", resource_id=str(image.pk), user=reviewer).exists()
    # Still awaiting approval, so the walk passes over it to the next.
    assert response["Location"].startswith(queue())
    assert skipped_of(response["Location"]) == [image.pk]
    follow = client_of(reviewer).get(response["Location"])
    assert follow["Location"].startswith(review(following))


def test_approve_unchanged_takes_the_generated_caption(image, reviewer):
    response = client_of(reviewer).post(review(image), {"action": "approve", "caption": GENERATED + "\r\n"})
    assert response.status_code == 302
    approved = fresh(image)
    assert (approved.status, approved.final_caption, approved.reviewed_caption) == (
        S.APPROVED,
        GENERATED,
        None,
    )
    assert approved.reviewed_by == reviewer and approved.reviewed_at is not None
    assert AuditLog.objects.filter(action="caption.approved", resource_id=str(image.pk)).exists()
    assert skipped_of(response["Location"]) == [], "approved: no longer in the queue anyway"


def test_approve_with_an_edit_approves_the_edited_text(image, reviewer):
    client_of(reviewer).post(review(image), {"action": "approve", "caption": EDITED})
    approved = fresh(image)
    assert (approved.status, approved.final_caption, approved.reviewed_caption) == (
        S.APPROVED,
        EDITED,
        EDITED,
    )


@pytest.mark.parametrize("action", ["save", "approve"])
def test_a_caption_over_the_limit_is_a_form_error_and_nothing_changes(image, reviewer, action):
    connection = image.platform_connection
    connection.extra = {"description_limit": 10}
    connection.save(update_fields=["extra"])

    response = client_of(reviewer).post(review(image), {"action": action, "caption": "Abcd\r\n\r\nefghi"})

    assert response.status_code == 400
    assert response.context["form"].errors["caption"] == [
        "The caption has 11 characters; this image allows 10."
    ]
    html = response.content.decode()
    assert "has 11 characters; this image allows 10" in html
    assert html.index("errorlist") < html.index("<textarea"), "the error is next to the editor"
    assert "Abcd\n\nefghi</textarea>" in html.replace("\r\n", "\n"), "what was typed is kept"
    unchanged = fresh(image)
    assert (unchanged.status, unchanged.reviewed_caption, unchanged.final_caption) == (S.PENDING, None, None)
    assert not AuditLog.objects.filter(resource_type="image", resource_id=str(image.pk)).exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"action": "save", "caption": "   \r\n "}, "caption"),
        ({"action": "regenerate", "instruction": "x" * (INSTRUCTION_MAX_CHARS + 1)}, "instruction"),
        ({"action": "reject", "notes": "x" * 5001}, "notes"),
        ({"action": "explode"}, "action"),
    ],
)
def test_bad_input_is_a_form_error_and_nothing_changes(image, reviewer, data, field):
    response = client_of(reviewer).post(review(image), data)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    unchanged = fresh(image)
    assert (unchanged.status, unchanged.generated_caption, unchanged.reviewed_caption) == (
        S.PENDING,
        GENERATED,
        None,
    )


def test_reject_with_a_reason(image, reviewer):
    response = client_of(reviewer).post(
        review(image), {"action": "reject", "notes": " Not a heron: a stork. "}
    )
    assert response.status_code == 302
    rejected = fresh(image)
    assert (rejected.status, rejected.reviewer_notes, rejected.reviewed_by) == (
        S.REJECTED,
        "Not a heron: a stork.",
        reviewer,
    )
    assert AuditLog.objects.filter(action="caption.rejected", resource_id=str(image.pk)).exists()


def test_regenerate_with_an_instruction_asks_the_model_again(
    image, reviewer, settings, django_capture_on_commit_callbacks
):
    settings.AI_BACKEND = "builtin"
    with django_capture_on_commit_callbacks(execute=True):
        response = client_of(reviewer).post(
            review(image), {"action": "regenerate", "instruction": "Mention the reeds.", "caption": "ignored"}
        )
    assert response.status_code == 302
    regenerated = fresh(image)  # the task runs in-process in tests (Q_CLUSTER sync)
    assert regenerated.status == S.PENDING
    assert regenerated.generated_caption and regenerated.generated_caption != GENERATED
    assert "The reviewer asks for this image: Mention the reeds." in regenerated.prompt_used
    assert REVIEW_NOTE in regenerated.reviewer_notes
    audit = AuditLog.objects.get(action="caption.regenerate_requested", resource_id=str(image.pk))
    assert audit.details == {"from": S.PENDING, "instruction": "Mention the reeds."}
    assert skipped_of(response["Location"]) == [image.pk], "back in the queue later, not now"


def test_a_service_refusal_is_a_message_and_nothing_changes(image, reviewer):
    # Someone else rejected it after the page was loaded: approving from rejected is not allowed.
    Image.objects.filter(pk=image.pk).update(status=S.POSTED, final_caption="Posted words.")
    response = client_of(reviewer).post(review(image), {"action": "approve", "caption": EDITED})
    assert response.status_code == 409
    assert "This caption is posted: “Approve” is not possible now." in response.content.decode()
    assert fresh(image).final_caption == "Posted words."


def test_a_domain_error_from_a_service_is_shown_on_the_page(image, reviewer, monkeypatch):
    from captions.errors import InvalidTransition
    from captions.services import review as review_service

    def approved_meanwhile(**kwargs):
        Image.objects.filter(pk=image.pk).update(status=S.APPROVED, final_caption="Someone else's words.")
        raise InvalidTransition("A caption that is approved cannot become approved.")

    monkeypatch.setattr(review_service, "caption_approve", approved_meanwhile)
    response = client_of(reviewer).post(review(image), {"action": "approve", "caption": EDITED})
    assert response.status_code == 409
    html = response.content.decode()
    assert "A caption that is approved cannot become approved." in html
    assert response.context["form"]["caption"].value() == EDITED, "the typed text is kept"
    assert '<strong id="sd-review-status">Approved</strong>' in html, "the image as it is now"
    assert 'value="approve"' not in html
    assert fresh(image).final_caption == "Someone else's words."


def test_regenerate_is_not_offered_once_approved(reviewer):
    image = make_image(status=S.APPROVED, final_caption=GENERATED)
    html = client_of(reviewer).get(review(image)).content.decode()
    assert 'value="regenerate"' not in html and 'value="approve"' not in html
    assert 'value="save"' in html, "an approved caption may still be edited"


# --- posting --------------------------------------------------------------------------------------


@pytest.fixture
def on_mastodon(httpserver):
    fake = FakeMastodon(httpserver)
    status = fake.add_status(text="Two birds", media=["A crow.", None])
    connection = PlatformConnectionFactory(instance_url=fake.base_url, access_token=fake.token)
    post = PostFactory(platform_connection=connection, post_id=status["id"])
    image = make_image(post=post, image_post_id=status["media_attachments"][1]["id"], attachment_index=1)
    return fake, status, image


def test_approve_and_post_writes_the_caption_to_the_platform(on_mastodon, moderator):
    fake, status, image = on_mastodon
    client = client_of(moderator)
    assert 'value="approve_post"' in client.get(review(image)).content.decode()

    response = client.post(review(image), {"action": "approve_post", "caption": EDITED}, follow=True)

    posted = fresh(image)
    assert (posted.status, posted.final_caption) == (S.POSTED, EDITED)
    assert [m["description"] for m in fake.status(status["id"])["media_attachments"]] == ["A crow.", EDITED]
    assert "Approved and posted the caption" in response.content.decode()
    assert AuditLog.objects.filter(
        action="caption.posted", resource_id=str(image.pk), user=moderator
    ).exists()
    # Idempotent, as in the API: posting the posted image again sends nothing.
    puts = fake.count("PUT", f"/api/v1/statuses/{status['id']}")
    client.post(review(image), {"action": "post"})
    assert fake.count("PUT", f"/api/v1/statuses/{status['id']}") == puts


def test_a_failed_post_stays_on_the_image_with_the_reason(on_mastodon, moderator):
    fake, status, image = on_mastodon
    fake.error_next(f"/api/v1/statuses/{status['id']}", method="PUT", status=403)

    client = client_of(moderator)
    response = client.post(review(image), {"action": "approve_post", "caption": EDITED})

    assert response["Location"].startswith(review(image))
    failed = fresh(image)
    assert failed.status == S.ERROR and failed.final_caption == EDITED
    page = client.get(response["Location"]).content.decode()
    assert "Approved, but not posted: Posting failed" in page


def test_posting_needs_the_post_permission(on_mastodon):
    _fake, _status, image = on_mastodon
    owner = image.platform_connection.user
    owner.is_staff = True
    owner.save()
    owner.user_permissions.add(*Permission.objects.filter(codename__in=["view_image", "review_image"]))
    response = client_of(owner).post(review(image), {"action": "approve_post", "caption": EDITED})
    assert response.status_code == 403
    assert fresh(image).status == S.PENDING


def test_the_post_button_posts_an_approved_caption(on_mastodon, moderator):
    _fake, _status, image = on_mastodon
    Image.objects.filter(pk=image.pk).update(status=S.APPROVED, final_caption=EDITED)
    response = client_of(moderator).post(review(image), {"action": "post"})
    assert response.status_code == 302
    assert fresh(image).status == S.POSTED


# --- the queue ------------------------------------------------------------------------------------


def test_the_queue_starts_with_the_first_awaiting_image_in_the_lists_order(reviewer):
    older = make_image(minutes_ago=30)
    newest_approved = make_image(minutes_ago=1, status=S.APPROVED, final_caption=GENERATED)
    newer_reviewed = make_image(minutes_ago=5, status=S.REVIEWED, reviewed_caption=EDITED)
    make_image(minutes_ago=2, status=S.REJECTED)
    client = client_of(reviewer)

    first = client.get(queue())
    assert first.status_code == 302 and first["Location"] == review(newer_reviewed)
    second = client.get(queue(_skip=f"{newer_reviewed.pk}"))
    assert second["Location"] == review(older, _skip=str(newer_reviewed.pk))
    assert newest_approved.pk  # approved and rejected captions are not in the queue


def test_the_queue_honours_the_lists_filters_and_search(reviewer):
    heron = make_image(minutes_ago=30, generated_caption="A heron in reeds.")
    make_image(minutes_ago=5, generated_caption="A red bicycle.")
    reviewed = make_image(
        minutes_ago=20, status=S.REVIEWED, generated_caption="A bird.", reviewed_caption="A crow."
    )
    client = client_of(reviewer)

    response = client.get(queue(q="heron"))
    assert response["Location"] == review(heron, _changelist_filters="q=heron")
    response = client.get(queue(status__exact="reviewed"))
    assert response["Location"] == review(reviewed, _changelist_filters="status__exact=reviewed")
    # Ordered as the list is when asked (`o` numbers the list's columns, the checkbox first):
    # by the post column, which sorts by when the image was found, oldest first.
    from django.contrib import admin

    column = str(admin.site._registry[Image].list_display.index("short_post") + 1)
    response = client.get(queue(o=column))
    assert response["Location"] == review(heron, _changelist_filters=f"o={column}")


def test_after_an_action_the_walk_keeps_the_filters(reviewer):
    first = make_image(minutes_ago=5, generated_caption="A heron in reeds.")
    second = make_image(minutes_ago=30, generated_caption="Another heron.")
    make_image(minutes_ago=1, generated_caption="A bicycle.")
    client = client_of(reviewer)

    response = client.post(
        review(first, _changelist_filters="q=heron"), {"action": "approve", "caption": "A heron in reeds."}
    )
    assert response["Location"] == queue(q="heron")
    assert client.get(response["Location"])["Location"] == review(second, _changelist_filters="q=heron")


def test_skip_leads_to_the_next_and_excludes_this_one(image, reviewer):
    following = make_image(minutes_ago=20)
    client = client_of(reviewer)
    page = client.get(review(image))
    skip = page.context["skip_url"]
    assert skip == queue(_skip=str(image.pk))
    assert f'href="{skip.replace("&", "&amp;")}"' in page.content.decode()
    assert client.get(skip)["Location"] == review(following, _skip=str(image.pk))


def test_an_empty_queue_says_so_with_a_way_back(reviewer):
    skipped = make_image()
    response = client_of(reviewer).get(queue(_skip=str(skipped.pk), status__exact="pending"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "All caught up: no caption awaits review" in html
    assert f'href="{reverse("admin:captions_image_changelist")}?status__exact=pending"' in html
    assert "1 image you skipped, saved or sent back to the model on this walk is left out." in html
    assert f'href="{queue(status__exact="pending")}"' in html


def test_a_bad_filter_falls_back_to_the_whole_queue(image, reviewer):
    response = client_of(reviewer).get(queue(status__nonsense="x"), follow=True)
    assert response.redirect_chain[0][0] == review(image)
    assert "filters could not be applied" in response.content.decode()


# --- the list ------------------------------------------------------------------------------------


def test_the_list_links_rows_to_the_review_page_and_shows_the_caption(image, reviewer):
    response = client_of(reviewer).get(
        reverse("admin:captions_image_changelist"), {"status__exact": "pending"}
    )
    html = response.content.decode()
    assert f'href="{review(image)}?_changelist_filters=status__exact%3Dpending"' in html
    assert GENERATED in html
    assert 'title="112233445566778899">…778899' in html
    assert f'href="{reverse("admin:captions_image_review_next")}?status__exact=pending"' in html
    assert "/static/captions/review.css" in html
    # The change page stays reachable, from the review page.
    assert (
        reverse("admin:captions_image_change", args=[image.pk])
        in client_of(reviewer).get(review(image)).content.decode()
    )


# --- bulk approve -----------------------------------------------------------------------------------


def test_bulk_approve_shows_what_it_will_approve_first(reviewer):
    pending = make_image(local_path=stored_key(), generated_caption="A crow on a fence.")
    edited = make_image(status=S.REVIEWED, reviewed_caption="A magpie, edited.")
    rejected = make_image(status=S.REJECTED, generated_caption="A rejected caption.")
    ids = [pending.pk, edited.pk, rejected.pk]
    client = client_of(reviewer)
    url = reverse("admin:captions_image_changelist")

    page = client.post(url, {"action": "approve_selected", "_selected_action": ids})

    assert page.status_code == 200
    html = page.content.decode()
    assert "2 of the 3 selected captions will be approved" in html
    assert "A crow on a fence." in html and "A magpie, edited." in html and "A rejected caption." in html
    assert reverse("admin:captions_image_thumbnail", args=[pending.pk]) in html
    assert "Left as it is (rejected)" in html
    assert 'name="post" value="yes"' in html
    assert set(Image.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        S.PENDING,
        S.REVIEWED,
        S.REJECTED,
    }

    done = client.post(
        url, {"action": "approve_selected", "_selected_action": ids, "post": "yes"}, follow=True
    )

    assert "2 caption(s) approved" in done.content.decode()
    assert fresh(pending).status == fresh(edited).status == S.APPROVED
    assert fresh(edited).final_caption == "A magpie, edited."
    assert fresh(rejected).status == S.REJECTED


# --- the pictures ---------------------------------------------------------------------------------


def test_the_preview_is_640_px_and_the_original_is_the_stored_image(image, reviewer, client):
    reviewer_client = client_of(reviewer)
    preview = reviewer_client.get(reverse("admin:captions_image_preview", args=[image.pk]))
    assert preview.status_code == 200 and preview["Cache-Control"].startswith("private")
    assert max(PILImage.open(io.BytesIO(preview.content)).size) == 640
    original = reviewer_client.get(reverse("admin:captions_image_original", args=[image.pk]))
    assert original.status_code == 200 and original["Content-Type"] == "image/jpeg"
    assert PILImage.open(io.BytesIO(b"".join(original.streaming_content))).size == (1200, 800)
    anonymous = client.get(reverse("admin:captions_image_original", args=[image.pk]))
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]


def test_no_pictures_without_a_stored_copy(reviewer):
    image = make_image(local_path="")
    client = client_of(reviewer)
    assert client.get(reverse("admin:captions_image_preview", args=[image.pk])).status_code == 404
    assert client.get(reverse("admin:captions_image_original", args=[image.pk])).status_code == 404
    assert "No stored copy of this image." in client.get(review(image)).content.decode()


def test_the_change_page_links_to_the_review_page(image, reviewer):
    url = reverse("admin:captions_image_change", args=[image.pk])
    html = client_of(reviewer).get(url, {"_changelist_filters": "q=heron"}).content.decode()
    assert f'href="{review(image)}?_changelist_filters=q%3Dheron"' in html


@pytest.mark.parametrize("platform_type", ["x", "linkedin"])
def test_approve_and_post_is_not_offered_where_the_platform_takes_no_descriptions(moderator, platform_type):
    image = make_image(post__platform_connection__platform_type=platform_type)
    client = client_of(moderator)
    html = client.get(review(image)).content.decode()
    assert 'value="approve"' in html and 'value="approve_post"' not in html
    response = client.post(review(image), {"action": "approve_post", "caption": EDITED})
    assert response.status_code == 409
    assert fresh(image).status == S.PENDING


def test_an_edited_caption_is_scored_by_the_same_rules(reviewer):
    from captions.quality import caption_quality

    edited = "this image shows a heron, maybe"
    image = make_image(status=S.REVIEWED, reviewed_caption=edited, caption_quality_score=88)
    CaptionGenerationUserSettingsFactory(
        platform_connection=image.platform_connection, optimal_min_length=40, optimal_max_length=200
    )
    report = caption_quality(text=edited, optimal_min=40, optimal_max=200, limit=500)

    html = client_of(reviewer).get(review(image)).content.decode()

    assert ">88</strong> (good)" in html, "the stored score is the generated caption's"
    scored = f'<strong class="sd-score sd-score-{report.level}">{report.score}</strong> ({report.level})'
    assert "The edited wording scores" in html and scored in html
    for issue in report.issues:
        assert f"<li>{escape(issue)}</li>" in html


def test_the_change_page_offers_the_generated_caption_to_edit_and_saves_only_a_change(image, reviewer):
    url = reverse("admin:captions_image_change", args=[image.pk])
    client = client_of(reviewer)
    assert client.get(url).context["adminform"].form["reviewed_caption"].value() == GENERATED
    assert client.post(url, {"reviewed_caption": GENERATED}).status_code == 302
    assert (fresh(image).status, fresh(image).reviewed_caption) == (S.PENDING, None), (
        "unchanged: nothing saved"
    )
    client.post(url, {"reviewed_caption": EDITED})
    assert (fresh(image).status, fresh(image).reviewed_caption) == (S.REVIEWED, EDITED)


def test_bulk_approve_of_every_filtered_row_is_confirmed_for_the_same_rows(reviewer):
    herons = [make_image(generated_caption=f"A heron, number {n}.") for n in range(3)]
    bicycle = make_image(generated_caption="A bicycle.")
    url = reverse("admin:captions_image_changelist") + "?q=heron"
    client = client_of(reviewer)
    data = {"action": "approve_selected", "_selected_action": [herons[0].pk], "select_across": "1"}

    page = client.post(url, data)

    html = page.content.decode()
    assert "3 of the 3 selected captions will be approved" in html
    assert 'name="select_across" value="1"' in html
    client.post(url, {**data, "post": "yes"})
    assert {fresh(image).status for image in herons} == {S.APPROVED}
    assert fresh(bicycle).status == S.PENDING
