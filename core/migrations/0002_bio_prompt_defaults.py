"""The four bio prompts seed 004 (Avatar Data Generator) populated on migration.

Placeholders: {language} (the task's bio language) and {persona} (name, age, job, city and
traits of one persona). Existing values are never overwritten; operators edit them in the admin.
"""

from django.db import migrations

COMMON = (
    "Write in {language}. Sound like a real person, not a brand: no buzzwords, no quotation marks, "
    "no hashtags unless the platform's style calls for them, and never mention being an AI. "
    "Use only details consistent with this persona: {persona}."
)

BIO_PROMPTS = {
    "bio_prompt_facebook": (
        "Write a Facebook 'Intro' bio of at most 101 characters for the persona below: friendly and "
        "personal, mentioning work, home town or family the way people do on Facebook. " + COMMON
    ),
    "bio_prompt_instagram": (
        "Write an Instagram bio of at most 150 characters for the persona below: two or three short "
        "lines, interests and personality first, one or two fitting emoji at most. " + COMMON
    ),
    "bio_prompt_x": (
        "Write an X (Twitter) bio of at most 160 characters for the persona below: a compact, slightly "
        "witty line about what they do and care about. " + COMMON
    ),
    "bio_prompt_tiktok": (
        "Write a TikTok bio of at most 80 characters for the persona below: casual and energetic, "
        "saying what kind of videos they post. " + COMMON
    ),
}


def add_prompts(apps, schema_editor):
    SystemConfig = apps.get_model("core", "SystemConfig")
    for key, text in BIO_PROMPTS.items():
        SystemConfig.objects.get_or_create(
            key=key,
            defaults={
                "value": text,
                "type": "string",
                "description": f"Persona bio prompt for {key.removeprefix('bio_prompt_').title()} (seed 004).",
            },
        )


def remove_prompts(apps, schema_editor):
    SystemConfig = apps.get_model("core", "SystemConfig")
    SystemConfig.objects.filter(key__in=BIO_PROMPTS, value__in=BIO_PROMPTS.values()).delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunPython(add_prompts, remove_prompts)]
