"""Every role in the admin, isolated exactly as the API is (docs/roles.md, accounts/admin_scoping.py).

The tests walk `admin.site._registry`: a ModelAdmin added later is either owner-scoped (and then
checked URL by URL) or listed in tests/admin_isolation.NOT_OWNED, or the first test fails.
"""

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.forms import ModelChoiceField
from django.urls import reverse

from accounts.admin_scoping import OwnerScopedAdmin
from accounts.models import Role
from accounts.services.users import user_set_role
from captions.models import CaptionGenerationUserSettings, Image, ImageStatus
from platforms.models import PlatformConnection
from scraping.models import Artifact
from tests.admin_isolation import (
    OWNED,
    admin_url,
    assert_admin_isolated,
    assert_unreachable,
    listed_pks,
    not_owned,
    object_urls,
    signed_in,
)
from tests.factories.accounts import UserFactory
from tests.factories.captions import ImageFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.scraping import ScrapingJobFactory
from tests.factories.workflows import WorkflowFactory
from workflows.models import Workflow, WorkflowStatus

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase"
LOGIN = reverse("admin:login")
REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)
OWNED_MODELS = [model for model in REGISTERED if not not_owned(model)]
OTHER_MODELS = [model for model in REGISTERED if not_owned(model)]


def label(model) -> str:
    return model._meta.label


def test_every_registered_model_is_owner_scoped_or_listed_as_not_owned():
    for model in OWNED_MODELS:
        assert model in OWNED, (
            f"{label(model)}: add a maker to tests/admin_isolation.OWNED or list it as not owned"
        )
        assert isinstance(admin.site._registry[model], OwnerScopedAdmin), (
            f"{label(model)}'s admin must list OwnerScopedAdmin first in its bases"
        )
    for model in OTHER_MODELS:
        assert not isinstance(admin.site._registry[model], OwnerScopedAdmin)
    assert set(OWNED) == set(OWNED_MODELS), "a maker for a model the admin does not show"


@pytest.mark.parametrize("model", OWNED_MODELS, ids=label)
def test_another_users_object_is_a_404_on_every_admin_url(model):
    assert_admin_isolated(model, OWNED[model])


@pytest.mark.parametrize("model", OTHER_MODELS, ids=label)
@pytest.mark.parametrize("role", [Role.USER, Role.REVIEWER, Role.VIEWER])
def test_the_roles_that_see_their_own_have_no_page_of_the_models_no_user_owns(model, role):
    client, _ = signed_in(role)
    assert client.get(admin_url(model, "changelist")).status_code == 403
    assert client.get(admin_url(model, "add")).status_code == 403


