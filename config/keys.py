"""Parsing and generation of the field-encryption keys.

Kept free of Django imports so settings and the `.env` writer can both use it.
"""

import base64
import binascii

from cryptography.fernet import Fernet


class KeyConfigError(ValueError):
    """The configured encryption keys are missing or malformed."""


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def parse_keys(raw: str | None, *, source: str = "FIELD_ENCRYPTION_KEYS") -> list[str]:
    """Split a comma-separated list of Fernet keys and check each one.

    The first key encrypts; every key decrypts. Raises KeyConfigError with a
    message that names the variable and the position of a bad key, never the key.
    """
    if raw is None or not raw.strip():
        raise KeyConfigError(
            f"{source} is not set. Generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'` "
            "and put it in .env (make run writes one for you)."
        )
    keys = [part.strip() for part in raw.split(",")]
    for position, key in enumerate(keys, start=1):
        if not key:
            raise KeyConfigError(f"{source}: key {position} is empty (stray comma?).")
        try:
            decoded = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise KeyConfigError(f"{source}: key {position} is not url-safe base64.") from None
        if len(decoded) != 32:
            raise KeyConfigError(
                f"{source}: key {position} decodes to {len(decoded)} bytes; a Fernet key is 32 bytes."
            )
    return keys
