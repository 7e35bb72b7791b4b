"""/api/v1/scraping/artifacts/: list, search, detail, change, delete, tags, download."""

import hashlib
import logging
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.models import AuditLog, Role
from scraping.models import Artifact, ArtifactType
from scraping.services.storage import artifact_storage_key
from tests.factories.accounts import UserFactory
from tests.factories.scraping import (
    ArtifactFactory,
    ContentExtractionFactory,
    MetadataTagFactory,
    ScrapingJobFactory,
)
from tests.isolation import OwnedEndpoint, assert_isolated, client_for
from tests.scraping.api.conftest import error_fields

pytestmark = pytest.mark.django_db

URL = "/api/v1/scraping/artifacts/"
PDF_BYTES = b"%PDF-1.4\n% a tiny test document\n%%EOF\n"


def detail(artifact, suffix: str = "") -> str:
    return f"{URL}{artifact.pk}/{suffix}"


def stored(user, content: bytes = PDF_BYTES, **fields) -> Artifact:
    """An artifact whose bytes are really in storage, under the key the runner uses."""
    content_hash = hashlib.sha256(content).hexdigest()
    key = artifact_storage_key(user_id=user.pk, content_hash=content_hash)
    if not default_storage.exists(key):
        default_storage.save(key, ContentFile(content))
    fields.setdefault("job", ScrapingJobFactory(user=user))
    fields.setdefault("mime_type", "application/pdf")
    fields.setdefault("artifact_type", ArtifactType.PDF)
    return ArtifactFactory(
        user=user, content_hash=content_hash, minio_path=key, file_size=len(content), **fields
    )


