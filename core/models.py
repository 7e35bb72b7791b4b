import json

from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from core import crypto
from core.fields import EncryptedTextField


class TimestampedModel(models.Model):
    """`created_at` defaulted by the database; `updated_at` refreshed on save.

    Bulk `update()` calls in services set `updated_at=timezone.now()` themselves.
    """

    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)
    updated_at = models.DateTimeField(db_default=Now(), auto_now=True)

    class Meta:
        abstract = True


class ConfigType(models.TextChoices):
    STRING = "string", "String"
    INT = "int", "Integer"
    FLOAT = "float", "Float"
    BOOL = "bool", "Boolean"
    JSON = "json", "JSON"


class SystemConfig(TimestampedModel):
    """A typed, system-wide setting (seed 003 system_config + seed 004 settings).

    Plain values live in `value`; sensitive ones only in `secret_value`, encrypted.
    Reads and writes go through `core.selectors.config_get` and `core.services.config_set`.
    """

    key = models.CharField(max_length=255)
    value = models.TextField(null=True, blank=True)
    secret_value = EncryptedTextField(null=True, blank=True, editable=False)
    type = models.CharField(max_length=20, choices=ConfigType.choices, default=ConfigType.STRING)
    description = models.TextField(null=True, blank=True)
    is_sensitive = models.BooleanField(default=False)

    class Meta:
        db_table = "system_config"
        verbose_name = "system setting"
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["key"], name="idx_system_config_key"),
            models.CheckConstraint(
                condition=models.Q(type__in=ConfigType.values), name="ck_system_config_type"
            ),
            models.CheckConstraint(
                condition=models.Q(is_sensitive=False) | models.Q(value__isnull=True),
                name="ck_system_config_secret_not_plain",
            ),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def raw_value(self) -> str | None:
        return self.secret_value if self.is_sensitive else self.value

    @property
    def display_value(self) -> str:
        """What an operator may see: sensitive values masked."""
        if self.is_sensitive:
            return crypto.mask(self.secret_value)
        return self.value or ""

    @property
    def typed_value(self):
        return parse_config_value(self.raw_value, self.type)


def parse_config_value(raw: str | None, value_type: str):
    """Turn a stored string into its typed value; raises ValueError when it does not parse."""
    if raw is None:
        return None
    if value_type == ConfigType.INT:
        return int(raw)
    if value_type == ConfigType.FLOAT:
        return float(raw)
    if value_type == ConfigType.BOOL:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"'{raw}' is not a boolean (true/false, yes/no, 1/0, on/off).")
    if value_type == ConfigType.JSON:
        return json.loads(raw)
    return raw


class HostPace(models.Model):
    """When the next request to one host may start, shared by every worker process and machine.

    Written only by `core.pacing` (one atomic upsert per request); `host` is a pacing key such as
    `scraping:example.org` or `platform:mastodon.example:443`. Times are seconds since the epoch
    (a float, so one portable SQL expression can add an interval to them).
    """

    host = models.CharField(max_length=300, primary_key=True)
    next_allowed_at = models.FloatField()
    # The least spacing the host asked for (robots.txt Crawl-delay), for workers that have not
    # read its robots.txt yet.
    min_interval = models.FloatField()

    class Meta:
        db_table = "core_host_pace"
        verbose_name = "host pace"

    def __str__(self) -> str:
        return self.host
