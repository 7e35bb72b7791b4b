from django.db import migrations

from core.migration_operations import gin_index


class Migration(migrations.Migration):
    dependencies = [("workflows", "0001_initial")]

    operations = [
        # Style samples are looked up by `metadata @> {"platform": ...}` / tags.
        gin_index(
            table="resources", name="idx_resource_metadata", column="metadata", opclass="jsonb_path_ops"
        ),
    ]
