import re
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django_q.models import Schedule

from accounts.models import AuditLog, Role, User
from captions.models import Image
from console.demo.instance import DemoInstance
from platforms.models import PlatformConnection

pytestmark = pytest.mark.django_db

TABLES = [
    "auth_group",
    "auth_group_permissions",
    "users",
    "users_groups",
    "audit_logs",
    "django_q_schedule",
    "system_config",
]


def snapshot() -> dict[str, list[tuple]]:
    rows = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            rows[table] = sorted(map(repr, cursor.fetchall()))
    return rows


def bootstrap() -> str:
    out = StringIO()
    call_command("bootstrap", stdout=out)
    return out.getvalue()


def test_running_twice_leaves_the_same_rows(settings):
    settings.ADMIN_PASSWORD = ""
    bootstrap()
    first = snapshot()
    bootstrap()
    assert snapshot() == first
    assert first["users"], "the operator account was created"
    assert first["django_q_schedule"], "schedules were created"


def test_generated_password_is_printed_once_and_works(settings):
    settings.ADMIN_PASSWORD = ""
    output = bootstrap()
    password = re.search(r"Password \(shown once, write it down\): (\S+)", output).group(1)
    assert User.objects.get(username="admin").check_password(password)
    assert "Password" not in bootstrap()


def test_operator_from_environment_is_an_admin(settings):
    settings.ADMIN_USERNAME = "ops"
    settings.ADMIN_EMAIL = "Ops@Example.TEST"
    settings.ADMIN_PASSWORD = "a long operator passphrase"
    bootstrap()
    operator = User.objects.get(username="ops")
    assert operator.email == "ops@example.test"
    assert operator.role == Role.ADMIN
    assert operator.is_staff and operator.is_superuser
    assert list(operator.groups.values_list("name", flat=True)) == [Role.ADMIN]
    assert User.objects.get(username="ops").check_password("a long operator passphrase")
    assert AuditLog.objects.filter(action="user.created", resource_id=str(operator.pk)).exists()


def test_existing_operator_password_is_never_changed(settings):
    settings.ADMIN_PASSWORD = "first password value"
    bootstrap()
    settings.ADMIN_PASSWORD = "second password value"
    bootstrap()
    assert User.objects.get(username="admin").check_password("first password value")


def test_schedules_are_those_the_apps_declare():
    bootstrap()
    names = set(Schedule.objects.values_list("name", flat=True))
    assert {
        "core.worker_heartbeat",
        "core.clear_expired_browser_sessions",
        "accounts.prune_rate_limit_windows",
    } <= names


def test_a_changed_schedule_is_updated_in_place():
    bootstrap()
    Schedule.objects.filter(name="core.worker_heartbeat").update(minutes=99)
    bootstrap()
    assert Schedule.objects.get(name="core.worker_heartbeat").minutes == 1
    assert Schedule.objects.filter(name="core.worker_heartbeat").count() == 1


def test_role_groups_exist_after_bootstrap():
    bootstrap()
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)


def test_without_demo_no_demo_account_is_made():
    output = bootstrap()
    assert not User.objects.filter(username__startswith="demo-").exists()
    assert "Demo" not in output


# The demo commits like the real command: its caption workers read committed rows only.
@pytest.mark.django_db(transaction=True)
def test_demo_loads_against_the_configured_instance_once(settings):
    settings.ADMIN_PASSWORD = ""
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = False
    if connection.vendor == "sqlite":
        settings.CAPTION_CONCURRENCY = 1  # the in-memory test database locks tables against threads
    with DemoInstance(port=0) as instance:
        url = settings.DEMO_INSTANCE_URL = instance.base_url
        settings.OUTBOUND_ALLOWED_ORIGINS = [url]  # as DEMO_INSTANCE_URL joins them at start-up
        first = StringIO()
        call_command("bootstrap", "--demo", stdout=first)
        again = StringIO()
        call_command("bootstrap", "--demo", stdout=again)

    output = first.getvalue()
    assert "Password (shown once, write it down)" in output, "the operator comes first, as without --demo"
    shown = dict(re.findall(r"^\s+(demo-\S+)\s+\S+\s+role (\w+)$", output, re.MULTILINE))
    assert shown == {"demo-user": Role.USER, "demo-reviewer": Role.REVIEWER}
    assert f"Demo loaded against the demo instance at {url}." in output
    assert Image.objects.filter(platform_connection__instance_url=url).count() == 7
    assert "Demo data already loaded" in again.getvalue()
    assert "demo-user " not in again.getvalue() and "Password" not in again.getvalue()


def test_demo_against_something_else_is_a_clear_command_error(settings, httpserver):
    httpserver.expect_request("/api/v1/accounts/verify_credentials").respond_with_data("no", status=404)
    settings.DEMO_INSTANCE_URL = httpserver.url_for("").rstrip("/")
    settings.OUTBOUND_ALLOWED_ORIGINS = [settings.DEMO_INSTANCE_URL]

    with pytest.raises(CommandError, match="not the demo instance"):
        call_command("bootstrap", "--demo", stdout=StringIO())
    assert not PlatformConnection.objects.exists()
