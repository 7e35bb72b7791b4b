"""Artifact services (edit, tags, delete with its file) and the storage helpers."""

import hashlib
import logging
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.models import AuditLog
from scraping.models import Artifact, MetadataTag
from scraping.services.artifacts import (
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


def test_an_update_that_changes_nothing_returns_the_artifact_and_writes_nothing():
    artifact = ArtifactFactory(title="Same", description="Kept", is_public=True)
    stamp = timezone.now() - timedelta(days=1)
    Artifact.objects.filter(pk=artifact.pk).update(updated_at=stamp)
    artifact.refresh_from_db()

    result = artifact_update(
        artifact=artifact, actor=artifact.user, title=" Same ", description="Kept", is_public=True
    )

    # The API answers with what comes back; None here would turn a no-op PATCH into a 500.
    assert result is artifact
    assert (result.title, result.description, result.is_public) == ("Same", "Kept", True)
    assert not AuditLog.objects.filter(action="artifact.updated").exists()
    artifact.refresh_from_db()
    assert artifact.updated_at == stamp
    assert artifact_update(artifact=artifact, actor=artifact.user) is artifact  # no fields at all


def test_an_update_returns_the_changed_artifact_and_moves_updated_at():
    artifact = ArtifactFactory(title="Old", description="Old text", is_public=False)
    stamp = timezone.now() - timedelta(days=1)
    Artifact.objects.filter(pk=artifact.pk).update(updated_at=stamp)

    result = artifact_update(artifact=artifact, actor=artifact.user, description=" New text ")

    assert result is artifact
    assert (result.title, result.description, result.is_public) == ("Old", "New text", False)
    artifact.refresh_from_db()
    assert artifact.description == "New text"
    assert artifact.updated_at > stamp
    assert AuditLog.objects.get(action="artifact.updated").details == {"fields": ["description"]}


def test_an_empty_title_or_description_clears_it():
    artifact = ArtifactFactory(title="Old", description="Old text")
    result = artifact_update(artifact=artifact, actor=artifact.user, title="   ", description="")
    assert (result.title, result.description) == (None, None)
    artifact.refresh_from_db()
    assert (artifact.title, artifact.description) == (None, None)


@pytest.mark.parametrize(
    ("title", "accepted"),
    [
        # 500 characters: the artifact title limit (docs/api.md, PATCH /scraping/artifacts/{id}/).
        ("x" * 499, True),
        ("x" * 500, True),
        ("x" * 501, False),
        ("  " + "x" * 500 + "  ", True),  # counted after trimming
    ],
)
def test_a_title_has_at_most_500_characters(title, accepted):
    artifact = ArtifactFactory(title="Kept")
    if accepted:
        artifact_update(artifact=artifact, actor=artifact.user, title=title)
        artifact.refresh_from_db()
        assert artifact.title == title.strip()
        return
    with pytest.raises(ValidationError) as caught:
        artifact_update(artifact=artifact, actor=artifact.user, title=title)
    assert caught.value.message_dict == {"title": ["At most 500 characters."]}
    artifact.refresh_from_db()
    assert artifact.title == "Kept"


def test_update_refuses_bad_values():
    artifact = ArtifactFactory(is_public=False)
    with pytest.raises(ValidationError) as caught:
        artifact_update(artifact=artifact, actor=artifact.user, is_public="yes")
    assert caught.value.message_dict == {"is_public": ["Must be true or false."]}
    artifact.refresh_from_db()
    assert artifact.is_public is False


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


def test_tags_are_capped_at_50():
    # 50 tags an artifact, 50 characters a tag (docs/api.md, the artifact tag endpoints).
    artifact = ArtifactFactory(tags=[f"t{n}" for n in range(49)])
    artifact_tags_add(artifact=artifact, actor=artifact.user, tags=["last"])
    artifact.refresh_from_db()
    assert len(artifact.tags) == 50
    with pytest.raises(ValidationError) as caught:
        artifact_tags_add(artifact=artifact, actor=artifact.user, tags=["one too many"])
    assert caught.value.message_dict == {"tags": ["An artifact has at most 50 tags."]}
    artifact.refresh_from_db()
    assert len(artifact.tags) == 50
    # A tag it has already does not count twice.
    artifact_tags_add(artifact=artifact, actor=artifact.user, tags=["LAST"])
    artifact.refresh_from_db()
    assert len(artifact.tags) == 50


@pytest.mark.parametrize(
    ("tag", "stored"),
    [
        ("x" * 49, "x" * 49),
        ("x" * 50, "x" * 50),
        ("  " + "X" * 50 + "  ", "x" * 50),  # counted once normalised
        ("solar  " + "x" * 43, "solar " + "x" * 43),  # 51 typed, 50 once the spaces collapse
    ],
)
def test_a_tag_of_up_to_50_characters_is_kept(tag, stored):
    artifact = ArtifactFactory(tags=[])
    artifact_tags_add(artifact=artifact, actor=artifact.user, tags=[tag])
    artifact.refresh_from_db()
    assert artifact.tags == [stored]


def test_a_tag_of_51_characters_is_refused():
    artifact = ArtifactFactory(tags=[])
    with pytest.raises(ValidationError) as caught:
        artifact_tags_add(artifact=artifact, actor=artifact.user, tags=["ok", "x" * 51])
    assert caught.value.message_dict == {"tags": ["Each tag has at most 50 characters."]}
    artifact.refresh_from_db()
    assert artifact.tags == []


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ([], "Give a non-empty list of tags."),
        ("solar", "Give a non-empty list of tags."),
        (["solar", 3], "Each tag must be a string."),
        (["solar", " \u3000 "], "Tags cannot be empty."),
    ],
)
def test_bad_tags_are_refused_with_the_reason(tags, message):
    artifact = ArtifactFactory(tags=["kept"])
    with pytest.raises(ValidationError) as caught:
        artifact_tags_remove(artifact=artifact, actor=artifact.user, tags=tags)
    assert caught.value.message_dict == {"tags": [message]}
    artifact.refresh_from_db()
    assert artifact.tags == ["kept"]


