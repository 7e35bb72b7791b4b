"""A model's own table and column names, quoted for one database, for the few hot statements
written in plain SQL (a claim that returns rows, a queue's dequeue): the ORM has no UPDATE that
returns rows, and on a queue of short tasks building a query costs more than running it
(docs/performance.md). Only names come from here; every value stays a parameter. Build the
statement once per vendor (`functools.cache` on a function taking the vendor) and reuse it.
A statement that returns a model's rows selects `columns_of(model)` and reads each row back with
`instance_from_row`."""

import functools
from dataclasses import dataclass

from django.db import connections


@dataclass(frozen=True)
class Names:
    table: str  # quoted
    columns: dict[str, str]  # field name -> quoted column name

    def __getitem__(self, field: str) -> str:
        """The column alone, as SET and INSERT take it."""
        return self.columns[field]

    def of(self, field: str) -> str:
        """The column qualified by its table, as a join or a correlated subquery needs it."""
        return f"{self.table}.{self.columns[field]}"


def names(model, *, using: str = "default") -> Names:
    quote = connections[using].ops.quote_name
    return Names(
        table=quote(model._meta.db_table),
        columns={field.name: quote(field.column) for field in model._meta.concrete_fields},
    )


def columns_of(model, *, using: str = "default") -> str:
    """Every concrete column of `model`, table-qualified, in `_meta.concrete_fields` order: the
    order `instance_from_row` reads them back in (`*` gives the table's, which migrations that
    add a column make differ)."""
    own = names(model, using=using)
    return ", ".join(own.of(field.name) for field in model._meta.concrete_fields)


@functools.lru_cache(maxsize=64)
def _converters(model, connection) -> tuple[tuple[object, tuple], ...]:
    """Each concrete field's column and the converters the ORM's compiler applies to it on
    `connection` (the backend's, then the field's own `from_db_value`): SQLite's UUIDs, booleans
    and datetimes, JSON, encrypted fields. Per connection, as the backend's converters are."""
    table = model._meta.db_table
    found = []
    for field in model._meta.concrete_fields:
        column = field.get_col(table)
        found.append(
            (column, (*connection.ops.get_db_converters(column), *column.get_db_converters(connection)))
        )
    return tuple(found)


def instance_from_row(model, values, *, using: str = "default"):
    """An instance of `model` from the values of `columns_of(model)`, converted as the ORM converts
    a row it reads. `QuerySet.raw()` does the same by matching column names to fields on every
    call, which a hot statement pays each time it runs (docs/performance.md)."""
    connection = connections[using]
    converted = []
    for (column, converters), value in zip(_converters(model, connection), values, strict=True):
        for converter in converters:
            value = converter(value, column, connection)
        converted.append(value)
    return model.from_db(using, [field.attname for field in model._meta.concrete_fields], converted)
