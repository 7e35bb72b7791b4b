"""Archive policies of the generation app (run by `manage.py archive`, see core.archive)."""

from core.archive import ArchivePolicy
from generation.services import archive as image_archive

POLICIES = [
    ArchivePolicy(
        name="generated_images",
        description="generated images created before the cutoff -> generated_images_archive",
        count=lambda cutoff: image_archive.generated_images_archivable_count(older_than=cutoff),
        batches=lambda cutoff: image_archive.GeneratedImagesArchiveRun(older_than=cutoff),
    ),
]
