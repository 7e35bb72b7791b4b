import pytest
from django.core import checks
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import IsNull
from django.test.utils import isolate_apps
from django.utils.translation import gettext_lazy

from config.keys import generate_key
from core import crypto
from core.fields import EncryptedTextField
from core.key_rotation import encrypted_fields
from platforms.models import PlatformConnection
from tests.factories.accounts import UserFactory
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


@pytest.mark.parametrize("value", [42, gettext_lazy("lazy secret")], ids=["int", "lazy"])
def test_values_that_are_not_str_are_stored_as_their_text(value, raw_column):
    connection = PlatformConnectionFactory(access_token=value)
    stored = raw_column(PlatformConnection, connection.pk, "access_token")
    assert crypto.decrypt(stored) == str(value)
    assert PlatformConnection.objects.get(pk=connection.pk).access_token == str(value)


def test_values_and_bulk_create_go_through_the_field_too(raw_column):
    PlatformConnection.objects.bulk_create(
        [PlatformConnectionFactory.build(user=UserFactory(), access_token="bulk one", client_key=None)]
    )
    pk = PlatformConnection.objects.get().pk
    assert "bulk one" not in raw_column(PlatformConnection, pk, "access_token")
    assert list(PlatformConnection.objects.values_list("access_token", "client_key")) == [("bulk one", None)]
    assert list(PlatformConnection.objects.values("access_token")) == [{"access_token": "bulk one"}]


def test_update_to_null_stores_null(raw_column):
    connection = PlatformConnectionFactory(client_key="k")
    PlatformConnection.objects.filter(pk=connection.pk).update(client_key=None)
    assert raw_column(PlatformConnection, connection.pk, "client_key") is None


def test_the_field_prepares_none_as_none_and_text_as_a_token():
    field = EncryptedTextField()
    assert field.get_prep_value(None) is None
    token = field.get_prep_value("secret")
    assert token != "secret"
    assert crypto.decrypt(token) == "secret"
    assert field.from_db_value(None, None, None) is None
    assert field.from_db_value(token, None, None) == "secret"


# --- what the field refuses -------------------------------------------------------------------


def test_a_refused_lookup_names_the_field_and_the_lookup():
    with pytest.raises(FieldError) as caught:
        PlatformConnection.objects.filter(access_token="x").exists()
    assert (
        str(caught.value)
        == "EncryptedTextField 'access_token' supports only the 'isnull' lookup, not 'exact'."
    )


@pytest.mark.parametrize("path", ["access_token__lower__exact", "access_token__lower"])
def test_transforms_are_refused(path):
    # Django asks for a transform first when more names follow it, for a lookup when none do.
    with pytest.raises(FieldError, match="EncryptedTextField 'access_token'"):
        PlatformConnection.objects.filter(**{path: "x"}).exists()


def test_the_transform_refusal_names_the_transform():
    field = PlatformConnection._meta.get_field("access_token")
    with pytest.raises(FieldError) as caught:
        field.get_transform("lower")
    assert str(caught.value) == "EncryptedTextField 'access_token' has no transforms ('lower')."
    assert field.get_lookup("isnull") is IsNull


def test_exclude_on_isnull_works():
    PlatformConnectionFactory(client_key=None)
    with_key = PlatformConnectionFactory(client_key="k")
    assert list(PlatformConnection.objects.exclude(client_key__isnull=True).values_list("pk", flat=True)) == [
        with_key.pk
    ]


# --- the system check -------------------------------------------------------------------------

CHECK_MESSAGE = "EncryptedTextField cannot be indexed or unique: its ciphertext is random."


@pytest.mark.parametrize(
    "options", [{"unique": True}, {"db_index": True}, {"unique": True, "db_index": True}], ids=str
)
def test_an_indexed_or_unique_encrypted_field_fails_the_check(options):
    with isolate_apps("core"):

        class Holder(models.Model):  # noqa: DJ008  (a check target, never printed)
            secret = EncryptedTextField(**options)

            class Meta:
                app_label = "core"

        errors = Holder.check()
        field = Holder._meta.get_field("secret")
    assert [(error.id, error.level, error.msg, error.obj) for error in errors] == [
        ("core.E001", checks.ERROR, CHECK_MESSAGE, field)
    ]


def test_a_plain_encrypted_field_passes_the_check():
    with isolate_apps("core"):

        class Holder(models.Model):  # noqa: DJ008  (a check target, never printed)
            secret = EncryptedTextField()
            optional = EncryptedTextField(null=True, blank=True)

            class Meta:
                app_label = "core"

        assert Holder.check() == []


def test_the_check_keeps_the_text_fields_own_errors():
    with isolate_apps("core"):

        class Holder(models.Model):  # noqa: DJ008  (a check target, never printed)
            secret = EncryptedTextField(choices="not a list", db_index=True)

            class Meta:
                app_label = "core"

        ids = [error.id for error in Holder.check()]
    assert ids == ["fields.E004", "core.E001"]


def test_every_shipped_encrypted_field_passes_the_check():
    fields = encrypted_fields()
    assert {(model.__name__, field.name) for model, field in fields} >= {
        ("PlatformConnection", "access_token"),
        ("PlatformConnection", "client_key"),
        ("PlatformConnection", "client_secret"),
        ("SystemConfig", "secret_value"),
    }
    assert [error for _, field in fields for error in field.check()] == []


# --- migrations -------------------------------------------------------------------------------


def test_the_field_deconstructs_to_its_import_path():
    # Migrations name the field by this path (core/migrations, platforms/migrations).
    field = PlatformConnection._meta.get_field("client_key")
    assert field.deconstruct() == (
        "client_key",
        "core.fields.EncryptedTextField",
        [],
        {"blank": True, "null": True},
    )
    _, path, args, kwargs = PlatformConnection._meta.get_field("access_token").deconstruct()
    assert (path, args, kwargs) == ("core.fields.EncryptedTextField", [], {})
    assert EncryptedTextField(*args, **kwargs).get_internal_type() == "TextField"


def test_the_field_describes_itself():
    assert EncryptedTextField.description == "Text encrypted at rest with MultiFernet"
