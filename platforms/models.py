from django.conf import settings
from django.db import models

from core import crypto
from core.fields import EncryptedTextField
from core.models import TimestampedModel
from platforms.kinds.registry import PlatformType, kind_of

__all__ = ["PlatformConnection", "PlatformType"]


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
