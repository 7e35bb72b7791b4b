import hashlib

import factory

from scraping.models import (
    Artifact,
    ArtifactType,
    ContentExtraction,
    ItemStatus,
    JobConfiguration,
    JobType,
    MetadataTag,
    ScrapingJob,
    ScrapingJobItem,
)
from tests.factories.accounts import UserFactory


class ScrapingJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScrapingJob

    user = factory.SubFactory(UserFactory)
    job_type = JobType.WEB_PAGE
    keywords = factory.LazyFunction(lambda: ["renewable energy", "policy"])
    title = factory.Sequence(lambda n: f"Scraping job {n}")


class JobConfigurationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobConfiguration

    job = factory.SubFactory(ScrapingJobFactory)
    config_key = factory.Sequence(lambda n: f"option_{n}")
    config_value = "10"


class ArtifactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Artifact

    job = factory.SubFactory(ScrapingJobFactory)
    user = factory.LazyAttribute(lambda o: o.job.user if o.job else UserFactory())
    artifact_type = ArtifactType.WEB_PAGE
    source_url = factory.Sequence(lambda n: f"https://news{n}.example.test/article")
    title = factory.Sequence(lambda n: f"Article {n}")
    content_text = factory.Sequence(lambda n: f"Extracted text of article {n}.")
    content_hash = factory.LazyAttribute(
        lambda o: hashlib.sha256((o.content_text or "").encode()).hexdigest()
    )
    file_size = factory.LazyAttribute(lambda o: len((o.content_text or "").encode()))
    mime_type = "text/plain"
    minio_path = factory.LazyAttribute(
        lambda o: (
            f"artifacts/{o.job.pk}/{o.content_hash}.txt"
            if o.job
            else f"users/{o.user.pk if o.user else 0}/{o.content_hash}"
        )
    )
    keywords = factory.LazyFunction(lambda: ["energy"])
    tags = factory.LazyFunction(list)


class MetadataTagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MetadataTag

    artifact = factory.SubFactory(ArtifactFactory)
    tag_type = "metadata"
    tag_key = "author"
    tag_value = factory.Faker("name")


class ContentExtractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContentExtraction

    artifact = factory.SubFactory(ArtifactFactory)
    extraction_type = "content_analysis"
    extracted_data = factory.LazyFunction(lambda: {"language": "en", "topics": ["energy"], "quality": 7})
    confidence_score = "0.80"


class ScrapingJobItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScrapingJobItem

    job = factory.SubFactory(ScrapingJobFactory)
    url = factory.Sequence(lambda n: f"https://example.org/page-{n}")
    url_hash = factory.LazyAttribute(lambda item: hashlib.sha256(item.url.encode()).hexdigest())
    source = "url_list"
    status = ItemStatus.PENDING
