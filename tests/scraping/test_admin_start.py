"""Starting a scraping job from the admin's job form; the job's readable options, live progress
and Cancel button; downloading an artifact from its admin page."""

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from accounts.models import AuditLog, Role
from scraping.job_options import CRAWL_DEPTH_RANGE, MAX_ITEMS_RANGE
from scraping.models import Artifact, ArtifactType, JobConfiguration, JobStatus, ScrapingJob
from scraping.services import jobs as job_services
from scraping.services.storage import artifact_storage_key
from tests.admin_start import assert_error_next_to, user_with_role
from tests.factories.scraping import ArtifactFactory, JobConfigurationFactory, ScrapingJobFactory

pytestmark = pytest.mark.django_db

ADD_URL = "admin:scraping_scrapingjob_add"
URL_LIST_JOB = {
    "title": "Energy pages",
    "job_type": "url_list",
    "keywords": "solar\nwind\n",
    "urls": "https://example.org/a\n\nhttps://example.org/b\n",
    "paper_sources": ["arxiv", "crossref"],
    "max_items": "5",
    "crawl_depth": "0",
    "follow_robots": "on",
}


@pytest.fixture
def reviewer(client):
    user = user_with_role(Role.REVIEWER, username="sam")
    client.force_login(user)
    return user


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(job_services, "scraping_job_queue", lambda job_id: calls.append(str(job_id)))
    return calls


def test_the_form_is_typed_fields_with_the_ranges_the_service_checks(client, reviewer):
    response = client.get(reverse(ADD_URL))
    assert response.status_code == 200
    html = response.content.decode()
    low, high = MAX_ITEMS_RANGE
    assert f'type="number" name="max_items" value="100" min="{low}" max="{high}"' in html
    low, high = CRAWL_DEPTH_RANGE
    assert f'name="crawl_depth" value="1" min="{low}" max="{high}"' in html
    assert f"From {MAX_ITEMS_RANGE[0]} to {MAX_ITEMS_RANGE[1]:,}" in html
    assert '<textarea name="keywords"' in html and '<textarea name="urls"' in html
    assert 'type="checkbox" name="paper_sources" value="arxiv"' in html
    assert 'type="checkbox" name="paper_sources" value="crossref"' in html
    assert 'type="date"' in html and "scraping/job_form.js" in html


def test_a_valid_job_is_created_once_with_its_options_and_queued(
    client, reviewer, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(ADD_URL), URL_LIST_JOB)

    job = ScrapingJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:scraping_scrapingjob_change", args=[job.pk])
    assert job.user == reviewer and job.status == JobStatus.PENDING
    assert job.keywords == ["solar", "wind"]
    stored = dict(JobConfiguration.objects.filter(job=job).values_list("config_key", "config_value"))
    assert stored["urls"] == '["https://example.org/a", "https://example.org/b"]'
    assert stored["max_items"] == "5" and stored["crawl_depth"] == "0" and stored["follow_robots"] == "true"
    assert "paper_sources" not in stored  # the default, for a job type without papers
    assert queued == [str(job.pk)]
    assert AuditLog.objects.filter(action="scraping_job.created", resource_id=str(job.pk)).count() == 1


