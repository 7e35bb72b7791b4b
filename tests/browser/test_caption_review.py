"""A reviewer walks the caption queue in the browser, everyone's images: the list fits 1280 px, the
review page's counter moves while typing and counts as the server counts, the keyboard approves and
lands on the next image. A `user` approves and posts one of their own captions to a local fake
Mastodon with the keyboard, and cannot open another user's image (404)."""

import io
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from PIL import Image as PILImage
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from accounts.models import Role
from captions.models import Image, ImageStatus
from captions.quality import caption_length
from tests.browser.chromium import screenshot
from tests.browser.pages import (
    PASSWORD,
    admin_login,
    messages,
    open_admin,
    open_page,
    path_of,
    post_from_page,
    wait,
)
from tests.browser.test_content_security_policy import RECORD_VIOLATIONS, violations
from tests.factories.captions import CaptionGenerationUserSettingsFactory, ImageFactory, PostFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.mastodon import FakeMastodon

pytestmark = pytest.mark.browser

WIDTH = 1280
LIMIT = 420
# Strings the counter must count exactly as captions.quality.caption_length does.
COUNTED = [
    "A heron.",
    "Line one\nLine two",
    "  A poster:\r\n\r\n\r\n\r\nJAZZ   NIGHT \r\nFriday\t8 pm  ",
    "Crème brûlée, naïve café, e\u0301 (a combining accent)",
    "A family 👩‍👩‍👧 with a flag 🇩🇪 and a thumbs up 👍🏽.",
    "漢字のキャプション。\u3000全角スペース",
    "Separators:\u2028line\u2029para\x85next\x0bvertical\x0cform\x1cfile\x1frecord",
    "No-break\u00a0space, thin\u2009space, zero\u200bwidth, bom\ufeffhere",
    "\n\n\n",
]


def stored_picture(name: str, colour: str) -> str:
    buffer = io.BytesIO()
    PILImage.new("RGB", (960, 640), colour).save(buffer, "JPEG")
    return default_storage.save(f"captions/images/{name}.jpg", ContentFile(buffer.getvalue()))


def queued_image(minutes_ago: int, colour: str, **fields) -> Image:
    fields.setdefault("reviewed_caption", None)
    image = ImageFactory(local_path=stored_picture(f"review-{colour}", colour), **fields)
    Image.objects.filter(pk=image.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return image


def pictures_loaded(driver) -> None:
    wait(driver).until(
        lambda d: d.execute_script(
            "return Array.from(document.images).every((i) => i.complete && i.naturalWidth)"
        )
    )


def counter_text(driver) -> str:
    return driver.find_element(By.ID, "sd-counter").text


def set_caption(driver, text: str) -> None:
    """Put text in the editor as a paste would (chromedriver cannot type characters outside the BMP)."""
    driver.execute_script(
        "const area = document.getElementById('id_caption'); area.value = arguments[0];"
        "area.dispatchEvent(new Event('input', {bubbles: true}));",
        text,
    )


def press(driver, *keys) -> None:
    """Press a shortcut in the editor and wait until the page it leads to has loaded."""
    editor = driver.find_element(By.ID, "id_caption")
    editor.send_keys(*keys)
    wait(driver).until(EC.staleness_of(editor))
    wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")


def fits(driver) -> bool:
    """Nothing scrolls sideways: not the page, nor the list's table inside its own box."""
    page = driver.execute_script("return document.documentElement.scrollWidth")
    boxes = driver.execute_script(
        "return Array.from(document.querySelectorAll('#changelist .results'),"
        " (box) => box.scrollWidth - box.clientWidth);"
    )
    return page <= WIDTH and all(extra <= 0 for extra in boxes)


@pytest.fixture
def watched(browser):
    script = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    browser.set_window_size(WIDTH, 900)
    yield browser
    browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})


