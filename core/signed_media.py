"""Signed, expiring URLs for stored files, for receivers that fetch a publication's media
themselves (the blog webhook): `signed_media_url(storage_key=...)` makes one,
`signed_media_file(token=...)` checks one (core.media_views serves it at `media/signed/<token>/`).

The token is django.core.signing's `TimestampSigner` over `{"k": storage key, "e": expiry}` (Unix
seconds), with a salt of its own so no other signed value of the project (sessions, password
reset links) can pass for a media token, nor the other way round. The expiry travels inside the
signed payload, so each URL carries its own lifetime; the signature is checked in constant time
(signing's `constant_time_compare`) before the payload is read. Whoever has the URL can fetch the
file until it expires: it is a capability, handed only to the receiver the post goes to, and it
names no user and no credential.

Only keys inside the storage are signed or served: a key that is empty, starts with "/" or "\\",
or has a ".." segment is refused, whatever the signature says.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from core.errors import NotFound

SALT = "core.signed_media"
URL_NAME = "signed-media"


class SignedMediaRefused(NotFound):
    """The token is not one we signed (tampered, truncated, another salt) or names no usable key."""

    code = "signed_media_invalid"
    default_message = "No such file."


class SignedMediaExpired(SignedMediaRefused):
    """A token we signed, past its expiry (the view answers 410 Gone)."""

    code = "signed_media_expired"
    default_message = "This link has expired."


@dataclass(frozen=True, kw_only=True)
class SignedMedia:
    storage_key: str
    expires_at: int  # Unix seconds

    def remaining(self, *, now: float | None = None) -> int:
        """Whole seconds the URL stays valid (0 when it has expired)."""
        return max(int(self.expires_at - (time.time() if now is None else now)), 0)


def is_storage_key(key: object) -> bool:
    """Whether `key` names a file inside the storage (no absolute path, no "..", no NUL)."""
    if not isinstance(key, str) or not key or key.startswith(("/", "\\")) or "\x00" in key:
        return False
    return ".." not in key.replace("\\", "/").split("/")


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def signed_media_token(*, storage_key: str, max_age: int | None = None) -> str:
    """The token of `storage_key`, valid `max_age` seconds (default SIGNED_MEDIA_MAX_AGE)."""
    if not is_storage_key(storage_key):
        raise ValueError("A signed media URL needs a storage key inside the storage.")
    max_age = settings.SIGNED_MEDIA_MAX_AGE if max_age is None else int(max_age)
    if max_age <= 0:
        raise ValueError("A signed media URL needs a positive max_age.")
    expires_at = int(time.time()) + max_age
    return _signer().sign_object({"k": storage_key, "e": expires_at}, compress=True)


def signed_media_url(*, storage_key: str, max_age: int | None = None) -> str:
    """The absolute URL (on PUBLIC_BASE_URL) that serves `storage_key` for `max_age` seconds."""
    token = signed_media_token(storage_key=storage_key, max_age=max_age)
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{reverse(URL_NAME, kwargs={'token': token})}"


def signed_media_file(*, token: str) -> SignedMedia:
    """What a token grants. SignedMediaRefused for one we did not sign (or a bad key),
    SignedMediaExpired for one past its expiry."""
    try:
        payload = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        raise SignedMediaRefused() from None
    if not isinstance(payload, dict):
        raise SignedMediaRefused()
    key, expires_at = payload.get("k"), payload.get("e")
    if not is_storage_key(key) or not isinstance(expires_at, int) or isinstance(expires_at, bool):
        raise SignedMediaRefused()
    granted = SignedMedia(storage_key=key, expires_at=expires_at)
    if granted.remaining() <= 0:
        raise SignedMediaExpired()
    return granted
