"""Changelist helpers shared by every app's admin: cheap counts for large tables, and a
"changed recently" list filter (the dashboard links to it).

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

from datetime import timedelta

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import cached_property

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
    """For ModelAdmins of tables that grow without bound: never a full COUNT(*) per page load.

    List it before `admin.ModelAdmin` in the bases.
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False


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