def test_a_reviewer_walks_everyones_queue_with_the_keyboard(watched, live_server, user_of):
    browser = watched
    reviewer = user_of(Role.REVIEWER, username="rita", full_name="Rita Reviewer")
    ann, bob = user_of(Role.USER, username="ann"), user_of(Role.USER, username="bob")
    first = queued_image(
        5,
        "steelblue",
        generated_caption="This image shows a bird. It appears to be a heron, possibly near some water.",
        caption_quality_score=45,
        needs_special_review=True,
        reviewer_notes=(
            'The caption opens with a generic phrase ("This image shows"); start with the subject.\n'
            'The caption hedges ("appears to", "possibly"); check those details and state them plainly.'
        ),
        post__post_id="113456789012345678",
        post__platform_connection__name="ann@owl.town",
        post__platform_connection__user=ann,
        post__post_content="<p>Evening walk by the river. Look who was fishing!</p>",
    )
    ImageFactory(
        post=first.post,
        attachment_index=1,
        local_path=stored_picture("review-sibling", "olive"),
        status=ImageStatus.POSTED,
        final_caption="An olive-green river bank.",
    )
    CaptionGenerationUserSettingsFactory(
        platform_connection=first.platform_connection, max_caption_length=LIMIT
    )
    second = queued_image(
        15,
        "firebrick",
        generated_caption="A red bicycle leans against a brick wall.",
        post__platform_connection=first.platform_connection,
    )
    third = queued_image(
        25,
        "seagreen",
        generated_caption="A green door with a brass knocker.",
        post__platform_connection__user=bob,
        post__platform_connection__name="bob@pix.town",
    )
    queued_image(
        60,
        "gold",
        status=ImageStatus.APPROVED,
        final_caption="Approved: not in the queue.",
        post__platform_connection=third.platform_connection,
    )

    admin_login(browser, live_server, username="rita", password=PASSWORD)
    open_admin(browser, live_server, "captions_image_changelist")
    pictures_loaded(browser)
    screenshot(browser, "caption-queue")
    assert fits(browser), "the list fits 1280 px without scrolling sideways"
    listed = browser.find_element(By.ID, "result_list").text
    assert first.generated_caption in listed and third.generated_caption in listed, "ann's and bob's"

    start = browser.find_element(By.CSS_SELECTOR, "a.sd-review-start")
    start.click()
    wait(browser).until(EC.staleness_of(start))
    assert path_of(browser) == reverse("admin:captions_image_review", args=[first.pk])
    assert fits(browser), "the review page fits 1280 px"
    editor = browser.find_element(By.ID, "id_caption")
    assert editor.get_attribute("value") == first.generated_caption, "the caption is ready to edit"
    assert counter_text(browser) == f"{len(first.generated_caption)} / {LIMIT}"
    assert browser.execute_script("return document.getElementById('sd-review-image').naturalWidth") == 640

    # The counter moves while typing, a line break counting one.
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys(Keys.DELETE)
    assert counter_text(browser) == f"0 / {LIMIT}"
    editor.send_keys("A grey heron stands on one leg")
    assert counter_text(browser) == f"30 / {LIMIT}"
    editor.send_keys(Keys.ENTER)
    editor.send_keys("in shallow water at dusk.")
    typed = "A grey heron stands on one leg\nin shallow water at dusk."
    assert counter_text(browser) == f"{len(typed)} / {LIMIT}"
    pictures_loaded(browser)
    screenshot(browser, "caption-review")

    press(browser, Keys.CONTROL, Keys.ENTER)  # approve

    assert path_of(browser) == reverse("admin:captions_image_review", args=[second.pk]), "next in queue"
    assert any("Approved the caption" in text for text in messages(browser, "success"))
    approved = Image.objects.get(pk=first.pk)
    assert (approved.status, approved.final_caption, approved.reviewed_by) == (
        ImageStatus.APPROVED,
        typed,
        reviewer,
    )

    # The counter counts what the server counts, whatever the text.
    for text in COUNTED:
        set_caption(browser, text)
        assert counter_text(browser).split(" / ")[0] == str(caption_length(text)), repr(text)
    assert violations(browser) == []

    # Save with Ctrl+S: the caption is edited (still awaiting approval) and the walk moves on.
    set_caption(browser, "A red bicycle leans against a wall of red bricks.")
    press(browser, Keys.CONTROL, "s")
    assert path_of(browser) == reverse("admin:captions_image_review", args=[third.pk])
    saved = Image.objects.get(pk=second.pk)
    assert (saved.status, saved.reviewed_caption) == (
        ImageStatus.REVIEWED,
        "A red bicycle leans against a wall of red bricks.",
    )

    # Skip the last one: the queue is empty, and says so.
    skip = browser.find_element(By.CSS_SELECTOR, 'a[data-shortcut="skip"]')
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ALT, Keys.SHIFT, "n")
    wait(browser).until(EC.staleness_of(skip))
    assert "All caught up" in browser.find_element(By.ID, "content-main").text
    assert "2 images you skipped, saved or sent back" in browser.find_element(By.ID, "content-main").text
    assert Image.objects.get(pk=third.pk).status == ImageStatus.PENDING
    assert Image.objects.get(pk=second.pk).platform_connection.user == ann, "ann's image, saved by rita"


