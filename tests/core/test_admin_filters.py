"""List filters on large tables build their options without scanning the table.

Django's filter for a plain CharField (AllValuesFieldListFilter) runs SELECT DISTINCT over the
whole table on every changelist load. Ours offer declared values (`fixed_choices_filter`) or the
values of the newest rows (`recent_values_filter`, one query bounded by a LIMIT).
"""

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.filters import AllValuesFieldListFilter, FieldListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiRateLimit, AuditLog, User
from core.admin_lists import LargeTableAdminMixin, fixed_choices_filter, recent_values_filter
from scraping.models import ContentExtraction, JobConfiguration, MetadataTag, ScrapingJobItem
from tests.factories.accounts import AuditLogFactory
from tests.factories.scraping import (
    ContentExtractionFactory,
    JobConfigurationFactory,
    MetadataTagFactory,
    ScrapingJobItemFactory,
)
from tests.factories.workflows import EvaluationFactory, WorkflowCheckpointFactory
from workflows.models import Evaluation, WorkflowCheckpoint

OUR_APPS = {"accounts", "platforms", "captions", "workflows", "scraping", "generation", "core"}


def _field_filter_class(model, name: str) -> type:
    field = get_fields_from_path(model, name)[-1]
    return next(filter_class for test, filter_class in FieldListFilter._field_list_filters if test(field))


@pytest.mark.parametrize(
    ("model", "model_admin"),
    [
        pytest.param(model, model_admin, id=model._meta.label)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in OUR_APPS
    ],
)
def test_no_list_filter_of_ours_lists_every_distinct_value_of_a_column(model, model_admin):
    scanning = [
        name
        for name in model_admin.list_filter
        if isinstance(name, str) and issubclass(_field_filter_class(model, name), AllValuesFieldListFilter)
    ]
    assert not scanning, f"{type(model_admin).__name__}: SELECT DISTINCT over the table for {scanning}"


def _rate_limit_row() -> ApiRateLimit:
    return ApiRateLimit.objects.create(
        bucket="ip:192.0.2.7", endpoint="search", request_count=3, window_start=timezone.now()
    )


# (model, how to make a row, filter parameter, a value to filter by, recent-values filter?)
FILTERED_CHANGELISTS = [
    (AuditLog, lambda: AuditLogFactory(action="caption.approved", resource_type="image"), "action", True),
    (AuditLog, lambda: AuditLogFactory(action="auth.login", resource_type="user"), "resource_type", True),
    (ApiRateLimit, _rate_limit_row, "endpoint", False),
    (Evaluation, lambda: EvaluationFactory(evaluator="builtin-rules-1"), "evaluator", True),
    (WorkflowCheckpoint, lambda: WorkflowCheckpointFactory(step="evaluate"), "step", False),
    (ScrapingJobItem, lambda: ScrapingJobItemFactory(source="sitemap"), "source", False),
    (JobConfiguration, lambda: JobConfigurationFactory(config_key="crawl_depth"), "config_key", False),
    (MetadataTag, lambda: MetadataTagFactory(tag_type="metadata"), "tag_type", False),
    (
        ContentExtraction,
        lambda: ContentExtractionFactory(extraction_type="main_text"),
        "extraction_type",
        False,
    ),
]


