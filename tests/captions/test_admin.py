import pytest
from django.urls import reverse

from captions.models import ImageStatus
from tests.admin_pages import assert_change_page, form_fields, readonly_fields
from tests.factories.captions import (
    CaptionGenerationTaskFactory,
    CaptionGenerationUserSettingsFactory,
    ImageCaptionFactory,
    ImageFactory,
    ProcessingRunFactory,
)

pytestmark = pytest.mark.django_db

SECRET_TOKEN = "captions-admin-secret-token-0123456789"


@pytest.fixture
def image():
    image = ImageFactory(
        post__platform_connection__access_token=SECRET_TOKEN,
        post__platform_connection__client_secret=SECRET_TOKEN + "-client",
        generated_caption="A heron standing in shallow water at dusk, " + "with reeds behind it " * 10,
        reviewed_caption=None,
        caption_quality_score=72,
        needs_special_review=True,
    )
    ImageFactory(post=image.post, attachment_index=1, status=ImageStatus.APPROVED)
    return image


@pytest.fixture
def rows(image):
    connection = image.platform_connection
    task = CaptionGenerationTaskFactory(
        platform_connection=connection, progress_percent=42, current_step="captioning image 3 of 7"
    )
    return {
        "post": image.post,
        "image": image,
        "captiongenerationtask": task,
        "processingrun": ProcessingRunFactory(platform_connection=connection, task=task),
        "captiongenerationusersettings": CaptionGenerationUserSettingsFactory(platform_connection=connection),
        "imagecaption": ImageCaptionFactory(user=connection.user),
    }


def _assert_no_secrets(response):
    html = response.content.decode()
    assert SECRET_TOKEN not in html
    return html


SEARCHES = {
    "post": lambda rows: rows["post"].post_id,
    "image": lambda rows: rows["image"].image_post_id,
    "captiongenerationtask": lambda rows: rows["captiongenerationtask"].user.username,
    "processingrun": lambda rows: rows["processingrun"].batch_id,
    "captiongenerationusersettings": lambda rows: rows["captiongenerationusersettings"].user.username,
    "imagecaption": lambda rows: "bicycle",
}


@pytest.mark.parametrize("model", list(SEARCHES))
def test_changelist_search_and_change_page(admin_client, rows, model):
    url = reverse(f"admin:captions_{model}_changelist")
    _assert_no_secrets(admin_client.get(url))
    response = admin_client.get(url, {"q": SEARCHES[model](rows)})
    assert response.status_code == 200
    _assert_no_secrets(response)
    assert rows[model] in response.context["cl"].result_list
    response = admin_client.get(reverse(f"admin:captions_{model}_change", args=[rows[model].pk]))
    assert response.status_code == 200
    _assert_no_secrets(response)
    assert response.context["original"] == rows[model]
    shows, editable, inlines = CHANGE_PAGES[model]
    assert_change_page(response, shows=shows, editable=editable, inlines=inlines)


# Per model: fields its change page must show, the only editable ones where that is the point
# (None: not pinned), and its inlines.
CHANGE_PAGES = {
    "post": (["post_id", "platform_connection", "post_url", "post_content"], None, ["image"]),
    # A moderator edits the reviewed caption; everything else on an image comes from the scan.
    "image": (
        ["thumbnail_large", "post", "original_caption", "generated_caption", "reviewed_caption",
         "characters", "final_caption", "score", "needs_special_review", "reviewer_notes", "status"],
        {"reviewed_caption"},
        [],
    ),
    # A task is the worker's record: nothing on it is edited by hand.
    "captiongenerationtask": (
        ["user", "platform_connection", "status", "progress", "current_step", "error_message"],
        set(),
        ["processingrun"],
    ),
    "processingrun": (["task", "batch_id", "status", "images_processed", "captions_generated"], None, []),
    "captiongenerationusersettings": (
        ["user", "platform_connection", "max_caption_length", "optimal_min_length", "optimal_max_length"],
        None,
        [],
    ),
    "imagecaption": (["user", "image_path", "caption_text"], None, []),
}  # fmt: skip


def test_the_task_page_shows_its_progress(admin_client, rows):
    task = rows["captiongenerationtask"]
    response = admin_client.get(reverse("admin:captions_captiongenerationtask_change", args=[task.pk]))
    html = response.content.decode()
    assert "captioning image 3 of 7" in html
    assert '<progress value="42" max="100"' in html
    assert rows["processingrun"].batch_id in html  # the inline


