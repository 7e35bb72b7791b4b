import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiRateLimit, AuditLog, Role, User, UserSession
from tests.constraints import drop_column_check, violates
from tests.factories.accounts import ApiKeyFactory, AuditLogFactory, UserFactory, UserSessionFactory
from tests.factories.platforms import PlatformConnectionFactory

pytestmark = pytest.mark.django_db


def test_username_is_unique():
    UserFactory(username="ada")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(username="ada")


def test_email_is_unique():
    UserFactory(email="ada@example.test")
    with violates("ix_users_email"):
        UserFactory(email="ada@example.test")


def test_role_must_be_known():
    with violates("ck_users_role"):
        UserFactory(role="owner")


def test_alt_text_gate_must_be_known():
    with violates("ck_users_alt_text_gate"):
        UserFactory(alt_text_gate="off")


def test_new_users_default_to_the_user_role_and_unverified():
    user = User.objects.create_user(username="new", email="new@example.test", password="x")
    user.refresh_from_db()
    assert user.role == Role.USER
    assert user.is_verified is False
    assert user.created_at is not None


def test_clean_normalises_email():
    user = User(username="grace", email="  Grace@Example.TEST ")
    user.clean()
    assert user.email == "grace@example.test"


def test_session_token_hash_is_unique():
    session = UserSessionFactory()
    with violates("unique_active_session"):
        UserSessionFactory(token_hash=session.token_hash)


def test_session_kind_must_be_known():
    with violates("ck_user_sessions_kind"):
        UserSessionFactory(kind="pigeon")


def test_sessions_go_with_their_user_and_outlive_their_platform():
    connection = PlatformConnectionFactory()
    session = UserSessionFactory(user=connection.user, active_platform=connection)
    connection.delete()
    session.refresh_from_db()
    assert session.active_platform is None
    session.user.delete()
    assert not UserSession.objects.filter(pk=session.pk).exists()


def test_api_key_hash_is_unique():
    key = ApiKeyFactory()
    with violates("idx_api_keys_hash"):
        ApiKeyFactory(key_hash=key.key_hash)


def test_rate_limit_window_is_unique_per_bucket_and_endpoint():
    start = timezone.now().replace(second=0, microsecond=0)
    ApiRateLimit.objects.create(bucket="ip:127.0.0.1", endpoint="auth", window_start=start, request_count=1)
    ApiRateLimit.objects.create(bucket="ip:127.0.0.1", endpoint="api", window_start=start, request_count=1)
    with violates("uq_api_rate_limits_window"):
        ApiRateLimit.objects.create(bucket="ip:127.0.0.1", endpoint="auth", window_start=start)


def test_rate_limit_count_cannot_go_negative():
    drop_column_check(ApiRateLimit, "request_count")  # on PostgreSQL its column check would fire first
    with violates("ck_api_rate_limits_count"):
        ApiRateLimit.objects.create(
            bucket="user:1", endpoint="api", window_start=timezone.now(), request_count=-1
        )


def test_audit_logs_outlive_their_user():
    entry = AuditLogFactory()
    entry.user.delete()
    entry.refresh_from_db()
    assert entry.user is None
    assert AuditLog.objects.filter(pk=entry.pk).exists()
