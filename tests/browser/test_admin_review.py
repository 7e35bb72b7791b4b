"""A reviewer signs in to the admin, opens an image from the list, rewrites its caption on the change
page and approves it in bulk, confirming what the action will approve."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image as PILImage
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from accounts.models import AuditLog, Role
from captions.models import Image, ImageStatus
from tests.browser.chromium import screenshot
from tests.browser.pages import (
    PASSWORD,
    admin_login,
    messages,
    open_admin,
    path_of,
    row_checkbox,
    run_action,
    submit,
    wait,
)
from tests.factories.captions import ImageFactory

pytestmark = pytest.mark.browser

EDITED = "A grey heron stands in shallow water at dusk, reeds and a low sun behind it."


def stored_picture(colour: str) -> str:
    """A real stored image, so the queue's thumbnails show a picture (and screenshots look right)."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (320, 200), colour).save(buffer, "JPEG")
    return default_storage.save("captions/images/browser-test.jpg", ContentFile(buffer.getvalue()))


def test_a_reviewer_edits_and_approves_a_caption(browser, live_server, user_of):
    reviewer = user_of(Role.REVIEWER, username="rita", full_name="Rita Reviewer")
    image = ImageFactory(
        generated_caption="A bird in water.", reviewed_caption=None, local_path=stored_picture("steelblue")
    )
    untouched = ImageFactory(
        generated_caption="A red bicycle by a brick wall.",
        reviewed_caption=None,
        local_path=stored_picture("firebrick"),
    )

    admin_login(browser, live_server, username="rita", password=PASSWORD)
    assert path_of(browser) == reverse("admin:index"), "staff land on the admin index"

    open_admin(browser, live_server, "captions_image_changelist")
    assert row_checkbox(browser, image.pk) and row_checkbox(browser, untouched.pk)

    # A row opens the image's review page (tests/browser/test_caption_review.py walks that);
    # the change page, with every field, is a link from there.
    review_path = reverse("admin:captions_image_review", args=[image.pk])
    submit(browser, browser.find_element(By.CSS_SELECTOR, f'#result_list a[href^="{review_path}"]'))
    assert path_of(browser) == review_path
    change_path = reverse("admin:captions_image_change", args=[image.pk])
    submit(browser, browser.find_element(By.CSS_SELECTOR, f'a[href="{change_path}"]'))
    caption = wait(browser).until(EC.presence_of_element_located((By.NAME, "reviewed_caption")))
    assert path_of(browser) == change_path
    caption.clear()
    # Extra spaces, as a person might type them: the review service normalises whitespace.
    caption.send_keys(EDITED.replace(" at dusk", "  at   dusk"))
    submit(browser, browser.find_element(By.NAME, "_save"))

    assert path_of(browser) == reverse("admin:captions_image_changelist"), "back to the queue"
    assert messages(browser, "success")
    image.refresh_from_db()
    assert (image.status, image.reviewed_caption, image.reviewed_by) == (
        ImageStatus.REVIEWED,
        EDITED,
        reviewer,
    )
    assert image.final_caption is None, "an edit alone does not approve the caption"

    run_action(browser, "approve_selected", [image.pk])
    # Bulk approve shows what it will approve first.
    confirmation = browser.find_element(By.CSS_SELECTOR, f'li.sd-confirm-approve[data-image="{image.pk}"]')
    assert EDITED in confirmation.text
    submit(browser, browser.find_element(By.CSS_SELECTOR, 'input[type=submit][value^="Yes, approve"]'))
    assert messages(browser, "success"), messages(browser, "warning")
    screenshot(browser, "caption-review-approved")

    image.refresh_from_db()
    assert image.status == ImageStatus.APPROVED
    assert image.final_caption == image.reviewed_caption == EDITED
    assert image.reviewed_by == reviewer and image.reviewed_at is not None
    assert Image.objects.get(pk=untouched.pk).status == ImageStatus.PENDING

    audit = AuditLog.objects.filter(user=reviewer, resource_type="image")
    edited = audit.get(action="caption.edited")
    assert edited.resource_id == str(image.pk) and edited.details == {"from": ImageStatus.PENDING}
    approved = audit.get(action="caption.bulk_approved")
    assert approved.details == {"count": 1, "ids": [image.pk]}
    assert approved.ip_address == "127.0.0.1", "the audit row records where the browser was"
