import io

import factory
from PIL import Image as PILImage

from tests.factories.accounts import UserFactory
from workflows.media_files import media_facts, media_store
from workflows.models import (
    AltTextStatus,
    Draft,
    DraftSource,
    Evaluation,
    MediaAttachment,
    MediaOrigin,
    Platform,
    PlatformState,
    PlatformStatus,
    PublishingJob,
    PublishingStatus,
    Resource,
    ResourceType,
    Workflow,
    WorkflowCheckpoint,
    WorkflowMode,
    WorkflowStatus,
)


class WorkflowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workflow

    user = factory.SubFactory(UserFactory)
    status = WorkflowStatus.RUNNING
    mode = WorkflowMode.MANUAL
    source_content = factory.LazyFunction(lambda: {"text": "We shipped the new release today.", "urls": []})
    manual_options = factory.LazyFunction(lambda: {"tone": "friendly"})


class DraftFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Draft

    workflow = factory.SubFactory(WorkflowFactory)
    platform = Platform.LINKEDIN
    content = factory.Faker("paragraph", nb_sentences=4)
    source = DraftSource.AI


class PlatformStateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlatformState

    workflow = factory.SubFactory(WorkflowFactory)
    platform = Platform.LINKEDIN
    status = PlatformStatus.PENDING


class EvaluationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Evaluation

    draft = factory.SubFactory(DraftFactory)
    score = 82
    feedback = "Add a call to action."
    criteria_scores = factory.LazyFunction(
        lambda: {"platform_appropriateness": 85, "style_consistency": 80, "clarity": 88, "engagement": 75}
    )
    evaluator = "builtin"


class ResourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Resource

    user = factory.SubFactory(UserFactory)
    type = ResourceType.STYLE_SAMPLE
    title = factory.Sequence(lambda n: f"Sample post {n}")
    content = factory.Faker("paragraph", nb_sentences=5)
    metadata = factory.LazyFunction(lambda: {"platform": "linkedin", "tags": ["technical"]})


class PublishingJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PublishingJob

    workflow = factory.SubFactory(WorkflowFactory)
    platform = Platform.LINKEDIN
    draft = factory.SubFactory(
        DraftFactory,
        workflow=factory.SelfAttribute("..workflow"),
        platform=factory.SelfAttribute("..platform"),
    )
    status = PublishingStatus.QUEUED
    idempotency_key = factory.Sequence(lambda n: f"{n:064x}")


class WorkflowCheckpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkflowCheckpoint

    workflow = factory.SubFactory(WorkflowFactory)
    platform = Platform.LINKEDIN
    step = "generate"
    sequence = factory.Sequence(lambda n: n)
    state = factory.LazyFunction(lambda: {"iteration": 0, "drafts": []})
    metadata = factory.LazyFunction(lambda: {"source": "loop"})


class AcceptedPlatformStateFactory(PlatformStateFactory):
    """An accepted platform with an active draft of its own: what a publishing job needs."""

    status = PlatformStatus.ACCEPTED
    active_draft = factory.SubFactory(
        DraftFactory,
        workflow=factory.SelfAttribute("..workflow"),
        platform=factory.SelfAttribute("..platform"),
    )


def png_bytes(width: int = 120, height: int = 90, color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A real PNG of the given size (each colour gives different bytes, so a different file)."""
    output = io.BytesIO()
    PILImage.new("RGB", (width, height), color).save(output, "PNG")
    return output.getvalue()


class MediaAttachmentFactory(factory.django.DjangoModelFactory):
    """An attached PNG, stored, with alt text awaiting review (approve it with `alt_status`)."""

    class Meta:
        model = MediaAttachment

    class Params:
        data = factory.LazyFunction(png_bytes)

    workflow = factory.SubFactory(WorkflowFactory)
    # Next on its workflow's posts (0 first), as media_attach numbers them: a test's "Image 1" is
    # its workflow's first, whatever other tests made before.
    position = factory.LazyAttribute(lambda o: MediaAttachment.objects.filter(workflow=o.workflow).count())
    origin = MediaOrigin.UPLOAD
    media_type = "image/png"
    filename = factory.Sequence(lambda n: f"photo-{n}.png")
    size = factory.LazyAttribute(lambda o: len(o.data))
    width = 120
    height = 90
    storage_key = factory.LazyAttribute(
        lambda o: media_store(data=o.data, facts=media_facts(o.data), owner_id=o.workflow.user_id)
    )
    alt_text = "A red-orange rectangle on a plain background."
    generated_alt_text = factory.LazyAttribute(lambda o: o.alt_text)
    alt_status = AltTextStatus.AWAITING_REVIEW
    alt_score = 72
