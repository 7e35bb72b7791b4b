import logging
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete
from django.utils import timezone
from django_q.models import Success, Task

from accounts.models import AuditLog
from core.retention import RetentionPolicy, policies, policy_run, register, rows_delete, unregister
from core.stored_files import stored_files_delete
from tests.factories.accounts import AuditLogFactory
from tests.fakes.storage import use_unreachable_storage

NOW = timezone.now()

EXPECTED = {
    "accounts.sessions",
    "accounts.rate_limits",
    "accounts.api_keys",
    "accounts.audit_logs",
    "accounts.notifications",
    "captions.processing_runs",
    "captions.images_rejected",
    "captions.images_posted",
    "captions.images_error",
    "captions.posts_without_images",
    "captions.tasks_completed",
    "captions.tasks_failed",
    "workflows.checkpoints",
    "core.q_success",
    "scraping.job_items",
    "scraping.artifacts",
    "generation.prompts_failed",
    "generation.avatar_tasks_failed",
}


def _old_audit_rows(count):
    rows = AuditLogFactory.create_batch(count)
    AuditLog.objects.filter(pk__in=[row.pk for row in rows]).update(created_at=NOW - timedelta(days=400))
    return rows


@pytest.fixture
def extra_policy():
    names = []

    def add(policy):
        register(policy)
        names.append(policy.name)
        return policy

    yield add
    for name in names:
        unregister(name)


def test_every_app_declares_its_policies():
    assert {policy.name for policy in policies()} >= EXPECTED


def test_images_go_before_the_posts_they_empty():
    names = [policy.name for policy in policies()]
    assert names.index("captions.images_rejected") < names.index("captions.posts_without_images")


def test_a_policy_needs_rows_or_run():
    with pytest.raises(ValueError):
        RetentionPolicy(name="x", description="neither")


def test_registering_a_name_twice_is_refused(extra_policy):
    with pytest.raises(ValueError):
        extra_policy(RetentionPolicy(name="accounts.sessions", description="again", run=lambda **kw: 0))


@pytest.mark.django_db
def test_unknown_policy_and_bad_batch_size_are_validation_errors():
    with pytest.raises(ValidationError) as unknown:
        policy_run(name="nope")
    assert "name" in unknown.value.message_dict
    with pytest.raises(ValidationError) as bad:
        policy_run(name="accounts.audit_logs", batch_size=0)
    assert "batch_size" in bad.value.message_dict


@pytest.mark.django_db
def test_batches_never_exceed_the_batch_size_and_report_progress():
    _old_audit_rows(5)
    kept = AuditLogFactory()
    seen = []

    result = policy_run(name="accounts.audit_logs", batch_size=2, now=NOW, progress=seen.append)

    assert result.rows == 5
    assert seen == [2, 4, 5]
    assert list(AuditLog.objects.values_list("pk", flat=True)) == [kept.pk]


@pytest.mark.django_db
def test_matches_among_long_runs_of_kept_rows_all_go():
    # A batch spans batch_size rows of the table, matching or not: kept rows must not end the run.
    kept = {row.pk for row in AuditLogFactory.create_batch(9)}
    gone = {row.pk for row in _old_audit_rows(3)}
    kept |= {row.pk for row in AuditLogFactory.create_batch(9)}

    result = policy_run(name="accounts.audit_logs", batch_size=2, now=NOW)

    assert result.rows == 3
    assert set(AuditLog.objects.values_list("pk", flat=True)) == kept
    assert not AuditLog.objects.filter(pk__in=gone).exists()


@pytest.mark.django_db
def test_a_sparse_stretch_of_keys_is_crossed_in_one_batch(django_assert_max_num_queries):
    # Integer keys: a batch is the next batch_size key values. After a batch that removed few rows
    # the next range comes from the index, so a gap of 100 000 ids costs one batch, not 50 000.
    low = _old_audit_rows(3)
    far = AuditLogFactory(id=low[-1].pk + 100_000)
    AuditLog.objects.filter(pk=far.pk).update(created_at=NOW - timedelta(days=400))
    kept = AuditLogFactory(id=far.pk + 1)
    seen = []

    with django_assert_max_num_queries(30):
        result = policy_run(name="accounts.audit_logs", batch_size=2, now=NOW, progress=seen.append)

    assert result.rows == 4
    assert all(later - earlier <= 2 for earlier, later in zip([0, *seen], seen, strict=False))
    assert list(AuditLog.objects.values_list("pk", flat=True)) == [kept.pk]


@pytest.mark.django_db(transaction=True)
def test_batches_outside_a_transaction_leave_the_connection_as_they_found_it():
    from django.db import connection

    _old_audit_rows(3)
    assert policy_run(name="accounts.audit_logs", batch_size=2, now=NOW).rows == 3
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"


@pytest.mark.django_db
def test_dry_run_counts_and_changes_nothing():
    _old_audit_rows(3)
    result = policy_run(name="accounts.audit_logs", dry_run=True, now=NOW)
    assert result.rows == 3
    assert AuditLog.objects.count() == 3


