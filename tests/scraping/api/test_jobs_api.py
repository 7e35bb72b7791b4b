"""/api/v1/scraping/jobs/: create, list, detail, cancel, retry, items."""

import pytest

from accounts.models import AuditLog, Role
from accounts.tokens import hash_secret
from scraping.models import ItemStatus, JobConfiguration, JobStatus, JobType, ScrapingJob, ScrapingJobItem
from scraping.services import jobs as job_services
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.scraping import JobConfigurationFactory, ScrapingJobFactory, ScrapingJobItemFactory
from tests.isolation import OwnedEndpoint, assert_isolated, client_for
from tests.scraping.api.conftest import error_fields

pytestmark = pytest.mark.django_db

URL = "/api/v1/scraping/jobs/"
CREATE = {
    "title": "Offshore wind",
    "job_type": "url_list",
    "configuration": {"urls": ["https://example.org/a", "https://example.org/b"], "max_items": 5},
}


def detail(job, suffix: str = "") -> str:
    return f"{URL}{job.pk}/{suffix}"


def finished_with_failures(user, *, failed: int = 2, stored: int = 1) -> ScrapingJob:
    job = ScrapingJobFactory(
        user=user,
        job_type=JobType.URL_LIST,
        status=JobStatus.COMPLETED,
        progress=100,
        total_items=failed + stored,
        processed_items=stored,
        failed_items=failed,
    )
    for _ in range(failed):
        ScrapingJobItemFactory(job=job, status=ItemStatus.FAILED, http_status=500, error_message="HTTP 500")
    for _ in range(stored):
        ScrapingJobItemFactory(job=job, status=ItemStatus.STORED, http_status=200)
    return job


@pytest.fixture
def queued(monkeypatch):
    """The job ids handed to django-q (instead of running them)."""
    calls: list[str] = []
    monkeypatch.setattr(job_services, "scraping_job_queue", lambda job_id: calls.append(str(job_id)))
    return calls


# --- isolation and access ----------------------------------------------------------------------


def test_isolation():
    assert_isolated(
        OwnedEndpoint(
            list_url=URL, make=lambda user: ScrapingJobFactory(user=user), create=CREATE, deletable=False
        )
    )


@pytest.mark.parametrize(("method", "suffix"), [("post", "cancel/"), ("post", "retry/"), ("get", "items/")])
def test_a_strangers_job_is_a_404_for_every_action(api, method, suffix):
    theirs = finished_with_failures(UserFactory())
    response = getattr(api, method)(detail(theirs, suffix), format="json")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == JobStatus.COMPLETED
    assert ScrapingJobItem.objects.filter(job=theirs, status=ItemStatus.FAILED).count() == 2


