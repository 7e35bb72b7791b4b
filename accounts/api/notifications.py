"""/api/v1/notifications/: a person's own notifications, their preferences, their webhook and its
delivery log. Every role sees only its own (another person's notification is a 404); API keys
cannot reach these views (no `api_scope`), sessions and tokens can.

    GET    /notifications/?unread=true           the list, newest first (cursor pages)
    GET    /notifications/<id>/
    POST   /notifications/mark-read/             {"ids": [..]} or {} for all unread -> {"marked": n}
    GET    /notifications/preferences/           {event: {channel: bool}}
    PUT    /notifications/preferences/           some or all of the grid -> the whole grid
    GET    /notifications/webhook/               the webhook (secret masked), 404 without one
    POST   /notifications/webhook/               {"url"} -> 201 with the secret, shown this once
    PATCH  /notifications/webhook/               {"url"?, "is_active"?}
    DELETE /notifications/webhook/
    POST   /notifications/webhook/rotate-secret/ -> {"secret"}, shown this once
    POST   /notifications/webhook/test/          -> {"delivered", "detail"}
    GET    /notifications/deliveries/?channel=webhook   the delivery log (cursor pages)
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Notification, NotificationChannel, NotificationDelivery, NotificationWebhook
from accounts.permissions import ApiKeyScopes
from accounts.request_meta import request_meta
from accounts.selectors import notification_deliveries_of, notification_webhook_of, notifications_of
from accounts.services.notification_webhooks import (
    notification_webhook_delete,
    notification_webhook_rotate_secret,
    notification_webhook_save,
    notification_webhook_set_active,
    notification_webhook_test,
    secret_masked,
)
from accounts.services.notifications import (
    notification_preferences_grid,
    notification_preferences_set,
    notifications_mark_read,
)
from core.api.fields import MAX_ID

SELF_SERVICE = [IsAuthenticated, ApiKeyScopes]


def _drf_error(exc: DjangoValidationError) -> DrfValidationError:
    return DrfValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "event", "key", "title", "body", "url", "data", "created_at", "read_at"]
        read_only_fields = fields


class NotificationFilter(filters.FilterSet):
    unread = filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_unread",
        help_text="Unread only, or read only.",
    )

    class Meta:
        model = Notification
        fields = ["event"]

    def filter_unread(self, queryset, name, value):
        return queryset.filter(read_at__isnull=value == "true")


@extend_schema_view(
    list=extend_schema(summary="Your notifications, newest first"),
    retrieve=extend_schema(summary="One of your notifications"),
)
class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = NotificationSerializer
    permission_classes = SELF_SERVICE
    filterset_class = NotificationFilter
    ordering_fields = ["created_at"]
    queryset = Notification.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        return notifications_of(user=self.request.user)


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=1000,
        help_text="The notifications to mark read; left out: all your unread ones.",
    )


class MarkReadView(APIView):
    permission_classes = SELF_SERVICE

    @extend_schema(
        request=MarkReadSerializer,
        responses={200: inline_serializer("MarkedRead", {"marked": serializers.IntegerField()})},
        summary="Mark some or all of your notifications read",
    )
    def post(self, request):
        serializer = MarkReadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        marked = notifications_mark_read(user=request.user, ids=serializer.validated_data.get("ids"))
        return Response({"marked": marked})


PREFERENCES_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "object", "additionalProperties": {"type": "boolean"}},
    "description": "{event: {channel: enabled}}; channels: " + ", ".join(NotificationChannel.values),
}


class PreferencesView(APIView):
    permission_classes = SELF_SERVICE

    @extend_schema(responses={200: PREFERENCES_SCHEMA}, summary="Which events reach you on which channel")
    def get(self, request):
        return Response(notification_preferences_grid(user=request.user))

    @extend_schema(
        request={"application/json": PREFERENCES_SCHEMA},
        responses={200: PREFERENCES_SCHEMA},
        summary="Change some of your choices; the answer is the whole grid",
    )
    def put(self, request):
        try:
            grid = notification_preferences_set(user=request.user, choices=request.data)
        except DjangoValidationError as exc:
            raise _drf_error(exc) from None
        return Response(grid)


class WebhookSerializer(serializers.ModelSerializer):
    secret = serializers.SerializerMethodField(help_text="Masked: the secret is shown only when it is made.")

    class Meta:
        model = NotificationWebhook
        fields = [
            "url",
            "secret",
            "is_active",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_secret(self, webhook) -> str:
        return secret_masked(webhook)


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret: shown this once, never again."
    )


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.CharField(
        max_length=500, help_text="http(s); not a loopback, private or metadata address."
    )


class WebhookWriteSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, required=False)
    is_active = serializers.BooleanField(required=False)


class WebhookView(APIView):
    permission_classes = SELF_SERVICE

    def _webhook(self, request) -> NotificationWebhook:
        webhook = notification_webhook_of(user=request.user)
        if webhook is None:
            raise NotFound("You have no notification webhook.")
        return webhook

    @extend_schema(responses={200: WebhookSerializer}, summary="Your notification webhook (secret masked)")
    def get(self, request):
        return Response(WebhookSerializer(self._webhook(request)).data)

    @extend_schema(
        request=WebhookCreateSerializer,
        responses={201: WebhookCreatedSerializer},
        summary="Set up your notification webhook; the answer shows its secret once",
    )
    def post(self, request):
        serializer = WebhookCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if notification_webhook_of(user=request.user) is not None:
            raise DrfValidationError({"url": "You have a webhook already: change its URL with PATCH."})
        try:
            webhook, secret = notification_webhook_save(
                user=request.user, url=serializer.validated_data["url"], meta=request_meta(request)
            )
        except DjangoValidationError as exc:
            raise _drf_error(exc) from None
        data = WebhookSerializer(webhook).data
        data["secret"] = secret
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=WebhookWriteSerializer,
        responses={200: WebhookSerializer},
        summary="Change the URL (which enables it again), or enable or disable it",
    )
    def patch(self, request):
        webhook = self._webhook(request)
        serializer = WebhookWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, meta = serializer.validated_data, request_meta(request)
        if not data:
            raise DrfValidationError({"detail": "Give url or is_active."})
        try:
            if "url" in data:
                webhook, _ = notification_webhook_save(user=request.user, url=data["url"], meta=meta)
        except DjangoValidationError as exc:
            raise _drf_error(exc) from None
        if "is_active" in data and data["is_active"] != webhook.is_active:
            webhook = notification_webhook_set_active(
                webhook=webhook, active=data["is_active"], actor=request.user, meta=meta
            )
        return Response(WebhookSerializer(webhook).data)

    @extend_schema(responses={204: None}, summary="Remove your notification webhook")
    def delete(self, request):
        notification_webhook_delete(
            webhook=self._webhook(request), actor=request.user, meta=request_meta(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretView(WebhookView):
    http_method_names = ["post", "options"]

    @extend_schema(
        request=None,
        responses={200: inline_serializer("WebhookSecret", {"secret": serializers.CharField()})},
        summary="Make a new signing secret; the answer shows it once",
    )
    def post(self, request):
        secret = notification_webhook_rotate_secret(
            webhook=self._webhook(request), actor=request.user, meta=request_meta(request)
        )
        return Response({"secret": secret})


class WebhookTestView(WebhookView):
    http_method_names = ["post", "options"]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "WebhookTest", {"delivered": serializers.BooleanField(), "detail": serializers.CharField()}
            )
        },
        summary="Send a signed test event to your webhook now",
    )
    def post(self, request):
        delivered, detail = notification_webhook_test(webhook=self._webhook(request))
        return Response({"delivered": delivered, "detail": detail})


class DeliverySerializer(serializers.ModelSerializer):
    notification = NotificationSerializer(read_only=True)

    class Meta:
        model = NotificationDelivery
        fields = [
            "id",
            "notification",
            "channel",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "last_duration_ms",
            "last_attempt_at",
            "next_attempt_at",
            "sent_at",
            "created_at",
        ]
        read_only_fields = fields


class DeliveryFilter(filters.FilterSet):
    class Meta:
        model = NotificationDelivery
        fields = ["channel", "status"]


@extend_schema_view(list=extend_schema(summary="The delivery log of your notifications (email, webhook)"))
class DeliveryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = DeliverySerializer
    permission_classes = SELF_SERVICE
    filterset_class = DeliveryFilter
    ordering_fields = ["created_at"]
    queryset = NotificationDelivery.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return NotificationDelivery.objects.none()
        return notification_deliveries_of(user=self.request.user)
