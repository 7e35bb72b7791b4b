"""Starting work in the browser, as a `user` (docs/roles.md: their own work): a scraping job from
the job form against a local site (django-q runs it in sync mode, in the live server), watched to
its end, and an artifact downloaded; a caption scan from the scan form, its progress followed live
and cancelled."""

import pytest
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from accounts.models import Role
from captions.models import CaptionGenerationTask, TaskStatus
from captions.services import tasks as caption_tasks
from scraping.models import Artifact, JobStatus, ScrapingJob
from tests.browser.chromium import screenshot
from tests.browser.pages import PASSWORD, admin_login, messages, open_admin, path_of, submit, wait
from tests.factories.captions import CaptionGenerationUserSettingsFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.base import make_httpserver  # noqa: F401  (threaded: a hanging page blocks nothing)
from tests.fakes.site import FakeSite

pytestmark = pytest.mark.browser


@pytest.fixture
def site(httpserver, settings):
    settings.AI_BACKEND = "builtin"
    settings.SCRAPING_POLITENESS_DELAY = 0.0
    settings.SCRAPING_CONCURRENCY = 1
    httpserver.clear()
    return FakeSite(httpserver, pages=4, duplicates=0)


def _type(driver, name: str, text: str) -> None:
    field = driver.find_element(By.NAME, name)
    field.clear()
    field.send_keys(text)


def _panel_text(driver, field: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'.sd-progress [data-progress-field="{field}"]').text


def test_a_user_starts_a_scraping_job_watches_it_finish_and_downloads_an_artifact(
    browser, live_server, user_of, site
):
    person = user_of(Role.USER, username="sasha", full_name="Sasha Writer")
    admin_login(browser, live_server, username="sasha", password=PASSWORD)
    browser.set_window_size(1280, 900)
    open_admin(browser, live_server, "scraping_scrapingjob_add")

    _type(browser, "title", "Solar pages")
    Select(browser.find_element(By.NAME, "job_type")).select_by_value("url_list")
    # Rows of other job types' own fields are hidden (scraping/job_form.js).
    assert browser.find_element(By.CSS_SELECTOR, ".form-row.field-urls").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, ".form-row.field-domains").is_displayed()
    _type(browser, "keywords", "solar\nstorage")
    _type(browser, "urls", "\n".join(site.page_urls[:3]))
    _type(browser, "max_items", "10")
    _type(browser, "crawl_depth", "0")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot(browser, "scraping-job-form")

    # A bad value first: the form comes back with the error at the field, and no job.
    _type(browser, "crawl_depth", "9")
    submit(browser, browser.find_element(By.NAME, "_start"))
    assert browser.find_element(By.CSS_SELECTOR, ".form-row.errors.field-crawl_depth ul.errorlist").text
    assert not ScrapingJob.objects.exists()

    _type(browser, "crawl_depth", "0")
    submit(browser, browser.find_element(By.NAME, "_start"))

    job = ScrapingJob.objects.get()
    assert job.user == person
    assert path_of(browser) == reverse("admin:scraping_scrapingjob_change", args=[job.pk])
    assert messages(browser, "success")
    # django-q runs in sync mode here: the job ran when its creation committed.
    wait(browser).until(lambda d: _panel_text(d, "status_label") == "Completed")
    assert _panel_text(browser, "percent") == "100"
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.processed_items == 3
    options = browser.find_element(By.CSS_SELECTOR, "table.sd-job-options").text
    assert "Most pages 10" in options and site.page_urls[0] in options
    screenshot(browser, "scraping-job-done")

    submit(browser, browser.find_element(By.LINK_TEXT, "Artifacts"))
    assert path_of(browser) == reverse("admin:scraping_artifact_changelist")
    artifact = Artifact.objects.filter(job=job).order_by("created_at").first()
    link = wait(browser).until(
        lambda d: d.find_element(By.CSS_SELECTOR, f'a[href$="/scraping/artifact/{artifact.pk}/download/"]')
    )
    # Fetch what the link downloads with the browser's own session.
    answer = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: "same-origin"}).then(async (response) => done({
            status: response.status,
            disposition: response.headers.get("Content-Disposition"),
            length: (await response.arrayBuffer()).byteLength,
        }));
        """,
        link.get_attribute("href"),
    )
    assert answer["status"] == 200
    assert answer["disposition"].startswith("attachment;")
    assert answer["length"] == artifact.file_size


def test_a_user_starts_a_caption_scan_follows_it_and_cancels_it(browser, live_server, user_of, monkeypatch):
    # The worker is left out: the task stays queued until the test moves it along.
    monkeypatch.setattr(caption_tasks, "_queue_run", lambda task_id: None)
    person = user_of(Role.USER, username="cora", full_name="Cora Writer")
    mine = PlatformConnectionFactory(user=person, name="heron.social")
    CaptionGenerationUserSettingsFactory(platform_connection=mine, max_posts_per_run=120, language="en")
    PlatformConnectionFactory(user=person, name="gull.social")
    PlatformConnectionFactory(name="someone-elses.social")

    admin_login(browser, live_server, username="cora", password=PASSWORD)
    browser.set_window_size(1280, 900)
    open_admin(browser, live_server, "captions_captiongenerationtask_add")
    choice = Select(browser.find_element(By.NAME, "platform_connection"))
    labels = [option.text for option in choice.options]
    assert not any("someone-elses" in label for label in labels)
    choice.select_by_value(str(mine.pk))
    chosen = wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, "#scan-settings tr.sd-chosen"))
    assert "heron.social" in chosen.text and "120" in chosen.text
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
    screenshot(browser, "caption-scan-form")

    submit(browser, browser.find_element(By.NAME, "_start"))
    task = CaptionGenerationTask.objects.get()
    assert task.platform_connection == mine and task.status == TaskStatus.QUEUED
    assert path_of(browser) == reverse("admin:captions_captiongenerationtask_change", args=[task.pk])
    assert _panel_text(browser, "status_label") == "Queued"

    # The page polls its progress view: what the worker writes shows without a reload.
    CaptionGenerationTask.objects.filter(pk=task.pk).update(
        status=TaskStatus.RUNNING, progress_percent=55, current_step="captioning 5 of 9"
    )
    wait(browser).until(lambda d: _panel_text(d, "step") == "captioning 5 of 9")
    assert _panel_text(browser, "percent") == "55"
    error = browser.find_element(By.CSS_SELECTOR, '.sd-progress [data-progress-field="error"]')
    assert not error.is_displayed()
    screenshot(browser, "caption-scan-running")

    submit(browser, browser.find_element(By.CSS_SELECTOR, ".sd-progress-cancel button"))
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    assert messages(browser, "success")
    assert not browser.find_element(By.CSS_SELECTOR, ".sd-progress-cancel").is_displayed()
