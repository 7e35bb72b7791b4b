"""Conventions every ModelAdmin of ours keeps, so a new admin cannot quietly regress them:

- list_select_related covers every foreign key shown in list_display (no query per row);
- a foreign key on an editable form is a raw-id or autocomplete widget, or read-only (a plain select
  loads the whole related table into the page);
- the changelists of large tables never count the whole table (EstimatedCountPaginator and
  show_full_result_count = False);
- every action declares the permissions it needs (Django's delete_selected is gated by delete).

Also the estimated-count paginator itself, and django-q2's admin as moderators and admins see it.
"""

import uuid

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.forms.models import _get_foreign_key
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.models import Failure, OrmQ, Schedule, Success

from accounts.models import ApiRateLimit, AuditLog, Role, User, UserSession
from accounts.services.users import user_set_role
from captions.models import CaptionGenerationTask, Image, ImageCaption, Post, ProcessingRun
from core.admin_lists import ESTIMATE_ABOVE_ROWS, EstimatedCountPaginator
from generation.models import GeneratedImage, GeneratedImageArchive, GeneratedPersona
from scraping.models import Artifact, ContentExtraction, MetadataTag, ScrapingJobItem
from tests.factories.accounts import UserFactory
from workflows.models import Draft, PlatformState, PublishingJob, Workflow, WorkflowCheckpoint

OUR_APPS = {"accounts", "platforms", "captions", "workflows", "scraping", "generation", "core"}

LARGE_TABLES = [
    Image,
    Post,
    ImageCaption,
    CaptionGenerationTask,
    ProcessingRun,
    AuditLog,
    UserSession,
    ApiRateLimit,
    Artifact,
    ScrapingJobItem,
    ContentExtraction,
    MetadataTag,
    GeneratedImage,
    GeneratedImageArchive,
    GeneratedPersona,
    Workflow,
    Draft,
    PlatformState,
    PublishingJob,
    WorkflowCheckpoint,
]


def _our_admins():
    return [
        pytest.param(model, model_admin, id=model._meta.label)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in OUR_APPS
    ]


OUR_ADMINS = _our_admins()


def _superuser_request():
    request = RequestFactory().get("/admin/")
    request.user = User(username="conventions", is_superuser=True, is_staff=True, is_active=True)
    return request


def _forward_relation(model, name: str):
    """The forward ForeignKey/OneToOne called `name` (not its `_id` attname), else None."""
    try:
        field = model._meta.get_field(name)
    except Exception:  # a method or an admin attribute, not a field
        return None
    if field.concrete and (field.many_to_one or field.one_to_one) and field.name == name:
        return field
    return None


def test_every_app_registers_its_admins():
    registered = {model._meta.app_label for model, _ in (param.values[:2] for param in OUR_ADMINS)}
    assert registered == OUR_APPS


@pytest.mark.parametrize(("model", "model_admin"), OUR_ADMINS)
def test_foreign_keys_in_list_display_are_selected_with_the_rows(model, model_admin):
    request = _superuser_request()
    shown = [name for name in model_admin.get_list_display(request) if isinstance(name, str)]
    related = [name for name in shown if _forward_relation(model, name)]
    selected = model_admin.get_list_select_related(request)
    if selected is True:
        return
    missing = [name for name in related if name not in (selected or ())]
    assert not missing, f"{type(model_admin).__name__}.list_select_related lacks {missing}"


def _editable_foreign_keys(model, model_admin, request, obj, *, skip=()):
    editable = [
        name
        for name in model_admin.get_fields(request, obj)
        if name not in set(model_admin.get_readonly_fields(request, obj)) and name not in skip
    ]
    widgets = set(model_admin.raw_id_fields) | set(model_admin.get_autocomplete_fields(request))
    return [name for name in editable if _forward_relation(model, name) and name not in widgets]


@pytest.mark.parametrize(("model", "model_admin"), OUR_ADMINS)
def test_foreign_keys_on_editable_forms_use_raw_id_or_autocomplete(model, model_admin):
    request = _superuser_request()
    problems = {}
    forms = []
    if model_admin.has_add_permission(request):
        forms.append(("add", None))
    if model_admin.has_change_permission(request, model()):
        forms.append(("change", model()))
    for form_name, obj in forms:
        if bad := _editable_foreign_keys(model, model_admin, request, obj):
            problems[f"{type(model_admin).__name__} {form_name} form"] = bad
        for inline in model_admin.get_inline_instances(request, obj):
            if not (inline.has_add_permission(request, obj) or inline.has_change_permission(request, obj)):
                continue
            parent_fk = _get_foreign_key(model, inline.model, fk_name=inline.fk_name)
            bad = _editable_foreign_keys(inline.model, inline, request, obj, skip={parent_fk.name})
            if bad:
                problems[f"{type(inline).__name__} in the {form_name} form"] = bad
    assert not problems, f"plain select widgets for foreign keys: {problems}"


@pytest.mark.parametrize(("model", "model_admin"), OUR_ADMINS)
def test_autocomplete_targets_can_be_searched(model, model_admin):
    for name in model_admin.get_autocomplete_fields(_superuser_request()):
        target = model._meta.get_field(name).related_model
        assert admin.site.is_registered(target) and admin.site.get_model_admin(target).search_fields


@pytest.mark.parametrize("model", LARGE_TABLES, ids=lambda model: model._meta.label)
def test_large_tables_never_count_the_whole_table(model):
    model_admin = admin.site.get_model_admin(model)
    assert issubclass(model_admin.paginator, EstimatedCountPaginator), type(model_admin).__name__
    assert model_admin.show_full_result_count is False, type(model_admin).__name__


