import factory

from generation.models import (
    GeneratedImage,
    GeneratedImageArchive,
    GeneratedPersona,
    GenerationTask,
    ImagesPerPersona,
    Prompt,
)
from tests.factories.accounts import UserFactory

# A 1x1 transparent PNG, base64-encoded.
TINY_PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR4nGNgAAIAAAUAAXpeqz8AAAAASUVORK5CYII="
)


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    user = factory.SubFactory(UserFactory)
    prompt_text = factory.Sequence(lambda n: f"a lighthouse at dusk, watercolour, variation {n}")


class GeneratedImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GeneratedImage

    prompt = factory.SubFactory(PromptFactory)
    user = factory.LazyAttribute(lambda o: o.prompt.user if o.prompt else UserFactory())
    media_generation_id = factory.Sequence(lambda n: f"CAMaJGM3YzFl{n:08d}")
    encoded_image = TINY_PNG_BASE64
    seed = factory.Sequence(lambda n: 1000 + n)
    model_name_type = "IMAGEN_3"
    aspect_ratio = "IMAGE_ASPECT_RATIO_SQUARE"


class GeneratedImageArchiveFactory(GeneratedImageFactory):
    class Meta:
        model = GeneratedImageArchive

    id = factory.Sequence(lambda n: 10_000_000 + n)
    media_generation_id = factory.Sequence(lambda n: f"ARCHIVED{n:08d}")


class GenerationTaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GenerationTask

    task_id = factory.Sequence(lambda n: f"{n:08x}")
    user = factory.SubFactory(UserFactory)
    persona_description = "Urban cyclists in their thirties who care about local food."
    bio_language = "English"
    number_to_generate = 10
    images_per_persona = ImagesPerPersona.FOUR


class GeneratedPersonaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GeneratedPersona

    task = factory.SubFactory(GenerationTaskFactory)
    position = factory.Sequence(lambda n: n)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    gender = "female"
    age = 34
    job_title = "Urban planner"
    current_city = "Portland"
    current_state = "Oregon"
    bio_instagram = "Bikes, beans and bridges."
