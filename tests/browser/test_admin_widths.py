"""Every changelist fits a 1280 px wide window: no scrolling sideways, neither the page nor the
list's own scroll box (Django's `.results` scrolls when its table is wider than the page).

Each list gets a row with realistic long values (UUIDs, snowflake ids, URLs, dates), so the test
measures what an operator sees rather than an empty table.
"""

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import Role
from tests.browser.chromium import screenshot
from tests.browser.pages import PASSWORD, admin_login, open_page
from tests.factories.accounts import ApiKeyFactory, AuditLogFactory, UserSessionFactory
from tests.factories.captions import (
    CaptionGenerationTaskFactory,
    CaptionGenerationUserSettingsFactory,
    ImageCaptionFactory,
    ImageFactory,
    ProcessingRunFactory,
)
from tests.factories.core import SystemConfigFactory
from tests.factories.generation import (
    GeneratedImageArchiveFactory,
    GeneratedImageFactory,
    GeneratedPersonaFactory,
    GenerationTaskFactory,
    PromptFactory,
)
from tests.factories.scraping import (
    ArtifactFactory,
    ContentExtractionFactory,
    JobConfigurationFactory,
    MetadataTagFactory,
    ScrapingJobItemFactory,
)
from tests.factories.workflows import (
    EvaluationFactory,
    MediaAttachmentFactory,
    PlatformStateFactory,
    PublishingJobFactory,
    ResourceFactory,
    WorkflowCheckpointFactory,
)

pytestmark = [pytest.mark.browser]

WINDOW = (1280, 900)
# How far the page, or the list's scroll box, reaches past its visible width.
OVERFLOW_SCRIPT = """
const page = document.documentElement.scrollWidth - document.documentElement.clientWidth;
const box = document.querySelector('#changelist-form .results');
return Math.max(page, box ? box.scrollWidth - box.clientWidth : 0);
"""


def _a_row_of_everything(owner):
    image = ImageFactory(post__post_id="113500000000000002", post__platform_user_id="113499999999999999")
    CaptionGenerationTaskFactory(platform_connection=image.platform_connection)
    CaptionGenerationUserSettingsFactory(user=owner, platform_connection=image.platform_connection)
    ProcessingRunFactory(platform_connection=image.platform_connection)
    ImageCaptionFactory(user=owner)
    PromptFactory(user=owner)
    GeneratedImageFactory(user=owner)
    GeneratedImageArchiveFactory(user=owner)
    GeneratedPersonaFactory(task=GenerationTaskFactory(user=owner))
    artifact = ArtifactFactory(user=owner)
    MetadataTagFactory(artifact=artifact)
    ContentExtractionFactory(artifact=artifact)
    JobConfigurationFactory()
    ScrapingJobItemFactory(
        url="https://news.example.org/2026/12/07/a-rather-long-article-slug-about-alt-text"
    )
    EvaluationFactory()
    PlatformStateFactory()
    PublishingJobFactory()
    ResourceFactory(user=owner)
    WorkflowCheckpointFactory()
    MediaAttachmentFactory(
        filename="a-rather-long-file-name-for-the-team-photo-of-the-release-party.png",
        alt_text="A long description of the picture. " * 30,
    )
    UserSessionFactory(user=owner)
    ApiKeyFactory(user=owner)
    AuditLogFactory(user=owner)
    SystemConfigFactory()


def test_every_changelist_fits_1280_pixels(browser, live_server, user_of):
    boss = user_of(Role.ADMIN, is_superuser=True)
    _a_row_of_everything(boss)
    admin_login(browser, live_server, username=boss.username, password=PASSWORD)
    browser.set_window_size(*WINDOW)
    too_wide = {}
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        open_page(browser, live_server, url)
        overflow = browser.execute_script(OVERFLOW_SCRIPT)
        if overflow > 0:
            too_wide[url] = overflow
            screenshot(browser, f"too-wide-{model._meta.app_label}-{model._meta.model_name}")
    assert too_wide == {}, f"lists wider than {WINDOW[0]} px (by how many px): {too_wide}"
