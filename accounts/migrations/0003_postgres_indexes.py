from django.db import migrations

from core.migration_operations import gin_index


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_initial")]

    operations = [
        gin_index(
            table="audit_logs", name="idx_audit_logs_details", column="details", opclass="jsonb_path_ops"
        ),
    ]
