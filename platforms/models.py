from django.conf import settings
from django.db import models
from django.utils import timezone

from core import crypto
from core.fields import EncryptedTextField
from core.models import TimestampedModel
from platforms.kinds.registry import PlatformType, kind_of

__all__ = [
    "ConnectionHealth",
    "OAuth2SignIn",
    "OAuthApplication",
    "OAuthSignIn",
    "PlatformConnection",
    "PlatformType",
]


class ConnectionHealth(models.TextChoices):
    """What the last check of a connection found (`platforms.health`)."""

    OK = "ok", "OK"
    EXPIRED = "expired", "Expired"  # the network refused the token (401): reconnect
    REVOKED = "revoked", "Revoked"  # the network says the grant is gone (OAuth invalid_grant): reconnect
    UNREACHABLE = "unreachable", "Unreachable"  # timeouts, 5xx, 429: the network could not say
    UNKNOWN = "unknown", "Not checked yet"


#: States in which work on the connection stops until the owner reconnects.
BROKEN_HEALTH = frozenset({ConnectionHealth.EXPIRED, ConnectionHealth.REVOKED})


class PlatformConnection(TimestampedModel):
    """A user's credentials for one outside service, encrypted at rest.

    Holds the fediverse instances of seed 000, the publishing targets of seed 001,
    and the ImageFX cookie that seed 002 kept on its users table (in `access_token`).
    Non-secret per-platform settings (LinkedIn author URN, WordPress user, the
    instance's description limit, a Bluesky account's DID, handle and PDS) live in `extra`.
    Networks that sign in with a password (Bluesky) keep the session instead: `access_token`,
    `refresh_token` and `token_expires_at`; the password itself is never stored.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="platform_connections",
        db_index=False,
    )
    name = models.CharField(max_length=100)
    platform_type = models.CharField(max_length=50, choices=PlatformType.choices)
    instance_url = models.URLField(max_length=500)
    username = models.CharField(max_length=200, null=True, blank=True)
    access_token = EncryptedTextField()
    client_key = EncryptedTextField(null=True, blank=True)
    client_secret = EncryptedTextField(null=True, blank=True)
    #: A session's refresh token (Bluesky's refreshJwt), for networks whose access tokens expire.
    refresh_token = EncryptedTextField(null=True, blank=True)
    #: When `access_token` expires, where the network says (None: it does not, or unknown).
    token_expires_at = models.DateTimeField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    last_used = models.DateTimeField(null=True, blank=True)
    #: What the last check found, why, and when (`platforms.health.connection_health_set`).
    health = models.CharField(
        max_length=20, choices=ConnectionHealth.choices, default=ConnectionHealth.UNKNOWN
    )
    health_reason = models.TextField(blank=True, default="")
    health_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "platform_connections"
        ordering = ["user_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="uq_user_platform_name"),
            models.UniqueConstraint(
                fields=["user", "instance_url", "username"], name="uq_user_instance_username"
            ),
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(is_default=True), name="uq_user_default_platform"
            ),
            models.CheckConstraint(
                condition=models.Q(platform_type__in=PlatformType.values), name="ck_platform_type"
            ),
            models.CheckConstraint(
                condition=models.Q(health__in=ConnectionHealth.values), name="ck_platform_health"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "is_active"], name="ix_platform_user_active"),
            models.Index(fields=["platform_type", "is_active"], name="ix_platform_type_active"),
            models.Index(fields=["instance_url", "platform_type"], name="ix_platform_instance_type"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_type_display()})"

    def audit_context(self) -> dict:
        """What every audit row about a connection says besides its own details (accounts.services.audit)."""
        return {"name": self.name, "platform_type": self.platform_type}

    @property
    def is_broken(self) -> bool:
        """Work on this connection stops until the owner reconnects (expired or revoked)."""
        return self.health in BROKEN_HEALTH

    @property
    def access_token_hint(self) -> str:
        return crypto.mask(self.access_token)

    @property
    def kind(self):
        """This connection's network (`platforms.kinds.base.Kind`)."""
        return kind_of(self.platform_type)

    @property
    def uses_mastodon_api(self) -> bool:
        return self.platform_type in PlatformType.values and self.kind.speaks_mastodon_api

    @property
    def has_caption_scan(self) -> bool:
        """The caption scan reads this connection's posts (Mastodon-compatible kinds, Bluesky)."""
        return self.platform_type in PlatformType.values and self.kind.caption_scan

    @property
    def describes_media(self) -> bool:
        """An approved caption can be written on the existing post (not on Bluesky)."""
        return self.platform_type in PlatformType.values and self.kind.describes_media


class OAuth2SignIn(models.Model):
    """One OAuth 2.0 authorisation attempt (X, LinkedIn): started by `platforms.oauth2.oauth2_start`,
    used once by the callback, expired after OAUTH2_SIGN_IN_MINUTES. The state is kept as a hash
    (it travels in URLs); the PKCE verifier encrypted (it proves the code is ours)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth2_sign_ins", db_index=False
    )
    platform_type = models.CharField(max_length=50, choices=PlatformType.choices)
    state_hash = models.CharField(max_length=64, unique=True)
    code_verifier = EncryptedTextField()
    redirect_uri = models.URLField(max_length=500)
    #: The connection to reconnect (None: a new connection).
    connection = models.ForeignKey(
        PlatformConnection, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "platform_oauth2_sign_ins"
        indexes = [models.Index(fields=["user", "created_at"], name="ix_oauth2_signin_user")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(platform_type__in=["x", "linkedin"]), name="ck_oauth2_signin_platform"
            ),
        ]

    def __str__(self) -> str:
        return f"OAuth 2.0 sign-in to {self.platform_type} for user {self.user_id}"


class OAuthApplication(models.Model):
    """The project's application registered on one fediverse instance (POST /api/v1/apps), once
    per instance, redirect URI and scopes, and reused by everyone who signs in there. Its client
    id and secret are encrypted at rest like every credential."""

    platform_type = models.CharField(max_length=50, choices=PlatformType.choices)
    instance_url = models.URLField(max_length=500)
    redirect_uri = models.URLField(max_length=500)
    #: Space-separated, as registered and as asked at the authorize URL.
    scopes = models.CharField(max_length=500)
    client_id = EncryptedTextField()
    client_secret = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    audit_resource_type = "oauth_application"

    class Meta:
        db_table = "platform_oauth_applications"
        ordering = ["instance_url", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance_url", "redirect_uri", "scopes"],
                name="uq_oauth_app_instance_redirect_scopes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instance_url} ({self.scopes})"


class OAuthSignIn(models.Model):
    """One person's sign-in attempt, from the authorize URL to the callback. Only the SHA-256 of
    its `state` is kept (the browser carries the state itself), and the PKCE verifier encrypted;
    `used_at` is set once, by a conditional update, so a callback replayed is refused."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_sign_ins", db_index=False
    )
    platform_type = models.CharField(max_length=50, choices=PlatformType.choices)
    instance_url = models.URLField(max_length=500)
    application = models.ForeignKey(OAuthApplication, on_delete=models.CASCADE, related_name="sign_ins")
    state_hash = models.CharField(max_length=64, unique=True)
    #: Empty when the instance does not announce PKCE (S256).
    code_verifier = EncryptedTextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    audit_resource_type = "oauth_sign_in"

    class Meta:
        db_table = "platform_oauth_sign_ins"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"], name="ix_oauth_sign_in_user_created")]

    def __str__(self) -> str:
        return f"Sign-in to {self.instance_url}"
