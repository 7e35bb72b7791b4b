import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scraping.models import JobStatus
from tests.admin_pages import form_fields, inline_models, listed, readonly_fields
from tests.factories.scraping import (
    ArtifactFactory,
    ContentExtractionFactory,
    JobConfigurationFactory,
    MetadataTagFactory,
    ScrapingJobFactory,
)

pytestmark = pytest.mark.django_db

SECRET_TEXT = "BODY-TEXT-THAT-MUST-NOT-BE-LISTED"


@pytest.fixture
def artifact():
    artifact = ArtifactFactory(title="Offshore wind report", content_text=f"{SECRET_TEXT} " * 50)
    JobConfigurationFactory(job=artifact.job, config_key="max_results", config_value="25")
    MetadataTagFactory(artifact=artifact, tag_type="metadata", tag_key="author", tag_value="Ada Lovelace")
    ContentExtractionFactory(artifact=artifact, extraction_type="summary")
    return artifact


def _urls(obj, search):
    meta = obj._meta
    changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return changelist, f"{changelist}?q={search}", change


@pytest.mark.parametrize(
    ("get_obj", "search"),
    [
        (lambda a: a.job, "Scraping"),
        (lambda a: a.job.configurations.get(), "max_results"),
        (lambda a: a, "wind"),
        (lambda a: a.metadata_tags.get(), "Lovelace"),
        (lambda a: a.content_extractions.get(), "summary"),
    ],
    ids=["job", "configuration", "artifact", "metadata_tag", "content_extraction"],
)
def test_changelist_search_and_change_pages(admin_client, artifact, get_obj, search):
    obj = get_obj(artifact)
    changelist, searched, change = _urls(obj, search)
    for url in (changelist, searched, change):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    assert str(obj.pk) in admin_client.get(searched).content.decode()
    assert obj in listed(admin_client.get(searched))

    page = admin_client.get(change)
    assert page.context["original"] == obj
    key_fields, read_only, inlines = CHANGE_PAGES[obj._meta.model_name]
    assert set(key_fields) <= set(form_fields(page))
    assert set(read_only) <= readonly_fields(page)
    assert inline_models(page) == inlines
    assert "content_text" not in form_fields(page)  # the text only as a bounded preview


# Per model: fields its change page shows, ones that must not be editable there (the runner's
# bookkeeping and the stored file's identity), and its inlines.
CHANGE_PAGES = {
    "scrapingjob": (
        ["user", "title", "job_type", "keyword_list", "options", "status", "progress_bar", "items_link"],
        ["id", "keyword_list", "expanded_keyword_list", "options", "status", "cancel_requested",
         "progress_bar", "total_items", "processed_items", "failed_items", "attempts"],
        ["scrapingjobitem"],
    ),
    "jobconfiguration": (["job", "config_key", "config_value"], ["id", "created_at"], []),
    "artifact": (
        ["user", "job", "title", "source_url", "tags", "content_hash", "content_preview"],
        ["id", "content_hash", "minio_path", "file_size", "mime_type", "content_preview"],
        ["metadatatag", "contentextraction"],
    ),
    "metadatatag": (["artifact", "tag_type", "tag_key", "tag_value"], ["id", "created_at"], []),
    "contentextraction": (
        ["artifact", "extraction_type", "extracted_data", "confidence_score"],
        ["id", "created_at"],
        [],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:scraping_scrapingjob_changelist",
        "admin:scraping_jobconfiguration_changelist",
        "admin:scraping_artifact_changelist",
        "admin:scraping_metadatatag_changelist",
        "admin:scraping_contentextraction_changelist",
    ],
)
def test_changelists_never_fetch_or_show_the_extracted_text(admin_client, artifact, url_name):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(url_name))
    assert response.status_code == 200
    assert SECRET_TEXT not in response.content.decode()
    assert not any("content_text" in query["sql"] for query in queries.captured_queries)


def test_artifact_change_page_shows_a_bounded_preview_not_the_whole_text(admin_client):
    artifact = ArtifactFactory(content_text="x" * 5000 + SECRET_TEXT)
    response = admin_client.get(reverse("admin:scraping_artifact_change", args=[artifact.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "x" * 2000 in html
    assert SECRET_TEXT not in html
    assert "5033 characters" in html


def test_artifact_search_by_content_hash(admin_client, artifact):
    other = ArtifactFactory()
    url = reverse("admin:scraping_artifact_changelist")
    html = admin_client.get(f"{url}?q={artifact.content_hash}").content.decode()
    assert str(artifact.pk) in html
    assert str(other.pk) not in html


def test_artifacts_cannot_be_added_by_hand(admin_client):
    assert admin_client.get(reverse("admin:scraping_artifact_add")).status_code == 403


def test_artifact_job_filter(admin_client, artifact):
    upload = ArtifactFactory(job=None, title="Uploaded notes")
    url = reverse("admin:scraping_artifact_changelist")

    by_job = admin_client.get(f"{url}?job={artifact.job_id}").content.decode()
    assert str(artifact.pk) in by_job and str(upload.pk) not in by_job

    uploads = admin_client.get(f"{url}?job=none").content.decode()
    assert str(upload.pk) in uploads and str(artifact.pk) not in uploads

    bogus = admin_client.get(f"{url}?job=not-a-uuid")
    assert bogus.status_code == 200
    assert str(artifact.pk) not in bogus.content.decode()


def test_job_changelist_links_to_its_artifacts_and_filters(admin_client, artifact):
    ScrapingJobFactory(status=JobStatus.FAILED)
    url = reverse("admin:scraping_scrapingjob_changelist")
    html = admin_client.get(url).content.decode()
    assert f"?job={artifact.job_id}" in html
    response = admin_client.get(f"{url}?status__exact=pending&job_type__exact=web_page")
    assert response.status_code == 200
    assert str(artifact.job_id) in response.content.decode()


def test_jobs_are_added_through_the_job_form_not_a_model_form(admin_client):
    # A bare model row would never run: the add page is the job form, which calls the service
    # (tests/scraping/test_admin_start.py).
    response = admin_client.get(reverse("admin:scraping_scrapingjob_add"))
    assert response.status_code == 200
    assert 'name="_start"' in response.content.decode() and 'name="_save"' not in response.content.decode()
