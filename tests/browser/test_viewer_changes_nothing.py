"""A `viewer` reads their own work on every new screen and changes nothing (docs/roles.md): the
caption review page, the workflow review page and a scraping job's page offer no action, the start
forms are 403, and an action POSTed anyway (with the page's own session and CSRF token) is refused
with nothing changed."""

import pytest
from django.urls import reverse
from selenium.webdriver.common.by import By

from accounts.models import Role
from captions.models import CaptionGenerationTask, ImageStatus
from generation.models import GenerationTask, Prompt
from scraping.models import JobStatus, ScrapingJob
from tests.browser.pages import PASSWORD, admin_login, open_admin, open_page, post_from_page
from tests.browser.test_caption_review import queued_image
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.scraping import ScrapingJobFactory
from tests.factories.workflows import DraftFactory, PlatformStateFactory, WorkflowFactory
from workflows.models import Platform, PlatformStatus, Workflow, WorkflowStatus

pytestmark = pytest.mark.browser

START_FORMS = [
    "captions_captiongenerationtask_add",
    "scraping_scrapingjob_add",
    "workflows_workflow_add",
    "generation_prompt_add",
    "generation_generationtask_add",
]


def forbidden(browser) -> bool:
    return "403" in browser.title or "Forbidden" in browser.page_source


def action_buttons(browser) -> list[str]:
    """Every button that would submit something on the page's main content."""
    return [
        button.text or button.get_attribute("value")
        for button in browser.find_elements(
            By.CSS_SELECTOR, "#content-main button[type=submit], #content-main input[type=submit]"
        )
        if button.is_displayed()
    ]


def test_a_viewer_sees_their_work_and_can_change_none_of_it(browser, live_server, user_of):
    vera = user_of(Role.VIEWER, username="vera")
    connection = PlatformConnectionFactory(user=vera, name="vera@birds.example")
    image = queued_image(5, "slateblue", post__platform_connection=connection, generated_caption="A swan.")
    workflow = WorkflowFactory(user=vera, status=WorkflowStatus.AWAITING_REVIEW)
    draft = DraftFactory(workflow=workflow, platform=Platform.X, content="Our swans are back on the lake.")
    PlatformStateFactory(
        workflow=workflow, platform=Platform.X, status=PlatformStatus.AWAITING_REVIEW, active_draft=draft
    )
    job = ScrapingJobFactory(user=vera, title="Swan sightings", status=JobStatus.RUNNING, progress=30)
    admin_login(browser, live_server, username="vera", password=PASSWORD)

    # The caption review page: the caption shows, no button acts on it, an approve is refused.
    review_url = reverse("admin:captions_image_review", args=[image.pk])
    open_page(browser, live_server, review_url)
    assert "A swan." in browser.find_element(By.ID, "content-main").text
    assert not browser.find_elements(By.CSS_SELECTOR, "button[name=action]")
    assert action_buttons(browser) == []
    assert post_from_page(browser, review_url, {"action": "approve", "caption": "A swan."}) == 403
    image.refresh_from_db()
    assert (image.status, image.final_caption, image.reviewed_by) == (ImageStatus.PENDING, None, None)

    # The workflow review page: the draft shows, no review or cancel button, an accept is refused.
    review_url = reverse("admin:workflows_workflow_review", args=[workflow.pk])
    open_page(browser, live_server, review_url)
    assert draft.content in browser.find_element(By.ID, "content-main").get_attribute("innerHTML")
    assert action_buttons(browser) == []
    assert post_from_page(browser, review_url, {"platform": "x", "action": "accept", "x-content": "x"}) == 403
    cancel_url = reverse("admin:workflows_workflow_cancel", args=[workflow.pk])
    assert post_from_page(browser, cancel_url, {}) == 403
    assert workflow.platform_states.get().status == PlatformStatus.AWAITING_REVIEW
    assert Workflow.objects.get(pk=workflow.pk).status == WorkflowStatus.AWAITING_REVIEW

    # A running scraping job's page: its progress, but no Cancel or Save; a cancel is refused.
    open_admin(browser, live_server, "scraping_scrapingjob_change", job.pk)
    assert browser.find_element(By.CSS_SELECTOR, ".sd-progress")
    assert not browser.find_elements(By.CSS_SELECTOR, ".sd-progress-cancel")
    assert action_buttons(browser) == []
    cancel_url = reverse("admin:scraping_scrapingjob_cancel", args=[job.pk])
    assert post_from_page(browser, cancel_url, {}) == 403
    job.refresh_from_db()
    assert (job.status, job.cancel_requested) == (JobStatus.RUNNING, False)

    # No start form opens, and a start POSTed anyway creates nothing.
    for url_name in START_FORMS:
        open_admin(browser, live_server, url_name)
        assert forbidden(browser), url_name
    open_admin(browser, live_server, "index")
    scan_url = reverse("admin:captions_captiongenerationtask_add")
    assert (
        post_from_page(browser, scan_url, {"platform_connection": str(connection.pk), "_start": "1"}) == 403
    )
    assert not CaptionGenerationTask.objects.exists()
    job_url = reverse("admin:scraping_scrapingjob_add")
    fields = {"title": "More swans", "job_type": "keyword_search", "keywords": "swan", "_start": "1"}
    assert post_from_page(browser, job_url, fields) == 403
    assert list(ScrapingJob.objects.all()) == [job]
    workflow_url = reverse("admin:workflows_workflow_add")
    fields = {"source_text": "Swans are back.", "platforms": "x", "_start": "1"}
    assert post_from_page(browser, workflow_url, fields) == 403
    assert list(Workflow.objects.all()) == [workflow]
    assert not Prompt.objects.exists() and not GenerationTask.objects.exists()
