"""The API's isolation check (tests/isolation.py), applied to the admin: every admin URL of an owned
object, walked from the ModelAdmin's own URL patterns so a new object view cannot escape it.

    assert_admin_isolated(Prompt, make=lambda user: PromptFactory(user=user))

asserts, for the model's registered ModelAdmin: another user (role `user`) does not find the
object in the changelist, and every admin URL of it (change, delete, history, and the admin's own
object views such as `<id>/thumbnail/` or `<id>/review/`) is a 404 to POST and to GET (405 for a
view that takes only POST); the owner
finds it and opens its change and history pages; a viewer opens their own object but cannot add,
change or delete (403) and is offered no action.

`OWNED` says how to make an object of each model a user owns; `NOT_OWNED` lists the admin's other
models, which only moderators and admins hold permissions on.
"""

from collections.abc import Callable

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.test import Client
from django.urls import reverse
from django_q.models import Failure, OrmQ, Schedule, Success

from accounts.models import ApiKey, ApiRateLimit, AuditLog, Role, User, UserSession
from accounts.services.users import user_set_role
from captions.models import (
    CaptionGenerationTask,
    CaptionGenerationUserSettings,
    Image,
    ImageCaption,
    Post,
    ProcessingRun,
)
from core.models import SystemConfig
from generation.models import GeneratedImage, GeneratedImageArchive, GeneratedPersona, GenerationTask, Prompt
from platforms.models import PlatformConnection
from scraping.models import (
    Artifact,
    ContentExtraction,
    JobConfiguration,
    MetadataTag,
    ScrapingJob,
    ScrapingJobItem,
)
from tests.factories import captions as c
from tests.factories import generation as g
from tests.factories import platforms as p
from tests.factories import scraping as s
from tests.factories import workflows as w
from tests.factories.accounts import UserFactory
from workflows.models import (
    Draft,
    Evaluation,
    MediaAttachment,
    PlatformState,
    PublishingJob,
    Resource,
    Workflow,
    WorkflowCheckpoint,
)

Maker = Callable[[User], object]

# Every model whose admin is owner-scoped (OwnerScopedAdmin), and how to make one owned by `user`.
OWNED: dict[type, Maker] = {
    PlatformConnection: lambda user: p.PlatformConnectionFactory(user=user),
    Post: lambda user: c.PostFactory(platform_connection__user=user),
    Image: lambda user: c.ImageFactory(post__platform_connection__user=user),
    CaptionGenerationTask: lambda user: c.CaptionGenerationTaskFactory(platform_connection__user=user),
    ProcessingRun: lambda user: c.ProcessingRunFactory(platform_connection__user=user),
    CaptionGenerationUserSettings: lambda user: c.CaptionGenerationUserSettingsFactory(
        platform_connection__user=user
    ),
    ImageCaption: lambda user: c.ImageCaptionFactory(user=user),
    Workflow: lambda user: w.WorkflowFactory(user=user),
    PlatformState: lambda user: w.PlatformStateFactory(workflow__user=user),
    Draft: lambda user: w.DraftFactory(workflow__user=user),
    Evaluation: lambda user: w.EvaluationFactory(draft__workflow__user=user),
    Resource: lambda user: w.ResourceFactory(user=user),
    PublishingJob: lambda user: w.PublishingJobFactory(workflow__user=user),
    WorkflowCheckpoint: lambda user: w.WorkflowCheckpointFactory(workflow__user=user),
    MediaAttachment: lambda user: w.MediaAttachmentFactory(workflow__user=user),
    ScrapingJob: lambda user: s.ScrapingJobFactory(user=user),
    ScrapingJobItem: lambda user: s.ScrapingJobItemFactory(job__user=user),
    JobConfiguration: lambda user: s.JobConfigurationFactory(job__user=user),
    Artifact: lambda user: s.ArtifactFactory(job__user=user),
    MetadataTag: lambda user: s.MetadataTagFactory(artifact__job__user=user),
    ContentExtraction: lambda user: s.ContentExtractionFactory(artifact__job__user=user),
    Prompt: lambda user: g.PromptFactory(user=user),
    GeneratedImage: lambda user: g.GeneratedImageFactory(prompt__user=user),
    GeneratedImageArchive: lambda user: g.GeneratedImageArchiveFactory(prompt__user=user),
    GenerationTask: lambda user: g.GenerationTaskFactory(user=user),
    GeneratedPersona: lambda user: g.GeneratedPersonaFactory(task__user=user),
}

