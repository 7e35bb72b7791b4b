"""Changelist helpers shared by every app's admin: cheap counts for large tables, a "changed
recently" list filter (the dashboard links to it), and list filters whose options cost no scan
of the table (see the section near the end).

Counting: Django's changelist counts its rows for the paginator, and counts the whole table a
second time unless `show_full_result_count = False`. On a table of millions of rows each
`COUNT(*)` is a sequential or index-only scan costing far more than the page itself.
`EstimatedCountPaginator` therefore, on PostgreSQL and only for an *unfiltered* queryset (no WHERE
clause: no filter, search or date drill-down), answers with the planner's estimate
`pg_class.reltuples`, kept fresh by autovacuum/ANALYZE. The estimate is used only above
`estimate_above` rows: below that, or when the table was never analysed (reltuples is -1), the
exact count is cheap or the estimate meaningless, so the real `COUNT(*)` runs.

What that means for the operator: on an unfiltered list of a large table the total and the number
of pages are as fresh as the table's last (auto)ANALYZE, so the last page may come out empty or a
few rows may sit past the last numbered page; sorting or filtering reaches every row. A
*filtered* list keeps Django's exact count. Capping it instead (counting a LIMIT subquery) would
make the admin report a wrong total and refuse pages past the cap, which is worse than a filtered
count that the status and date indexes keep cheap. Other databases (SQLite) always count exactly.
"""

from collections.abc import Callable, Iterable
from datetime import timedelta
from uuid import UUID

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext as _

# Below this many rows an exact COUNT(*) costs about as much as reading the estimate.
ESTIMATE_ABOVE_ROWS = 10_000


def estimated_table_rows(queryset: QuerySet) -> int | None:
    """The planner's row estimate for the queryset's table on PostgreSQL; None where there is none."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:  # -1: never vacuumed or analysed
        return None
    return int(row[0])


def _is_whole_table(queryset) -> bool:
    if not isinstance(queryset, QuerySet):
        return False
    query = queryset.query
    return not (query.where or query.is_sliced or query.distinct or query.combinator or query.group_by)


class EstimatedCountPaginator(Paginator):
    """A paginator whose count is PostgreSQL's estimate for an unfiltered large table (see module)."""

    estimate_above = ESTIMATE_ABOVE_ROWS

    @cached_property
    def count(self) -> int:
        if _is_whole_table(self.object_list):
            estimate = estimated_table_rows(self.object_list)
            if estimate is not None and estimate > self.estimate_above:
                return estimate
        return super().count


