"""Artifact services (edit, tags, delete with its file) and the storage helpers."""

import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from accounts.models import AuditLog
from scraping.models import Artifact, MetadataTag
from scraping.services.artifacts import (
    MAX_TAGS,
    artifact_delete,
    artifact_tags_add,
    artifact_tags_remove,
    artifact_update,
)
from scraping.services.storage import artifact_bytes_store, artifact_storage_key
from tests.factories.scraping import ArtifactFactory, MetadataTagFactory

pytestmark = pytest.mark.django_db


def test_storage_key_layout():
    digest = hashlib.sha256(b"x").hexdigest()
    assert artifact_storage_key(user_id=7, content_hash=digest) == f"artifacts/7/{digest[:2]}/{digest}"


def test_store_writes_once_and_keeps_existing_bytes():
    digest = hashlib.sha256(b"first").hexdigest()
    key = artifact_storage_key(user_id=99, content_hash=digest)
    assert artifact_bytes_store(key=key, content=b"first") == key
    assert artifact_bytes_store(key=key, content=b"second") == key  # the key exists: no write
    with default_storage.open(key) as stored:
        assert stored.read() == b"first"
    assert default_storage.listdir(key.rsplit("/", 1)[0])[1] == [digest]  # no suffixed copy
    default_storage.delete(key)


def test_update_changes_given_fields_and_audits():
    artifact = ArtifactFactory(title="Old", description="d", is_public=False)
    artifact_update(artifact=artifact, actor=artifact.user, title="  New  ", is_public=True)
    artifact.refresh_from_db()
    assert (artifact.title, artifact.description, artifact.is_public) == ("New", "d", True)
    log = AuditLog.objects.get(action="artifact.updated", resource_id=str(artifact.pk))
    assert log.details == {"fields": ["is_public", "title"]}
    # Nothing changes: no audit row.
    artifact_update(artifact=artifact, actor=artifact.user, title="New")
    assert AuditLog.objects.filter(action="artifact.updated").count() == 1


def test_update_refuses_bad_values():
    artifact = ArtifactFactory()
    with pytest.raises(ValidationError) as caught:
        artifact_update(artifact=artifact, actor=artifact.user, title="x" * 501)
    assert "title" in caught.value.message_dict
    with pytest.raises(ValidationError):
        artifact_update(artifact=artifact, actor=artifact.user, is_public="yes")


def test_tags_are_normalised_deduplicated_and_removed():
    artifact = ArtifactFactory(tags=["energy"])
    artifact_tags_add(
        artifact=artifact, actor=artifact.user, tags=["  Solar   Power", "ENERGY", "solar power", "\uff37ind"]
    )
    artifact.refresh_from_db()
    assert artifact.tags == ["energy", "solar power", "wind"]
    artifact_tags_remove(artifact=artifact, actor=artifact.user, tags=["Energy", "absent"])
    artifact.refresh_from_db()
    assert artifact.tags == ["solar power", "wind"]
    actions = list(
        AuditLog.objects.filter(resource_id=str(artifact.pk)).order_by("pk").values_list("action", "details")
    )
    assert actions[0] == ("artifact.tags_added", {"added": ["solar power", "wind"]})
    assert actions[1] == ("artifact.tags_removed", {"removed": ["energy"]})


@pytest.mark.parametrize("tags", [[], ["x" * 51], [""], [3], "solar"])
def test_tags_refuse_bad_input(tags):
    artifact = ArtifactFactory(tags=[])
    with pytest.raises(ValidationError) as caught:
        artifact_tags_add(artifact=artifact, actor=artifact.user, tags=tags)
    assert "tags" in caught.value.message_dict
    artifact.refresh_from_db()
    assert artifact.tags == []


def test_tags_are_capped():
    artifact = ArtifactFactory(tags=[f"t{n}" for n in range(MAX_TAGS - 1)])
    artifact_tags_add(artifact=artifact, actor=artifact.user, tags=["last"])
    with pytest.raises(ValidationError):
        artifact_tags_add(artifact=artifact, actor=artifact.user, tags=["one too many"])
    artifact.refresh_from_db()
    assert len(artifact.tags) == MAX_TAGS


def test_delete_removes_row_children_and_file_after_commit(django_capture_on_commit_callbacks):
    artifact = ArtifactFactory()
    key = artifact_storage_key(user_id=artifact.user_id, content_hash=artifact.content_hash)
    Artifact.objects.filter(pk=artifact.pk).update(minio_path=key)
    artifact.refresh_from_db()
    artifact_bytes_store(key=key, content=b"bytes")
    MetadataTagFactory(artifact=artifact)
    artifact_id = artifact.pk
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        artifact_delete(artifact=artifact, actor=artifact.user)
    assert default_storage.exists(key)  # not before the commit
    for callback in callbacks:
        callback()
    assert not default_storage.exists(key)
    assert not Artifact.objects.filter(pk=artifact_id).exists()
    assert not MetadataTag.objects.exists()
    assert AuditLog.objects.filter(action="artifact.deleted", resource_id=str(artifact_id)).exists()


def test_delete_tolerates_a_missing_file(django_capture_on_commit_callbacks):
    artifact = ArtifactFactory(minio_path="artifacts/1/ab/missing")
    with django_capture_on_commit_callbacks(execute=True):
        artifact_delete(artifact=artifact, actor=artifact.user)
    assert not Artifact.objects.exists()
