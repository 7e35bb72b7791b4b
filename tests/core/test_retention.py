from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models.signals import post_delete
from django.utils import timezone
from django_q.models import Success, Task

from accounts.models import AuditLog
from core.retention import RetentionPolicy, policies, policy_run, register, rows_delete, unregister
from tests.factories.accounts import AuditLogFactory

NOW = timezone.now()

EXPECTED = {
    "accounts.sessions",
    "accounts.rate_limits",
    "accounts.api_keys",
    "accounts.audit_logs",
    "captions.processing_runs",
    "captions.images_rejected",
    "captions.images_posted",
    "captions.images_error",
    "captions.posts_without_images",
    "captions.tasks_completed",
    "captions.tasks_failed",
    "workflows.checkpoints",
    "core.q_success",
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