# The admin's other models. No user owns them, so their admins are not owner-scoped: only
# moderators and admins hold permissions on them (accounts.roles), and both see everyone.
# A `user`, `reviewer` or `viewer` gets 403 on every one of their pages.
NOT_OWNED = {
    User,  # accounts: the people themselves; admins manage them
    UserSession,  # sign-ins: each user's are theirs through the API, not the admin
    ApiKey,
    ApiRateLimit,
    AuditLog,  # moderators read it
    SystemConfig,  # admins only
    Success,  # django-q2's task records: moderators read them
    Failure,
    Schedule,
    OrmQ,
}
NOT_OWNED_APPS = {"auth", "axes"}  # groups (admins only), sign-in attempts (admins only)


def not_owned(model) -> bool:
    return model in NOT_OWNED or model._meta.app_label in NOT_OWNED_APPS


def signed_in(role: str) -> tuple[Client, User]:
    user = user_set_role(user=UserFactory(), role=role)
    client = Client()
    client.force_login(user)
    return client, user


def admin_url(model, name: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)


# Values for an object URL's other parameters, valid ones, so a 404 is the object's and not the
# parameter's. A new parameter fails object_urls until it has a value here.
URL_PARAMETER_VALUES = {"number": 0, "fmt": "json"}


def object_urls(model, obj) -> list[str]:
    """Every named admin URL of the model's ModelAdmin that takes an object id, for `obj`."""
    model_admin = admin.site._registry[model]
    urls = []
    for pattern in model_admin.get_urls():
        parameters = set(pattern.pattern.converters)
        if not pattern.name or "object_id" not in parameters:
            continue
        missing = parameters - {"object_id"} - set(URL_PARAMETER_VALUES)
        assert not missing, f"{pattern.name}: add a value for {missing} to URL_PARAMETER_VALUES"
        kwargs = {name: URL_PARAMETER_VALUES[name] for name in parameters - {"object_id"}}
        urls.append(reverse(f"admin:{pattern.name}", kwargs={"object_id": quote(obj.pk), **kwargs}))
    return urls


def assert_unreachable(client, url: str) -> None:
    """The URL is a 404 to POST and to GET; a POST-only view (cancel) refuses a GET with 405 before
    it looks the id up, for any id, which says nothing about the object."""
    assert client.get(url).status_code in {404, 405}, f"GET {url}"
    assert client.post(url, {"post": "yes", "action": "accept"}).status_code == 404, f"POST {url}"


def listed_pks(response) -> set:
    assert response.status_code == 200, response.status_code
    return {row.pk for row in response.context["cl"].result_list}


def assert_admin_isolated(model, make: Maker) -> None:
    owner_client, owner = signed_in(Role.USER)
    stranger, _ = signed_in(Role.USER)
    obj = make(owner)
    urls = object_urls(model, obj)
    assert {admin_url(model, "change", quote(obj.pk)), admin_url(model, "delete", quote(obj.pk))} <= set(urls)

    assert obj.pk in listed_pks(owner_client.get(admin_url(model, "changelist")))
    assert owner_client.get(admin_url(model, "change", quote(obj.pk))).status_code == 200
    assert owner_client.get(admin_url(model, "history", quote(obj.pk))).status_code == 200

    assert obj.pk not in listed_pks(stranger.get(admin_url(model, "changelist")))
    for url in urls:
        assert_unreachable(stranger, url)
    assert model._default_manager.filter(pk=obj.pk).exists(), "a stranger's request deleted nothing"

    viewer_client, viewer = signed_in(Role.VIEWER)
    own = make(viewer)
    changelist = viewer_client.get(admin_url(model, "changelist"))
    assert listed_pks(changelist) == {own.pk}
    assert changelist.context["action_form"] is None, "a viewer is offered no action"
    assert viewer_client.get(admin_url(model, "change", quote(own.pk))).status_code == 200
    assert viewer_client.post(admin_url(model, "change", quote(own.pk)), {}).status_code == 403
    assert viewer_client.post(admin_url(model, "delete", quote(own.pk)), {"post": "yes"}).status_code == 403
    assert viewer_client.get(admin_url(model, "add")).status_code == 403
    assert model._default_manager.filter(pk=own.pk).exists()
