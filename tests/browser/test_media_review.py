"""A `user` adds two images to a workflow's posts on its review page; the builtin (offline) caption
backend writes their alt text at once (django-q runs synchronously in tests). Accept is refused,
naming both images; the person edits one alt text (the live counter counts as the service does),
approves both, and Accept goes through. Screenshot: media-review."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from accounts.models import Role
from captions.quality import caption_length
from tests.browser.chromium import screenshot
from tests.browser.pages import PASSWORD, admin_login, messages, open_admin, submit, wait
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import DraftFactory, PlatformStateFactory, WorkflowFactory, png_bytes
from workflows.models import AltTextStatus, MediaAttachment, Platform, PlatformStatus, WorkflowStatus

pytestmark = pytest.mark.browser


def set_alt_text(driver, attachment, text: str) -> None:
    """Type into an alt-text editor. Through script: chromedriver cannot type characters outside
    the Basic Multilingual Plane (emoji), and the counter must be tested with them."""
    editor = driver.find_element(By.ID, f"id_media-{attachment.pk}-alt_text")
    driver.execute_script(
        "arguments[0].value = arguments[1];arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
        editor,
        text,
    )


def counter_of(driver, attachment) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"#media-{attachment.pk} .wf-counter .wf-count").text


def button_of(driver, attachment, action: str):
    return driver.find_element(By.CSS_SELECTOR, f'#media-{attachment.pk} button[value="{action}"]')


def test_a_user_adds_two_images_approves_their_alt_text_and_then_accepts(
    browser, live_server, user_of, tmp_path
):
    person = user_of(Role.USER, username="mia")
    PlatformConnectionFactory(user=person, platform_type="mastodon", extra={})
    workflow = WorkflowFactory(user=person, status=WorkflowStatus.AWAITING_REVIEW)
    draft = DraftFactory(workflow=workflow, platform=Platform.MASTODON, content="Version 2 is out. #release")
    PlatformStateFactory(
        workflow=workflow,
        platform=Platform.MASTODON,
        status=PlatformStatus.AWAITING_REVIEW,
        active_draft=draft,
    )
    files = []
    for name, color in (("chart.png", (30, 90, 200)), ("team.png", (200, 120, 20))):
        path = tmp_path / name
        path.write_bytes(png_bytes(400, 300, color))
        files.append(path)

    admin_login(browser, live_server, username="mia", password=PASSWORD)
    browser.set_window_size(1280, 900)
    open_admin(browser, live_server, "workflows_workflow_review", workflow.pk)
    assert "The posts carry no images or videos." in browser.find_element(By.ID, "media").text

    # Add both images: the content decides what they are; their alt text is written on commit.
    for path in files:
        browser.find_element(By.NAME, "attach-file").send_keys(str(path))
        submit(browser, browser.find_element(By.CSS_SELECTOR, '#media-add button[value="attach"]'))
        (attached,) = messages(browser, "success")  # the admin's CSS capitalises a message's first letter
        assert attached.lower() == f"{path.name} is attached; its alt text awaits your review."
    chart, team = MediaAttachment.objects.filter(workflow=workflow).order_by("position")
    assert [chart.filename, team.filename] == ["chart.png", "team.png"]
    for attachment in (chart, team):
        assert attachment.alt_status == AltTextStatus.AWAITING_REVIEW and attachment.alt_text
        editor = browser.find_element(By.ID, f"id_media-{attachment.pk}-alt_text")
        assert editor.get_attribute("value") == attachment.alt_text
        assert counter_of(browser, attachment) == str(caption_length(attachment.alt_text))
        thumbnail = browser.find_element(By.CSS_SELECTOR, f"#media-{attachment.pk} img.wf-media-thumb")
        assert browser.execute_script("return arguments[0].naturalWidth", thumbnail) > 0, (
            "the thumbnail loads"
        )

    # The gate: Accept is refused, naming both images, and the notice beside it says why.
    gate = browser.find_element(By.CSS_SELECTOR, "#platform-mastodon .wf-gate-blocked").text
    assert "Image 1 (chart.png)" in gate and "Image 2 (team.png)" in gate
    submit(browser, browser.find_element(By.CSS_SELECTOR, '#platform-mastodon button[value="accept"]'))
    (refused,) = messages(browser, "error")
    assert "chart.png" in refused and "team.png" in refused
    assert workflow.platform_states.get().status == PlatformStatus.AWAITING_REVIEW

    # Edit the chart's alt text: the counter follows as the service counts (spaces collapsed
    # within a line, one blank line kept, emoji one each), and turns red past the limit.
    typed = "  A bar chart 📊:  builds  got\r\n\r\n\r\n40% faster.  "
    set_alt_text(browser, chart, typed)
    assert counter_of(browser, chart) == str(caption_length(typed)) == "38"
    counter = browser.find_element(By.CSS_SELECTOR, f"#media-{chart.pk} .wf-counter")
    set_alt_text(browser, chart, "🎉" * 1501)
    assert counter_of(browser, chart) == "1501" and "wf-over-limit" in counter.get_attribute("class")
    set_alt_text(browser, chart, typed)
    assert "wf-over-limit" not in counter.get_attribute("class")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
    browser.execute_script("document.getElementById('media').scrollIntoView()")
    screenshot(browser, "media-review")

    # Approve saves the edited text and approves it; then the team photo as the AI wrote it.
    submit(browser, button_of(browser, chart, "approve"))
    assert messages(browser, "success") == ["Image 1 (chart.png): alt text approved."]
    chart.refresh_from_db()
    assert chart.alt_text == "A bar chart 📊: builds got\n\n40% faster."
    assert (chart.alt_status, chart.alt_reviewed_by) == (AltTextStatus.APPROVED, person)
    submit(browser, button_of(browser, team, "approve"))
    team.refresh_from_db()
    assert team.alt_status == AltTextStatus.APPROVED
    assert not browser.find_elements(By.CSS_SELECTOR, "#platform-mastodon .wf-gate-blocked")
    status = browser.find_element(By.CSS_SELECTOR, f"#media-{chart.pk} .wf-media-status").text
    assert status.startswith("Alt text: Approved by mia")

    submit(browser, browser.find_element(By.CSS_SELECTOR, '#platform-mastodon button[value="accept"]'))
    assert messages(browser, "success") == ["Mastodon: accepted."], messages(browser, "error")
    assert workflow.platform_states.get().status == PlatformStatus.ACCEPTED

    # Enter in the instruction field presses Regenerate (not Save): the AI writes the team photo's
    # alt text again, which then awaits review once more.
    instruction = browser.find_element(By.ID, f"id_media-{team.pk}-instruction")
    instruction.send_keys("Say what the colour suggests.")
    instruction.send_keys(Keys.ENTER)
    wait(browser).until(EC.staleness_of(instruction))
    wait(browser).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert messages(browser, "success") == ["Image 2 (team.png): the AI is writing its alt text again."]
    team.refresh_from_db()
    assert team.alt_status == AltTextStatus.AWAITING_REVIEW and team.alt_reviewed_by is None
