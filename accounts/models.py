from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from accounts.time_zones import time_zone_validate
from core.fields import EncryptedTextField
from core.models import TimestampedModel


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MODERATOR = "moderator", "Moderator"
    REVIEWER = "reviewer", "Reviewer"
    USER = "user", "User"
    VIEWER = "viewer", "Viewer"


class AccountManager(UserManager):
    def get_by_natural_key(self, username):
        return self.get(**{self.model.USERNAME_FIELD: username})


class AltTextGate(models.TextChoices):
    """What an image's alt text needs before a draft carrying it may be published."""

    APPROVED = "approved", "Approved by a person"
    NON_EMPTY = "non_empty", "Not empty"


class User(AbstractUser):
    """One account across the five original applications (see docs/schema.md)."""

    first_name = None
    last_name = None
    date_joined = None

    email = models.EmailField(max_length=255)
    full_name = models.CharField(max_length=255, blank=True, default="")
    avatar_url = models.URLField(max_length=2048, blank=True, default="")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.USER)
    is_verified = models.BooleanField(default=False)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        validators=[time_zone_validate],
        help_text="IANA name, e.g. Europe/Berlin; blank: the site's time zone. Times are shown in it.",
    )
    alt_text_gate = models.CharField(
        max_length=20,
        choices=AltTextGate.choices,
        default=AltTextGate.APPROVED,
        help_text="What each image's alt text needs before the owner's drafts are published.",
    )
    ai_builtin_only = models.BooleanField(
        default=False,
        help_text="Every AI call for this person's work runs on the builtin backends: "
        "nothing leaves the machine.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)
    updated_at = models.DateTimeField(db_default=Now(), auto_now=True)

    objects = AccountManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        db_table = "users"
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(fields=["email"], name="ix_users_email"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="ck_users_role"),
            models.CheckConstraint(
                condition=models.Q(alt_text_gate__in=AltTextGate.values), name="ck_users_alt_text_gate"
            ),
        ]
        indexes = [
            models.Index(fields=["role"], name="idx_users_role"),
            models.Index(fields=["is_active"], name="idx_users_active"),
        ]

    def __str__(self) -> str:
        return self.username

    def clean(self):
        super().clean()
        self.email = (self.email or "").strip().lower()

    def get_full_name(self) -> str:
        return self.full_name or self.username

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.username


class SessionKind(models.TextChoices):
    API = "api", "API token"
    BROWSER = "browser", "Browser"


class UserSession(TimestampedModel):
    """One login, from a browser or as an API bearer token.

    The token (or the browser's session key) is stored only as a SHA-256 hash.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sessions", db_index=False
    )
    kind = models.CharField(max_length=10, choices=SessionKind.choices, default=SessionKind.API)
    token_hash = models.CharField(max_length=64)
    active_platform = models.ForeignKey(
        "platforms.PlatformConnection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    last_activity = models.DateTimeField(default=timezone.now, db_default=Now())
    expires_at = models.DateTimeField()
    is_active = models.BooleanField(default=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    session_fingerprint = models.TextField(
        null=True, blank=True, help_text="The client it was created from: User-Agent family and network."
    )
    last_fingerprint = models.TextField(
        null=True, blank=True, help_text="The latest other client it was used from (see the audit log)."
    )
    fingerprint_mismatch_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was last used from a client other than its own."
    )
    user_agent = models.TextField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        db_table = "user_sessions"
        ordering = ["-last_activity"]
        constraints = [
            models.UniqueConstraint(fields=["token_hash"], name="unique_active_session"),
            models.CheckConstraint(
                condition=models.Q(kind__in=SessionKind.values), name="ck_user_sessions_kind"
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_user_sessions_user_id"),
            models.Index(fields=["last_activity", "is_active"], name="idx_user_sessions_last_activ"),
            models.Index(fields=["expires_at", "is_active"], name="idx_user_sessions_expires_at"),
            models.Index(fields=["user", "is_active", "last_activity"], name="idx_user_sessions_user_active"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} session of {self.user_id}"


class ApiKey(TimestampedModel):
    """A long-lived key for integrations; only its hash and a short prefix are stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys", db_index=False
    )
    key_name = models.CharField(max_length=100)
    key_prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64)
    permissions = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "api_keys"
        verbose_name = "API key"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["key_hash"], name="idx_api_keys_hash"),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_api_keys_user_id"),
            models.Index(fields=["is_active"], name="idx_api_keys_active"),
        ]

    def __str__(self) -> str:
        return f"{self.key_name} ({self.key_prefix}…)"


