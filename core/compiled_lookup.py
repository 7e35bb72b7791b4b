"""A one-row lookup whose SQL Django compiles once per process, not once per call.

Every API request looks up its credential (a session or API key, with its user) by one exact
value. Compiling that `select_related` query (choosing columns, joins and converters for two
models) cost twice as much as running it: about 0.9 ms of a 7 ms request (benchmark `api_list`).
`CompiledLookup` compiles the query once per database vendor with a marker in place of the value,
then runs the same SQL with the real value and builds the instances the way the ORM does: the
database converters (`from_db_value`), `Model.from_db`, and the `select_related` objects cached
on their foreign keys.

Only for queries on every request's path: the queryset must select one model with at most
`select_related` foreign keys (no annotations, deferred fields or prefetching), and filter on
exactly one value that the database takes as it is (a string compared for equality).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections
from django.db.models import Model, QuerySet

_MARKER = "\x00compiled-lookup-value\x00"


@dataclass(frozen=True)
class _Part:
    """One model's columns in the row, and the foreign key that holds it (None for the root)."""

    model: type[Model]
    attnames: list[str]
    start: int
    end: int
    local_setter: Callable[[Model, Model | None], None] | None = None
    remote_setter: Callable[[Model | None, Model], None] | None = None

    def instance(self, using: str, row: list) -> Model | None:
        values = row[self.start : self.end]
        if values[self.attnames.index(self.model._meta.pk.attname)] is None:
            return None  # a nullable foreign key with nothing behind it
        return self.model.from_db(using, self.attnames, values)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    value_at: int
    columns: list  # the select's expressions, for their converters
    parts: list[_Part]


class CompiledLookup:
    def __init__(self, build: Callable[[str], QuerySet]):
        """`build(value)` returns the queryset for one value: it is called once, with a marker."""
        self._build = build
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def first(self, value: str, *, using: str = "default") -> Model | None:
        connection = connections[using]
        key = (using, connection.vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(using)
        params = list(compiled.params)
        params[compiled.value_at] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        row = self._converted(list(row), compiled.columns, connection)
        root, *related = compiled.parts
        instance = root.instance(using, row)
        for part in related:
            # As the ORM's RelatedPopulator: cached on the foreign key, and back on a one-to-one.
            obj = part.instance(using, row)
            part.local_setter(instance, obj)
            if obj is not None:
                part.remote_setter(obj, instance)
        return instance

    def _compile(self, using: str) -> _Compiled:
        queryset = self._build(_MARKER).using(using)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        value_at = [position for position, param in enumerate(params) if param == _MARKER]
        klass_info = compiler.klass_info
        related = klass_info.get("related_klass_infos") or []
        if (
            len(value_at) != 1
            or compiler.annotation_col_map
            or any(info.get("related_klass_infos") or info.get("reverse") for info in related)
        ):
            raise ValueError("CompiledLookup takes one filtered value and forward select_related only.")
        columns = [column for column, _sql, _alias in compiler.select[: compiler.col_count]]

        def part(info: dict) -> _Part:
            start, end = info["select_fields"][0], info["select_fields"][-1] + 1
            return _Part(
                model=info["model"],
                attnames=[column.target.attname for column in columns[start:end]],
                start=start,
                end=end,
                local_setter=info.get("local_setter"),
                remote_setter=info.get("remote_setter"),
            )

        parts = [part(klass_info)] + [part(info) for info in related]
        return _Compiled(sql=sql, params=tuple(params), value_at=value_at[0], columns=columns, parts=parts)

    @staticmethod
    def _converted(row: list, columns: list, connection) -> list:
        # What SQLCompiler.get_converters and apply_converters do, for the one row: converters are
        # per connection (SQLite's datetimes need its time zone), so they are not kept.
        for position, column in enumerate(columns):
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            value = row[position]
            for converter in converters:
                value = converter(value, column, connection)
            row[position] = value
        return row
