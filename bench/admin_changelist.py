"""admin_changelist: the images changelist (the caption review queue) against the same ModelAdmin
with Django's defaults, on 100 000 (small) or 1 000 000 (full) images.

Ours is the project's `captions.admin.ImageAdmin` on the project's admin site, as registered:
`LargeTableAdminMixin` (the planner's row estimate instead of `COUNT(*)` on an unfiltered list,
no second, whole-table count on a filtered one, each row's checkbox written without a widget
template) and `list_select_related` naming the two relations the columns show.

The baseline is `bench.admin_urls.DefaultsImageAdmin`, a subclass of the same class on a
bench-only copy of the project's site (every other ModelAdmin registered too, so both pages
render the same sidebar), with Django's defaults put back for what the project tuned:
`Paginator` (exact `COUNT(*)`), `show_full_result_count = True` (filtered pages count the whole
table as well, for "N results (M total)"), `list_select_related = False` (Django then
`select_related()`s every non-null foreign key: post, connection and their users) and
`ModelAdmin.action_checkbox` (a CheckboxInput template rendered per row). Everything else is the
same class: columns and their code, filters, search, ordering, 50 rows a page, the queryset with
its caption-limit annotation, actions, templates; neither has a date hierarchy (Django's default
is none). That is an untuned admin someone would really ship, not a strawman: it runs the
queries Django's documentation describes for a changelist.

The images come from bench.data (shared with api_list), vacuumed and analysed before the rounds,
as autovacuum keeps a live table. Both sides are requested in-process through django.test.Client
as the same superuser (force_login), so each time is a whole request: middleware, session, the
changelist's queries and the template render. Two pages: the default list and the list filtered
to `status=pending` (the reviewers' queue). Each side answers each page twice untimed first
(imports, template compilation); then rounds alternate which side goes first, and the best round
of each side is compared. Every response is checked: 200 and a full page of rows. Target for
the default page: ours at most 0.15x the baseline's time, at the full size: the baseline's
`COUNT(*)` is what the project saves, and over 100 000 rows it costs little next to rendering.
"""

import re
import time

from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench.report import emit, spread

PAGE_ROWS = 50
ROW_CHECKBOX = re.compile(r'name="_selected_action"')
PAGES = {
    "default": {},
    "pending": {"status__exact": "pending"},
}
RATIO_TARGET = 0.15
PLAIN_STATIC_STORAGE = "django.contrib.staticfiles.storage.StaticFilesStorage"


def _get(*, client: Client, url: str, params: dict) -> tuple[float, object]:
    started = time.perf_counter()
    response = client.get(url, params)
    return time.perf_counter() - started, response


def _check(*, side: str, page: str, response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"admin_changelist {side} {page}: status {response.status_code}")
    rows = len(ROW_CHECKBOX.findall(response.content.decode()))
    if rows != PAGE_ROWS:
        raise RuntimeError(f"admin_changelist {side} {page}: {rows} rows rendered, expected {PAGE_ROWS}")


def _queries(*, client: Client, url: str, params: dict) -> tuple[int, int]:
    """Queries one request runs, and how many of them are counts (an untimed request)."""
    with CaptureQueriesContext(connection) as captured:
        client.get(url, params)
    counts = sum(1 for query in captured.captured_queries if "COUNT(" in query["sql"].upper())
    return len(captured.captured_queries), counts


def run(*, scale: str) -> None:
    from accounts.models import User
    from bench.admin_urls import BENCH_SITE_NAME
    from bench.data import caption_images

    rows, rounds = (1_000_000, 7) if scale == "full" else (100_000, 15)
    images = caption_images(rows=rows)
    with connection.cursor() as cursor:
        # A table in steady state, as autovacuum keeps it: the visibility map set, so counts can
        # be index-only scans (on both sides), and no autovacuum starting in the middle of a round.
        cursor.execute("VACUUM (ANALYZE) images")
        cursor.execute("VACUUM (ANALYZE) posts")
    user = User.objects.create_user(
        username="bench-admin", email="bench-admin@example.test", password=None, is_staff=True
    )
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    client = Client(SERVER_NAME="localhost")  # a host the project's ALLOWED_HOSTS accepts
    client.force_login(user)

    # The project serves static files from a manifest `collectstatic` writes; the bench has none,
    # so both sides name them through the plain storage (a string join, as cheap as the lookup).
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": PLAIN_STATIC_STORAGE}}
    with override_settings(ROOT_URLCONF="bench.admin_urls", STORAGES=storages):
        urls = {
            "ours": reverse("admin:captions_image_changelist"),
            "baseline": reverse(f"{BENCH_SITE_NAME}:captions_image_changelist"),
        }
        for side, url in urls.items():
            for page, params in PAGES.items():
                for _ in range(2):
                    _, response = _get(client=client, url=url, params=params)
                    _check(side=side, page=page, response=response)
        queries = {
            (side, page): _queries(client=client, url=url, params=params)
            for side, url in urls.items()
            for page, params in PAGES.items()
        }
        timings: dict[tuple[str, str], list[float]] = {key: [] for key in queries}
        for round_number in range(rounds):
            sides = ("ours", "baseline") if round_number % 2 == 0 else ("baseline", "ours")
            for page, params in PAGES.items():
                for side in sides:
                    seconds, response = _get(client=client, url=urls[side], params=params)
                    _check(side=side, page=page, response=response)
                    timings[(side, page)].append(seconds)

    # The target is the default page. The filtered page keeps its exact count by design
    # (core/admin_lists.py), so it saves only the second, whole-table count: it is reported on the
    # comment line, against no target of its own.
    ours, baseline = min(timings[("ours", "default")]) * 1000, min(timings[("baseline", "default")]) * 1000
    emit(
        name="admin_changelist",
        ours=ours,
        baseline=baseline,
        unit="ms",
        ratio=ours / baseline,
        op="<=",
        target=RATIO_TARGET,
        note=(
            f"images changelist, default page, project ImageAdmin vs Django's defaults, {rows} rows "
            "(target for 1 000 000: the exact count it saves is cheap at 100 000)"
        ),
        holds_at="full",
    )
    pending_ratio = min(timings[("ours", "pending")]) / min(timings[("baseline", "pending")])
    details = "; ".join(
        f"{page}: ours {spread(timings[('ours', page)])} in {queries[('ours', page)][0]} queries "
        f"({queries[('ours', page)][1]} counts), baseline {spread(timings[('baseline', page)])} in "
        f"{queries[('baseline', page)][0]} queries ({queries[('baseline', page)][1]} counts)"
        for page in PAGES
    )
    print(
        f"# admin_changelist: {rows} images ({images.pending} pending), {PAGE_ROWS} rows a page, "
        f"{rounds} rounds each, best/median/worst per request; {details}; "
        f"pending page ratio {pending_ratio:.2f} (exact filtered count kept)"
    )
    user.delete()
