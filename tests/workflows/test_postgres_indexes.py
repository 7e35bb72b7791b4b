import pytest
from django.db import connection

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NAMED_INDEXES = {
    "workflows": [
        "idx_workflow_user_id",
        "idx_workflow_status",
        "idx_workflow_created_at",
        "idx_workflow_status_updated",
    ],
    "platform_states": [
        "idx_platform_state_workflow_id",
        "idx_platform_state_platform",
        "idx_platform_state_status",
        "uq_workflow_platform",
    ],
    "drafts": ["idx_draft_workflow_id", "idx_draft_platform", "idx_draft_created_at"],
    "evaluations": ["idx_evaluation_draft_id", "idx_evaluation_score", "idx_evaluation_created_at"],
    "resources": [
        "idx_resource_user_id",
        "idx_resource_type",
        "idx_resource_created_at",
        "idx_resource_metadata",
    ],
    "publishing_jobs": [
        "idx_publishing_job_workflow_id",
        "idx_publishing_job_status",
        "idx_publishing_job_sched_for",
        "idx_publishing_job_due",
        "idx_publishing_job_created_at",
        "uq_publishing_job_live",
        "uq_publishing_job_idem_key",
    ],
    "workflow_checkpoints": ["uq_workflow_checkpoint_seq"],
}


def _indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


@pytest.mark.parametrize(("table", "names"), NAMED_INDEXES.items())
def test_named_indexes_exist(table, names):
    assert set(names) <= set(_indexes(table))


def test_resource_metadata_has_a_gin_index():
    definition = _indexes("resources")["idx_resource_metadata"]
    assert "USING gin" in definition
    assert "jsonb_path_ops" in definition


def test_live_publishing_job_constraint_is_partial():
    definition = _indexes("publishing_jobs")["uq_publishing_job_live"]
    assert "UNIQUE" in definition
    assert "WHERE" in definition
