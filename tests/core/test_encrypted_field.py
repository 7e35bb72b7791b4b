import pytest
from django.core.exceptions import FieldError

from config.keys import generate_key
from core import crypto
from platforms.models import PlatformConnection
from tests.factories.platforms import PlatformConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "secret",
    ["", "plain ascii token", "ключ 🔑 鍵 مفتاح", "x" * 10_240],
    ids=["empty", "ascii", "unicode", "10kB"],
)
def test_values_round_trip_and_are_absent_from_the_raw_column(secret, raw_column):
    connection = PlatformConnectionFactory(access_token=secret)
    stored = raw_column(PlatformConnection, connection.pk, "access_token")
    assert stored != secret
    if secret:
        assert secret not in stored
    assert PlatformConnection.objects.get(pk=connection.pk).access_token == secret


def test_null_stays_null(raw_column):
    connection = PlatformConnectionFactory(client_key=None)
    assert raw_column(PlatformConnection, connection.pk, "client_key") is None
    assert PlatformConnection.objects.get(pk=connection.pk).client_key is None


def test_same_plaintext_encrypts_differently_each_time(raw_column):
    first = PlatformConnectionFactory(access_token="same")
    second = PlatformConnectionFactory(access_token="same")
    assert raw_column(PlatformConnection, first.pk, "access_token") != raw_column(
        PlatformConnection, second.pk, "access_token"
    )


def test_value_written_under_an_old_key_reads_after_a_new_key_is_put_first(settings, raw_column):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    connection = PlatformConnectionFactory(access_token="written with the old key")
    old_ciphertext = raw_column(PlatformConnection, connection.pk, "access_token")

    settings.FIELD_ENCRYPTION_KEYS = [generate_key(), old_key]

    assert PlatformConnection.objects.get(pk=connection.pk).access_token == "written with the old key"
    rewritten = PlatformConnectionFactory(access_token="written with the new key")
    settings.FIELD_ENCRYPTION_KEYS = [settings.FIELD_ENCRYPTION_KEYS[0]]
    assert PlatformConnection.objects.get(pk=rewritten.pk).access_token == "written with the new key"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(old_ciphertext)


def test_rotate_re_encrypts_with_the_first_key(settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    token = crypto.encrypt("rotate me")
    new_key = generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    rotated = crypto.rotate(token)
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert crypto.decrypt(rotated) == "rotate me"


def test_wrong_key_raises_a_clear_error_and_never_returns_ciphertext(settings):
    connection = PlatformConnectionFactory(access_token="only the first key can read this")
    settings.FIELD_ENCRYPTION_KEYS = [generate_key()]
    with pytest.raises(crypto.DecryptionError, match="FIELD_ENCRYPTION_KEYS"):
        PlatformConnection.objects.get(pk=connection.pk)


def test_garbage_in_the_column_raises_decryption_error():
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt("not-a-fernet-token")


@pytest.mark.parametrize("lookup", ["", "__exact", "__icontains", "__startswith", "__in", "__gt"])
def test_lookups_other_than_isnull_are_refused(lookup):
    value = ["x"] if lookup == "__in" else "x"
    with pytest.raises(FieldError, match="isnull"):
        PlatformConnection.objects.filter(**{f"access_token{lookup}": value}).exists()


def test_isnull_lookup_works():
    PlatformConnectionFactory(client_key=None)
    PlatformConnectionFactory(client_key="k")
    assert PlatformConnection.objects.filter(client_key__isnull=True).count() == 1
    assert PlatformConnection.objects.filter(client_key__isnull=False).count() == 1


def test_bulk_update_encrypts_too(raw_column):
    connection = PlatformConnectionFactory()
    PlatformConnection.objects.filter(pk=connection.pk).update(access_token="via update()")
    assert "via update()" not in raw_column(PlatformConnection, connection.pk, "access_token")
    assert PlatformConnection.objects.get(pk=connection.pk).access_token == "via update()"


def test_mask_reveals_at_most_the_last_four_characters():
    assert crypto.mask(None) == ""
    assert crypto.mask("short") == "••••"
    assert crypto.mask("a-long-secret-value-1234") == "••••1234"