def test_a_user_approves_and_posts_their_own_caption_with_the_keyboard(
    watched, live_server, user_of, httpserver
):
    browser = watched
    ulla = user_of(Role.USER, username="ulla")
    fake = FakeMastodon(httpserver)
    status = fake.add_status(text="Two birds", media=["A crow.", None])
    connection = PlatformConnectionFactory(user=ulla, instance_url=fake.base_url, access_token=fake.token)
    post = PostFactory(platform_connection=connection, post_id=status["id"])
    image = queued_image(
        5,
        "darkslategray",
        post=post,
        image_post_id=status["media_attachments"][1]["id"],
        attachment_index=1,
        generated_caption="A magpie on a fence.",
    )
    theirs = queued_image(10, "indianred", generated_caption="Someone else's caption.")

    admin_login(browser, live_server, username="ulla", password=PASSWORD)
    open_admin(browser, live_server, "captions_image_changelist")
    start = browser.find_element(By.CSS_SELECTOR, "a.sd-review-start")
    start.click()
    wait(browser).until(EC.staleness_of(start))
    assert path_of(browser) == reverse("admin:captions_image_review", args=[image.pk]), "her own, first"
    editor = browser.find_element(By.ID, "id_caption")
    editor.send_keys(Keys.END, " Its tail is raised.")

    press(browser, Keys.CONTROL, Keys.SHIFT, Keys.ENTER)  # approve & post

    assert any("Approved and posted" in text for text in messages(browser, "success")), messages(
        browser, "error"
    )
    # Someone else's pending image is not in her queue.
    assert "All caught up" in browser.find_element(By.ID, "content-main").text, "her queue is empty now"
    posted = Image.objects.get(pk=image.pk)
    assert posted.status == ImageStatus.POSTED and posted.reviewed_by == ulla
    assert posted.final_caption == "A magpie on a fence. Its tail is raised."
    descriptions = [media["description"] for media in fake.status(status["id"])["media_attachments"]]
    assert descriptions == ["A crow.", "A magpie on a fence. Its tail is raised."]
    assert violations(browser) == []

    # Another user's image, by its address: not found, and a crafted approve changes nothing.
    theirs_url = reverse("admin:captions_image_review", args=[theirs.pk])
    open_page(browser, live_server, theirs_url)
    assert "Not Found" in browser.title or "Not Found" in browser.page_source
    assert theirs.generated_caption not in browser.page_source
    open_admin(browser, live_server, "captions_image_changelist")
    assert post_from_page(browser, theirs_url, {"action": "approve", "caption": "Mine now."}) == 404
    untouched = Image.objects.get(pk=theirs.pk)
    assert (untouched.status, untouched.final_caption) == (ImageStatus.PENDING, None)


def test_enter_in_the_instruction_asks_the_model_again(watched, live_server, user_of, settings):
    browser = watched
    settings.AI_BACKEND = "builtin"
    user_of(Role.REVIEWER, username="rhea")
    image = queued_image(5, "teal", generated_caption="A bird.")

    admin_login(browser, live_server, username="rhea", password=PASSWORD)
    open_page(browser, live_server, reverse("admin:captions_image_review", args=[image.pk]))
    instruction = browser.find_element(By.ID, "id_instruction")
    instruction.send_keys("Mention the reeds.", Keys.ENTER)  # its own button, not the form's first (Save)
    wait(browser).until(EC.staleness_of(instruction))

    assert any("Asked the model for a new caption" in text for text in messages(browser, "success"))
    regenerated = Image.objects.get(pk=image.pk)
    assert regenerated.status == ImageStatus.PENDING and regenerated.reviewed_caption is None
    assert "The reviewer asks for this image: Mention the reeds." in regenerated.prompt_used
    assert violations(browser) == []
