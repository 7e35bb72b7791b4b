"""Cancelling generation work in the browser: a persona task started from its form, followed live
while it makes images, and cancelled from its page; what it made stays."""

import pytest
from django.urls import reverse
from selenium.webdriver.common.by import By

from accounts.models import Role
from generation.models import GenerationTask, TaskStatus
from generation.services import avatar_tasks
from tests.browser.chromium import screenshot
from tests.browser.pages import PASSWORD, admin_login, messages, open_admin, path_of, submit, wait

pytestmark = pytest.mark.browser


def _type(driver, name: str, text: str) -> None:
    field = driver.find_element(By.NAME, name)
    field.clear()
    field.send_keys(text)


def _panel_text(driver, field: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'.sd-progress [data-progress-field="{field}"]').text


def test_a_person_starts_a_persona_task_follows_it_and_cancels_it(browser, live_server, user_of, monkeypatch):
    # The worker is left out: the task stays pending until the test moves it along.
    monkeypatch.setattr(avatar_tasks, "_queue", lambda task_id: None)
    user_of(Role.REVIEWER, username="pia")

    admin_login(browser, live_server, username="pia", password=PASSWORD)
    browser.set_window_size(1280, 900)
    open_admin(browser, live_server, "generation_generationtask_add")
    _type(browser, "persona_description", "Night-shift nurses who bake sourdough.")
    _type(browser, "bio_language", "English")
    _type(browser, "number_to_generate", "5")
    submit(browser, browser.find_element(By.NAME, "_start"))

    task = GenerationTask.objects.get()
    assert task.status == TaskStatus.PENDING
    change = reverse("admin:generation_generationtask_change", args=[task.pk])
    assert path_of(browser) == change
    assert _panel_text(browser, "status_label") == "Pending"

    # The worker's progress shows without a reload.
    GenerationTask.objects.filter(pk=task.pk).update(
        status=TaskStatus.GENERATING_IMAGES, personas_generated=5, images_generated=6
    )
    wait(browser).until(lambda d: _panel_text(d, "status_label") == "Generating images")
    assert _panel_text(browser, "step").startswith("5 of 5 personas, 6 of ")
    assert browser.find_element(By.CSS_SELECTOR, ".sd-progress-cancel").is_displayed()

    submit(browser, browser.find_element(By.CSS_SELECTOR, ".sd-progress-cancel button"))
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    assert task.personas_generated == 5 and task.images_generated == 6  # what was made stays
    assert path_of(browser) == change and messages(browser, "success")
    assert _panel_text(browser, "status_label") == "Cancelled"
    assert not browser.find_element(By.CSS_SELECTOR, ".sd-progress-cancel").is_displayed()
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
    screenshot(browser, "persona-task-cancelled")
