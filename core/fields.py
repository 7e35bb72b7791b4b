"""An encrypted text field of our own on `cryptography` (see DESIGN: the packages
that did this either died with Django 4 or return ciphertext on a wrong key)."""

from django.core import checks
from django.core.exceptions import FieldError
from django.db import models

from core import crypto


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token; reads back as the plaintext.

    Ciphertext is random, so no lookup but `isnull` can work: the others are
    refused instead of silently matching nothing. A value that no configured key
    decrypts raises `crypto.DecryptionError`; ciphertext is never returned.
    """

    description = "Text encrypted at rest with MultiFernet"

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if self.db_index or self.unique:
            errors.append(
                checks.Error(
                    "EncryptedTextField cannot be indexed or unique: its ciphertext is random.",
                    obj=self,
                    id="core.E001",
                )
            )
        return errors

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise FieldError(
                f"EncryptedTextField '{self.name}' supports only the 'isnull' lookup, not '{lookup_name}'."
            )
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name):
        raise FieldError(f"EncryptedTextField '{self.name}' has no transforms ('{lookup_name}').")

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return None
        return crypto.encrypt(value)  # TextField.get_prep_value made it a str

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return crypto.decrypt(value)
