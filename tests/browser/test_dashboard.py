"""The admin index's pictures in a real browser: drawn without a policy violation, fitting 1280 px,
each bar leading to its list; a `user` sees their own work only. Takes the README's
"admin-dashboard" screenshot, a `user`'s (the only test that does)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.by import By

from accounts.models import Role
from captions.models import ImageStatus
from captions.models import TaskStatus as CaptionTaskStatus
from generation.models import TaskStatus as PersonaTaskStatus
from scraping.models import JobStatus
from tests.browser.chromium import screenshot
from tests.browser.pages import PASSWORD, admin_login, open_page, path_of, submit, wait
from tests.browser.test_content_security_policy import RECORD_VIOLATIONS, violations
from tests.factories.captions import CaptionGenerationTaskFactory, ImageFactory, ProcessingRunFactory
from tests.factories.generation import GenerationTaskFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.scraping import ArtifactFactory, ScrapingJobFactory
from tests.factories.workflows import PlatformStateFactory, PublishingJobFactory, WorkflowFactory
from workflows.models import Platform, PlatformStatus, PublishingStatus, WorkflowStatus

pytestmark = pytest.mark.browser

SCORES = [96, 92, 88, 81, 74, 66, 58, 45, 33, 12, None]


@pytest.fixture
def watched(browser):
    script = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    yield browser
    browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})


def busy_month(owner) -> None:
    """A month of someone's work: captions in every status and band, things done on many days,
    and work running now."""
    connection = PlatformConnectionFactory(user=owner, name=f"{owner.username} on mastodon.example")
    statuses = (
        [ImageStatus.PENDING] * 5 + [ImageStatus.REVIEWED, ImageStatus.APPROVED] + [ImageStatus.POSTED] * 4
    )
    now = timezone.now()
    for index, (status, score) in enumerate(zip(statuses, SCORES, strict=True)):
        done = now - timedelta(days=index * 2, hours=3)
        ImageFactory(
            post__platform_connection=connection,
            status=status,
            caption_quality_score=score,
            reviewed_at=done if status in (ImageStatus.APPROVED, ImageStatus.POSTED) else None,
            posted_at=done if status == ImageStatus.POSTED else None,
        )
    ImageFactory(post__platform_connection=connection, status=ImageStatus.ERROR, caption_quality_score=None)
    for back in range(0, 28, 3):
        ProcessingRunFactory(
            platform_connection=connection,
            started_at=now - timedelta(days=back),
            captions_generated=back % 7 + 1,
        )
        artifact = ArtifactFactory(job__user=owner)
        type(artifact).objects.filter(pk=artifact.pk).update(created_at=now - timedelta(days=back + 1))
    for back in (1, 4, 9):
        PublishingJobFactory(
            workflow__user=owner,
            workflow__status=WorkflowStatus.COMPLETED,
            status=PublishingStatus.PUBLISHED,
            published_at=now - timedelta(days=back),
        )
    CaptionGenerationTaskFactory(
        platform_connection=connection,
        status=CaptionTaskStatus.RUNNING,
        progress_percent=40,
        current_step="captioning image 4 of 10",
    )
    ScrapingJobFactory(
        user=owner,
        title="Heat pumps in the news",
        status=JobStatus.RUNNING,
        progress=65,
        processed_items=13,
        total_items=20,
    )
    GenerationTaskFactory(user=owner, status=PersonaTaskStatus.GENERATING_DATA, personas_generated=3)
    workflow = WorkflowFactory(user=owner, status=WorkflowStatus.RUNNING)
    PlatformStateFactory(workflow=workflow, platform=Platform.LINKEDIN, status=PlatformStatus.AWAITING_REVIEW)
    PlatformStateFactory(workflow=workflow, platform=Platform.X, status=PlatformStatus.GENERATING)


def fits_the_window(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth;")


def bar_value(driver, chart_id: str, css_class: str) -> int:
    fill = driver.find_element(By.CSS_SELECTOR, f"#{chart_id} a.{css_class} rect.sd-fill")
    return int(fill.get_attribute("data-value"))


def test_a_moderator_sees_everyones_pictures_and_a_bar_opens_its_list(watched, live_server, user_of):
    user_of(Role.MODERATOR, username="mona", full_name="Mona Moderator")
    busy_month(user_of(Role.USER, username="ann"))
    busy_month(user_of(Role.USER, username="bob"))

    watched.set_window_size(1280, 900)
    admin_login(watched, live_server, username="mona", password=PASSWORD)
    assert path_of(watched) == reverse("admin:index")
    assert watched.find_element(By.ID, "chart-captions-status").is_displayed()
    assert watched.find_element(By.ID, "chart-work-per-day").is_displayed()
    assert bar_value(watched, "chart-captions-status", "sd-status-pending") == 10
    assert bar_value(watched, "chart-captions-quality", "sd-band-excellent") == 4
    # Bars are drawn: the longest bar takes the whole width of its track.
    fill = watched.find_element(By.CSS_SELECTOR, "#chart-captions-status a.sd-status-pending rect.sd-fill")
    assert fill.size["width"] > 100
    running = watched.find_elements(By.CSS_SELECTOR, "#dashboard-running svg[role=progressbar]")
    assert len(running) == 8  # four kinds of work, two people
    assert fits_the_window(watched)
    assert violations(watched) == []

    submit(watched, watched.find_element(By.CSS_SELECTOR, "#chart-captions-status a.sd-status-pending"))
    assert path_of(watched) == reverse("admin:captions_image_changelist")
    assert "status__exact=pending" in watched.current_url
    assert len(watched.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 10
    assert violations(watched) == []


def test_a_user_sees_only_their_own_work(watched, live_server, user_of):
    ann = user_of(Role.USER, username="ann", full_name="Ann Example")
    busy_month(ann)
    busy_month(user_of(Role.USER, username="bob"))

    watched.set_window_size(1280, 900)
    admin_login(watched, live_server, username="ann", password=PASSWORD)
    wait(watched).until(lambda d: d.find_elements(By.ID, "dashboard-captions"))
    assert "Your work: needs attention" in watched.find_element(By.ID, "needs-attention").text
    assert bar_value(watched, "chart-captions-status", "sd-status-pending") == 5
    assert len(watched.find_elements(By.CSS_SELECTOR, "#dashboard-running svg[role=progressbar]")) == 4
    assert fits_the_window(watched)
    assert violations(watched) == []
    screenshot(watched, "admin-dashboard")

    open_page(watched, live_server, reverse("admin-preferences"))
    assert watched.find_element(By.ID, "id_time_zone").is_displayed()
    assert fits_the_window(watched)