class ApiRateLimit(models.Model):
    """A fixed-window request counter for one caller (user, key or IP) and endpoint scope."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rate_limits",
        db_index=False,
    )
    bucket = models.CharField(max_length=200)
    endpoint = models.CharField(max_length=100)
    request_count = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "api_rate_limits"
        verbose_name = "API rate-limit window"
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "endpoint", "window_start"], name="uq_api_rate_limits_window"
            ),
            models.CheckConstraint(condition=models.Q(request_count__gte=0), name="ck_api_rate_limits_count"),
        ]
        indexes = [
            models.Index(fields=["user", "endpoint"], name="idx_api_rate_limits_user_endp"),
            models.Index(fields=["window_start"], name="idx_api_rate_limits_window"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket} {self.endpoint} @ {self.window_start:%Y-%m-%d %H:%M}"


class AuditLog(models.Model):
    """An append-only record of a security-relevant or state-changing action."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_logs",
        db_index=False,
    )
    action = models.CharField(max_length=100)
    resource_type = models.CharField(max_length=50, null=True, blank=True)
    resource_id = models.CharField(max_length=64, null=True, blank=True)
    details = models.JSONField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "audit_logs"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user"], name="idx_audit_logs_user_id"),
            models.Index(fields=["action"], name="idx_audit_logs_action"),
            models.Index(fields=["created_at"], name="idx_audit_logs_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.user_id or 'system'}"


class NotificationEvent(models.TextChoices):
    CAPTIONS_AWAITING_REVIEW = "captions_awaiting_review", "Captions await review"
    DRAFTS_AWAITING_REVIEW = "drafts_awaiting_review", "Drafts await review"
    PUBLISH_FAILED = "publish_failed", "A publish failed"
    PUBLISHED = "published", "A scheduled post went out"
    JOB_FINISHED = "job_finished", "A job finished"
    JOB_FAILED = "job_failed", "A job failed"
    CONNECTION_BROKE = "connection_broke", "A connection broke"
    WEBHOOK_DISABLED = "webhook_disabled", "My notification webhook was disabled"


class Notification(models.Model):
    """Something a person should know (not a seed table). The row is the in-admin channel; the
    other channels deliver from it. `key` names the occurrence (the failed job's id, the hour of a
    digest): one row per (user, event, key), so a task that runs twice raises it once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    event = models.CharField(max_length=40, choices=NotificationEvent.choices)
    key = models.CharField(max_length=200)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    url = models.CharField(max_length=500, blank=True, default="", help_text="Where to act on it (a path).")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)
    read_at = models.DateTimeField(null=True, blank=True)
    in_admin = models.BooleanField(
        default=True, help_text="Listed in the admin (the person's preferences may turn that channel off)."
    )

    class Meta:
        db_table = "notifications"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "event", "key"], name="uq_notification_once"),
            models.CheckConstraint(
                condition=models.Q(event__in=NotificationEvent.values), name="ck_notifications_event"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "read_at", "created_at"], name="ix_notifications_user_unread"),
            models.Index(fields=["created_at"], name="ix_notifications_created_at"),
        ]

    def __str__(self) -> str:
        return self.title


class NotificationChannel(models.TextChoices):
    ADMIN = "admin", "In the admin"
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class NotificationPreference(models.Model):
    """A person's choice for one event on one channel; without a row the default applies
    (accounts.services.notifications.channel_default)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preferences",
        db_index=False,
    )
    event = models.CharField(max_length=40, choices=NotificationEvent.choices)
    channel = models.CharField(max_length=20, choices=NotificationChannel.choices)
    enabled = models.BooleanField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "notification_preferences"
        constraints = [
            models.UniqueConstraint(fields=["user", "event", "channel"], name="uq_notification_preference"),
            models.CheckConstraint(
                condition=models.Q(channel__in=NotificationChannel.values),
                name="ck_notification_pref_channel",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} by {self.channel}: {'on' if self.enabled else 'off'}"


class NotificationWebhook(TimestampedModel):
    """A person's outgoing webhook: every notification their preferences send there is POSTed,
    signed with `secret` (shown once, on creation; only `secret_hint` is shown after)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_webhook"
    )
    url = models.URLField(max_length=500)
    secret = EncryptedTextField()
    secret_hint = models.CharField(max_length=12, help_text="The secret's last characters, to recognise it.")
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        db_table = "notification_webhooks"

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class NotificationDelivery(models.Model):
    """One notification on one channel (email, webhook): claimed by a conditional update before it is
    sent, so a task that runs twice sends it once; the rows are the owner's delivery log."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    channel = models.CharField(max_length=20, choices=NotificationChannel.choices)
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    last_status_code = models.PositiveIntegerField(
        null=True, blank=True, help_text="HTTP status of the last try."
    )
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "notification_deliveries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["notification", "channel"], name="uq_notification_delivery"),
            models.CheckConstraint(
                condition=models.Q(channel__in=[NotificationChannel.EMAIL, NotificationChannel.WEBHOOK]),
                name="ck_notification_delivery_channel",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=DeliveryStatus.values), name="ck_notification_delivery_status"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="ix_notif_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.notification_id} by {self.channel}: {self.status}"
