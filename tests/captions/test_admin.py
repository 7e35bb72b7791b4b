import pytest
from django.urls import reverse

from captions.models import ImageStatus
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


@pytest.mark.parametrize("model", list(SEARCHES))
def test_add_page_renders(admin_client, model):
    assert admin_client.get(reverse(f"admin:captions_{model}_add")).status_code == 200


def test_image_review_queue_shows_the_columns_moderators_need(admin_client, image):
    response = admin_client.get(reverse("admin:captions_image_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "A heron standing in shallow water" in html
    assert "with reeds behind it " * 10 not in html  # truncated
    assert image.platform_connection.name in html
    assert image.post.post_id in html
    assert ">72<" in html
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
