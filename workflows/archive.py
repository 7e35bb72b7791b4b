"""Archive policies of the workflows app (run by `manage.py archive`, see core.archive)."""

from core.archive import ArchivePolicy
from workflows.services import archive as workflow_archive

POLICIES = [
    ArchivePolicy(
        name="workflows",
        description="completed workflows idle past the cutoff -> status archived",
        count=lambda cutoff: workflow_archive.workflows_archivable_count(older_than=cutoff),
        batches=lambda cutoff: (
            lambda size: workflow_archive.workflows_archive_batch(older_than=cutoff, batch_size=size)
        ),
    ),
]
