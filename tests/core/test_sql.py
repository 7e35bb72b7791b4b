from django.db import connection

from core.sql import names
from workflows.models import PlatformState


def test_names_quote_the_table_and_each_fields_column():
    quote = connection.ops.quote_name
    state = names(PlatformState)

    assert state.table == quote("platform_states")
    # A foreign key is named by its field and written as its column.
    assert state["workflow"] == quote("workflow_id")
    assert state.of("workflow") == f"{quote('platform_states')}.{quote('workflow_id')}"
    assert set(state.columns) == {field.name for field in PlatformState._meta.concrete_fields}