# --- signing in -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", Role.values)
def test_every_role_signs_in_through_the_admin_login_form(client, role):
    user = user_set_role(user=UserFactory(password=PASSWORD), role=role)
    response = client.post(LOGIN, {"username": user.username, "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302, response.content.decode()[:500]
    assert client.get("/admin/").status_code == 200


def test_an_inactive_user_or_one_never_given_a_role_cannot_sign_in(client):
    inactive = user_set_role(user=UserFactory(password=PASSWORD, is_active=False), role=Role.USER)
    roleless = UserFactory(password=PASSWORD)
    for user in (inactive, roleless):
        response = client.post(LOGIN, {"username": user.username, "password": PASSWORD})
        assert response.status_code == 200, "the form is shown again, with its error"
        assert response.context["form"].errors
        assert client.get("/admin/").status_code == 302


# --- the index ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.USER, Role.VIEWER])
def test_the_index_lists_only_the_content_apps_for_users_and_viewers(role):
    client, _ = signed_in(role)
    response = client.get("/admin/")
    apps = {app["app_label"] for app in response.context["app_list"]}
    assert apps == {"platforms", "captions", "workflows", "scraping", "generation"}
    models = {model["object_name"] for app in response.context["app_list"] for model in app["models"]}
    assert not models & {"User", "AuditLog", "SystemConfig", "ApiKey", "Success", "Failure", "AccessAttempt"}
    if role == Role.VIEWER:
        assert not any(model["add_url"] for app in response.context["app_list"] for model in app["models"])


# --- choices and list filters -------------------------------------------------------------------


def test_a_users_form_offers_only_their_own_connections_and_themselves():
    client, user = signed_in(Role.USER)
    mine = PlatformConnectionFactory(user=user)
    theirs = PlatformConnectionFactory()

    add_settings = client.get(admin_url(CaptionGenerationUserSettings, "add"))
    form = add_settings.context["adminform"].form
    assert list(form.fields["platform_connection"].queryset) == [mine]
    assert list(form.fields["user"].queryset) == [user]
    html = add_settings.content.decode()
    assert theirs.name not in html and "vForeignKeyRawIdAdminField" not in html

    connection_form = client.get(admin_url(type(mine), "add")).context["adminform"].form
    assert list(connection_form.fields["user"].queryset) == [user]


@pytest.mark.parametrize("model", OWNED_MODELS, ids=label)
def test_every_choice_a_users_form_offers_is_scoped(model):
    client, user = signed_in(Role.USER)
    own = OWNED[model](user)
    form = client.get(admin_url(model, "change", quote(own.pk))).context["adminform"].form
    for name, field in form.fields.items():
        if isinstance(field, ModelChoiceField):
            assert field.queryset.query.where, f"{label(model)}.{name} offers every row"


def test_a_user_cannot_save_a_choice_outside_their_scope():
    client, _ = signed_in(Role.USER)
    theirs = PlatformConnectionFactory()
    response = client.post(
        admin_url(CaptionGenerationUserSettings, "add"),
        {"user": theirs.user_id, "platform_connection": theirs.pk, "max_posts_per_run": 10},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"user", "platform_connection"} <= set(errors)
    assert not CaptionGenerationUserSettings.objects.exists()


def test_moderators_keep_the_raw_id_boxes_and_every_choice():
    client, _ = signed_in(Role.MODERATOR)
    theirs = PlatformConnectionFactory()
    form = client.get(admin_url(CaptionGenerationUserSettings, "add")).context["adminform"].form
    assert theirs in form.fields["platform_connection"].queryset
    assert "vForeignKeyRawIdAdminField" in str(form["platform_connection"])


def test_list_filters_naming_other_users_or_their_rows_are_not_offered_to_users():
    class Probe(OwnerScopedAdmin, admin.ModelAdmin):
        list_filter = ["user", "platform_type", ("user", admin.RelatedFieldListFilter)]

    probe = Probe(PlatformConnection, admin.site)
    request = type("Request", (), {"user": UserFactory(role=Role.USER)})()
    assert probe.get_list_filter(request) == ["platform_type"]
    request.user = UserFactory(role=Role.MODERATOR)
    assert probe.get_list_filter(request) == probe.list_filter

    class ImageProbe(OwnerScopedAdmin, admin.ModelAdmin):
        list_filter = ["post", "status"]

    request.user = UserFactory(role=Role.USER)
    assert ImageProbe(Image, admin.site).get_list_filter(request) == [
        ("post", admin.RelatedOnlyFieldListFilter),
        "status",
    ]


def test_the_artifacts_job_filter_lists_only_the_users_jobs():

    client, user = signed_in(Role.USER)
    mine = ScrapingJobFactory(user=user, title="MY-JOB")
    ScrapingJobFactory(title="THEIR-JOB")
    html = client.get(admin_url(Artifact, "changelist")).content.decode()
    assert mine.title in html and "THEIR-JOB" not in html


# --- reviewers ----------------------------------------------------------------------------------

REVIEW_QUEUES = [model for model in OWNED_MODELS if admin.site._registry[model].review_queue]


def test_the_review_queues_are_the_caption_images_and_the_drafts():
    assert {model._meta.label for model in REVIEW_QUEUES} == {
        "captions.Image",
        "workflows.Workflow",
        "workflows.PlatformState",
        "workflows.Draft",
        "workflows.Evaluation",
        "workflows.MediaAttachment",  # the alt text of a draft's media is reviewed with it
    }


@pytest.mark.parametrize("model", OWNED_MODELS, ids=label)
def test_reviewers_see_everyones_review_queues_and_only_their_own_of_the_rest(model):
    client, _ = signed_in(Role.REVIEWER)
    theirs = OWNED[model](UserFactory())
    listed = theirs.pk in listed_pks(client.get(admin_url(model, "changelist")))
    change = client.get(admin_url(model, "change", quote(theirs.pk)))
    if model in REVIEW_QUEUES:
        assert listed and change.status_code == 200
        assert not change.context["has_delete_permission"], "reviewers delete only their own"
        assert client.post(admin_url(model, "delete", quote(theirs.pk)), {"post": "yes"}).status_code == 403
        assert model._default_manager.filter(pk=theirs.pk).exists()
    else:
        assert not listed
        for url in object_urls(model, theirs):
            assert_unreachable(client, url)


def test_reviewers_get_no_bulk_delete_on_a_review_queue_but_keep_it_on_their_own_lists():

    client, _ = signed_in(Role.REVIEWER)
    images = client.get(admin_url(Image, "changelist")).context["action_form"].fields["action"].choices
    assert "delete_selected" not in dict(images)
    assert "approve_selected" in dict(images)
    connections = client.get(admin_url(PlatformConnection, "changelist"))
    assert "delete_selected" in dict(connections.context["action_form"].fields["action"].choices)


def test_reviewers_cancel_only_their_own_workflows():

    client, reviewer = signed_in(Role.REVIEWER)
    theirs = WorkflowFactory(status=WorkflowStatus.RUNNING)
    mine = WorkflowFactory(status=WorkflowStatus.RUNNING, user=reviewer)
    client.post(
        admin_url(Workflow, "changelist"),
        {"action": "cancel_selected", "_selected_action": [theirs.pk, mine.pk]},
    )
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert (theirs.status, mine.status) == (WorkflowStatus.RUNNING, WorkflowStatus.CANCELLED)


def test_a_reviewer_approves_another_users_caption_in_the_admin_and_a_user_cannot():

    image = ImageFactory(post__platform_connection__user=UserFactory())
    action = {"action": "approve_selected", "_selected_action": [image.pk], "post": "yes"}
    user_client, _ = signed_in(Role.USER)
    user_client.post(admin_url(Image, "changelist"), action)
    assert Image.objects.get(pk=image.pk).status == ImageStatus.PENDING
    reviewer_client, _ = signed_in(Role.REVIEWER)
    reviewer_client.post(admin_url(Image, "changelist"), action)
    assert Image.objects.get(pk=image.pk).status == ImageStatus.APPROVED


# --- the index's counts -------------------------------------------------------------------------


def test_the_index_counts_what_the_linked_changelist_shows_each_role():
    from django.utils import timezone

    from console.dashboard import admin_attention_items

    _, user = signed_in(Role.USER)
    _, reviewer = signed_in(Role.REVIEWER)
    ImageFactory(post__platform_connection__user=user, status=ImageStatus.PENDING)
    ImageFactory(post__platform_connection__user=UserFactory(), status=ImageStatus.PENDING)

    def pending(person) -> int:
        items = admin_attention_items(user=person, now=timezone.now())
        return next(item.count for item in items if item.label == "Captions pending review")

    assert (pending(user), pending(reviewer)) == (1, 2)
