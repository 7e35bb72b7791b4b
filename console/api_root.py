"""`/api/v1/`: where each part of the API is, for a person or a program arriving at the root.

Open to anyone (it names URLs, nothing else; every URL it names asks for its own credentials).
The names are the URL names of each app's `api/urls.py`, so a moved endpoint moves here too and a
removed one fails the tests rather than leaving a dead link.
"""

from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

SECTIONS: dict[str, dict[str, str]] = {
    "auth": {
        "login": "auth-login",
        "me": "auth-me",
        "sessions": "auth-session-list",
        "api_keys": "api-keys:list",
        "notifications": "notifications:list",
    },
    "administration": {
        "audit_logs": "audit-log-list",
        "system_config": "system-config-list",
    },
    "platforms": {
        "connections": "platform-connection-list",
    },
    "captions": {
        "posts": "caption-post-list",
        "images": "caption-image-list",
        "image_captions": "image-caption-list",
        "tasks": "caption-task-list",
        "runs": "caption-run-list",
        "settings": "caption-settings-list",
    },
    "workflows": {
        "workflows": "workflow-list",
        "drafts": "workflow-draft-list",
        "resources": "workflow-resource-list",
        "publishing_jobs": "publishing-job-list",
        "calendar": "workflow-calendar",
        "templates": "workflow-templates",
        "stats": "workflow-stats",
    },
    "scraping": {
        "jobs": "scraping-job-list",
        "artifacts": "scraping-artifact-list",
    },
    "generation": {
        "prompts": "prompt-list",
        "images": "generated-image-list",
        "avatar_tasks": "avatar-task-list",
    },
}


class ApiRootView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Where each part of the API is",
        responses=inline_serializer(
            "ApiRoot",
            {
                "version": serializers.CharField(),
                "documentation": serializers.URLField(),
                "schema": serializers.URLField(),
                "sections": serializers.DictField(child=serializers.DictField(child=serializers.URLField())),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        def url(name: str) -> str:
            return request.build_absolute_uri(reverse(name))

        return Response(
            {
                "version": "v1",
                "documentation": url("api-docs"),
                "schema": url("api-schema"),
                "sections": {
                    section: {key: url(name) for key, name in names.items()}
                    for section, names in SECTIONS.items()
                },
            }
        )
