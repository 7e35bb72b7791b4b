import importlib

import pytest

from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from tests.factories.accounts import UserFactory
from tests.factories.generation import GenerationTaskFactory
from tests.factories.workflows import PublishingJobFactory

pytestmark = pytest.mark.django_db


def test_request_meta_fills_address_and_user_agent():
    entry = audit_log_write(action="x.y", meta=RequestMeta(ip_address="203.0.113.9", user_agent="curl/8"))
    entry.refresh_from_db()
    assert (entry.ip_address, entry.user_agent) == ("203.0.113.9", "curl/8")


def test_explicit_values_win_and_an_empty_user_agent_is_stored_as_null():
    entry = audit_log_write(
        action="x.y", ip_address="198.51.100.1", meta=RequestMeta(ip_address="203.0.113.9")
    )
    entry.refresh_from_db()
    assert (entry.ip_address, entry.user_agent) == ("198.51.100.1", None)


# The resource types stored before the writer derived them; existing rows and filters rely on them.
@pytest.mark.parametrize(
    ("factory_path", "resource_type"),
    [
        ("tests.factories.accounts.UserFactory", "user"),
        ("tests.factories.accounts.UserSessionFactory", "user_session"),
        ("tests.factories.accounts.ApiKeyFactory", "api_key"),
        ("tests.factories.core.SystemConfigFactory", "system_config"),
        ("tests.factories.platforms.PlatformConnectionFactory", "platform_connection"),
        ("tests.factories.captions.ImageFactory", "image"),
        ("tests.factories.captions.ImageCaptionFactory", "image_caption"),
        ("tests.factories.captions.CaptionGenerationTaskFactory", "caption_task"),
        ("tests.factories.captions.CaptionGenerationUserSettingsFactory", "caption_settings"),
        ("tests.factories.workflows.WorkflowFactory", "workflow"),
        ("tests.factories.workflows.ResourceFactory", "resource"),
        ("tests.factories.scraping.ScrapingJobFactory", "scraping_job"),
        ("tests.factories.scraping.ArtifactFactory", "artifact"),
        ("tests.factories.generation.PromptFactory", "prompt"),
    ],
)
def test_the_target_names_the_resource_as_stored_rows_do(factory_path, resource_type):
    module, _, name = factory_path.rpartition(".")
    target = getattr(importlib.import_module(module), name)()
    entry = audit_log_write(action="x.y", target=target)
    entry.refresh_from_db()
    assert (entry.resource_type, entry.resource_id) == (resource_type, str(target.pk))


def test_an_avatar_task_is_named_by_its_short_id():
    task = GenerationTaskFactory(task_id="0000abcd")
    entry = audit_log_write(action="x.y", target=task)
    assert (entry.resource_type, entry.resource_id) == ("avatar_task", "0000abcd")


def test_a_publishing_job_row_says_its_workflow_and_platform_before_the_details():
    job = PublishingJobFactory()
    actor = UserFactory()
    entry = audit_log_write(action="x.y", actor=actor, target=job, details={"from": "queued"})
    entry.refresh_from_db()
    assert (entry.user, entry.resource_type, entry.resource_id) == (actor, "publishing_job", str(job.pk))
    assert entry.details == {"workflow": str(job.workflow_id), "platform": "linkedin", "from": "queued"}
