from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_notifications"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="ai_builtin_only",
            field=models.BooleanField(
                default=False,
                help_text="Every AI call for this person's work runs on the builtin backends: "
                "nothing leaves the machine.",
            ),
        ),
    ]
