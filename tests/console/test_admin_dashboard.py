"""The admin index's "Needs attention" block (console.dashboard): counts, links, permissions, cost."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.models import Failure, Success

from accounts.models import Role
from accounts.services.users import user_set_role
from captions.models import ImageStatus
from captions.models import TaskStatus as CaptionTaskStatus
from console.dashboard import (
    SECTION_FAILED,
    SECTION_PUBLISHING,
    SECTION_REVIEW,
    SECTION_RUNNING,
    SECTIONS,
    admin_attention_items,
)
from generation.models import PromptStatus
from generation.models import TaskStatus as PersonaTaskStatus
from scraping.models import JobStatus
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationTaskFactory, ImageFactory
from tests.factories.generation import GenerationTaskFactory, PromptFactory
from tests.factories.scraping import ScrapingJobFactory
from tests.factories.workflows import (
    MediaAttachmentFactory,
    PlatformStateFactory,
    PublishingJobFactory,
    WorkflowFactory,
)
from workflows.models import AltTextStatus, PlatformStatus, PublishingStatus, WorkflowStatus

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")
LONG_AGO = timedelta(days=2)


def _age(obj, delta: timedelta, field: str = "updated_at"):
    type(obj).objects.filter(pk=obj.pk).update(**{field: timezone.now() - delta})
    return obj


def _q_task(*, success: bool, stopped_ago: timedelta):
    model = Success if success else Failure
    stopped = timezone.now() - stopped_ago
    return model.objects.create(
        id=uuid.uuid4().hex,
        name=f"task-{uuid.uuid4().hex[:6]}",
        func="scraping.tasks.run_scraping_job",
        started=stopped - timedelta(seconds=3),
        stopped=stopped,
        success=success,
    )


@pytest.fixture
def world():
    """Rows that need attention, each beside look-alikes that do not (done, or failed too long ago).

    Returns what each dashboard item must count, keyed by (section, label), as sets of primary keys.
    """
    pending = [ImageFactory(status=ImageStatus.PENDING) for _ in range(3)]
    reviewed = [ImageFactory(status=ImageStatus.REVIEWED)]
    ImageFactory(status=ImageStatus.APPROVED)
    ImageFactory(status=ImageStatus.POSTED)

    # Their workflows wait for review or are done: only the workflows made below are running.
    awaiting = [
        PlatformStateFactory(
            status=PlatformStatus.AWAITING_REVIEW, workflow__status=WorkflowStatus.AWAITING_REVIEW
        )
        for _ in range(2)
    ]
    PlatformStateFactory(status=PlatformStatus.ACCEPTED, workflow__status=WorkflowStatus.COMPLETED)

    # Alt text a person must write or approve, on workflows still open (not a cancelled one's).
    open_workflow = {"workflow__status": WorkflowStatus.AWAITING_REVIEW}
    alt_text_awaiting = [
        MediaAttachmentFactory(alt_status=AltTextStatus.AWAITING_REVIEW, **open_workflow),
        MediaAttachmentFactory(alt_status=AltTextStatus.NEEDS_WRITING, **open_workflow),
    ]
    MediaAttachmentFactory(alt_status=AltTextStatus.APPROVED, **open_workflow)
    MediaAttachmentFactory(alt_status=AltTextStatus.PENDING, **open_workflow)
    MediaAttachmentFactory(
        alt_status=AltTextStatus.AWAITING_REVIEW, workflow__status=WorkflowStatus.CANCELLED
    )

    caption_running = [CaptionGenerationTaskFactory(status=CaptionTaskStatus.RUNNING)]
    caption_failed = [CaptionGenerationTaskFactory(status=CaptionTaskStatus.FAILED) for _ in range(2)]
    _age(CaptionGenerationTaskFactory(status=CaptionTaskStatus.FAILED), LONG_AGO)
    CaptionGenerationTaskFactory(status=CaptionTaskStatus.COMPLETED)

    # A workflow still running after two days is counted: running means now, however old.
    workflow_running = [WorkflowFactory(status=WorkflowStatus.RUNNING), _age(WorkflowFactory(), LONG_AGO)]
    workflow_failed = [WorkflowFactory(status=WorkflowStatus.FAILED)]
    _age(WorkflowFactory(status=WorkflowStatus.FAILED), LONG_AGO)
    WorkflowFactory(status=WorkflowStatus.COMPLETED)

    def job(status, **kwargs):
        return PublishingJobFactory(status=status, workflow__status=WorkflowStatus.COMPLETED, **kwargs)

    publishing = [job(PublishingStatus.PUBLISHING)]
    job_failed_recently = job(PublishingStatus.FAILED)
    job_failed_long_ago = _age(job(PublishingStatus.FAILED), LONG_AGO)
    job(PublishingStatus.PUBLISHED, published_at=timezone.now())
    job(PublishingStatus.QUEUED)

    scraping_running = [ScrapingJobFactory(status=JobStatus.RUNNING)]
    scraping_failed = [ScrapingJobFactory(status=JobStatus.FAILED) for _ in range(2)]
    _age(ScrapingJobFactory(status=JobStatus.FAILED), LONG_AGO)
    ScrapingJobFactory(status=JobStatus.PENDING)

    persona_running = [
        GenerationTaskFactory(status=PersonaTaskStatus.GENERATING_DATA),
        GenerationTaskFactory(status=PersonaTaskStatus.GENERATING_IMAGES),
    ]
    persona_failed = [GenerationTaskFactory(status=PersonaTaskStatus.FAILED)]
    GenerationTaskFactory(status=PersonaTaskStatus.DATA_GENERATED)  # waiting between steps
    _age(GenerationTaskFactory(status=PersonaTaskStatus.FAILED), LONG_AGO)

    prompt_running = [PromptFactory(status=PromptStatus.RUNNING)]
    prompt_failed = [PromptFactory(status=PromptStatus.FAILED)]
    _age(PromptFactory(status=PromptStatus.FAILED), LONG_AGO)
    PromptFactory(status=PromptStatus.QUEUED)

    q_failed = [_q_task(success=False, stopped_ago=timedelta(hours=1))]
    _q_task(success=False, stopped_ago=LONG_AGO)
    _q_task(success=True, stopped_ago=timedelta(minutes=5))

    def pks(rows):
        return {str(row.pk) for row in rows}

    return {
        (SECTION_REVIEW, "Captions pending review"): pks(pending),
        (SECTION_REVIEW, "Captions edited, awaiting approval"): pks(reviewed),
        (SECTION_REVIEW, "Drafts awaiting review"): pks(awaiting),
        (SECTION_REVIEW, "Alt text awaiting review"): pks(alt_text_awaiting),
        (SECTION_RUNNING, "Caption tasks"): pks(caption_running),
        (SECTION_RUNNING, "Workflows"): pks(workflow_running),
        (SECTION_RUNNING, "Publishing jobs"): pks(publishing),
        (SECTION_RUNNING, "Scraping jobs"): pks(scraping_running),
        (SECTION_RUNNING, "Persona tasks"): pks(persona_running),
        (SECTION_RUNNING, "Image prompts"): pks(prompt_running),
        (SECTION_FAILED, "Caption tasks"): pks(caption_failed),
        (SECTION_FAILED, "Workflows"): pks(workflow_failed),
        (SECTION_FAILED, "Publishing jobs"): pks([job_failed_recently]),
        (SECTION_FAILED, "Scraping jobs"): pks(scraping_failed),
        (SECTION_FAILED, "Persona tasks"): pks(persona_failed),
        (SECTION_FAILED, "Image prompts"): pks(prompt_failed),
        (SECTION_FAILED, "Background tasks (django-q)"): pks(q_failed),
        (SECTION_PUBLISHING, "Failed publishing jobs (retry or cancel them)"): pks(
            [job_failed_recently, job_failed_long_ago]
        ),
    }


def _by_key(items):
    return {(item.section, item.label): item for item in items}


def staff_with(*perms: str):
    user = UserFactory(is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_counts_what_needs_attention_and_nothing_else(world, admin_user):
    items = admin_attention_items(user=admin_user, now=timezone.now())
    assert {key: item.count for key, item in _by_key(items).items()} == {
        key: len(pks) for key, pks in world.items()
    }
    assert [item.section for item in items] == sorted((item.section for item in items), key=SECTIONS.index), (
        "items come grouped by section, in SECTIONS order"
    )


def test_the_failure_window_is_counted_back_from_now(world, admin_user):
    # Seen from three days ahead, the recent failures are old and the two-day-old ones older still.
    later = timezone.now() + timedelta(days=3)
    counts = {
        key: item.count for key, item in _by_key(admin_attention_items(user=admin_user, now=later)).items()
    }
    assert all(count == 0 for (section, _), count in counts.items() if section == SECTION_FAILED)
    assert counts[(SECTION_RUNNING, "Workflows")] == 2
    assert counts[(SECTION_PUBLISHING, "Failed publishing jobs (retry or cancel them)")] == 2


def test_each_link_opens_its_changelist_filtered_to_the_counted_rows(world, admin_client, admin_user):
    items = admin_attention_items(user=admin_user, now=timezone.now())
    assert len(items) == len(world)
    for item in items:
        response = admin_client.get(item.url)
        # An unknown lookup would redirect to ?e=1; an unknown filter value would show every row.
        assert response.status_code == 200, item
        changelist = response.context["cl"]
        assert changelist.has_filters and changelist.has_active_filters, item
        shown = {str(row.pk) for row in changelist.result_list}
        assert shown == world[(item.section, item.label)], item
        assert changelist.result_count == item.count, item


def test_a_user_sees_only_the_models_they_may_view(world):
    user = staff_with("captions.view_image", "workflows.change_publishingjob")
    items = _by_key(admin_attention_items(user=user, now=timezone.now()))
    assert set(items) == {
        (SECTION_REVIEW, "Captions pending review"),
        (SECTION_REVIEW, "Captions edited, awaiting approval"),
        (SECTION_RUNNING, "Publishing jobs"),
        (SECTION_FAILED, "Publishing jobs"),
        (SECTION_PUBLISHING, "Failed publishing jobs (retry or cancel them)"),
    }
    assert admin_attention_items(user=staff_with(), now=timezone.now()) == []


def test_roles_reviewers_see_content_but_not_the_task_queue(world):
    reviewer = user_set_role(user=UserFactory(), role=Role.REVIEWER)
    moderator = user_set_role(user=UserFactory(), role=Role.MODERATOR)
    q_failures = (SECTION_FAILED, "Background tasks (django-q)")
    assert q_failures not in _by_key(admin_attention_items(user=reviewer, now=timezone.now()))
    moderator_items = _by_key(admin_attention_items(user=moderator, now=timezone.now()))
    assert set(moderator_items) == set(world)
    assert moderator_items[q_failures].count == 1


def test_counts_cost_one_query_per_model_at_any_size(world, admin_user, django_assert_max_num_queries):
    models = 10  # images, platform states, caption tasks, workflows, publishing jobs, scraping jobs,
    # persona tasks, prompts, django-q failures, media attachments
    with django_assert_max_num_queries(models):
        admin_attention_items(user=admin_user, now=timezone.now())
    for _ in range(5):
        ImageFactory(status=ImageStatus.PENDING)
        ScrapingJobFactory(status=JobStatus.FAILED)
    with django_assert_max_num_queries(models):
        items = _by_key(admin_attention_items(user=admin_user, now=timezone.now()))
    assert items[(SECTION_REVIEW, "Captions pending review")].count == 8


def test_a_moderators_counts_add_only_the_permission_lookups(world, django_assert_max_num_queries):
    moderator = user_set_role(user=UserFactory(), role=Role.MODERATOR)
    moderator = type(moderator).objects.get(pk=moderator.pk)  # no permissions cached yet
    with django_assert_max_num_queries(10 + 2):  # + the user's and the groups' permissions, once
        admin_attention_items(user=moderator, now=timezone.now())


def test_the_admin_index_shows_the_block_above_the_app_list(world, admin_client):
    response = admin_client.get(INDEX)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="needs-attention"' in body
    for item in response.context["attention_items"]:
        assert f'href="{item.url.replace("&", "&amp;")}"' in body
    assert body.index('id="needs-attention"') < body.index('class="app-captions module')
    assert reverse("admin:captions_image_changelist") in body  # the app list is still there


def test_the_index_for_a_moderator_links_only_what_they_may_open(world):
    moderator = user_set_role(user=UserFactory(), role=Role.MODERATOR)
    client = client_of(moderator)
    response = client.get(INDEX)
    assert response.status_code == 200
    items = response.context["attention_items"]
    assert {(item.section, item.label) for item in items} == set(world)
    for item in items:
        opened = client.get(item.url)
        assert opened.status_code == 200, item
        # The moderator's list holds exactly the rows the block counted for them.
        assert {str(row.pk) for row in opened.context["cl"].result_list} == world[(item.section, item.label)]


def test_the_index_without_anything_to_show_has_no_block():
    response = client_of(staff_with()).get(INDEX)
    assert response.status_code == 200
    assert 'id="needs-attention"' not in response.content.decode()


def test_the_index_page_query_count_is_bounded(world, admin_client, django_assert_max_num_queries):
    # The page itself (session, user, recent actions), one query per dashboard model, and the
    # pictures' (console.dashboard_charts): captions by status and band 1, five series per day,
    # four kinds of running work; the unread notification count in the user tools.
    with django_assert_max_num_queries(10 + 6 + 1 + 5 + 4 + 1):
        response = admin_client.get(INDEX)
    assert response.status_code == 200
    assert 'id="needs-attention"' in response.content.decode()
    assert len(response.context["attention_items"]) == len(world)