def test_a_paper_job_keeps_the_chosen_index(client, reviewer, queued, django_capture_on_commit_callbacks):
    body = {"title": "Papers", "job_type": "paper", "keywords": "perovskite", "paper_sources": ["arxiv"]}
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse(ADD_URL), body).status_code == 302
    job = ScrapingJob.objects.get()
    assert JobConfiguration.objects.get(job=job, config_key="paper_sources").config_value == '["arxiv"]'
    assert queued == [str(job.pk)]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"description": "x" * 10_001}, "description"),
        ({"job_type": "forum"}, "job_type"),
        ({"keywords": "\n".join(f"k{n}" for n in range(21))}, "keywords"),
        ({"keywords": "x" * 101}, "keywords"),
        ({"job_type": "web_page", "keywords": "", "urls": ""}, "keywords"),
        ({"urls": ""}, "urls"),
        ({"urls": "not a url"}, "urls"),
        ({"urls": "ftp://example.org/file"}, "urls"),
        ({"job_type": "web_page", "urls": "https://example.org/"}, "urls"),
        ({"job_type": "government_doc", "urls": "", "domains": "not a host!"}, "domains"),
        ({"job_type": "paper", "urls": "", "paper_sources": []}, "paper_sources"),
        ({"paper_sources": ["arxiv"]}, "paper_sources"),
        ({"paper_sources": ["scholar"]}, "paper_sources"),
        ({"max_items": "0"}, "max_items"),
        ({"max_items": str(MAX_ITEMS_RANGE[1] + 1)}, "max_items"),
        ({"max_items": "many"}, "max_items"),
        ({"crawl_depth": str(CRAWL_DEPTH_RANGE[1] + 1)}, "crawl_depth"),
        ({"crawl_depth": "-1"}, "crawl_depth"),
        ({"allowed_domains": "not a host!"}, "allowed_domains"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "2024-05-02", "date_to": "2024-05-01"}, "date_from"),
        ({"date_to": "2024-13-01"}, "date_to"),
        ({"languages": "english!"}, "languages"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_bad_value_is_an_error_next_to_its_field_and_creates_nothing(
    client, reviewer, queued, django_capture_on_commit_callbacks, changes, field
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(ADD_URL), {**URL_LIST_JOB, **changes})
    assert_error_next_to(response, field)
    assert not ScrapingJob.objects.exists()
    assert not JobConfiguration.objects.exists()
    assert queued == []


def test_viewers_cannot_start_a_job(client):
    viewer = user_with_role(Role.VIEWER)
    viewer.is_staff = True
    viewer.save(update_fields=["is_staff"])
    client.force_login(viewer)
    assert client.get(reverse(ADD_URL)).status_code == 403
    assert client.post(reverse(ADD_URL), URL_LIST_JOB).status_code == 403
    assert not ScrapingJob.objects.exists()


# --- the job's page ------------------------------------------------------------------------------


def test_the_change_page_shows_the_options_as_named_values(client, reviewer, queued):
    job = job_services.scraping_job_create(
        user=reviewer,
        title="Feeds",
        job_type="feed",
        keywords=[],
        configuration={"feed_urls": ["https://example.org/feed.xml"], "languages": "en de", "max_items": 7},
    )
    html = client.get(reverse("admin:scraping_scrapingjob_change", args=[job.pk])).content.decode()
    assert '<th scope="row">Most pages</th><td>7</td>' in html
    assert '<th scope="row">Feeds</th><td>https://example.org/feed.xml</td>' in html
    assert '<th scope="row">Languages</th><td>en, de</td>' in html
    assert '<th scope="row">Obey robots.txt</th><td>yes</td>' in html
    assert "config_value" not in html  # no raw rows to edit
    assert 'name="keywords"' not in html  # keywords read as words, not a JSON box


def test_options_the_rules_refuse_are_shown_as_stored(client, reviewer):
    job = ScrapingJobFactory(user=reviewer)
    JobConfigurationFactory(job=job, config_key="legacy_depth", config_value="9")
    html = client.get(reverse("admin:scraping_scrapingjob_change", args=[job.pk])).content.decode()
    assert '<th scope="row">legacy_depth</th><td>9</td>' in html


def test_progress_json_and_cancel(client, reviewer):
    job = ScrapingJobFactory(
        user=reviewer, status=JobStatus.RUNNING, progress=30, total_items=10, processed_items=3
    )
    progress = reverse("admin:scraping_scrapingjob_progress", args=[job.pk])
    data = client.get(progress).json()
    assert data == {
        "status": "running",
        "status_label": "Running",
        "percent": 30,
        "step": "3 stored, 0 duplicates, 0 failed of 10 found",
        "terminal": False,
        "cancellable": True,
        "error": "",
    }
    change = reverse("admin:scraping_scrapingjob_change", args=[job.pk])
    html = client.get(change).content.decode()
    assert f'data-progress-url="{progress}"' in html

    response = client.post(reverse("admin:scraping_scrapingjob_cancel", args=[job.pk]))
    assert response.status_code == 302 and response["Location"] == change
    job.refresh_from_db()
    assert job.cancel_requested and job.status == JobStatus.RUNNING  # stops at its next item
    data = client.get(progress).json()
    assert data["cancellable"] is False and data["step"].endswith("stopping at the next item")

    ScrapingJob.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED)
    assert client.get(progress).json()["terminal"] is True


def test_cancelling_a_finished_job_says_why(client, reviewer):
    job = ScrapingJobFactory(user=reviewer, status=JobStatus.COMPLETED)
    response = client.post(reverse("admin:scraping_scrapingjob_cancel", args=[job.pk]), follow=True)
    assert "cannot be cancelled" in response.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED


def test_another_users_job_is_a_404(client, reviewer):
    theirs = ScrapingJobFactory(status=JobStatus.RUNNING)
    assert client.get(reverse("admin:scraping_scrapingjob_progress", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("admin:scraping_scrapingjob_cancel", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert not theirs.cancel_requested


# --- artifacts -----------------------------------------------------------------------------------

CONTENT = b"%PDF-1.4\n% a report\n%%EOF\n"


def stored(user, **fields) -> Artifact:
    content_hash = hashlib.sha256(CONTENT).hexdigest()
    key = artifact_storage_key(user_id=user.pk, content_hash=content_hash)
    if not default_storage.exists(key):
        default_storage.save(key, ContentFile(CONTENT))
    return ArtifactFactory(
        job=ScrapingJobFactory(user=user),
        user=user,
        content_hash=content_hash,
        minio_path=key,
        mime_type="application/pdf",
        artifact_type=ArtifactType.PDF,
        **fields,
    )


def test_an_artifact_downloads_from_its_page_as_the_api_sends_it(client, reviewer):
    artifact = stored(reviewer, title="Wind report 2024")
    download = reverse("admin:scraping_artifact_download", args=[artifact.pk])
    page = client.get(reverse("admin:scraping_artifact_change", args=[artifact.pk])).content.decode()
    assert f'href="{download}" download>Download</a>' in page
    assert download in client.get(reverse("admin:scraping_artifact_changelist")).content.decode()

    response = client.get(download)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CONTENT
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="Wind-report-2024.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_missing_file_or_another_users_artifact_is_a_404(client, reviewer):
    gone = ArtifactFactory(job=ScrapingJobFactory(user=reviewer), minio_path="artifacts/none/missing")
    assert client.get(reverse("admin:scraping_artifact_download", args=[gone.pk])).status_code == 404
    theirs = stored(user_with_role(Role.REVIEWER), is_public=True)
    assert client.get(reverse("admin:scraping_artifact_download", args=[theirs.pk])).status_code == 404