# Images come from scans: no add page. Caption tasks have the scan form (tests/captions/test_admin_start.py).
NO_ADD = {"image", "captiongenerationtask"}
NO_MODEL_FORM = {"captiongenerationtask"}

ADD_FIELDS = {
    "post": ["post_id", "platform_connection", "post_content"],
    "processingrun": ["user", "platform_connection", "batch_id", "status"],
    "captiongenerationusersettings": ["user", "platform_connection", "max_caption_length"],
    "imagecaption": ["user", "image_path", "caption_text"],
}


@pytest.mark.parametrize("model", [model for model in SEARCHES if model not in NO_ADD])
def test_add_page_renders(admin_client, model):
    response = admin_client.get(reverse(f"admin:captions_{model}_add"))
    assert response.status_code == 200
    assert response.context["add"] is True and response.context["original"] is None
    assert set(ADD_FIELDS[model]) <= set(form_fields(response)) - readonly_fields(response)
    assert 'name="_save"' in response.content.decode()


@pytest.mark.parametrize("model", sorted(NO_ADD - NO_MODEL_FORM))
def test_no_add_page_where_rows_come_from_services(admin_client, model):
    assert admin_client.get(reverse(f"admin:captions_{model}_add")).status_code == 403


def test_image_review_queue_shows_the_columns_moderators_need(admin_client, image):
    response = admin_client.get(reverse("admin:captions_image_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "A heron standing in shallow water" in html
    assert "with reeds behind it " * 10 not in html  # truncated
    assert image.platform_connection.name in html
    assert image.post.post_id in html
    assert ">72<" in html and "good" in html
    assert "needs review" in html
    assert f"{len(' '.join(image.generated_caption.split()))} / 500" in html
    assert not response.context["cl"].show_full_result_count


@pytest.mark.parametrize(
    "query",
    [
        {"status__exact": "pending"},
        {"needs_special_review__exact": "1"},
        {"image_category__exact": "landscape"},
        {"platform_connection__platform_type": "mastodon"},
        {"q": "heron"},
        {"q": "nothing-matches-this"},
    ],
)
def test_image_filters_and_caption_search(admin_client, image, query):
    response = admin_client.get(reverse("admin:captions_image_changelist"), query)
    assert response.status_code == 200
    expected = 0 if query.get("q") == "nothing-matches-this" or "image_category__exact" in query else 1
    assert len(response.context["cl"].result_list) >= expected


def test_image_search_finds_by_post_id(admin_client, image):
    response = admin_client.get(reverse("admin:captions_image_changelist"), {"q": image.post.post_id})
    assert list(response.context["cl"].result_list) == list(image.post.images.order_by("-created_at", "-pk"))


def test_post_change_page_lists_its_images_read_only(admin_client, image):
    response = admin_client.get(reverse("admin:captions_post_change", args=[image.post.pk]))
    html = _assert_no_secrets(response)
    assert "A heron standing in shallow water" in html
    assert 'name="images-0-status"' not in html  # the inline is read-only


def test_task_admin_shows_progress(admin_client, rows):
    response = admin_client.get(reverse("admin:captions_captiongenerationtask_changelist"))
    html = response.content.decode()
    assert '<progress value="42" max="100"' in html
    assert "captioning image 3 of 7" in html


# --- the review queue (issue 4) ----------------------------------------------------------------


def staff(role):
    from accounts.services.users import user_set_role
    from tests.factories.accounts import UserFactory

    return user_set_role(user=UserFactory(), role=role)


def client_of(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def stored_image(image):
    import io

    from PIL import Image as PILImage

    from captions.images import store_image
    from captions.models import Image

    buffer = io.BytesIO()
    PILImage.new("RGB", (400, 300), (20, 140, 60)).save(buffer, "JPEG")
    key = store_image(data=buffer.getvalue(), mime_type="image/jpeg", key_prefix="admin-tests")
    Image.objects.filter(pk=image.pk).update(local_path=key)
    image.local_path = key
    return image


def changelist():
    return reverse("admin:captions_image_changelist")


def thumbnail(image):
    return reverse("admin:captions_image_thumbnail", args=[image.pk])


def test_the_queue_shows_a_thumbnail_from_the_admin_only_view(admin_client, stored_image):
    html = admin_client.get(changelist()).content.decode()
    assert f'src="{thumbnail(stored_image)}"' in html
    assert "/media/" not in html


def test_the_thumbnail_view_serves_a_small_copy_to_staff_only(admin_client, client, stored_image):
    import io

    from PIL import Image as PILImage

    from accounts.models import Role

    response = admin_client.get(thumbnail(stored_image))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"].startswith("private")
    assert max(PILImage.open(io.BytesIO(response.content)).size) <= 96
    assert admin_client.get(thumbnail(stored_image), HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304

    anonymous = client.get(thumbnail(stored_image))
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    # Another user's image is a 404; its owner and reviewers (everyone's caption queue) see it.
    assert client_of(staff(Role.USER)).get(thumbnail(stored_image)).status_code == 404
    owner = stored_image.platform_connection.user
    from accounts.services.users import user_set_role

    user_set_role(user=owner, role=Role.USER)
    assert client_of(owner).get(thumbnail(stored_image)).status_code == 200
    assert client_of(staff(Role.REVIEWER)).get(thumbnail(stored_image)).status_code == 200


def test_a_staff_member_without_view_permission_gets_no_thumbnail(stored_image):
    owner = stored_image.platform_connection.user
    type(owner).objects.filter(pk=owner.pk).update(is_staff=True)  # staff, but in no role group
    owner.refresh_from_db()
    assert client_of(owner).get(thumbnail(stored_image)).status_code == 403


@pytest.mark.parametrize("local_path", ["", "captions/nowhere/missing.jpg", "../secret.png"])
def test_no_thumbnail_without_a_stored_copy(admin_client, image, local_path):
    from captions.models import Image

    Image.objects.filter(pk=image.pk).update(local_path=local_path)
    assert admin_client.get(thumbnail(image)).status_code == 404


def test_characters_over_the_limit_are_marked(admin_client, image):
    connection = image.platform_connection
    connection.extra = {"description_limit": 50}
    connection.save(update_fields=["extra"])
    html = admin_client.get(changelist()).content.decode()
    assert f"{len(' '.join(image.generated_caption.split()))} / 50</strong>" in html
    assert "over limit" in html


@pytest.mark.parametrize(("quality", "expected"), [("good", 1), ("poor", 0), ("unscored", 1)])
def test_quality_filter(admin_client, image, quality, expected):
    response = admin_client.get(changelist(), {"quality": quality})
    assert len(response.context["cl"].result_list) == expected


def test_a_queue_page_costs_the_same_queries_at_any_size(admin_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories.platforms import PlatformConnectionFactory

    def add(count):
        for _ in range(count):
            connection_row = PlatformConnectionFactory()
            CaptionGenerationUserSettingsFactory(platform_connection=connection_row, max_caption_length=90)
            ImageFactory(post__platform_connection=connection_row, local_path="captions/x/abc.jpg")

    def measure():
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(changelist())
        assert "/ 90" in response.content.decode()
        return len(response.context["cl"].result_list), len(queries.captured_queries)

    add(2)
    admin_client.get(changelist())  # warm the session and content-type caches
    small = measure()
    add(30)
    large = measure()
    assert (small[0], large[0]) == (2, 32)
    assert small[1] == large[1], (small, large)


def _act(client, action, images):
    """Run an action, confirmed (`post=yes`: bulk approve shows what it will approve first)."""
    selected = [image.pk for image in images]
    return client.post(
        changelist(), {"action": action, "_selected_action": selected, "post": "yes"}, follow=True
    )


def test_reviewers_approve_and_reject_in_bulk_through_the_services(image):
    from accounts.models import AuditLog, Role
    from captions.models import Image

    reviewer = staff(Role.REVIEWER)
    other = ImageFactory(generated_caption="Another caption.")
    response = _act(client_of(reviewer), "approve_selected", [image, other])
    assert "2 caption(s) approved" in response.content.decode()
    assert set(Image.objects.filter(pk__in=[image.pk, other.pk]).values_list("status", flat=True)) == {
        "approved"
    }
    assert AuditLog.objects.filter(action="caption.bulk_approved", user=reviewer).exists()
    response = _act(client_of(reviewer), "reject_selected", [image])
    assert Image.objects.get(pk=image.pk).status == "rejected"


def test_review_actions_need_the_review_permission(image):
    from django.contrib.auth.models import Permission

    from captions.models import Image
    from tests.factories.accounts import UserFactory

    viewer_staff = UserFactory(is_staff=True)
    viewer_staff.user_permissions.add(Permission.objects.get(codename="view_image"))
    client = client_of(viewer_staff)
    page = client.get(changelist()).content.decode()
    assert "approve_selected" not in page
    _act(client, "approve_selected", [image])
    assert Image.objects.get(pk=image.pk).status == ImageStatus.PENDING


def test_posting_needs_its_own_permission(image):
    from django.contrib.auth.models import Permission

    from accounts.models import Role

    # Every role that acts on captions holds it (as in the API); a viewer does not.
    for role in (Role.USER, Role.REVIEWER, Role.MODERATOR):
        assert "post_selected" in client_of(staff(role)).get(changelist()).content.decode()
    assert "post_selected" not in client_of(staff(Role.VIEWER)).get(changelist()).content.decode()
    # Without the permission (held through the role group), the action is not offered.
    reviewer = staff(Role.REVIEWER)
    reviewer.groups.clear()
    reviewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_image", "change_image", "review_image"])
    )
    reviewer_page = client_of(reviewer).get(changelist()).content.decode()
    assert "approve_selected" in reviewer_page and "post_selected" not in reviewer_page


def test_moderators_post_approved_captions_to_the_platform(httpserver):
    from accounts.models import Role
    from captions.models import Image
    from tests.factories.captions import PostFactory
    from tests.factories.platforms import PlatformConnectionFactory
    from tests.fakes.mastodon import FakeMastodon

    fake = FakeMastodon(httpserver)
    status = fake.add_status(text="Two birds", media=["A crow.", None])
    connection = PlatformConnectionFactory(instance_url=fake.base_url, access_token=fake.token)
    post = PostFactory(platform_connection=connection, post_id=status["id"])
    approved = ImageFactory(
        post=post,
        image_post_id=status["media_attachments"][1]["id"],
        attachment_index=1,
        status=ImageStatus.APPROVED,
        final_caption="A magpie on a fence.",
    )
    pending = ImageFactory(post=post, image_post_id="999", attachment_index=0)
    response = _act(client_of(staff(Role.MODERATOR)), "post_selected", [approved, pending])
    assert "1 caption(s) posted" in response.content.decode()
    assert Image.objects.get(pk=approved.pk).status == ImageStatus.POSTED
    assert Image.objects.get(pk=pending.pk).status == ImageStatus.PENDING
    after = fake.status(status["id"])
    assert [m["description"] for m in after["media_attachments"]] == ["A crow.", "A magpie on a fence."]


def test_posting_says_when_the_server_changed_the_post(httpserver):
    from accounts.models import Role
    from captions.models import Image
    from tests.factories.captions import PostFactory
    from tests.factories.platforms import PlatformConnectionFactory
    from tests.fakes.mastodon import FakeMastodon

    fake = FakeMastodon(httpserver)
    status = fake.add_status(text="Two birds", visibility="unlisted", media=[None])
    connection = PlatformConnectionFactory(instance_url=fake.base_url, access_token=fake.token)
    post = PostFactory(platform_connection=connection, post_id=status["id"])
    approved = ImageFactory(
        post=post,
        image_post_id=status["media_attachments"][0]["id"],
        attachment_index=0,
        status=ImageStatus.APPROVED,
        final_caption="A magpie on a fence.",
    )
    fake.edit_sets_visibility = "public"
    response = _act(client_of(staff(Role.MODERATOR)), "post_selected", [approved])
    page = response.content.decode()
    assert "0 caption(s) posted, 1 written but the server changed the post" in page
    assert Image.objects.get(pk=approved.pk).status == ImageStatus.ERROR


def test_the_change_form_edits_the_reviewed_caption_through_the_service(admin_client, image):
    from accounts.models import AuditLog
    from captions.models import Image

    url = reverse("admin:captions_image_change", args=[image.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="reviewed_caption"' in page
    assert 'name="status"' not in page and 'name="final_caption"' not in page
    response = admin_client.post(url, {"reviewed_caption": "  A heron   at dusk. "})
    assert response.status_code == 302
    image = Image.objects.get(pk=image.pk)
    assert (image.reviewed_caption, image.status) == ("A heron at dusk.", ImageStatus.REVIEWED)
    assert AuditLog.objects.filter(action="caption.edited", resource_id=str(image.pk)).exists()


def test_the_change_form_keeps_line_breaks(admin_client, image):
    from captions.models import Image

    url = reverse("admin:captions_image_change", args=[image.pk])
    # A browser's textarea sends CRLF line breaks.
    response = admin_client.post(url, {"reviewed_caption": "A poster:\r\nJAZZ  NIGHT\r\nFriday 8 pm"})
    assert response.status_code == 302
    assert Image.objects.get(pk=image.pk).reviewed_caption == "A poster:\nJAZZ NIGHT\nFriday 8 pm"


def test_the_change_form_counts_line_breaks_against_the_limit(admin_client, image):
    from captions.models import Image

    connection = image.platform_connection
    connection.extra = {"description_limit": 10}
    connection.save(update_fields=["extra"])
    url = reverse("admin:captions_image_change", args=[image.pk])
    response = admin_client.post(url, {"reviewed_caption": "Abcd\r\n\r\nefgh"})  # 10: fits
    assert response.status_code == 302
    response = admin_client.post(url, {"reviewed_caption": "Abcd\r\n\r\nefghi"})  # 11
    assert response.status_code == 200
    assert "has 11 characters; this image allows 10" in response.content.decode()
    assert Image.objects.get(pk=image.pk).reviewed_caption == "Abcd\n\nefgh"


def test_the_change_form_refuses_a_caption_over_the_limit(admin_client, image):
    from captions.models import Image

    connection = image.platform_connection
    connection.extra = {"description_limit": 10}
    connection.save(update_fields=["extra"])
    url = reverse("admin:captions_image_change", args=[image.pk])
    response = admin_client.post(url, {"reviewed_caption": "Much longer than ten."})
    assert response.status_code == 200
    assert "this image allows 10" in response.content.decode()
    assert Image.objects.get(pk=image.pk).status == ImageStatus.PENDING


def test_the_task_cancel_action(admin_client, rows):
    from captions.models import CaptionGenerationTask, TaskStatus

    queued = rows["captiongenerationtask"]
    done = CaptionGenerationTaskFactory(status=TaskStatus.COMPLETED)
    response = admin_client.post(
        reverse("admin:captions_captiongenerationtask_changelist"),
        {"action": "cancel_selected", "_selected_action": [queued.pk, done.pk]},
        follow=True,
    )
    assert "1 task(s) cancelled" in response.content.decode()
    assert CaptionGenerationTask.objects.get(pk=queued.pk).status == TaskStatus.CANCELLED
    assert CaptionGenerationTask.objects.get(pk=done.pk).status == TaskStatus.COMPLETED


def test_the_task_change_page_is_read_only(admin_client, rows):
    task = rows["captiongenerationtask"]
    page = admin_client.get(reverse("admin:captions_captiongenerationtask_change", args=[task.pk]))
    html = page.content.decode()
    assert 'name="status"' not in html and 'name="settings_json"' not in html


@pytest.mark.parametrize("prefix", ["/", "/socialdesk/"])
def test_thumbnail_urls_are_the_reversed_ones_under_any_script_prefix(prefix):
    from django.test.utils import override_script_prefix

    from captions.admin import _thumbnail_url

    with override_script_prefix(prefix):
        for image_id in (1, 10, 12345):
            expected = reverse("admin:captions_image_thumbnail", args=[image_id])
            assert _thumbnail_url(image_id=image_id) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "short", "x" * 79, "y" * 80, "z" * 81, "word " * 40, "naïve café " * 10, "e\u0301" * 90],
)
def test_previews_are_what_djangos_truncator_makes(text):
    from django.utils.text import Truncator

    from captions.admin import CAPTION_PREVIEW_CHARS, _preview

    assert _preview(text) == (Truncator(text).chars(CAPTION_PREVIEW_CHARS) or "—")


@pytest.mark.parametrize("model", ["captiongenerationtask", "processingrun"])
def test_task_and_run_pages_show_their_warnings(admin_client, model):
    warning = "The instance's description limit could not be read (<v2>: HTTP 404); held to 1500."
    factory = CaptionGenerationTaskFactory if model == "captiongenerationtask" else ProcessingRunFactory
    row = factory(warnings=[warning])
    html = admin_client.get(reverse(f"admin:captions_{model}_change", args=[row.pk])).content.decode()
    assert "could not be read (&lt;v2&gt;: HTTP 404); held to 1500." in html


def test_the_settings_page_offers_the_replies_setting(admin_client):
    row = CaptionGenerationUserSettingsFactory()
    page = admin_client.get(reverse("admin:captions_captiongenerationusersettings_change", args=[row.pk]))
    assert 'name="include_replies"' in page.content.decode()
    changelist = admin_client.get(reverse("admin:captions_captiongenerationusersettings_changelist"))
    assert "include_replies" in changelist.content.decode()