def listed(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --- isolation and access ----------------------------------------------------------------------


def test_isolation():
    assert_isolated(
        OwnedEndpoint(
            list_url=URL,
            make=lambda user: ArtifactFactory(job=ScrapingJobFactory(user=user)),
            update={"title": "x"},
        )
    )


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("post", "tags/", {"tags": ["mine"]}),
        ("post", "tags/remove/", {"tags": ["kept"]}),
        ("get", "download/", None),
    ],
)
def test_a_strangers_private_artifact_is_a_404_for_every_action(api, method, suffix, body):
    theirs = stored(UserFactory(), tags=["kept"])
    response = getattr(api, method)(detail(theirs, suffix), body, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.tags == ["kept"]


def test_a_public_artifact_is_downloadable_by_anyone_signed_in_but_stays_the_owners(api):
    public = stored(UserFactory(), is_public=True, title="Open data")
    response = api.get(detail(public, "download/"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF_BYTES
    # ... and nothing else of it: it is not listed, shown, changed or deleted for a stranger.
    assert str(public.pk) not in listed(api.get(URL))
    assert api.get(detail(public)).status_code == 404
    assert api.patch(detail(public), {"title": "mine now"}, format="json").status_code == 404
    assert api.post(detail(public, "tags/"), {"tags": ["x"]}, format="json").status_code == 404
    assert api.delete(detail(public)).status_code == 404
    assert client_for().get(detail(public, "download/")).status_code == 401


def test_moderators_see_and_download_everyones_artifacts():
    artifact = stored(UserFactory())
    moderator = client_for(UserFactory(role=Role.MODERATOR))
    assert str(artifact.pk) in listed(moderator.get(URL))
    assert moderator.get(detail(artifact, "download/")).status_code == 200


def test_viewers_read_and_download_but_do_not_change_their_own():
    viewer = UserFactory(role=Role.VIEWER)
    artifact = stored(viewer)
    client = client_for(viewer)
    assert client.get(detail(artifact, "download/")).status_code == 200
    assert client.post(detail(artifact, "tags/"), {"tags": ["x"]}, format="json").status_code == 403
    assert client.post(detail(artifact, "tags/remove/"), {"tags": ["x"]}, format="json").status_code == 403


# --- list and detail ---------------------------------------------------------------------------


def test_the_list_costs_the_same_queries_for_two_artifacts_or_twelve_and_never_loads_the_text(
    api, user, count_queries
):
    def page():
        response = api.get(URL)
        assert response.status_code == 200
        return response.json()["results"]

    def artifact():
        made = ArtifactFactory(job=ScrapingJobFactory(user=user))
        Artifact.objects.filter(pk=made.pk).update(content_text="BODY " * 100)
        MetadataTagFactory(artifact=made)
        ContentExtractionFactory(artifact=made)

    for _ in range(2):
        artifact()
    rows, few = count_queries(page)
    for _ in range(10):
        artifact()
    rows, many = count_queries(page)

    assert len(rows) == 12
    assert len(few) == len(many)
    assert not any("content_text" in sql for sql in many)
    assert "content_text" not in rows[0] and "metadata_tags" not in rows[0]


def test_detail_has_the_text_metadata_tags_and_extractions_in_fixed_queries(api, user, count_queries):
    artifact = ArtifactFactory(job=ScrapingJobFactory(user=user), content_text="The main text.")
    MetadataTagFactory(artifact=artifact, tag_type="metadata", tag_key="author", tag_value="Ada")
    MetadataTagFactory(artifact=artifact, tag_type="source", tag_key="domain", tag_value="example.org")
    ContentExtractionFactory(
        artifact=artifact, extraction_type="html", extracted_data={"words": 3}, confidence_score="0.80"
    )

    response, queries = count_queries(lambda: api.get(detail(artifact)))
    data = response.json()

    assert data["content_text"] == "The main text."
    assert {(t["tag_type"], t["tag_key"], t["tag_value"]) for t in data["metadata_tags"]} == {
        ("metadata", "author", "Ada"),
        ("source", "domain", "example.org"),
    }
    assert data["content_extractions"][0]["extracted_data"] == {"words": 3}
    assert data["content_extractions"][0]["confidence_score"] == 0.8
    for _ in range(5):
        MetadataTagFactory(artifact=artifact)
    _, more = count_queries(lambda: api.get(detail(artifact)))
    assert len(more) == len(queries)


# --- search ------------------------------------------------------------------------------------


@pytest.fixture
def library(user):
    job = ScrapingJobFactory(user=user)
    other_job = ScrapingJobFactory(user=user)
    return {
        "wind": ArtifactFactory(
            job=job,
            title="Offshore wind report",
            content_text="Turbines in the North Sea.",
            keywords=["wind", "energy"],
            tags=["review", "2024"],
        ),
        "solar": ArtifactFactory(
            job=job,
            title="Solar roofs",
            content_text="Panels on every roof; wind is not covered.",
            keywords=["solar", "energy"],
            tags=["review"],
        ),
        "paper": ArtifactFactory(
            job=other_job,
            artifact_type=ArtifactType.PAPER,
            title="Grid storage",
            content_text="Batteries and pumped hydro.",
            keywords=["storage"],
            tags=[],
        ),
        "theirs": ArtifactFactory(title="Wind elsewhere", keywords=["wind"], tags=["review"]),
    }


def ids_of(library, *names) -> set[str]:
    return {str(library[name].pk) for name in names}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=wind", ("wind", "solar")),
        ("q=TURBINES", ("wind",)),
        ("keyword=energy", ("wind", "solar")),
        ("keyword=energy&keyword=wind", ("wind",)),
        ("keyword=Energy", ()),
        ("tag=review", ("wind", "solar")),
        ("tag=REVIEW&tag=2024", ("wind",)),
        ("type=paper", ("paper",)),
        ("q=wind&tag=2024", ("wind",)),
        ("q=nothing-like-this", ()),
    ],
)
def test_search(api, library, query, expected):
    assert set(listed(api.get(f"{URL}?{query}"))) == ids_of(library, *expected)


def test_search_by_job_and_dates(api, library):
    job = library["paper"].job_id
    assert set(listed(api.get(f"{URL}?job={job}"))) == ids_of(library, "paper")
    Artifact.objects.filter(pk=library["wind"].pk).update(created_at=timezone.now() - timedelta(days=10))
    cutoff = (timezone.now() - timedelta(days=5)).isoformat().replace("+00:00", "Z")
    assert set(listed(api.get(f"{URL}?created_before={cutoff}"))) == ids_of(library, "wind")
    assert set(listed(api.get(f"{URL}?created_after={cutoff}"))) == ids_of(library, "solar", "paper")


def test_search_results_are_newest_first_and_page_through_the_cursor(api, user):
    job = ScrapingJobFactory(user=user)
    now = timezone.now()
    # The densest match is the oldest: relevance does not reorder the list.
    matches = [
        ArtifactFactory(job=job, title=f"Wind report {n}", content_text="wind " * (5 - n)) for n in range(5)
    ]
    for age, artifact in enumerate(reversed(matches)):
        Artifact.objects.filter(pk=artifact.pk).update(created_at=now - timedelta(minutes=age))
    ArtifactFactory(job=job, title="Solar report", content_text="panels")

    seen, url, params = [], URL, {"q": "wind", "page_size": 2}
    while url:
        response = api.get(url, params)
        seen += listed(response)
        url, params = response.json()["next"], None

    assert seen == [str(artifact.pk) for artifact in reversed(matches)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("type=poem", "type"),
        ("job=not-a-uuid", "job"),
        ("created_after=yesterday", "created_after"),
        ("q=" + "x" * 201, "q"),
        ("tag=" + "x" * 101, "tag"),
        ("tag=a&tag=", "tag"),
        ("keyword=a%00b", "keyword"),
    ],
)
def test_a_bad_search_is_a_400_naming_the_parameter(api, query, field):
    response = api.get(f"{URL}?{query}")
    assert response.status_code == 400, response.content
    assert field in error_fields(response)