@pytest.mark.django_db
def test_a_delete_receiver_is_honoured(extra_policy):
    """A raw policy falls back to Django's collector when a receiver listens, so it still fires."""
    extra_policy(
        RetentionPolicy(
            name="test.audit_raw",
            description="every audit row",
            rows=lambda *, now, age: AuditLog.objects.all(),
            raw=True,
        )
    )
    _old_audit_rows(3)
    deleted = []

    def receiver(sender, instance, **kwargs):
        deleted.append(instance.pk)

    post_delete.connect(receiver, sender=AuditLog)
    try:
        assert policy_run(name="test.audit_raw", batch_size=2).rows == 3
    finally:
        post_delete.disconnect(receiver, sender=AuditLog)
    assert len(deleted) == 3


@pytest.mark.django_db
def test_rows_delete_re_checks_the_filter_for_each_range():
    rows = _old_audit_rows(4)
    # A row inside the key range that no longer matches stays.
    AuditLog.objects.filter(pk=rows[1].pk).update(created_at=NOW)
    old = AuditLog.objects.filter(created_at__lt=NOW - timedelta(days=1))

    assert rows_delete(old, batch_size=10) == 3
    assert list(AuditLog.objects.values_list("pk", flat=True)) == [rows[1].pk]


def _q_task(index, *, success=True):
    stopped = NOW - timedelta(minutes=100 - index)
    return Task.objects.create(
        id=f"{index:032d}",
        name=f"task-{index}",
        func="core.tasks.noop",
        started=stopped,
        stopped=stopped,
        success=success,
    ).pk


@pytest.mark.django_db
def test_q_success_keeps_the_newest(settings):
    settings.RETENTION_Q_SUCCESS_KEEP = 3
    successes = [_q_task(index) for index in range(6)]
    failure = _q_task(50, success=False)

    assert policy_run(name="core.q_success", dry_run=True).rows == 3
    assert policy_run(name="core.q_success", batch_size=2).rows == 3

    assert set(Success.objects.values_list("pk", flat=True)) == set(successes[3:])
    assert Task.objects.filter(pk=failure).exists()


@pytest.mark.django_db
def test_q_success_below_the_limit_keeps_everything(settings):
    settings.RETENTION_Q_SUCCESS_KEEP = 10
    for index in range(4):
        _q_task(index)
    assert policy_run(name="core.q_success").rows == 0
    assert Success.objects.count() == 4


@pytest.mark.django_db
def test_q_success_keep_zero_deletes_every_success(settings):
    settings.RETENTION_Q_SUCCESS_KEEP = 0
    for index in range(3):
        _q_task(index)
    assert policy_run(name="core.q_success").rows == 3


# --- stored files ---------------------------------------------------------------------------------


def _file(name: str) -> str:
    saved = default_storage.save(name, ContentFile(b"bytes of a stored file"))
    assert saved == name
    return name


def _audit_files_policy(extra_policy, *, prefix: str, files_in_use=None):
    """Every audit row older than a day; each names the file `<prefix>/<pk>.txt`."""
    return extra_policy(
        RetentionPolicy(
            name="test.audit_files",
            description="audit rows with a stored file each",
            rows=lambda *, now, age: AuditLog.objects.filter(created_at__lt=now - timedelta(days=1)),
            files=lambda batch: [f"{prefix}/{pk}.txt" for pk in batch.values_list("pk", flat=True)],
            files_in_use=files_in_use,
        )
    )


@pytest.mark.django_db(transaction=True)
def test_files_of_deleted_rows_are_deleted_after_each_batch_commits(extra_policy):
    prefix = f"retention-test/{uuid.uuid4().hex}"
    _audit_files_policy(extra_policy, prefix=prefix)
    old = _old_audit_rows(3)
    kept = AuditLogFactory()
    names = [_file(f"{prefix}/{row.pk}.txt") for row in [*old, kept]]

    result = policy_run(name="test.audit_files", batch_size=2, now=NOW)

    assert (result.rows, result.files, result.files_failed) == (3, 3, 0)
    assert [default_storage.exists(name) for name in names] == [False, False, False, True]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_delete_keeps_its_files(extra_policy):
    prefix = f"retention-test/{uuid.uuid4().hex}"
    _audit_files_policy(extra_policy, prefix=prefix)
    old = _old_audit_rows(2)
    names = [_file(f"{prefix}/{row.pk}.txt") for row in old]

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        policy_run(name="test.audit_files", now=NOW)
        raise Abort

    assert AuditLog.objects.filter(pk__in=[row.pk for row in old]).count() == 2
    assert all(default_storage.exists(name) for name in names)


