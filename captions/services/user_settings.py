"""A user's caption settings for one connection: created or changed in one place, validated here.

The database has check constraints for the same ranges (captions.models), but a constraint only
says "no": this service says which field is wrong and why, for the API, the admin and commands
alike, and never lets a bad row reach the database. Settings always belong to the connection's
owner (a moderator changing them changes the owner's settings), one row per user and connection.
"""

import math
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from captions.errors import SettingsConflict
from captions.models import CaptionGenerationUserSettings
from platforms.models import PlatformConnection

__all__ = [
    "DELAY_RANGE",
    "LANGUAGE_MAX_CHARS",
    "LANGUAGE_PATTERN",
    "LENGTH_RANGE",
    "MAX_POSTS_RANGE",
    "SETTINGS_FIELDS",
    "caption_settings_upsert",
    "caption_settings_validate",
]

MAX_POSTS_RANGE = (1, 500)
LENGTH_RANGE = (1, 1500)
DELAY_RANGE = (0.0, 60.0)
LANGUAGE_MAX_CHARS = 16
# A BCP 47 tag's usual shape: a 2-3 letter language, then subtags ("en", "pt-BR", "zh-Hant-TW").
LANGUAGE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")

SETTINGS_FIELDS = (
    "max_posts_per_run",
    "max_caption_length",
    "optimal_min_length",
    "optimal_max_length",
    "reprocess_existing",
    "include_replies",
    "processing_delay",
    "language",
)
INTEGER_RANGES = {
    "max_posts_per_run": MAX_POSTS_RANGE,
    "max_caption_length": LENGTH_RANGE,
    "optimal_min_length": LENGTH_RANGE,
    "optimal_max_length": LENGTH_RANGE,
}


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def caption_settings_validate(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check a complete set of settings; return it cleaned, or raise ValidationError naming
    every wrong field. `values` must hold every name of SETTINGS_FIELDS."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for field, (low, high) in INTEGER_RANGES.items():
        number = _integer(values[field])
        if number is None:
            errors[field] = "Enter a whole number."
        elif not low <= number <= high:
            errors[field] = f"Must be between {low} and {high}."
        else:
            cleaned[field] = number
    low, high = cleaned.get("optimal_min_length"), cleaned.get("optimal_max_length")
    if low is not None and high is not None and low > high:
        errors["optimal_min_length"] = f"Must not be more than optimal_max_length ({high})."

    delay = _number(values["processing_delay"])
    if delay is None:
        errors["processing_delay"] = "Enter a number of seconds."
    elif not DELAY_RANGE[0] <= delay <= DELAY_RANGE[1]:
        errors["processing_delay"] = f"Must be between {DELAY_RANGE[0]:g} and {DELAY_RANGE[1]:g} seconds."
    else:
        cleaned["processing_delay"] = delay

    for name in ("reprocess_existing", "include_replies"):
        if not isinstance(values[name], bool):
            errors[name] = "Must be true or false."
        else:
            cleaned[name] = values[name]

    language = values["language"]
    if language is None or (isinstance(language, str) and not language.strip()):
        cleaned["language"] = None
    elif not isinstance(language, str):
        errors["language"] = "Must be a language code such as 'en' or 'pt-BR'."
    else:
        language = language.strip()
        if len(language) > LANGUAGE_MAX_CHARS or not LANGUAGE_PATTERN.match(language):
            errors["language"] = (
                f"Must be a language code such as 'en' or 'pt-BR' (at most {LANGUAGE_MAX_CHARS} characters)."
            )
        else:
            cleaned["language"] = language

    if errors:
        raise ValidationError(errors)
    return cleaned


def _defaults() -> dict[str, Any]:
    return {
        name: CaptionGenerationUserSettings._meta.get_field(name).get_default() for name in SETTINGS_FIELDS
    }


def caption_settings_upsert(
    *,
    connection: PlatformConnection,
    values: Mapping[str, Any],
    actor: User | None,
    meta: RequestMeta | None = None,
) -> tuple[CaptionGenerationUserSettings, bool]:
    """Create or change the settings of `connection`'s owner for that connection.

    `values` may name any of SETTINGS_FIELDS (others are a ValidationError); the fields left out
    keep their stored value (or the default, on creation). The merged row is validated as a whole
    (so `optimal_min_length` ≤ `optimal_max_length` holds whichever of the two changes). Returns
    (settings, created). A concurrent creation of the same row is a SettingsConflict (409).
    """
    unknown = sorted(set(values) - set(SETTINGS_FIELDS))
    if unknown:
        raise ValidationError({name: "Unknown setting." for name in unknown})
    if not connection.has_caption_scan:
        raise ValidationError(
            {"platform_connection": f"{connection.get_platform_type_display()} connections have no captions."}
        )
    try:
        with transaction.atomic():
            existing = (
                CaptionGenerationUserSettings.objects.select_for_update()
                .filter(user_id=connection.user_id, platform_connection=connection)
                .first()
            )
            current = {name: getattr(existing, name) for name in SETTINGS_FIELDS} if existing else _defaults()
            cleaned = caption_settings_validate({**current, **values})
            changed = sorted(name for name in SETTINGS_FIELDS if cleaned[name] != current[name])
            if existing is None:
                row = CaptionGenerationUserSettings.objects.create(
                    user_id=connection.user_id, platform_connection=connection, **cleaned
                )
            else:
                row = existing
                for name in changed:
                    setattr(row, name, cleaned[name])
                if changed:
                    row.save(update_fields=[*changed, "updated_at"])
            if existing is None or changed:
                meta = meta or RequestMeta()
                audit_log_write(
                    action="caption_settings.created" if existing is None else "caption_settings.updated",
                    actor=actor,
                    target=row,
                    details={
                        "platform_connection": connection.pk,
                        "changed": {name: cleaned[name] for name in changed},
                    },
                    meta=meta,
                )
    except IntegrityError:
        raise SettingsConflict(
            "These settings were created or changed by another request at the same time; try again."
        ) from None
    return row, existing is None
