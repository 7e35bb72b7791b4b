"""core.crypto on its own: tokens, keys, the errors it raises and the masked hint of a secret.

The encrypted field's tests (test_encrypted_field.py) cover values stored in the database."""

import base64

import pytest
from cryptography.fernet import Fernet

from config.keys import generate_key
from core import crypto

# --- mask -------------------------------------------------------------------------------------
# docs/api.md: responses show "at most a masked hint such as ••••abcd". Under 12 characters the
# last four would be a third or more of the secret: nothing of it is shown.


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (None, ""),
        ("", ""),
        ("a", "••••"),
        ("abcd", "••••"),
        ("abcdefghij", "••••"),
        ("abcdefghijk", "••••"),  # 11 characters: still nothing shown
        ("abcdefghijkl", "••••ijkl"),  # 12: the last four
        ("abcdefghijklm", "••••jklm"),
        ("a-long-secret-value-1234", "••••1234"),
        ("ключ-секрет-1234", "••••1234"),
        ("           x", "••••   x"),
    ],
)
def test_mask_shows_the_last_four_characters_of_secrets_of_twelve_or_more(value, hint):
    assert crypto.mask(value) == hint


# --- encrypt, decrypt, rotate -----------------------------------------------------------------


def test_a_token_is_ascii_text_that_the_first_key_alone_can_read(settings):
    first, second = generate_key(), generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [first, second]
    token = crypto.encrypt("ключ 🔑")
    assert isinstance(token, str) and token.isascii()
    assert Fernet(first.encode()).decrypt(token.encode()).decode("utf-8") == "ключ 🔑"
    assert crypto.decrypt(token) == "ключ 🔑"


def test_a_token_of_bytes_that_are_not_utf8_raises_a_clear_error(settings):
    key = generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [key]
    token = Fernet(key.encode()).encrypt(b"\xff\xfe not text").decode()
    with pytest.raises(crypto.DecryptionError, match="not to UTF-8 text") as caught:
        crypto.decrypt(token)
    assert caught.value.__suppress_context__


def test_every_configured_key_decrypts(settings):
    old = generate_key()
    token = Fernet(old.encode()).encrypt(b"under the second key").decode()
    settings.FIELD_ENCRYPTION_KEYS = [generate_key(), old]
    assert crypto.decrypt(token) == "under the second key"


def test_changing_the_keys_takes_effect_at_once(settings):
    settings.FIELD_ENCRYPTION_KEYS = [generate_key()]
    token = crypto.encrypt("x")
    settings.FIELD_ENCRYPTION_KEYS = [generate_key()]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-fernet-token",
        "",
        "ключ",  # not even ASCII
        base64.urlsafe_b64encode(b"\x80" + b"\x00" * 60).decode(),
    ],
    ids=["garbage", "empty", "non-ascii", "wrong-version"],
)
def test_what_no_key_decrypts_raises_one_clear_error(token):
    with pytest.raises(crypto.DecryptionError) as caught:
        crypto.decrypt(token)
    assert str(caught.value) == (
        "An encrypted value could not be decrypted with any key in FIELD_ENCRYPTION_KEYS. "
        "Was the key that wrote it removed?"
    )
    # Raised "from None": no InvalidToken traceback chained below it.
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_rotate_puts_a_token_under_the_first_key(settings):
    old, new = generate_key(), generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    token = crypto.encrypt("rotate me")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    rotated = crypto.rotate(token)
    assert isinstance(rotated, str) and rotated != token
    assert Fernet(new.encode()).decrypt(rotated.encode()) == b"rotate me"


@pytest.mark.parametrize("token", ["not-a-fernet-token", "ключ"], ids=["garbage", "non-ascii"])
def test_rotating_what_no_key_decrypts_raises_one_clear_error(token):
    with pytest.raises(crypto.DecryptionError) as caught:
        crypto.rotate(token)
    assert str(caught.value) == "An encrypted value could not be rotated: no configured key decrypts it."
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_token_under_a_removed_key_cannot_be_rotated(settings):
    settings.FIELD_ENCRYPTION_KEYS = [generate_key()]
    token = crypto.encrypt("x")
    settings.FIELD_ENCRYPTION_KEYS = [generate_key()]
    with pytest.raises(crypto.DecryptionError, match="could not be rotated"):
        crypto.rotate(token)