def test_a_bad_id_is_a_json_404(api):
    for response in (
        api.get(f"{URL}not-a-uuid/"),
        api.get(f"{URL}not-a-uuid/items/"),
        api.post(f"{URL}not-a-uuid/cancel/"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_moderators_see_and_cancel_everyones_jobs():
    job = ScrapingJobFactory(status=JobStatus.PENDING)
    moderator = client_for(UserFactory(role=Role.MODERATOR))
    assert str(job.pk) in {row["id"] for row in moderator.get(URL).json()["results"]}
    assert moderator.post(detail(job, "cancel/")).status_code == 200
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_viewers_cannot_cancel_or_retry_their_own_jobs():
    viewer = UserFactory(role=Role.VIEWER)
    job = finished_with_failures(viewer)
    client = client_for(viewer)
    assert client.post(detail(job, "retry/")).status_code == 403
    assert client.post(detail(job, "cancel/")).status_code == 403
    assert client.get(detail(job, "items/")).status_code == 200


def test_an_api_key_needs_the_scraping_scope(user, queued):
    for scopes, read, write in [
        (["captions:write"], 403, 403),
        (["scraping:read"], 200, 403),
        (["scraping:write"], 200, 201),
    ]:
        key = f"sdk_test-key-{'-'.join(scopes)}"
        ApiKeyFactory(user=user, key_hash=hash_secret(key), permissions=scopes)
        client = client_for()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        assert client.get(URL).status_code == read
        assert client.post(URL, CREATE, format="json").status_code == write


# --- create ------------------------------------------------------------------------------------


def test_create_stores_the_job_and_queues_its_run_on_commit(
    api, user, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(URL, {**CREATE, "keywords": ["wind", " Wind ", "turbines"]}, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == JobStatus.PENDING
    assert data["keywords"] == ["wind", "turbines"]
    assert data["configuration"]["urls"] == CREATE["configuration"]["urls"]
    assert data["configuration"]["max_items"] == 5
    job = ScrapingJob.objects.get(pk=data["id"])
    assert job.user == user
    assert JobConfiguration.objects.filter(job=job, config_key="urls").exists()
    assert AuditLog.objects.filter(action="scraping_job.created", resource_id=str(job.pk)).exists()
    # Nothing runs inside the request's transaction: the run is queued once it commits.
    assert queued == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert queued == [str(job.pk)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**CREATE, "title": ""}, "title"),
        ({**CREATE, "title": "x" * 256}, "title"),
        ({**CREATE, "job_type": "forum"}, "job_type"),
        ({**CREATE, "keywords": ["k"] * 21}, "keywords"),
        ({**CREATE, "keywords": ["x" * 101]}, "keywords.0"),
        ({**CREATE, "keywords": [""]}, "keywords.0"),
        ({**CREATE, "keywords": "wind"}, "keywords"),
        ({"title": "Search", "job_type": "web_page"}, "keywords"),
        ({"title": "Papers", "job_type": "paper", "keywords": []}, "keywords"),
        ({**CREATE, "configuration": {}}, "configuration.urls"),
        ({**CREATE, "configuration": {**CREATE["configuration"], "colour": "red"}}, "configuration.colour"),
        ({**CREATE, "configuration": {**CREATE["configuration"], "max_items": 0}}, "configuration.max_items"),
        (
            {**CREATE, "configuration": {**CREATE["configuration"], "crawl_depth": 4}},
            "configuration.crawl_depth",
        ),
        ({**CREATE, "configuration": ["urls"]}, "configuration"),
        ({**CREATE, "description": "x" * 10_001}, "description"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(api, queued, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_fields(response)
    assert not ScrapingJob.objects.exists()
    assert not JobConfiguration.objects.exists()
    assert queued == []


# --- list and detail ---------------------------------------------------------------------------


def test_list_filters_by_status_and_type(api, user):
    pending = ScrapingJobFactory(user=user, job_type=JobType.WEB_PAGE)
    failed = ScrapingJobFactory(user=user, job_type=JobType.FEED, status=JobStatus.FAILED)
    completed = ScrapingJobFactory(user=user, job_type=JobType.FEED, status=JobStatus.COMPLETED)

    def ids(query: str) -> set[str]:
        response = api.get(f"{URL}?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("status=failed&status=completed") == {str(failed.pk), str(completed.pk)}
    assert ids("job_type=feed") == {str(failed.pk), str(completed.pk)}
    assert ids("job_type=web_page&status=pending") == {str(pending.pk)}
    assert ids("job_type=feed&status=pending") == set()


@pytest.mark.parametrize(("query", "field"), [("status=paused", "status"), ("job_type=forum", "job_type")])
def test_a_bad_filter_is_a_400_naming_it(api, query, field):
    response = api.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert field in error_fields(response)


def test_the_list_costs_the_same_queries_for_two_jobs_or_twelve(api, user, count_queries):
    def page():
        response = api.get(URL)
        assert response.status_code == 200
        return response.json()["results"]

    for _ in range(2):
        JobConfigurationFactory(job=ScrapingJobFactory(user=user))
    rows, few = count_queries(page)
    assert len(rows) == 2
    for _ in range(10):
        JobConfigurationFactory(job=ScrapingJobFactory(user=user))
    rows, many = count_queries(page)
    assert len(rows) == 12
    assert len(few) == len(many)
    assert "configuration" not in rows[0]


def test_detail_shows_the_configuration_as_an_object(api, user):
    job = ScrapingJobFactory(user=user, job_type=JobType.URL_LIST)
    JobConfigurationFactory(job=job, config_key="urls", config_value='["https://example.org/"]')
    JobConfigurationFactory(job=job, config_key="max_items", config_value="25")
    JobConfigurationFactory(job=job, config_key="note", config_value="typed by hand, not JSON")

    data = api.get(detail(job)).json()

    assert data["configuration"] == {
        "urls": ["https://example.org/"],
        "max_items": 25,
        "note": "typed by hand, not JSON",
    }
    assert data["processed_items"] == 0 and data["skipped_items"] == 0


# --- cancel and retry --------------------------------------------------------------------------


def test_cancel_a_pending_job_at_once_and_a_running_one_at_its_next_item(api, user):
    pending = ScrapingJobFactory(user=user)
    running = ScrapingJobFactory(user=user, status=JobStatus.RUNNING)

    first = api.post(detail(pending, "cancel/"))
    second = api.post(detail(running, "cancel/"))

    assert first.status_code == 200 and first.json()["status"] == JobStatus.CANCELLED
    assert second.status_code == 200
    assert second.json()["status"] == JobStatus.RUNNING and second.json()["cancel_requested"] is True
    assert AuditLog.objects.filter(action="scraping_job.cancelled").count() == 2


def test_cancelling_a_finished_job_is_a_409(api, user):
    job = ScrapingJobFactory(user=user, status=JobStatus.COMPLETED)
    response = api.post(detail(job, "cancel/"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_finished"


def test_retry_requeues_only_the_failed_items(api, user, queued, django_capture_on_commit_callbacks):
    job = finished_with_failures(user, failed=2, stored=3)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(detail(job, "retry/"))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == JobStatus.PENDING
    assert response.json()["failed_items"] == 0
    statuses = sorted(ScrapingJobItem.objects.filter(job=job).values_list("status", flat=True))
    assert statuses == [ItemStatus.PENDING] * 2 + [ItemStatus.STORED] * 3
    assert queued == [str(job.pk)]


@pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.COMPLETED])
def test_retry_without_failed_items_or_before_the_end_is_a_409(api, user, queued, status):
    job = finished_with_failures(user, failed=0, stored=1)
    ScrapingJob.objects.filter(pk=job.pk).update(status=status)
    response = api.post(detail(job, "retry/"))
    assert response.status_code == 409
    assert queued == []


# --- items -------------------------------------------------------------------------------------


def test_items_are_paginated_and_filtered_by_status(api, user):
    job = finished_with_failures(user, failed=3, stored=2)
    ScrapingJobItemFactory(job=ScrapingJobFactory(user=user), status=ItemStatus.FAILED)  # another job

    first = api.get(f"{detail(job, 'items/')}?page_size=2")
    assert first.status_code == 200
    assert len(first.json()["results"]) == 2
    rest = api.get(first.json()["next"]).json()
    rest_ids = {row["id"] for row in rest["results"]}
    rest_ids |= {row["id"] for row in api.get(rest["next"]).json()["results"]} if rest["next"] else set()
    seen = {row["id"] for row in first.json()["results"]} | rest_ids
    assert seen == {str(pk) for pk in ScrapingJobItem.objects.filter(job=job).values_list("pk", flat=True)}

    failed = api.get(f"{detail(job, 'items/')}?status=failed").json()["results"]
    assert len(failed) == 3
    assert {row["http_status"] for row in failed} == {500}
    assert {row["error_message"] for row in failed} == {"HTTP 500"}

    response = api.get(f"{detail(job, 'items/')}?status=lost")
    assert response.status_code == 400
    assert "status" in error_fields(response)


def test_the_item_list_costs_the_same_queries_whatever_its_length(api, user, count_queries):
    job = finished_with_failures(user, failed=1, stored=1)
    _, few = count_queries(lambda: api.get(detail(job, "items/")))
    for _ in range(10):
        ScrapingJobItemFactory(job=job)
    response, many = count_queries(lambda: api.get(detail(job, "items/")))
    assert len(response.json()["results"]) == 12
    assert len(few) == len(many)
