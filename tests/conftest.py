import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` run only when DATABASE_URL points at PostgreSQL; browser tests are
    slow too (`make test-fast` runs `-m "not slow"`)."""
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip = pytest.mark.skip(reason="PostgreSQL only (set DATABASE_URL)")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
            # One worker runs them all (`--dist loadgroup`): one Chromium for the run, not one each.
            item.add_marker(pytest.mark.xdist_group("browser"))
        if not on_postgres and "postgres" in item.keywords:
            item.add_marker(skip)


DATABASE_FIXTURES = frozenset({"db", "transactional_db", "live_server", "django_db_setup"})


class SlowWithoutDatabaseFirst:
    """Slow tests that never touch the test database (the quick start, `serve`, the migrations'
    round trip: tens of seconds each, in processes of their own) run first, so the parallel
    workers do not all end waiting on one of them. The other tests keep pytest-django's order
    (in a transaction, then transactional ones, which empty the tables, then the rest): hence
    last among the hooks, after pytest-django's sort."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        items[:] = sorted(items, key=lambda item: not _slow_without_database(item))


def _slow_without_database(item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(
        item.get_closest_marker("slow")
        and item.get_closest_marker("django_db") is None
        and not DATABASE_FIXTURES & fixtures
    )


def pytest_configure(config):
    config.pluginmanager.register(SlowWithoutDatabaseFirst(), "slow-without-database-first")


@pytest.fixture
def raw_column():
    """Read one column of one row straight from the database, bypassing the ORM's decoding."""

    def read(model, pk, column: str):
        table = connection.ops.quote_name(model._meta.db_table)
        col = connection.ops.quote_name(column)
        pk_col = connection.ops.quote_name(model._meta.pk.column)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {col} FROM {table} WHERE {pk_col} = %s", [pk])  # noqa: S608
            row = cursor.fetchone()
        return row[0] if row else None

    return read


@pytest.fixture
def database_text():
    """Everything stored in every table, as one string (each value str()-ed, bytes decoded), to
    assert that a secret appears nowhere in plain form: not in its own column, another column,
    the audit log or a table added later."""

    def dump() -> str:
        parts = []
        with connection.cursor() as cursor:
            for table in connection.introspection.table_names(cursor):
                cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
                for row in cursor.fetchall():
                    for value in row:
                        if isinstance(value, bytes | memoryview):
                            value = bytes(value).decode("utf-8", "replace")
                        parts.append(str(value))
        return "\n".join(parts)

    return dump
