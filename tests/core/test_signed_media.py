"""Signed media URLs: made on PUBLIC_BASE_URL, served by the test client, refused when tampered,
expired (410) or pointing outside the storage."""

import time
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings

from core.signed_media import (
    SALT,
    SignedMediaExpired,
    SignedMediaRefused,
    signed_media_file,
    signed_media_token,
    signed_media_url,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def stored():
    key = default_storage.save("workflows/attachments/tests/kaffee.png", ContentFile(PNG))
    yield key
    default_storage.delete(key)


def path_of(url: str) -> str:
    return urlsplit(url).path


def forged(key: str, *, salt: str | None = SALT) -> str:
    """A token signed with the project's key, as only we (or a leaked SECRET_KEY) could make."""
    payload = {"k": key, "e": int(time.time()) + 600}
    return signing.TimestampSigner(salt=salt).sign_object(payload, compress=True)


def later(monkeypatch, seconds: float) -> None:
    """Move the clock `seconds` ahead (for the signer and the view alike)."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + seconds)


@override_settings(PUBLIC_BASE_URL="https://desk.example.org")
def test_the_url_is_absolute_on_the_public_base_url(stored):
    url = signed_media_url(storage_key=stored)
    assert url.startswith("https://desk.example.org/media/signed/")
    assert url.endswith("/")
    assert stored not in url  # the key travels signed and compressed, not as a readable path


def test_a_good_token_serves_the_file_with_its_type_and_remaining_age(client, stored):
    response = client.get(path_of(signed_media_url(storage_key=stored, max_age=600)))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    cache = response["Cache-Control"]
    assert cache.startswith("private, max-age=")
    assert 595 <= int(cache.split("=")[1]) <= 600
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_the_default_lifetime_is_the_setting(client, stored, settings):
    settings.SIGNED_MEDIA_MAX_AGE = 7 * 24 * 3600
    granted = signed_media_file(token=signed_media_token(storage_key=stored))
    assert 7 * 24 * 3600 - 5 <= granted.remaining() <= 7 * 24 * 3600


def test_a_tampered_token_is_404(client, stored):
    token = signed_media_token(storage_key=stored)
    other = signed_media_token(storage_key="workflows/attachments/tests/other.png")
    # Another token's payload with this token's signature, and a flipped signature character.
    _, stamp, signature = token.rsplit(":", 2)
    swapped = other.rsplit(":", 2)[0] + f":{stamp}:{signature}"
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (swapped, flipped, "nonsense", token[: len(token) // 2]):
        assert client.get(f"/media/signed/{bad}/").status_code == 404
    with pytest.raises(SignedMediaRefused):
        signed_media_file(token=flipped)


def test_a_token_of_another_salt_is_404(client, stored):
    # A value the project signs elsewhere (same SECRET_KEY, default salt) is no media token.
    foreign = forged(stored, salt=None)
    assert client.get(f"/media/signed/{foreign}/").status_code == 404
    ours = forged(stored)
    assert client.get(f"/media/signed/{ours}/").status_code == 200


def test_an_expired_token_is_410_gone(client, stored, monkeypatch):
    url = signed_media_url(storage_key=stored, max_age=60)
    assert client.get(path_of(url)).status_code == 200
    later(monkeypatch, 61)
    response = client.get(path_of(url))
    assert response.status_code == 410
    assert response.content == b"This link has expired."
    assert response["Cache-Control"] == "no-store"
    with pytest.raises(SignedMediaExpired):
        signed_media_file(token=path_of(url).split("/")[3])


@pytest.mark.parametrize("key", ["../secret.txt", "a/../../etc/passwd", "/etc/passwd", "\\windows", ""])
def test_keys_outside_the_storage_are_never_signed(key):
    with pytest.raises(ValueError):
        signed_media_url(storage_key=key)


@pytest.mark.parametrize("key", ["../secret.txt", "workflows/../../etc/passwd", "/etc/passwd"])
def test_a_validly_signed_traversal_is_still_refused(client, key):
    # As if the secret had leaked: the key itself is checked before the storage is asked.
    token = forged(key)
    assert client.get(f"/media/signed/{token}/").status_code == 404


def test_a_file_no_longer_stored_is_404(client):
    url = signed_media_url(storage_key="workflows/attachments/tests/gone.png")
    assert client.get(path_of(url)).status_code == 404


def test_only_media_types_are_served_inline(client):
    key = default_storage.save("workflows/attachments/tests/page.html", ContentFile(b"<script>1</script>"))
    try:
        response = client.get(path_of(signed_media_url(storage_key=key)))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"].startswith("attachment;")
    finally:
        default_storage.delete(key)


def test_only_get_and_head(client, stored):
    path = path_of(signed_media_url(storage_key=stored))
    assert client.head(path).status_code == 200
    assert client.post(path).status_code == 405