def test_tags_given_as_a_tuple_are_accepted():
    artifact = ArtifactFactory(tags=[])
    assert artifact_tags_add(artifact=artifact, actor=artifact.user, tags=("Solar",)).tags == ["solar"]


def test_tag_changes_that_change_nothing_write_nothing():
    artifact = ArtifactFactory(tags=["solar"])
    stamp = timezone.now() - timedelta(days=1)
    Artifact.objects.filter(pk=artifact.pk).update(updated_at=stamp)

    assert artifact_tags_add(artifact=artifact, actor=artifact.user, tags=["SOLAR"]).tags == ["solar"]
    assert artifact_tags_remove(artifact=artifact, actor=artifact.user, tags=["wind"]).tags == ["solar"]

    assert not AuditLog.objects.filter(resource_id=str(artifact.pk)).exists()
    artifact.refresh_from_db()
    assert artifact.updated_at == stamp

    artifact_tags_add(artifact=artifact, actor=artifact.user, tags=["wind"])
    artifact.refresh_from_db()
    assert artifact.updated_at > stamp


def test_tags_are_added_to_what_the_database_holds_not_to_a_stale_copy():
    artifact = ArtifactFactory(tags=["solar"])
    stale = Artifact.objects.get(pk=artifact.pk)
    artifact_tags_add(artifact=artifact, actor=artifact.user, tags=["wind"])
    result = artifact_tags_add(artifact=stale, actor=artifact.user, tags=["tide"])
    assert result.tags == ["solar", "wind", "tide"]
    artifact.refresh_from_db()
    assert artifact.tags == ["solar", "wind", "tide"]


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


def test_delete_audits_the_hash_and_the_owner(django_capture_on_commit_callbacks):
    artifact = ArtifactFactory()
    artifact_id, owner = artifact.pk, artifact.user
    with django_capture_on_commit_callbacks(execute=True):
        artifact_delete(artifact=artifact, actor=owner)
    log = AuditLog.objects.get(action="artifact.deleted")
    assert (log.resource_id, log.user_id) == (str(artifact_id), owner.pk)
    assert log.details == {"content_hash": artifact.content_hash, "owner": owner.pk}


def test_delete_keeps_a_file_another_artifact_still_points_at(django_capture_on_commit_callbacks):
    first = ArtifactFactory()
    key = artifact_storage_key(user_id=first.user_id, content_hash=first.content_hash)
    artifact_bytes_store(key=key, content=b"shared bytes")
    Artifact.objects.filter(pk=first.pk).update(minio_path=key)
    first.refresh_from_db()
    second = ArtifactFactory(job=first.job, minio_path=key)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        artifact_delete(artifact=first, actor=first.user)
    assert callbacks == []
    assert default_storage.exists(key)

    with django_capture_on_commit_callbacks(execute=True):
        artifact_delete(artifact=second, actor=second.user)
    assert not default_storage.exists(key)


def test_a_storage_failure_after_the_commit_is_logged_and_the_deletion_stands(
    monkeypatch, caplog, django_capture_on_commit_callbacks
):
    artifact = ArtifactFactory(minio_path="artifacts/1/ab/unreachable")
    artifact_id = artifact.pk

    def refuse(name):
        raise OSError("storage is read-only")

    monkeypatch.setattr(default_storage, "delete", refuse)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True) as callbacks:
        artifact_delete(artifact=artifact, actor=artifact.user)

    assert len(callbacks) == 1
    assert not Artifact.objects.filter(pk=artifact_id).exists()
    assert AuditLog.objects.filter(action="artifact.deleted", resource_id=str(artifact_id)).exists()
    # storage.artifact_bytes_delete logs the failure itself (an orphan file is only disk space).
    [record] = [r for r in caplog.records if r.name == "scraping.services.storage"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "Could not delete the stored artifact file artifacts/1/ab/unreachable"
    assert isinstance(record.exc_info[1], OSError)


def test_even_a_raising_file_deletion_cannot_undo_or_fail_the_deletion(
    monkeypatch, caplog, django_capture_on_commit_callbacks
):
    # The file goes in a robust on_commit callback: whatever it raises is logged, not re-raised.
    artifact = ArtifactFactory()
    artifact_id = artifact.pk

    def explode(*, key):
        raise RuntimeError("unexpected")

    monkeypatch.setattr("scraping.services.artifacts.artifact_bytes_delete", explode)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        artifact_delete(artifact=artifact, actor=artifact.user)

    assert not Artifact.objects.filter(pk=artifact_id).exists()
    assert any(isinstance(r.exc_info and r.exc_info[1], RuntimeError) for r in caplog.records)


def test_delete_tolerates_a_missing_file(django_capture_on_commit_callbacks):
    artifact = ArtifactFactory(minio_path="artifacts/1/ab/missing")
    with django_capture_on_commit_callbacks(execute=True):
        artifact_delete(artifact=artifact, actor=artifact.user)
    assert not Artifact.objects.exists()
