"""The admin index's pictures (console.selectors, console.charts, console.dashboard_charts): the
bars and their numbers for seeded data, where each bar leads, what each role sees, days counted in
the person's time zone, and the cost."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from accounts.services.users import user_set_role
from captions.models import Image, ImageStatus
from captions.models import TaskStatus as CaptionTaskStatus
from console import charts
from console.dashboard import admin_attention_items
from console.selectors import caption_counts, day_window, running_work, work_per_day
from generation.models import TaskStatus as PersonaTaskStatus
from scraping.models import JobStatus
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationTaskFactory, ImageFactory, ProcessingRunFactory
from tests.factories.generation import GenerationTaskFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.scraping import ArtifactFactory, ScrapingJobFactory
from tests.factories.workflows import PlatformStateFactory, PublishingJobFactory, WorkflowFactory
from workflows.models import Platform, PlatformStatus, PublishingStatus, WorkflowStatus

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")
IMAGES = reverse("admin:captions_image_changelist")
SVG = "{http://www.w3.org/2000/svg}"
STATUSES = ["pending", "reviewed", "approved", "rejected", "posted", "error"]
BANDS = ["excellent", "good", "fair", "poor", "unscored"]


def images_of(owner, spec: list[tuple[str, int | None]]) -> list[Image]:
    """Images of one connection of `owner`: (status, score) each."""
    connection = PlatformConnectionFactory(user=owner)
    return [
        ImageFactory(post__platform_connection=connection, status=status, caption_quality_score=score)
        for status, score in spec
    ]


@pytest.fixture
def owners():
    """Two people with captions: `ann` has 7 (statuses and bands spread out), `bob` has 3."""
    ann = UserFactory(username="ann")
    bob = UserFactory(username="bob")
    images_of(
        ann,
        [
            ("pending", 95),
            ("pending", 72),
            ("pending", 45),
            ("reviewed", 20),
            ("approved", 91),
            ("posted", 99),
            ("error", None),
        ],
    )
    images_of(bob, [("pending", 10), ("rejected", 50), ("posted", None)])
    # Collected before the last 30 days: in no picture.
    for old in images_of(ann, [("pending", 95), ("posted", 30)]):
        Image.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    return ann, bob


def staff(role: str, **fields):
    # Roles below reviewer sign in to the admin once the role table allows it (another part of
    # issue 20); until then the staff flag given here stands for that.
    user = user_set_role(user=UserFactory(**fields), role=role)
    type(user).objects.filter(pk=user.pk).update(is_staff=True)
    user.refresh_from_db()
    return user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def parse_svg(markup) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314 -- our own page's markup, not outside input


def chart(body: str, chart_id: str) -> ET.Element:
    match = re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', body, re.DOTALL)
    assert match, f"no chart {chart_id}"
    return parse_svg(match.group(0))


def bars(svg: ET.Element) -> dict[str, tuple[int, str]]:
    """Per bar (its css class after sd-bar): (value, link)."""
    found = {}
    for link in svg.iter(f"{SVG}a"):
        name = link.get("class").split()[1]
        fill = link.find(f"{SVG}rect[@class='sd-fill']")
        found[name] = (int(fill.get("data-value")), link.get("href"))
    return found


# --- numbers -------------------------------------------------------------------------------------------


def test_caption_counts_by_status_and_band(owners):
    ann, _bob = owners
    admin = UserFactory(role=Role.ADMIN)
    since = timezone.now() - timedelta(days=30)
    everyone = caption_counts(user=admin, since=since)
    assert everyone.by_status == {
        "pending": 4,
        "reviewed": 1,
        "approved": 1,
        "rejected": 1,
        "posted": 2,
        "error": 1,
    }
    # Bands are captions.quality's levels: excellent >= 90, good >= 70, fair >= 40, poor below.
    assert everyone.by_band == {"excellent": 3, "good": 1, "fair": 2, "poor": 2, "unscored": 2}

    own = caption_counts(user=ann, since=since)
    assert own.by_status == {
        "pending": 3,
        "reviewed": 1,
        "approved": 1,
        "rejected": 0,
        "posted": 1,
        "error": 1,
    }
    assert own.by_band == {"excellent": 3, "good": 1, "fair": 1, "poor": 1, "unscored": 1}


def test_the_svg_draws_each_bar_to_scale_with_its_number_and_name():
    svg = parse_svg(
        charts.bar_chart(
            chart_id="c",
            title="Captions by status",
            bars=[
                charts.Bar(label="Pending review", value=8, url="/a", css_class="x-pending"),
                charts.Bar(label="Posted", value=2, url="/b", css_class="x-posted"),
                charts.Bar(label="Error", value=0, url="/c", css_class="x-error"),
            ],
            unit="captions",
        )
    )
    assert svg.get("aria-labelledby") == "c-title"
    assert svg.find(f"{SVG}title").text == "Captions by status"
    links = list(svg.iter(f"{SVG}a"))
    assert [link.get("aria-label") for link in links] == [
        "Pending review: 8 captions",
        "Posted: 2 captions",
        "Error: 0 captions",
    ]
    widths = [float(link.find(f"{SVG}rect[@class='sd-fill']").get("width")) for link in links]
    assert widths[0] == charts.BAR_SPACE and widths[1] == charts.BAR_SPACE / 4 and widths[2] == 0
    assert [link.findall(f"{SVG}text")[1].text for link in links] == ["8", "2", "0"]


def test_an_empty_chart_draws_no_bar_lengths():
    svg = parse_svg(
        charts.bar_chart(
            chart_id="c", title="t", bars=[charts.Bar(label="a", value=0, url="/", css_class="k")], unit="x"
        )
    )
    assert svg.find(f".//{SVG}rect[@class='sd-fill']").get("width") == "0.0"


def test_labels_are_escaped():
    svg = str(
        charts.bar_chart(
            chart_id="c",
            title="<b>",
            bars=[charts.Bar(label="<script>", value=1, url="/?a=1&b=2", css_class="k")],
            unit="x",
        )
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'href="/?a=1&amp;b=2"' in svg


# --- the index page --------------------------------------------------------------------------------------


def test_the_index_shows_the_caption_charts_with_the_right_bars(owners, admin_client):
    response = admin_client.get(INDEX)
    body = response.content.decode()
    status = bars(chart(body, "chart-captions-status"))
    assert {name.removeprefix("sd-status-"): value for name, (value, _) in status.items()} == {
        "pending": 4,
        "reviewed": 1,
        "approved": 1,
        "rejected": 1,
        "posted": 2,
        "error": 1,
    }
    quality = bars(chart(body, "chart-captions-quality"))
    assert [name.removeprefix("sd-band-") for name in quality] == BANDS
    assert [value for value, _ in quality.values()] == [3, 1, 2, 2, 2]
    assert "style=" not in body.split('id="sd-dashboard"')[1], "no inline styles (CSP)"
    assert 'href="/static/console/dashboard.css"' in body


def test_each_bar_opens_the_image_list_filtered_to_the_captions_it_counts(owners, admin_client):
    body = admin_client.get(INDEX).content.decode()
    links = {**bars(chart(body, "chart-captions-status")), **bars(chart(body, "chart-captions-quality"))}
    assert len(links) == len(STATUSES) + len(BANDS)
    for name, (value, href) in links.items():
        assert href.startswith(IMAGES + "?"), name
        response = admin_client.get(href)
        assert response.status_code == 200, name
        changelist = response.context["cl"]
        assert changelist.has_active_filters, name
        assert changelist.result_count == value, name


def test_a_user_sees_only_their_own_work(owners):
    ann, _bob = owners
    user = staff(Role.USER, username="ann2")
    images_of(user, [("pending", 80), ("pending", 30)])
    CaptionGenerationTaskFactory(
        status=CaptionTaskStatus.RUNNING, platform_connection__user=user, progress_percent=25
    )
    CaptionGenerationTaskFactory(status=CaptionTaskStatus.RUNNING, progress_percent=75)  # someone else's
    for owner in (user, ann):
        PlatformStateFactory(
            status=PlatformStatus.AWAITING_REVIEW,
            workflow__user=owner,
            workflow__status=WorkflowStatus.AWAITING_REVIEW,
        )

    response = signed_in(user).get(INDEX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Your work: needs attention" in body
    status = bars(chart(body, "chart-captions-status"))
    assert status["sd-status-pending"][0] == 2
    assert sum(value for value, _ in status.values()) == 2
    assert [row.percent for row in response.context["running_work"]] == [25]
    items = {(item.section, item.label): item.count for item in response.context["attention_items"]}
    assert items[("Awaiting review", "Captions pending review")] == 2
    assert items[("Awaiting review", "Drafts awaiting review")] == 1
    assert items[("Running now", "Caption tasks")] == 1


@pytest.mark.parametrize(("role", "pending"), [(Role.VIEWER, 3), (Role.REVIEWER, 3), (Role.MODERATOR, 4)])
def test_what_each_role_counts(owners, role, pending):
    ann, _ = owners
    person = ann if role != Role.MODERATOR else staff(Role.MODERATOR)
    if role != Role.MODERATOR:
        person = user_set_role(user=ann, role=role)
        type(person).objects.filter(pk=person.pk).update(is_staff=True)
    body = signed_in(person).get(INDEX).content.decode()
    assert bars(chart(body, "chart-captions-status"))["sd-status-pending"][0] == pending


def test_staff_without_permissions_get_no_pictures(owners):
    body = signed_in(UserFactory(is_staff=True)).get(INDEX).content.decode()
    for picture in ("dashboard-captions", "dashboard-work", "dashboard-running"):
        assert f'id="{picture}"' not in body


# --- work per day ---------------------------------------------------------------------------------------


NOW = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)


def _series(result) -> dict[str, dict]:
    return {line.key: dict(zip(result.days, line.counts, strict=True)) for line in result.series}


def test_the_window_is_the_last_30_days_of_the_persons_calendar():
    days, start, end = day_window(now=NOW, zone=ZoneInfo("Pacific/Auckland"))
    # 20:00 UTC on 6 December is 09:00 on 7 December in Auckland (UTC+13 in summer).
    assert days[-1].isoformat() == "2026-12-07" and len(days) == 30
    assert start == datetime(2026, 11, 8, 0, 0, tzinfo=ZoneInfo("Pacific/Auckland"))
    assert end - start == timedelta(days=30)


def test_each_series_counts_its_own_event_on_its_day(owners):
    ann, _ = owners
    connection = PlatformConnectionFactory(user=ann)
    day = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    ProcessingRunFactory(platform_connection=connection, started_at=day, captions_generated=7)
    ProcessingRunFactory(
        platform_connection=connection, started_at=day - timedelta(days=40), captions_generated=5
    )
    approved = ImageFactory(
        post__platform_connection=connection, status=ImageStatus.APPROVED, reviewed_at=day
    )
    ImageFactory(post__platform_connection=connection, status=ImageStatus.REJECTED, reviewed_at=day)
    ImageFactory(
        post__platform_connection=connection, status=ImageStatus.POSTED, reviewed_at=day, posted_at=day
    )
    PublishingJobFactory(workflow__user=ann, status=PublishingStatus.PUBLISHED, published_at=day)
    PublishingJobFactory(workflow__user=ann, status=PublishingStatus.FAILED)
    artifact = ArtifactFactory(job__user=ann)
    type(artifact).objects.filter(pk=artifact.pk).update(created_at=day)
    ArtifactFactory(job=None, user=ann)  # an upload, not a scraped page
    assert approved.pk

    series = _series(work_per_day(user=ann, now=NOW, zone=UTC))
    on = day.date()
    assert {key: counts[on] for key, counts in series.items()} == {
        "captions_generated": 7,
        "captions_approved": 2,  # approved, and posted after approval; not rejected
        "captions_posted": 1,
        "drafts_published": 1,
        "pages_scraped": 1,
    }
    assert all(sum(counts.values()) == counts[on] for counts in series.values()), "nothing on other days"


def test_a_day_boundary_is_counted_in_the_persons_zone(owners):
    ann, _ = owners
    connection = PlatformConnectionFactory(user=ann)
    # 06:00 UTC on 5 December is still 4 December (22:00) in Los Angeles.
    ImageFactory(
        post__platform_connection=connection,
        status=ImageStatus.POSTED,
        posted_at=datetime(2026, 12, 5, 6, 0, tzinfo=UTC),
    )
    in_utc = _series(work_per_day(user=ann, now=NOW, zone=UTC))["captions_posted"]
    in_la = _series(work_per_day(user=ann, now=NOW, zone=ZoneInfo("America/Los_Angeles")))["captions_posted"]
    assert {day.isoformat(): n for day, n in in_utc.items() if n} == {"2026-12-05": 1}
    assert {day.isoformat(): n for day, n in in_la.items() if n} == {"2026-12-04": 1}


def test_the_index_counts_days_in_the_users_time_zone(owners):
    tokyo = staff(Role.USER, time_zone="Asia/Tokyo")
    connection = PlatformConnectionFactory(user=tokyo)
    # Yesterday 20:00 UTC is today 05:00 in Tokyo (UTC+9): today's column there.
    now = timezone.now()
    posted = datetime.combine(now.date() - timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=20
    )
    ImageFactory(post__platform_connection=connection, status=ImageStatus.POSTED, posted_at=posted)
    body = signed_in(tokyo).get(INDEX).content.decode()
    svg = chart(body, "chart-work-per-day")
    counted = {
        rect.get("data-day"): int(rect.get("data-value"))
        for group in svg.iter(f"{SVG}g")
        if "sd-series-captions_posted" in group.get("class", "")
        for rect in group.iter(f"{SVG}rect")
    }
    tokyo_day = posted.astimezone(ZoneInfo("Asia/Tokyo")).date().isoformat()
    assert {day: n for day, n in counted.items() if n} == {tokyo_day: 1}
    assert "(days in Asia/Tokyo)" in body
    # The same numbers, for screen readers, in a hidden table that describes the picture.
    assert svg.get("role") == "img" and svg.get("aria-describedby") == "chart-work-per-day-table"
    table = re.search(
        r'<table class="sd-visually-hidden" id="chart-work-per-day-table">.*?</table>', body, re.S
    )
    assert table and "<caption>Work done per day, last 30 days</caption>" in table.group(0)
    assert f'<th scope="row"><time datetime="{tokyo_day}">' in table.group(0)


def test_each_series_is_one_query_whatever_the_rows(owners, django_assert_num_queries):
    ann, _ = owners
    connection = PlatformConnectionFactory(user=ann)
    for back in range(5):
        ImageFactory(
            post__platform_connection=connection,
            status=ImageStatus.POSTED,
            posted_at=NOW - timedelta(days=back),
            reviewed_at=NOW - timedelta(days=back),
        )
    # One a series, and the person's connection ids before each of the three series of images.
    with django_assert_num_queries(5 + 3):
        result = work_per_day(user=ann, now=NOW, zone=UTC)
    assert sum(_series(result)["captions_posted"].values()) == 5


# --- running work ---------------------------------------------------------------------------------------


def test_running_work_with_its_percent_and_links(admin_client):
    CaptionGenerationTaskFactory(
        status=CaptionTaskStatus.RUNNING, progress_percent=40, current_step="image 4 of 10"
    )
    CaptionGenerationTaskFactory(status=CaptionTaskStatus.COMPLETED, progress_percent=100)
    ScrapingJobFactory(status=JobStatus.RUNNING, progress=55, processed_items=11, total_items=20)
    # 10 personas and 40 images: 10 + 10 of 50 units done.
    GenerationTaskFactory(
        status=PersonaTaskStatus.GENERATING_IMAGES, personas_generated=10, images_generated=10
    )
    workflow = WorkflowFactory(status=WorkflowStatus.RUNNING)
    PlatformStateFactory(workflow=workflow, platform=Platform.LINKEDIN, status=PlatformStatus.AWAITING_REVIEW)
    PlatformStateFactory(workflow=workflow, platform=Platform.X, status=PlatformStatus.GENERATING)
    PlatformStateFactory(workflow=workflow, platform=Platform.BLOG, status=PlatformStatus.ACCEPTED)
    PlatformStateFactory(workflow=workflow, platform=Platform.MASTODON, status=PlatformStatus.PENDING)

    rows = {row.kind: row for row in admin_client.get(INDEX).context["running_work"]}
    assert {kind: row.percent for kind, row in rows.items()} == {
        "Caption scan": 40,
        "Scraping job": 55,
        "Persona task": 40,
        "Workflow": 50,
    }
    assert rows["Scraping job"].detail == "11 of 20 items stored"
    assert rows["Workflow"].detail == "2 of 4 platform drafts written"
    for row in rows.values():
        assert admin_client.get(row.url).status_code == 200, row
        svg = parse_svg(str(row.bar))
        assert svg.get("role") == "progressbar" and svg.get("aria-valuenow") == str(row.percent)


def test_running_work_is_one_query_per_kind(django_assert_num_queries):
    admin = UserFactory(role=Role.ADMIN)
    for _ in range(3):
        ScrapingJobFactory(status=JobStatus.RUNNING)
        WorkflowFactory(status=WorkflowStatus.RUNNING)
    with django_assert_num_queries(4):
        rows = running_work(user=admin)
    assert len(rows) == 6


def test_attention_items_of_a_user_count_only_their_rows(owners):
    ann, _bob = owners
    user_set_role(user=ann, role=Role.USER)
    items = {
        item.label: item.count
        for item in admin_attention_items(user=ann, now=timezone.now())
        if item.section == "Awaiting review"
    }
    # Waiting is waiting, however old: the one collected 31 days ago counts here.
    assert items["Captions pending review"] == 4
    assert items["Captions edited, awaiting approval"] == 1