# --- change and delete -------------------------------------------------------------------------


def test_patch_changes_title_description_and_visibility(api, user):
    artifact = stored(user, title="Old")
    response = api.patch(
        detail(artifact),
        {"title": " New title ", "description": "Why we keep it", "is_public": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["title"], data["description"], data["is_public"]) == ("New title", "Why we keep it", True)
    assert "metadata_tags" in data
    artifact.refresh_from_db()
    assert artifact.is_public is True
    assert AuditLog.objects.filter(action="artifact.updated", resource_id=str(artifact.pk)).exists()


def test_a_patch_that_changes_nothing_answers_200_with_the_artifact(api, user):
    artifact = stored(user, title="Same", description="Kept", is_public=True, tags=["solar"])
    response = api.patch(
        detail(artifact), {"title": "Same", "description": "Kept", "is_public": True}, format="json"
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["id"] == str(artifact.pk)
    assert (data["title"], data["description"], data["is_public"], data["tags"]) == (
        "Same",
        "Kept",
        True,
        ["solar"],
    )
    assert not AuditLog.objects.filter(action="artifact.updated").exists()
    empty = api.patch(detail(artifact), {}, format="json")
    assert empty.status_code == 200, empty.content
    assert empty.json()["title"] == "Same"


def test_a_title_of_500_characters_is_accepted(api, user):
    # docs/api.md: PATCH artifacts/{id}/ takes a title of at most 500 characters.
    artifact = stored(user, title="Old")
    response = api.patch(detail(artifact), {"title": "x" * 500}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["title"] == "x" * 500
    artifact.refresh_from_db()
    assert artifact.title == "x" * 500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"is_public": "perhaps"}, "is_public"),
        ({"title": "x" * 501}, "title"),
        ({"title": None}, "title"),
    ],
)
def test_a_bad_patch_is_a_400_and_changes_nothing(api, user, body, field):
    artifact = stored(user, title="Kept")
    response = api.patch(detail(artifact), body, format="json")
    assert response.status_code == 400
    assert field in error_fields(response)
    artifact.refresh_from_db()
    assert (artifact.title, artifact.is_public) == ("Kept", False)


