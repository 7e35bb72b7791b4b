"""Random bearer credentials and their stored form (SHA-256 hex; the plain value is never kept).

Tokens and keys carry 256 bits of randomness, so a fast hash is safe: there is nothing to
brute-force, and lookups stay one indexed equality.
"""

import hashlib
import secrets

SESSION_TOKEN_PREFIX = "sdt_"  # noqa: S105 (a public prefix, not a secret)
API_KEY_PREFIX = "sdk_"
API_KEY_VISIBLE_CHARS = 12


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_session_token() -> str:
    return SESSION_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_prefix(key: str) -> str:
    """What lists may show to tell keys apart: the first few characters."""
    return key[:API_KEY_VISIBLE_CHARS]
