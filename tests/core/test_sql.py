import uuid

import pytest
from django.db import connection
from django.utils import timezone

from core.sql import columns_of, instance_from_row, names
from platforms.models import PlatformConnection
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import PlatformStateFactory
from workflows.models import PlatformState


def test_names_quote_the_table_and_each_fields_column():
    quote = connection.ops.quote_name
    state = names(PlatformState)

    assert state.table == quote("platform_states")
    # A foreign key is named by its field and written as its column.
    assert state["workflow"] == quote("workflow_id")
    assert state.of("workflow") == f"{quote('platform_states')}.{quote('workflow_id')}"
    assert set(state.columns) == {field.name for field in PlatformState._meta.concrete_fields}


def _read_back(model, pk):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns_of(model)} FROM {names(model).table} WHERE {names(model).of('id')} = %s",  # noqa: S608
            [model._meta.pk.get_db_prep_value(pk, connection)],
        )
        return instance_from_row(model, cursor.fetchone())


def _field_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


@pytest.mark.django_db
def test_a_row_read_back_equals_what_the_orm_loads():
    # Encrypted text, JSON, booleans and datetimes: each converted as the ORM converts it.
    stored = PlatformConnectionFactory(extra={"max_characters": 500}, client_key="key-1")

    read = _read_back(PlatformConnection, stored.pk)

    assert _field_values(read) == _field_values(PlatformConnection.objects.get(pk=stored.pk))
    assert read.access_token == stored.access_token  # decrypted, not the stored ciphertext
    assert read.extra == {"max_characters": 500}
    assert read._state.adding is False and read._state.db == "default"


@pytest.mark.django_db
def test_a_uuid_keyed_row_read_back_keeps_its_uuid_and_aware_datetimes():
    stored = PlatformStateFactory(heartbeat_at=timezone.now())

    read = _read_back(PlatformState, stored.pk)

    assert _field_values(read) == _field_values(PlatformState.objects.get(pk=stored.pk))
    assert isinstance(read.pk, uuid.UUID)
    assert timezone.is_aware(read.heartbeat_at)
