"""Charts as inline SVG, drawn on the server: no script, no library, nothing fetched from elsewhere.

The Content-Security-Policy (core.security) refuses `style` attributes, so shapes carry
presentation attributes (x, y, width, height) and classes; colours and type come from
console/static/console/dashboard.css. Every chart is readable without seeing it: the SVG has a
<title> and an aria label, each bar or progress bar names its value, and the day chart comes with
a visually hidden table of the same numbers.

The functions take plain numbers and return safe HTML; they read nothing (console.selectors does).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

# Bar chart geometry, in viewBox units (the SVG scales to its box's width).
BARS_WIDTH = 480
LABEL_WIDTH = 132
BAR_X = LABEL_WIDTH + 8
BAR_SPACE = BARS_WIDTH - BAR_X - 48  # room left for the value after the longest bar
ROW_HEIGHT = 26
BAR_HEIGHT = 18

# Day chart geometry: one row per series, one column per day.
DAYS_WIDTH = 880
DAYS_LABEL_WIDTH = 150
DAY_ROW_HEIGHT = 46
DAY_BAR_MAX = 30  # the tallest column of a row
AXIS_HEIGHT = 18

PROGRESS_WIDTH = 200
PROGRESS_HEIGHT = 12


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    url: str
    css_class: str


def _scaled(value: int, largest: int, space: float) -> float:
    return 0.0 if largest <= 0 else round(space * value / largest, 1)


def _svg(
    *,
    css_class: str,
    width: int,
    height: int,
    chart_id: str,
    title: str,
    body: SafeString,
    role: str = "group",
) -> SafeString:
    """role "group": a chart whose parts (links) are read and reached one by one; "img": one picture
    (its parts are not read), described by the element `{chart_id}-table`."""
    described = format_html(' aria-describedby="{}-table"', chart_id) if role == "img" else ""
    return format_html(
        '<svg class="sd-chart {}" viewBox="0 0 {} {}" width="{}" height="{}" role="{}" '
        'aria-labelledby="{}-title"{} id="{}" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{}-title">{}</title>{}</svg>',
        css_class,
        width,
        height,
        width,
        height,
        role,
        chart_id,
        described,
        chart_id,
        chart_id,
        title,
        body,
    )


def bar_chart(*, chart_id: str, title: str, bars: Sequence[Bar], unit: str) -> SafeString:
    """Horizontal bars, one row each, every bar a link (e.g. to the list of the rows it counts)."""
    largest = max((bar.value for bar in bars), default=0)
    rows = []
    for index, bar in enumerate(bars):
        top = index * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2
        middle = index * ROW_HEIGHT + ROW_HEIGHT / 2
        length = _scaled(bar.value, largest, BAR_SPACE)
        spoken = f"{bar.label}: {bar.value} {unit}"
        rows.append(
            format_html(
                '<a href="{}" class="sd-bar {}" aria-label="{}"><title>{}</title>'
                '<text x="{}" y="{}" class="sd-label" text-anchor="end" dominant-baseline="middle">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" class="sd-track"/>'
                '<rect x="{}" y="{}" width="{}" height="{}" rx="2" class="sd-fill" data-value="{}"/>'
                '<text x="{}" y="{}" class="sd-value" dominant-baseline="middle">{}</text></a>',
                bar.url,
                bar.css_class,
                spoken,
                spoken,
                LABEL_WIDTH,
                middle,
                bar.label,
                BAR_X,
                top,
                BAR_SPACE,
                BAR_HEIGHT,
                BAR_X,
                top,
                length,
                BAR_HEIGHT,
                bar.value,
                BAR_X + length + 6,
                middle,
                bar.value,
            )
        )
    return _svg(
        css_class="sd-bars",
        width=BARS_WIDTH,
        height=max(1, len(bars)) * ROW_HEIGHT,
        chart_id=chart_id,
        title=title,
        body=mark_safe("".join(rows)),  # noqa: S308 -- every row was built by format_html
    )


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    counts: Sequence[int]


def _day_text(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def day_chart(*, chart_id: str, title: str, days: Sequence[date], series: Sequence[Series]) -> SafeString:
    """One row of day columns per series, each row scaled to its own busiest day (so a quiet series
    still shows its shape), with the row's total and busiest day in its label; then a hidden table
    with every number."""
    column = (DAYS_WIDTH - DAYS_LABEL_WIDTH) / max(1, len(days))
    rows = []
    for index, line in enumerate(series):
        base = index * DAY_ROW_HEIGHT + DAY_ROW_HEIGHT - 6
        largest = max(line.counts, default=0)
        columns = format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" class="sd-day{}" data-day="{}" data-value="{}">'
            "<title>{}: {}</title></rect>",
            (
                (
                    round(DAYS_LABEL_WIDTH + position * column + 1, 1),
                    round(base - max(height, 1), 1),
                    round(column - 2, 1),
                    max(height, 1),
                    "" if count else " sd-empty",
                    day.isoformat(),
                    count,
                    _day_text(day),
                    count,
                )
                for position, (day, count) in enumerate(zip(days, line.counts, strict=True))
                for height in (_scaled(count, largest, DAY_BAR_MAX),)
            ),
        )
        rows.append(
            format_html(
                '<g class="sd-series sd-series-{}" aria-label="{}: {} in {} days">'
                '<text x="0" y="{}" class="sd-label">{}</text>'
                '<text x="0" y="{}" class="sd-note">{} in all, at most {} a day</text>{}</g>',
                line.key,
                line.label,
                sum(line.counts),
                len(days),
                base - 18,
                line.label,
                base - 2,
                sum(line.counts),
                largest,
                columns,
            )
        )
    axis_y = len(series) * DAY_ROW_HEIGHT + AXIS_HEIGHT - 4
    axis = ""
    if days:
        axis = format_html(
            '<text x="{}" y="{}" class="sd-note">{}</text>'
            '<text x="{}" y="{}" class="sd-note" text-anchor="end">{}</text>',
            DAYS_LABEL_WIDTH,
            axis_y,
            _day_text(days[0]),
            DAYS_WIDTH,
            axis_y,
            _day_text(days[-1]),
        )
    # One picture for screen readers (150 columns read one by one say little); the table says it all.
    svg = _svg(
        role="img",
        css_class="sd-days",
        width=DAYS_WIDTH,
        height=len(series) * DAY_ROW_HEIGHT + AXIS_HEIGHT,
        chart_id=chart_id,
        title=title,
        body=format_html("{}{}", mark_safe("".join(rows)), axis),  # noqa: S308 -- built by format_html
    )
    return format_html("{}{}", svg, day_table(chart_id=chart_id, title=title, days=days, series=series))


def day_table(*, chart_id: str, title: str, days: Sequence[date], series: Sequence[Series]) -> SafeString:
    """The day chart's numbers as a table, hidden from sight but not from screen readers."""
    head = format_html_join("", '<th scope="col">{}</th>', ((line.label,) for line in series))
    body = format_html_join(
        "",
        '<tr><th scope="row"><time datetime="{}">{}</time></th>{}</tr>',
        (
            (
                day.isoformat(),
                _day_text(day),
                format_html_join("", "<td>{}</td>", ((line.counts[position],) for line in series)),
            )
            for position, day in enumerate(days)
        ),
    )
    return format_html(
        '<table class="sd-visually-hidden" id="{}-table"><caption>{}</caption>'
        '<thead><tr><th scope="col">Day</th>{}</tr></thead><tbody>{}</tbody></table>',
        chart_id,
        title,
        head,
        body,
    )


def progress_bar(*, percent: int, label: str) -> SafeString:
    """A bar filled to `percent` (0-100), announced as a progress bar."""
    percent = max(0, min(100, int(percent)))
    return format_html(
        '<svg class="sd-progress" viewBox="0 0 {} {}" width="{}" height="{}" preserveAspectRatio="none" '
        'role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="{}" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}: {}%</title>'
        '<rect width="{}" height="{}" rx="3" class="sd-track"/>'
        '<rect width="{}" height="{}" rx="3" class="sd-fill"/></svg>',
        PROGRESS_WIDTH,
        PROGRESS_HEIGHT,
        PROGRESS_WIDTH,
        PROGRESS_HEIGHT,
        percent,
        label,
        label,
        percent,
        PROGRESS_WIDTH,
        PROGRESS_HEIGHT,
        PROGRESS_WIDTH * percent / 100,
        PROGRESS_HEIGHT,
    )