def test_delete_removes_the_row_and_the_stored_file(api, user, django_capture_on_commit_callbacks):
    artifact = stored(user, content=b"%PDF-1.4 delete me")
    assert default_storage.exists(artifact.minio_path)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(detail(artifact))

    assert response.status_code == 204
    assert not Artifact.objects.filter(pk=artifact.pk).exists()
    assert not default_storage.exists(artifact.minio_path)
    assert AuditLog.objects.filter(action="artifact.deleted", resource_id=str(artifact.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_a_storage_failure_deleting_the_file_is_logged_and_the_delete_still_answers_204(monkeypatch, caplog):
    # A real commit (no test transaction around it): the file's deletion runs as the view's own
    # transaction commits, so a failure there would reach the response if it were not caught.
    owner = UserFactory(role=Role.USER)
    artifact = stored(owner, content=b"%PDF-1.4 storage refuses")
    key = artifact.minio_path

    def refuse(name):
        raise OSError("storage is read-only")

    monkeypatch.setattr(default_storage, "delete", refuse)
    with caplog.at_level(logging.WARNING, logger="scraping.services.storage"):
        response = client_for(owner).delete(detail(artifact))

    assert response.status_code == 204
    assert not Artifact.objects.filter(pk=artifact.pk).exists()
    assert AuditLog.objects.filter(action="artifact.deleted", resource_id=str(artifact.pk)).exists()
    assert [r.getMessage() for r in caplog.records if r.name == "scraping.services.storage"] == [
        f"Could not delete the stored artifact file {key}"
    ]
    monkeypatch.undo()
    assert default_storage.exists(key)  # the orphan stays: only disk space
    default_storage.delete(key)


# --- tags --------------------------------------------------------------------------------------


def test_tags_are_added_normalised_and_removed(api, user):
    artifact = stored(user, tags=["energy"])

    added = api.post(detail(artifact, "tags/"), {"tags": ["Offshore  Wind", "energy", "2024"]}, format="json")
    assert added.status_code == 200, added.content
    assert added.json()["tags"] == ["energy", "offshore wind", "2024"]

    removed = api.post(detail(artifact, "tags/remove/"), {"tags": ["ENERGY", "never-had"]}, format="json")
    assert removed.status_code == 200
    assert removed.json()["tags"] == ["offshore wind", "2024"]
    artifact.refresh_from_db()
    assert artifact.tags == ["offshore wind", "2024"]
    # The search finds what was tagged, however it is spelt.
    assert listed(api.get(f"{URL}?tag=Offshore%20Wind")) == [str(artifact.pk)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tags": []}, "tags"),
        ({"tags": "energy"}, "tags"),
        ({"tags": ["x" * 51]}, "tags.0"),
        ({"tags": ["  "]}, "tags.0"),
        ({}, "tags"),
    ],
)
def test_bad_tags_are_a_400_and_change_nothing(api, user, body, field):
    artifact = stored(user, tags=["kept"])
    response = api.post(detail(artifact, "tags/"), body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_fields(response)
    artifact.refresh_from_db()
    assert artifact.tags == ["kept"]


def test_a_tag_of_50_characters_is_accepted(api, user):
    # docs/api.md: each tag at most 50 characters.
    artifact = stored(user, tags=[])
    response = api.post(detail(artifact, "tags/"), {"tags": ["x" * 50]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["tags"] == ["x" * 50]


def test_fifty_tags_in_one_request_are_accepted_and_fifty_one_are_a_400(api, user):
    # docs/api.md: 1-50 tags per request.
    artifact = stored(user, tags=[])
    too_many = api.post(detail(artifact, "tags/"), {"tags": [f"t{n}" for n in range(51)]}, format="json")
    assert too_many.status_code == 400
    assert "tags" in error_fields(too_many)
    artifact.refresh_from_db()
    assert artifact.tags == []

    fifty = api.post(detail(artifact, "tags/"), {"tags": [f"t{n}" for n in range(50)]}, format="json")
    assert fifty.status_code == 200, fifty.content
    assert len(fifty.json()["tags"]) == 50


def test_fifty_tags_in_all_are_accepted(api, user):
    # docs/api.md: at most 50 tags per artifact; 45 + 5 is exactly 50.
    artifact = stored(user, tags=[f"t{n}" for n in range(45)])
    response = api.post(detail(artifact, "tags/"), {"tags": [f"new{n}" for n in range(5)]}, format="json")
    assert response.status_code == 200, response.content
    assert len(response.json()["tags"]) == 50


def test_more_than_fifty_tags_in_all_is_a_400(api, user):
    artifact = stored(user, tags=[f"t{n}" for n in range(45)])
    response = api.post(detail(artifact, "tags/"), {"tags": [f"new{n}" for n in range(6)]}, format="json")
    assert response.status_code == 400
    assert "tags" in error_fields(response)
    artifact.refresh_from_db()
    assert len(artifact.tags) == 45


# --- download ----------------------------------------------------------------------------------


def test_download_streams_the_bytes_as_an_attachment(api, user):
    artifact = stored(user, title="Wind report 2024")
    response = api.get(detail(artifact, "download/"), HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF_BYTES
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="Wind-report-2024.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("title", "source_url", "mime_type", "filename", "content_type"),
    [
        ('../../etc/passwd"\r\nX-Evil: 1', None, "text/plain", "etc-passwd-X-Evil-1.txt", "text/plain"),
        (
            None,
            "https://example.org/docs/annual%20report.pdf",
            "application/pdf",
            "annual-20report.pdf",
            None,
        ),
        ("Café crème", None, "text/html", "Cafe-creme.html", "text/html"),
        ("", None, "text/html\r\nSet-Cookie: a=b", None, "application/octet-stream"),
    ],
)
def test_the_download_name_and_type_are_safe(api, user, title, source_url, mime_type, filename, content_type):
    artifact = stored(
        user, content=f"{title}{source_url}{mime_type}".encode(), title=title, source_url=source_url
    )
    Artifact.objects.filter(pk=artifact.pk).update(mime_type=mime_type)
    response = api.get(detail(artifact, "download/"))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    if filename is None:
        assert disposition == f'attachment; filename="artifact-{artifact.content_hash[:12]}.bin"'
    else:
        assert disposition == f'attachment; filename="{filename}"'
    assert response["Content-Type"] == (content_type or mime_type)


def test_a_missing_file_is_a_404(api, user):
    artifact = stored(user, content=b"soon gone")
    default_storage.delete(artifact.minio_path)
    response = api.get(detail(artifact, "download/"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("url", [URL, "/api/v1/scraping/jobs/"])
def test_a_time_offset_postgresql_cannot_store_is_converted_not_a_500(api, url):
    response = api.get(url, {"created_after": "2024-05-21T00:00:56-22:47"})
    assert response.status_code == 200
    response = api.get(url, {"created_after": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400
    assert "created_after" in error_fields(response)
