"""A `user` starts a workflow from the admin's form, watches the builtin (offline) AI write the
drafts, checks the live character counter, and publishes the blog draft to a local blog webhook;
the review page fits 1280 px. A reviewer reviews anyone's drafts but publishes only their own
(docs/roles.md). Screenshots: workflow-start, draft-review."""

import pytest
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from accounts.models import Role
from platforms.models import PlatformType
from tests.browser.chromium import screenshot
from tests.browser.pages import (
    PASSWORD,
    admin_login,
    messages,
    open_admin,
    path_of,
    post_from_page,
    submit,
    wait,
)
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import DraftFactory, PlatformStateFactory, WorkflowFactory
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.webhook import FakeWebhook
from workflows.models import Platform, PlatformStatus, PublishingStatus, Workflow, WorkflowStatus
from workflows.services.status import workflow_refresh_status

pytestmark = pytest.mark.browser

SOURCE = (
    "Our team shipped version 2 of the Socialdesk app today. It starts twice as fast, uses half the "
    "memory and works offline. We rewrote the sync engine from scratch after a year of user feedback, "
    "and every account gets the update for free this week. Tell us what you think of it."
)


def counter_text(driver, platform: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"#platform-{platform} .wf-counter .wf-count").text


def set_editor(driver, platform: str, text: str) -> None:
    """Type into the draft editor. Through script: chromedriver cannot type characters outside the
    Basic Multilingual Plane (emoji), and the counter must be tested with them."""
    editor = driver.find_element(By.ID, f"id_{platform}-content")
    driver.execute_script(
        "arguments[0].value = arguments[1];arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
        editor,
        text,
    )


def test_a_user_starts_a_workflow_and_publishes_the_blog_draft(browser, live_server, user_of, httpserver):
    person = user_of(Role.USER, username="rhea", full_name="Rhea Writer")
    blog = FakeWebhook(httpserver)
    PlatformConnectionFactory(
        user=person,
        name="Team blog",
        platform_type=PlatformType.WEBHOOK,
        instance_url=blog.url,
        access_token=blog.secret,
        extra={},
    )
    admin_login(browser, live_server, username="rhea", password=PASSWORD)
    browser.set_window_size(1280, 900)

    # Start: the workflows list offers the form.
    open_admin(browser, live_server, "workflows_workflow_changelist")
    browser.find_element(By.CSS_SELECTOR, f'a[href="{reverse("admin:workflows_workflow_add")}"]').click()
    source = wait(browser).until(EC.presence_of_element_located((By.NAME, "source_text")))
    assert not browser.find_element(By.NAME, "template").is_displayed(), (
        "template fields only in template mode"
    )
    source.send_keys(SOURCE)
    browser.find_element(By.NAME, "title").send_keys("Version 2")
    for platform in (Platform.X, Platform.BLOG):
        browser.find_element(By.CSS_SELECTOR, f'input[name=platforms][value="{platform}"]').click()
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
    screenshot(browser, "workflow-start")
    submit(browser, browser.find_element(By.NAME, "_start"))

    # The engine ran on commit (django-q sync in tests): the review page shows both drafts.
    workflow = Workflow.objects.get(user=person)
    review_path = reverse("admin:workflows_workflow_review", args=[workflow.pk])
    assert path_of(browser) == review_path
    assert messages(browser, "success")
    if browser.find_elements(By.CSS_SELECTOR, ".wf-progress"):
        wait(browser).until(EC.staleness_of(browser.find_element(By.CSS_SELECTOR, ".wf-progress")))
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.AWAITING_REVIEW
    columns = browser.find_elements(By.CSS_SELECTOR, "section.wf-platform")
    assert [c.get_attribute("id") for c in columns] == ["platform-blog", "platform-x"]
    first, second = (c.rect for c in columns)
    assert first["y"] == second["y"] and first["x"] < second["x"], "side by side at 1280 px"

    # The counter counts as the review service does: the stripped text, one per code point.
    x_draft = workflow.platform_states.get(platform=Platform.X).active_draft.content
    assert counter_text(browser, "x") == str(len(x_draft.strip()))
    typed = "  Launch day 🎉🚀\r\nVersion 2 is out. #release\n\n"
    set_editor(browser, "x", typed)
    assert counter_text(browser, "x") == str(len(typed.replace("\r\n", "\n").strip()))
    # Where JavaScript's trim() and Python's strip() disagree, the counter follows Python.
    for odd, count in (("\ufeffHello", "6"), ("Hello\u001f ", "5")):  # trim() would say 5 and 6
        set_editor(browser, "x", odd)
        assert counter_text(browser, "x") == str(len(odd.strip())) == count
    set_editor(browser, "x", "🎉" * 281)
    counter = browser.find_element(By.CSS_SELECTOR, "#platform-x .wf-counter")
    assert counter_text(browser, "x") == "281" and "wf-over-limit" in counter.get_attribute("class")
    set_editor(browser, "x", x_draft)

    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
    screenshot(browser, "draft-review")

    # Edit & publish the blog draft as it is: accepted, then published to the local webhook.
    submit(browser, browser.find_element(By.CSS_SELECTOR, '#platform-blog button[value="edit_and_publish"]'))
    assert path_of(browser) == review_path
    assert messages(browser, "success"), messages(browser, "error")
    state = workflow.platform_states.get(platform=Platform.BLOG)
    assert state.status == PlatformStatus.PUBLISHED
    job = workflow.publishing_jobs.get(platform=Platform.BLOG)
    assert job.status == PublishingStatus.PUBLISHED
    (post,) = blog.posts
    assert post["content"] == state.active_draft.content
    badge = browser.find_element(By.CSS_SELECTOR, "#platform-blog h2 .wf-badge")
    assert badge.text == "Published"
    assert browser.find_element(By.CSS_SELECTOR, "#platform-blog .wf-jobs").text.startswith("Published")


