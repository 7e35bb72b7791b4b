"""The pictures on the admin index, below "Needs attention": what console.selectors reads, drawn by
console.charts, with the links each bar opens.

- Captions collected in the last 30 days by status and by quality band: each bar opens the image
  list filtered to the rows it counts (`created_at__gte`, and `status__exact` or the list's
  `quality` filter, whose ranges are captions.quality's).
- Work done per day over the last 30 days, the person's days (their time zone).
- Running work with its progress, each row opening its change page.

Scoped as everything on the index: what the person may view at all (their permissions), and of
that their own rows unless they see everyone's.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from accounts.permissions import sees_everyone
from captions.models import Image, ImageStatus
from captions.quality import QUALITY_BANDS
from console import charts
from console.dashboard import may_view
from console.selectors import (
    RUNNING_READS,
    SERIES,
    UNSCORED,
    caption_counts,
    day_window,
    running_work,
    work_per_day,
)

QUALITY_FILTER = "quality"  # captions.admin.QualityLevelFilter.parameter_name
# The image list's quality filter names its bands the same way.
BAND_LABELS = {
    **{band: f"{band.capitalize()} ({low}-{high})" for band, (low, high) in QUALITY_BANDS.items()},
    UNSCORED: "Unscored",
}


@dataclass(frozen=True)
class RunningRow:
    kind: str
    label: str
    detail: str
    percent: int
    url: str
    bar: SafeString


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _caption_charts(user, since: datetime) -> dict:
    counts = caption_counts(user=user, since=since)
    # The image list takes a lookup on its own fields in the query string: the same window.
    images = f"{_changelist(Image)}?{urlencode({'created_at__gte': since.astimezone(UTC).isoformat()})}&"
    status_bars = [
        charts.Bar(
            label=ImageStatus(status).label,
            value=count,
            url=images + urlencode({"status__exact": status}),
            css_class=f"sd-status-{status}",
        )
        for status, count in counts.by_status.items()
    ]
    band_bars = [
        charts.Bar(
            label=BAND_LABELS[band],
            value=count,
            url=images + urlencode({QUALITY_FILTER: band}),
            css_class=f"sd-band-{band}",
        )
        for band, count in counts.by_band.items()
    ]
    return {
        "captions_total": sum(counts.by_status.values()),
        "captions_by_status": charts.bar_chart(
            chart_id="chart-captions-status", title="Captions by status", bars=status_bars, unit="captions"
        ),
        "captions_by_band": charts.bar_chart(
            chart_id="chart-captions-quality", title="Captions by quality", bars=band_bars, unit="captions"
        ),
    }


def _running_rows(user, viewable: set) -> list[RunningRow]:
    rows = []
    for work in running_work(user=user, models=viewable):
        opts = work.model._meta
        rows.append(
            RunningRow(
                kind=work.kind,
                label=work.label,
                detail=work.detail,
                percent=work.percent,
                url=reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[work.pk]),
                bar=charts.progress_bar(percent=work.percent, label=f"{work.kind} {work.label}"),
            )
        )
    return rows


def admin_dashboard_context(*, user, now: datetime, zone: tzinfo) -> dict:
    """Template context for the index's pictures; only what `user` may view is read or shown."""
    models = (
        {Image} | {model for _key, _label, model, *_ in SERIES} | {model for model, _read in RUNNING_READS}
    )
    viewable = {model for model in models if may_view(user, model)}
    context: dict = {"dashboard_scope": "everyone" if sees_everyone(user) else "own"}
    _days, since, _end = day_window(now=now, zone=zone)
    if Image in viewable:
        context.update(_caption_charts(user, since))
    work = work_per_day(user=user, now=now, zone=zone, models=viewable)
    if work.series:
        context["work_per_day"] = charts.day_chart(
            chart_id="chart-work-per-day",
            title=f"Work done per day, last {len(work.days)} days",
            days=work.days,
            series=[
                charts.Series(key=line.key, label=line.label, counts=line.counts) for line in work.series
            ],
        )
    running_kinds = {model for model, _read in RUNNING_READS} & viewable
    if running_kinds:
        context["running_work"] = _running_rows(user, running_kinds)
    return context
