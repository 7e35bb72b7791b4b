"""A model's own table and column names, quoted for one database, for the few hot statements
written in plain SQL (a claim that returns rows, a queue's dequeue): the ORM has no UPDATE that
returns rows, and on a queue of short tasks building a query costs more than running it
(docs/performance.md). Only names come from here; every value stays a parameter. Build the
statement once per vendor (`functools.cache` on a function taking the vendor) and reuse it."""

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