def test_a_running_workflow_shows_live_progress_and_the_drafts_when_done(browser, live_server, user_of):
    reviewer = user_of(Role.REVIEWER, username="remy")
    workflow = WorkflowFactory(user=reviewer, status=WorkflowStatus.RUNNING)
    PlatformStateFactory(workflow=workflow, platform=Platform.X, status=PlatformStatus.GENERATING)
    PlatformStateFactory(workflow=workflow, platform=Platform.LINKEDIN, status=PlatformStatus.AWAITING_REVIEW)
    admin_login(browser, live_server, username="remy", password=PASSWORD)

    open_admin(browser, live_server, "workflows_workflow_review", workflow.pk)
    step = browser.find_element(By.CSS_SELECTOR, ".wf-progress-step")
    wait(browser).until(lambda d: step.text == "X: writing draft 1")
    bar = browser.find_element(By.CSS_SELECTOR, ".wf-progress-bar")
    assert bar.get_attribute("value") == str(round(100 * (1 + 1 / 3) / 2))

    # The engine finishes X: the next poll sees it and the page reloads with the drafts.
    draft = DraftFactory(workflow=workflow, platform=Platform.X, content="Fresh from the engine.")
    workflow.platform_states.filter(platform=Platform.X).update(
        status=PlatformStatus.AWAITING_REVIEW, active_draft=draft
    )
    workflow_refresh_status(workflow=workflow)
    wait(browser).until(EC.staleness_of(step))
    wait(browser).until(EC.presence_of_element_located((By.ID, "id_x-content")))
    assert not browser.find_elements(By.CSS_SELECTOR, ".wf-progress")
    assert browser.find_element(By.ID, "id_x-content").get_attribute("value") == "Fresh from the engine."


def test_the_workflow_page_cancels_a_running_workflow(browser, live_server, user_of):
    reviewer = user_of(Role.REVIEWER, username="cleo")
    workflow = WorkflowFactory(user=reviewer, status=WorkflowStatus.RUNNING)
    PlatformStateFactory(workflow=workflow, platform=Platform.X, status=PlatformStatus.PENDING)
    admin_login(browser, live_server, username="cleo", password=PASSWORD)

    open_admin(browser, live_server, "workflows_workflow_change", workflow.pk)
    assert (
        browser.find_element(By.CSS_SELECTOR, "a.wf-review-drafts")
        .get_attribute("href")
        .endswith(reverse("admin:workflows_workflow_review", args=[workflow.pk]))
    )
    wait(browser).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".wf-progress-step").text == "X: waiting for a worker"
    )
    button = browser.find_element(By.CSS_SELECTOR, ".wf-cancel button")
    button.click()
    browser.switch_to.alert.dismiss()  # changed their mind: nothing happens
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.RUNNING
    button.click()
    browser.switch_to.alert.accept()
    wait(browser).until(EC.staleness_of(button))
    wait(browser).until(lambda d: d.execute_script("return document.readyState") == "complete")

    assert messages(browser, "success") == ["The workflow is cancelled."]
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.CANCELLED


def test_a_reviewer_accepts_someone_elses_draft_but_cannot_publish_it(browser, live_server, user_of):
    user_of(Role.REVIEWER, username="rex")
    ann = user_of(Role.USER, username="ann")
    workflow = WorkflowFactory(user=ann, status=WorkflowStatus.AWAITING_REVIEW)
    draft = DraftFactory(workflow=workflow, platform=Platform.X, content="Version 2 is out: twice as fast.")
    PlatformStateFactory(
        workflow=workflow, platform=Platform.X, status=PlatformStatus.AWAITING_REVIEW, active_draft=draft
    )
    admin_login(browser, live_server, username="rex", password=PASSWORD)

    # Ann's workflow is in the draft review queue a reviewer reaches: the review buttons, no publishing.
    review_path = reverse("admin:workflows_workflow_review", args=[workflow.pk])
    open_admin(browser, live_server, "workflows_workflow_review", workflow.pk)
    offered = [b.get_attribute("value") for b in browser.find_elements(By.CSS_SELECTOR, "#platform-x button")]
    assert "accept" in offered
    assert not {"edit_and_publish", "schedule"} & set(offered)

    # A crafted publish is refused, and nothing is published or accepted.
    fields = {"platform": "x", "action": "edit_and_publish", "x-content": draft.content}
    assert post_from_page(browser, review_path, fields) == 403
    assert not workflow.publishing_jobs.exists()
    assert workflow.platform_states.get().status == PlatformStatus.AWAITING_REVIEW

    submit(browser, browser.find_element(By.CSS_SELECTOR, '#platform-x button[value="accept"]'))
    assert messages(browser, "success") == ["X: accepted."]
    assert workflow.platform_states.get().status == PlatformStatus.ACCEPTED
    assert not workflow.publishing_jobs.exists()