@pytest.mark.django_db(transaction=True)
def test_a_file_already_gone_is_counted_without_error(extra_policy, caplog):
    prefix = f"retention-test/{uuid.uuid4().hex}"
    _audit_files_policy(extra_policy, prefix=prefix)
    present, _missing = _old_audit_rows(2)
    name = _file(f"{prefix}/{present.pk}.txt")  # the other row's file was never there

    with caplog.at_level(logging.WARNING, logger="core.stored_files"):
        result = policy_run(name="test.audit_files", now=NOW)

    assert (result.rows, result.files, result.files_failed) == (2, 2, 0)
    assert not default_storage.exists(name)
    assert not caplog.records


@pytest.mark.django_db(transaction=True)
def test_a_storage_failure_is_logged_and_counted_and_the_rows_stay_deleted(extra_policy, settings, caplog):
    use_unreachable_storage(settings)
    prefix = f"retention-test/{uuid.uuid4().hex}"
    extra_policy(
        RetentionPolicy(
            name="test.audit_files",
            description="audit rows; the second one's file sits on an unreachable store",
            rows=lambda *, now, age: AuditLog.objects.filter(created_at__lt=now - timedelta(days=1)),
            files=lambda batch: [
                f"{prefix}/{'unreachable' if index else 'local'}-{pk}.txt"
                for index, pk in enumerate(batch.order_by("pk").values_list("pk", flat=True))
            ],
        )
    )
    first, second = _old_audit_rows(2)
    reachable = _file(f"{prefix}/local-{first.pk}.txt")
    stuck = _file(f"{prefix}/unreachable-{second.pk}.txt")

    with caplog.at_level(logging.WARNING, logger="core.stored_files"):
        result = policy_run(name="test.audit_files", now=NOW)

    assert (result.rows, result.files, result.files_failed) == (2, 1, 1)
    assert not AuditLog.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert not default_storage.exists(reachable)
    assert default_storage.exists(stuck)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert stuck in logged and "ConnectionError" in logged
    assert "AKIAEXAMPLESECRET" not in caplog.text and "X-Amz-Signature" not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_file_another_row_still_names_is_kept(extra_policy):
    prefix = f"retention-test/{uuid.uuid4().hex}"
    shared = f"{prefix}/shared.txt"
    extra_policy(
        RetentionPolicy(
            name="test.audit_files",
            description="old audit rows all naming one file, which newer rows name too",
            rows=lambda *, now, age: AuditLog.objects.filter(created_at__lt=now - timedelta(days=1)),
            files=lambda batch: [shared for _ in batch.values_list("pk", flat=True)],
            files_in_use=lambda names: [shared] if AuditLog.objects.exists() else [],
        )
    )
    _old_audit_rows(2)
    newer = AuditLogFactory()
    _file(shared)

    assert policy_run(name="test.audit_files", now=NOW).files == 0
    assert default_storage.exists(shared)

    newer.delete()
    _old_audit_rows(1)
    assert policy_run(name="test.audit_files", now=NOW).files == 1
    assert not default_storage.exists(shared)


@pytest.mark.django_db
def test_a_dry_run_counts_rows_and_leaves_files(extra_policy):
    prefix = f"retention-test/{uuid.uuid4().hex}"
    _audit_files_policy(extra_policy, prefix=prefix)
    (row,) = _old_audit_rows(1)
    name = _file(f"{prefix}/{row.pk}.txt")

    result = policy_run(name="test.audit_files", now=NOW, dry_run=True)

    assert (result.rows, result.files) == (1, None)
    assert default_storage.exists(name)


@pytest.mark.django_db
def test_a_policy_whose_setting_is_unset_is_off(extra_policy, settings):
    settings.RETENTION_TEST_DAYS = None
    extra_policy(
        RetentionPolicy(
            name="test.audit_optional",
            description="audit rows older than RETENTION_TEST_DAYS, if set",
            rows=lambda *, now, age: AuditLog.objects.filter(created_at__lt=now - timedelta(days=age)),
            setting="RETENTION_TEST_DAYS",
        )
    )
    _old_audit_rows(2)

    result = policy_run(name="test.audit_optional", now=NOW)
    assert (result.off, result.rows) == (True, 0)
    assert AuditLog.objects.count() == 2

    settings.RETENTION_TEST_DAYS = 399
    result = policy_run(name="test.audit_optional", now=NOW)
    assert (result.off, result.rows) == (False, 2)


def test_a_folder_name_deletes_everything_under_it_and_counts_only_what_was_not_named():
    folder = f"retention-test/{uuid.uuid4().hex}/"
    named = _file(f"{folder}0/1.png")
    stray = [_file(f"{folder}0/2.png"), _file(f"{folder}3/1.jpg"), _file(f"{folder}top.txt")]

    tally = stored_files_delete(names=[folder, named, f"{folder}missing.png"])

    assert (tally.deleted, tally.failed) == (5, 0)  # the named two (one already gone), the three strays
    assert not any(default_storage.exists(name) for name in [named, *stray])
    assert stored_files_delete(names=[folder, "retention-test/no-such-folder/"]).deleted == 0
