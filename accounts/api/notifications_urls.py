from django.urls import path

from accounts.api.notifications import (
    DeliveryViewSet,
    MarkReadView,
    NotificationViewSet,
    PreferencesView,
    WebhookRotateSecretView,
    WebhookTestView,
    WebhookView,
)

app_name = "notifications"

urlpatterns = [
    path("", NotificationViewSet.as_view({"get": "list"}), name="list"),
    path("<int:pk>/", NotificationViewSet.as_view({"get": "retrieve"}), name="detail"),
    path("mark-read/", MarkReadView.as_view(), name="mark-read"),
    path("preferences/", PreferencesView.as_view(), name="preferences"),
    path("webhook/", WebhookView.as_view(), name="webhook"),
    path("webhook/rotate-secret/", WebhookRotateSecretView.as_view(), name="webhook-rotate-secret"),
    path("webhook/test/", WebhookTestView.as_view(), name="webhook-test"),
    path("deliveries/", DeliveryViewSet.as_view({"get": "list"}), name="deliveries"),
]
