"""Symmetric encryption of values at rest with MultiFernet.

The first key of settings.FIELD_ENCRYPTION_KEYS encrypts; all of them decrypt,
so a new key can be put first and the old ones removed after rotation.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


@lru_cache(maxsize=1)
def _multifernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode("ascii")) for key in settings.FIELD_ENCRYPTION_KEYS])


@receiver(setting_changed)
def _reset_keys(*, setting: str, **kwargs) -> None:
    if setting == "FIELD_ENCRYPTION_KEYS":
        _multifernet.cache_clear()


def encrypt(plaintext: str) -> str:
    return _multifernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        plain = _multifernet().decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        raise DecryptionError(
            "An encrypted value could not be decrypted with any key in FIELD_ENCRYPTION_KEYS. "
            "Was the key that wrote it removed?"
        ) from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        # Only something other than this project, holding our key, writes such a token.
        raise DecryptionError("An encrypted value decrypted, but not to UTF-8 text.") from None


def rotate(token: str) -> str:
    """Re-encrypt a token with the first key (used by key rotation)."""
    try:
        return _multifernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError):
        raise DecryptionError(
            "An encrypted value could not be rotated: no configured key decrypts it."
        ) from None


def mask(value: str | None) -> str:
    """A hint that shows a secret exists without revealing it: '••••3f9a'."""
    if not value:
        return ""
    if len(value) < 12:
        return "••••"
    return "••••" + value[-4:]
