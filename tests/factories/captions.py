import factory

from captions.models import (
    CaptionGenerationTask,
    CaptionGenerationUserSettings,
    Image,
    ImageCaption,
    ImageCaptionType,
    ImageStatus,
    Post,
    ProcessingRun,
    TaskStatus,
)
from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory


class PostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Post

    platform_connection = factory.SubFactory(PlatformConnectionFactory)
    post_id = factory.Sequence(lambda n: f"1100{n:08d}")
    platform_user_id = factory.Sequence(lambda n: f"1090{n:06d}")
    post_url = factory.LazyAttribute(lambda o: f"https://social.example.test/@author/{o.post_id}")
    post_content = "<p>A walk by the river.</p>"


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Image

    post = factory.SubFactory(PostFactory)
    platform_connection = factory.SelfAttribute("post.platform_connection")
    attachment_index = 0
    image_post_id = factory.Sequence(lambda n: f"2200{n:08d}")
    image_url = factory.Sequence(lambda n: f"https://files.example.test/media/{n:08d}.jpg")
    local_path = factory.Sequence(lambda n: f"captions/images/{n:08d}.jpg")
    media_type = "image/jpeg"
    generated_caption = "A heron standing in shallow water at dusk."
    status = ImageStatus.PENDING


class CaptionGenerationTaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaptionGenerationTask

    platform_connection = factory.SubFactory(PlatformConnectionFactory)
    user = factory.SelfAttribute("platform_connection.user")
    status = TaskStatus.QUEUED
    settings_json = factory.LazyFunction(lambda: {"max_posts_per_run": 50})


class ProcessingRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProcessingRun

    platform_connection = factory.SubFactory(PlatformConnectionFactory)
    user = factory.SelfAttribute("platform_connection.user")
    batch_id = factory.Sequence(lambda n: f"batch-{n:06d}")


class CaptionGenerationUserSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaptionGenerationUserSettings

    platform_connection = factory.SubFactory(PlatformConnectionFactory)
    user = factory.SelfAttribute("platform_connection.user")


class ImageCaptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImageCaption

    user = factory.SubFactory(UserFactory)
    image_path = factory.Sequence(lambda n: f"generation/uploads/{n:06d}.png")
    image_type = ImageCaptionType.PNG
    caption_text = "A red bicycle leaning against a brick wall."
    media_generation_id = factory.Sequence(lambda n: f"CAMSJDBi{n:010d}")
