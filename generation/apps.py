from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Generation"

    def ready(self) -> None:
        from core.media_sources import media_source_choices_register, media_source_register
        from generation.media_sources import (
            generated_image_choices,
            generated_image_fetch,
            persona_image_fetch,
        )

        media_source_register("generated", generated_image_fetch)
        media_source_choices_register("generated", generated_image_choices)
        media_source_register("persona", persona_image_fetch)