def _distinct_values_of(model, column: str, captured) -> list[str]:
    """The captured queries listing the distinct values of model.column (what a filter's options
    would cost). A date hierarchy's DISTINCT over dates is another matter, not a list filter's."""
    qn = connection.ops.quote_name
    target = re.escape(f"{qn(model._meta.db_table)}.{qn(column)}")
    selected = re.compile(rf"SELECT\s+DISTINCT\s+{target}", re.I)
    return [query["sql"] for query in captured if selected.search(query["sql"])]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "make", "parameter", "recent"),
    FILTERED_CHANGELISTS,
    ids=[f"{model.__name__}.{parameter}" for model, _, parameter, _ in FILTERED_CHANGELISTS],
)
def test_changelists_render_with_the_filter_and_never_scan_for_its_options(
    admin_client, model, make, parameter, recent
):
    row = make()
    value = getattr(row, parameter)
    other = make()  # a second row with the same value; the filter must keep both
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")

    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert f"?{parameter}={value}" in body.replace("&amp;", "&"), "the value is offered as an option"
    distinct = _distinct_values_of(model, parameter, captured.captured_queries)
    if recent:  # one bounded query: the distinct values of the newest rows only
        assert len(distinct) == 1 and "LIMIT" in distinct[0].upper(), distinct
    else:
        assert distinct == []

    response = admin_client.get(url, {parameter: value})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2
    assert {obj.pk for obj in response.context["cl"].result_list} == {row.pk, other.pk}


# --- the two filters themselves --------------------------------------------------------------------


def _request(**params):
    request = RequestFactory().get("/", params)
    request.user = User(username="filters", is_superuser=True, is_staff=True, is_active=True)
    return request


def _filter(filter_class, model, **params):
    request = _request(**params)
    model_admin = admin.site.get_model_admin(model)
    return filter_class(request, dict(request.GET.lists()), model, model_admin)


@pytest.mark.django_db
def test_fixed_choices_are_read_on_each_request_when_given_as_a_callable(django_assert_num_queries):
    scopes = ["auth"]
    filter_class = fixed_choices_filter(
        "endpoint", title="endpoint", choices=lambda: [(scope, scope) for scope in scopes]
    )
    with django_assert_num_queries(0):
        assert _filter(filter_class, ApiRateLimit).lookup_choices == [("auth", "auth")]
    scopes.append("api")
    assert _filter(filter_class, ApiRateLimit).lookup_choices == [("auth", "auth"), ("api", "api")]


@pytest.mark.django_db
def test_a_value_from_the_url_is_offered_and_filters_even_when_not_declared():
    filter_class = fixed_choices_filter("endpoint", title="endpoint", choices=[("api", "api")])
    kept = ApiRateLimit.objects.create(
        bucket="ip:192.0.2.1", endpoint="legacy", request_count=1, window_start=timezone.now()
    )
    _rate_limit_row()
    chosen = _filter(filter_class, ApiRateLimit, endpoint="legacy")
    assert ("legacy", "legacy") in chosen.lookup_choices
    assert list(chosen.queryset(_request(), ApiRateLimit.objects.all())) == [kept]


@pytest.mark.django_db
def test_recent_values_come_from_the_newest_rows_only():
    filter_class = recent_values_filter("action", title="action", newest_first="-created_at", rows=3)
    now = timezone.now()
    AuditLogFactory(action="old.action", created_at=now - timedelta(days=2))
    for minutes, action in enumerate(["b.second", "a.first", "b.second"]):
        AuditLogFactory(action=action, created_at=now - timedelta(minutes=minutes))
    with CaptureQueriesContext(connection) as captured:
        choices = _filter(filter_class, AuditLog).lookup_choices
    assert choices == [("a.first", "a.first"), ("b.second", "b.second")]
    assert len(captured.captured_queries) == 1
    # An older value named in the URL is still offered (as chosen) and still filters.
    chosen = _filter(filter_class, AuditLog, action="old.action")
    assert ("old.action", "old.action") in chosen.lookup_choices
    assert [log.action for log in chosen.queryset(_request(), AuditLog.objects.all())] == ["old.action"]


# --- the row checkbox of large-table changelists ---------------------------------------------------


@pytest.mark.django_db
def test_the_row_checkbox_is_djangos_markup_without_its_template():
    log = AuditLogFactory(action='a<b>&"quoted"')
    ours = admin.site.get_model_admin(AuditLog)
    assert isinstance(ours, LargeTableAdminMixin)
    assert ours.action_checkbox(log) == admin.ModelAdmin.action_checkbox(ours, log)
