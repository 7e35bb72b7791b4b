"""Every PostgreSQL-only index the migrations declare exists after migrate."""

import re

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from core.migration_operations import PostgresOnlyRunSQL

CREATED_INDEX = re.compile(r'CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF NOT EXISTS\s+)?"?(\w+)"?', re.IGNORECASE)


def declared_postgres_indexes() -> set[str]:
    names = set()
    for migration in MigrationLoader(None, ignore_no_migrations=True).disk_migrations.values():
        for operation in migration.operations:
            if isinstance(operation, PostgresOnlyRunSQL):
                sql = operation.sql if isinstance(operation.sql, str) else " ".join(map(str, operation.sql))
                names.update(CREATED_INDEX.findall(sql))
    return names


def test_the_project_declares_postgres_only_indexes():
    assert {
        "idx_audit_logs_details",
        "idx_artifacts_keywords",
        "idx_artifacts_tags",
    } <= declared_postgres_indexes()


@pytest.mark.postgres
@pytest.mark.django_db
def test_every_declared_postgres_index_exists_after_migrate():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
        existing = dict(cursor.fetchall())
    missing = declared_postgres_indexes() - existing.keys()
    assert not missing, f"declared but not created: {sorted(missing)}"
    assert "USING gin (details jsonb_path_ops)" in existing["idx_audit_logs_details"]
