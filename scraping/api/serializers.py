"""Serializers of the scraping API. Inputs are shape-checked here (so the OpenAPI schema says what to
send) and go straight to a service, which owns the rules (scraping.services, scraping.job_options);
outputs are read-only views of the rows."""

import json

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import at_least_one
from scraping.models import (
    Artifact,
    ContentExtraction,
    JobType,
    MetadataTag,
    ScrapingJob,
    ScrapingJobItem,
)

MAX_KEYWORDS = 20
MAX_KEYWORD_CHARS = 100
MAX_TITLE_CHARS = 255
MAX_DESCRIPTION_CHARS = 10_000
MAX_ARTIFACT_TITLE_CHARS = 500
MAX_TAGS_PER_REQUEST = 50
MAX_TAG_CHARS = 50
EXCERPT_CHARS = 280


# --- inputs ------------------------------------------------------------------------------------


class JobCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=MAX_TITLE_CHARS)
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_CHARS, required=False, allow_blank=True, allow_null=True
    )
    job_type = serializers.ChoiceField(choices=JobType.choices)
    keywords = serializers.ListField(
        child=serializers.CharField(max_length=MAX_KEYWORD_CHARS),
        max_length=MAX_KEYWORDS,
        required=False,
        help_text="1-20 search terms; required for web_page and paper jobs, optional for the others.",
    )
    configuration = serializers.DictField(
        required=False,
        help_text=(
            "Settings of the job (JSON values): max_items, allowed_domains, crawl_depth, date_from, "
            "date_to, languages, follow_robots, and per type urls, sitemap_urls, feed_urls, domains, "
            "paper_sources. Unknown keys are a 400."
        ),
    )


class ArtifactUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=MAX_ARTIFACT_TITLE_CHARS, required=False, allow_blank=True)
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_CHARS, required=False, allow_blank=True, trim_whitespace=False
    )
    is_public = serializers.BooleanField(required=False)


class TagsSerializer(serializers.Serializer):
    tags = serializers.ListField(
        child=serializers.CharField(max_length=MAX_TAG_CHARS),
        min_length=1,
        max_length=MAX_TAGS_PER_REQUEST,
        error_messages=at_least_one("tag"),
        help_text="Compared case-insensitively (stored in lower case, inner spaces collapsed).",
    )


# --- outputs -----------------------------------------------------------------------------------


class JobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScrapingJob
        fields = [
            "id",
            "title",
            "description",
            "job_type",
            "keywords",
            "expanded_keywords",
            "status",
            "progress",
            "total_items",
            "processed_items",
            "skipped_items",
            "failed_items",
            "error_message",
            "cancel_requested",
            "attempts",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields


def _config_value(text: str | None):
    """Stored values are JSON text; an operator's hand-typed row may not be, and is shown as is."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class JobDetailSerializer(JobSerializer):
    configuration = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "configuration"]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "additionalProperties": {}})
    def get_configuration(self, job: ScrapingJob) -> dict:
        return {row.config_key: _config_value(row.config_value) for row in job.configurations.all()}


class JobItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScrapingJobItem
        fields = [
            "id",
            "url",
            "source",
            "depth",
            "keyword",
            "status",
            "artifact",
            "http_status",
            "error_message",
            "attempts",
            "metadata",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class MetadataTagSerializer(serializers.ModelSerializer):
    class Meta:
        model = MetadataTag
        fields = ["tag_type", "tag_key", "tag_value"]
        read_only_fields = fields


class ContentExtractionSerializer(serializers.ModelSerializer):
    confidence_score = serializers.FloatField(allow_null=True, read_only=True)

    class Meta:
        model = ContentExtraction
        fields = ["id", "extraction_type", "extracted_data", "confidence_score", "created_at"]
        read_only_fields = fields


class ArtifactSerializer(serializers.ModelSerializer):
    """An artifact without its text (lists)."""

    search_rank = serializers.SerializerMethodField(
        help_text="Full-text relevance (ts_rank) when `q` was given on PostgreSQL; else null. Not the order."
    )

    class Meta:
        model = Artifact
        fields = [
            "id",
            "job",
            "artifact_type",
            "source_url",
            "title",
            "description",
            "content_hash",
            "file_size",
            "mime_type",
            "keywords",
            "tags",
            "is_public",
            "search_rank",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_search_rank(self, artifact: Artifact) -> float | None:
        return getattr(artifact, "search_rank", None)


class ArtifactDetailSerializer(ArtifactSerializer):
    metadata_tags = MetadataTagSerializer(many=True, read_only=True)
    content_extractions = ContentExtractionSerializer(many=True, read_only=True)

    class Meta(ArtifactSerializer.Meta):
        fields = [
            *(name for name in ArtifactSerializer.Meta.fields if name != "search_rank"),
            "content_text",
            "metadata_tags",
            "content_extractions",
        ]
        read_only_fields = fields