@pytest.mark.parametrize(("model", "model_admin"), OUR_ADMINS)
def test_every_action_declares_its_permissions(model, model_admin):
    for func, name, _ in model_admin._get_base_actions():
        if name == "delete_selected":  # Django's own, gated by the delete permission
            continue
        permissions = getattr(func, "allowed_permissions", ())
        assert permissions, f"{type(model_admin).__name__}.{name} has no permissions=[...]"
        for permission in permissions:
            assert callable(getattr(model_admin, f"has_{permission}_permission", None)), (name, permission)


# --- the paginator -------------------------------------------------------------------------------


def _audit_rows(count: int) -> None:
    AuditLog.objects.bulk_create([AuditLog(action="test.bulk", resource_type="user") for _ in range(count)])


def _count_queries(ctx) -> list[str]:
    """The COUNTs of the audit table (the page's other counts, such as the unread notifications in
    the user tools, are small indexed ones of other tables)."""
    return [
        query["sql"]
        for query in ctx.captured_queries
        if "COUNT(" in query["sql"].upper() and '"audit_logs"' in query["sql"]
    ]


@pytest.mark.django_db
def test_the_paginator_counts_exactly_below_the_threshold_and_on_filtered_lists():
    _audit_rows(7)
    assert EstimatedCountPaginator(AuditLog.objects.order_by("pk"), 5).count == 7
    assert EstimatedCountPaginator(AuditLog.objects.filter(action="none").order_by("pk"), 5).count == 0
    assert EstimatedCountPaginator(list(range(12)), 5).count == 12
    assert ESTIMATE_ABOVE_ROWS == 10_000


class LowThresholdPaginator(EstimatedCountPaginator):
    estimate_above = 20


def _analyze(model) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_an_unfiltered_large_table_uses_the_planners_estimate():
    _audit_rows(30)
    _analyze(AuditLog)
    _audit_rows(5)  # not analysed yet: the estimate still says 30
    with CaptureQueriesContext(connection) as ctx:
        assert LowThresholdPaginator(AuditLog.objects.order_by("pk"), 10).count == 30
    assert not _count_queries(ctx)
    # Filtered lists are counted exactly, with the rows added since the analysis.
    assert LowThresholdPaginator(AuditLog.objects.filter(action="test.bulk").order_by("pk"), 10).count == 35


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_a_table_below_the_threshold_is_counted_exactly():
    _audit_rows(12)
    _analyze(AuditLog)
    _audit_rows(1)
    assert LowThresholdPaginator(AuditLog.objects.order_by("pk"), 10).count == 13


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_the_audit_changelist_runs_no_count(admin_client, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_above", 20)
    _audit_rows(30)
    _analyze(AuditLog)
    analysed = AuditLog.objects.count()  # 30 and whatever logging the admin in wrote
    _audit_rows(5)
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(reverse("admin:accounts_auditlog_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == analysed
    assert not _count_queries(ctx)
    # A filtered list shows its exact count, and never counts the whole table as well.
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(reverse("admin:accounts_auditlog_changelist"), {"action": "test.bulk"})
    assert response.context["cl"].result_count == 35
    assert len(_count_queries(ctx)) == 1


# --- django-q2's admin ---------------------------------------------------------------------------

Q_MODELS = [Success, Failure, Schedule, OrmQ]


def _failure() -> Failure:
    now = timezone.now()
    return Failure.objects.create(
        id=uuid.uuid4().hex,
        name="failed-task",
        func="scraping.tasks.run_scraping_job",
        started=now,
        stopped=now,
        success=False,
    )


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("model", Q_MODELS, ids=lambda model: model.__name__)
def test_django_q_changelists_open_for_admins_and_moderators(admin_client, model):
    failure = _failure()
    url = reverse(f"admin:django_q_{model._meta.model_name}_changelist")
    moderator = user_set_role(user=UserFactory(), role=Role.MODERATOR)
    for client in (admin_client, _client(moderator)):
        response = client.get(url)
        assert response.status_code == 200
        changelist = response.context["cl"]
        assert changelist.model is model
        # Only the failure exists: it is on its own list, and no other list shows it.
        expected = [failure.pk] if model is Failure else []
        assert [row.pk for row in changelist.result_list] == expected


@pytest.mark.django_db
def test_resubmitting_django_q_tasks_needs_the_change_permission(admin_client, monkeypatch):
    from django_q import admin as django_q_admin

    resubmitted = []
    monkeypatch.setattr(django_q_admin, "async_task", lambda func, *args, **kwargs: resubmitted.append(func))
    failure = _failure()
    url = reverse("admin:django_q_failure_changelist")
    data = {"action": "resubmit_selected", ACTION_CHECKBOX_NAME: [failure.pk]}

    moderator = _client(user_set_role(user=UserFactory(), role=Role.MODERATOR))
    assert "resubmit_selected" not in moderator.get(url).content.decode()
    moderator.post(url, data)
    assert resubmitted == [] and Failure.objects.filter(pk=failure.pk).exists()

    assert "resubmit_selected" in admin_client.get(url).content.decode()
    admin_client.post(url, data)
    assert resubmitted == [failure.func]
    assert not Failure.objects.filter(pk=failure.pk).exists()  # django-q2 drops the resubmitted failure


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Success, Failure], ids=lambda model: model.__name__)
def test_django_q_actions_declare_their_permissions(model):
    model_admin = admin.site.get_model_admin(model)
    for func, name, _ in model_admin._get_base_actions():
        assert name == "delete_selected" or getattr(func, "allowed_permissions", ()), name