class LargeTableAdminMixin:
    """For ModelAdmins of tables that grow without bound: never a full COUNT(*) per page load, and
    each row's selection checkbox written directly rather than through a widget template.

    List it before `admin.ModelAdmin` in the bases.
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def action_checkbox(self, obj):
        # Django renders a CheckboxInput template per row: about a tenth of a 50-row changelist's
        # time. Same markup (tests/core/test_admin_filters.py compares it with Django's).
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )


RECENT_WINDOWS = {
    "24h": ("last 24 hours", timedelta(hours=24)),
    "7d": ("last 7 days", timedelta(days=7)),
    "30d": ("last 30 days", timedelta(days=30)),
}


def recent_filter(field: str, *, title: str, parameter: str) -> type[admin.SimpleListFilter]:
    """A list filter keeping rows whose `field` lies within the last 24 hours, 7 or 30 days of now.

    Django's date filter offers calendar periods (today, this month), not a sliding window, and the
    dashboard's "failed in the last 24 hours" needs one.
    """

    class RecentFilter(admin.SimpleListFilter):
        parameter_name = parameter

        def lookups(self, request, model_admin):
            return [(key, label) for key, (label, _) in RECENT_WINDOWS.items()]

        def queryset(self, request, queryset):
            window = RECENT_WINDOWS.get(self.value() or "")
            if window is None:
                return queryset
            return queryset.filter(**{f"{field}__gte": timezone.now() - window[1]})

    RecentFilter.title = title
    RecentFilter.__name__ = RecentFilter.__qualname__ = f"Recent_{field}_Filter"
    return RecentFilter


# The filter on `updated_at` that the task, job and workflow admins share; services set
# `updated_at` on every state change, so for a failed row it is when it failed.
ChangedRecentlyFilter = recent_filter("updated_at", title="last changed", parameter="changed")
# The parameter of django-q's failed-task list filter on its stop time (core.admin).
STOPPED_FILTER_PARAM = "stopped"


# --- list filters that never scan the table for their options ------------------------------------
#
# Django's filter for a plain CharField (AllValuesFieldListFilter) builds its options with
# SELECT DISTINCT <field> over the whole table on every changelist load: a sequential scan of a
# large table, or of its index, before the page's own query runs. These two filters keep the same
# URL parameter (`<field>=<value>`), so links and bookmarks keep working.

Choices = Iterable[tuple[str, str]]
# How many of the newest rows `recent_values_filter` reads for its options: enough to see every
# value in regular use, few enough to cost a few milliseconds through the ordering's index.
RECENT_VALUES_ROWS = 10_000


def _value_filter(field: str, *, title: str, choices: Callable[[], Choices]) -> type[admin.SimpleListFilter]:
    class ValueFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            options = list(choices(model_admin=model_admin))
            selected = self.value()
            if selected and selected not in {value for value, _ in options}:
                options.append((selected, selected))  # a bookmarked value keeps showing as chosen
            return options

        def queryset(self, request, queryset):
            if self.value():
                return queryset.filter(**{field: self.value()})
            return queryset

    ValueFilter.title = title
    ValueFilter.__name__ = ValueFilter.__qualname__ = f"{field.title().replace('_', '')}ValueFilter"
    return ValueFilter


def fixed_choices_filter(
    field: str, *, title: str, choices: Choices | Callable[[], Choices]
) -> type[admin.SimpleListFilter]:
    """A list filter on `field` offering a declared set of values: `choices` is a list of
    (value, label) pairs, or a callable returning one (read on each request, e.g. from settings).

    For a field whose values come from a constant or enum in code but that has no `choices` of its
    own (with `choices`, Django's ChoicesFieldListFilter already needs no query)."""

    def declared(*, model_admin) -> Choices:
        return choices() if callable(choices) else choices

    return _value_filter(field, title=title, choices=declared)


def recent_values_filter(
    field: str, *, title: str, newest_first: str, rows: int = RECENT_VALUES_ROWS
) -> type[admin.SimpleListFilter]:
    """A list filter on `field` offering the values found among the newest `rows` rows, ordered
    by `newest_first` (an indexed column, e.g. "-created_at"): one bounded query, however large
    the table.

    For open sets of values no constant declares (audit actions written by many services, AI
    evaluator names): a value last seen further back is not offered, but still filters when named
    in the URL and is found by the changelist's search."""

    def recent(*, model_admin) -> Choices:
        rows_seen = model_admin.model._default_manager.order_by(newest_first).values("pk")[:rows]
        values = (
            model_admin.model._default_manager.filter(pk__in=rows_seen)
            .exclude(**{f"{field}__isnull": True})
            .exclude(**{field: ""})
            .order_by(field)
            .values_list(field, flat=True)
            .distinct()
        )
        return [(value, value) for value in values]

    return _value_filter(field, title=title, choices=recent)


# --- long identifiers in lists -----------------------------------------------------------------
#
# A UUID is 36 characters and a Mastodon post id 18 digits: as list columns they push a changelist
# past 1280 px and say nothing a person reads. Lists show a short form with the whole value as its
# tooltip; the change page and the search box keep the whole value.
SHORT_ID_HEAD = 8  # a UUID's first 8 hex digits, as git shortens commit ids
SHORT_ID_TAIL = 6  # a snowflake's last digits differ from row to row; its first ones hardly do
SHORT_ID_KEEP = 12  # values up to this long are shown whole


def short_id(value) -> str:
    """A long identifier shortened for a list: a UUID's head, another long value's tail."""
    if value is None or value == "":
        return "—"
    text = str(value)
    if len(text) <= SHORT_ID_KEEP:
        return text
    if isinstance(value, UUID) or _looks_like_uuid(text):
        return format_html('<span title="{}">{}</span>', text, text[:SHORT_ID_HEAD])
    return format_html('<span title="{}">…{}</span>', text, text[-SHORT_ID_TAIL:])


def _looks_like_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def short_id_column(field: str, *, description: str) -> Callable:
    """A list_display column showing `field` shortened (see `short_id`), sortable by the field."""

    @admin.display(description=description, ordering=field)
    def column(self, obj) -> str:
        return short_id(getattr(obj, field))

    column.__name__ = f"short_{field}"
    return column
