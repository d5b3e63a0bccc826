"""The SQL source connector: reads a LIS database through a mapping profile, as canonical Arrow batches.

The connector never selects all columns of a table: it names only the columns behind the
fields it is asked for (plus those its row predicates need), pushes every
predicate it can express in SQL into the query, streams the result with
connectorx in bounded batches, converts each batch column-wise, and then
re-checks *every* predicate in memory before a batch leaves it. With
``full_export_only`` it behaves like a legacy system that can only dump
everything: nothing is pushed down, and the in-memory check alone enforces the
extraction, so only in-scope rows and fields ever leave the connector.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from datetime import date, datetime
from typing import Any, Literal

import connectorx as cx
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from airlock import dburl, model, predicate, results
from airlock.pipeline import prefetch
from airlock.errors import ProfileError, RecordError, SourceError
from airlock.predicate import Extraction, Predicate
from airlock.sources.profile import EntityMap, FieldMap, Join, Profile

BadRecordPolicy = Literal["fail", "reject"]
_ZERO_DATE = r"^0000-00-00"
_PUSHABLE_CONVERTS = (None, "text", "date", "datetime")
#: The key of the custom fields' pivot among a statement's tables (not a table name: it starts with "@").
_PIVOT = "@attributes"
_BAD_RECORD_HINT = "correct it in the source, or give --on-bad-record reject to quarantine the record"


@dataclass(frozen=True)
class Rejected:
    """A source record that could not be converted: named by entity and key, never by content."""

    entity: str
    key: str
    field: str
    reason: str


@dataclass(frozen=True)
class Census:
    """What an extraction would deliver, counted in the source (see :meth:`SqlSource.census`)."""

    #: The entity's records in the source, whatever the scope.
    in_source: int
    #: Records the extraction delivers.
    rows: int
    #: Per sensitive category: (records otherwise in scope, records delivered).
    tags: dict[str, tuple[int, int]]
    #: False when the counts are upper bounds: a packed value left empty is known only once the records are
    #: read (the extraction counts them exactly).
    exact: bool


class SqlSource:
    """A SQL LIS database (MariaDB/MySQL, PostgreSQL or SQLite) read through a profile."""

    def __init__(
        self,
        url: str,
        profile: Profile,
        *,
        full_export_only: bool | None = None,
        batch_rows: int = 50_000,
        on_bad_record: BadRecordPolicy = "fail",
        on_reject: Callable[[Rejected], None] | None = None,
    ):
        self.url = url
        self.profile = profile
        self.full_export_only = profile.full_export_only if full_export_only is None else full_export_only
        self.batch_rows = batch_rows
        self.on_bad_record = on_bad_record
        self.on_reject = on_reject
        self.dialect = dburl.dialect(url)
        self.description = f"{dburl.describe(url)} (profile {profile.name})"
        self._checked = False
        self._parts_cache: dict[str, pl.DataFrame] = {}

    # -- checks -----------------------------------------------------------------------------

    def check(self) -> None:
        """Fail early, in one line, if the source is unreachable or lacks a column the profile names."""
        if self._checked:
            return
        if self.dialect == "sqlite" and not Path(dburl.parse(self.url).database or "").is_file():
            # Connecting would create an empty file where the source should be.
            raise SourceError(f"the source {dburl.describe(self.url)} does not exist; check the path")
        engine = dburl.engine(self.url)
        try:
            with engine.connect() as conn:
                inspector = sa.inspect(conn)
                tables = {t.lower(): t for t in inspector.get_table_names()}
                known: dict[str, set[str]] = {}
                for entity, em in self.profile.entities.items():
                    refs = sorted(self.profile.columns(entity))
                    for table in sorted({em.table} | {ref.split(".")[0] for ref in refs}):
                        if table.lower() not in tables:
                            raise ProfileError(
                                f"profile {self.profile.name}: entities.{entity}: table {table} does not exist in the source {dburl.describe(self.url)}; fix the profile or the URL"
                            )
                    for ref in refs:
                        table, column = ref.split(".")
                        if table not in known:
                            known[table] = {c["name"].lower() for c in inspector.get_columns(tables[table.lower()])}
                        if column.lower() not in known[table]:
                            raise ProfileError(
                                f"profile {self.profile.name}: entities.{entity}: column {ref} does not exist in the source; fix the profile"
                            )
        except sa.exc.OperationalError as e:
            reason = str(e.orig).splitlines()[0] if e.orig else type(e).__name__
            raise SourceError(f"cannot reach the source {dburl.describe(self.url)}: {reason}; check the URL and that the server runs") from None
        finally:
            engine.dispose()
        self._checked = True

    # -- public reading API -----------------------------------------------------------------

    def stream(self, extraction: Extraction) -> Iterator[pa.RecordBatch]:
        """Canonical batches of ``extraction.entity`` holding exactly the requested fields and rows."""
        empty = None
        for batch, _ in self.stream_from(extraction):
            if batch.num_rows:
                empty = False
                yield batch
            elif empty is None:
                empty = batch  # yielded only if nothing else is: the entity's schema, no rows
        if isinstance(empty, pa.RecordBatch):
            yield empty

    def stream_from(self, extraction: Extraction, after: Any = None) -> Iterator[tuple[pa.RecordBatch, Any]]:
        """Like :meth:`stream`, resumable: each batch comes with a cursor (the last source row's position
        in the entity's ``order_by``); given back as ``after``, reading continues with the next source row.

        One batch per source batch, possibly empty, so that every cursor can be checkpointed; at least one.
        """
        self.check()
        ent = model.entity(extraction.entity)
        em = self._entity_map(extraction.entity)
        # A field the mandate allows but this source does not have is simply not delivered (see unmapped()).
        schema = ent.projection([f for f in extraction.fields if f in em.fields])
        wanted = set(schema.names) | {p.field for p in extraction.predicates}
        if self.full_export_only:
            wanted, pushed = set(em.fields), []
        else:
            pushed = [p for p in extraction.predicates if self._pushable(em, p)]
        needed = _closure(em, wanted)
        checks = self._resolved(extraction.predicates)
        query, labels = self._query(em, needed, pushed, after=after)
        produced = False
        # The database produces batch n+1 while batch n is converted (connectorx and sqlite3 release the GIL).
        for raw in prefetch(self._read(query, self._batch_rows(em))):
            batch = self._canonical(em, raw, labels, needed)
            batch = predicate.apply(batch, checks)
            cursor = raw.column("o_cursor")[raw.num_rows - 1].as_py() if raw.num_rows else after
            produced = True
            yield pa.RecordBatch.from_arrays([batch.column(n) for n in schema.names], schema=schema), cursor
        if not produced:
            yield pa.RecordBatch.from_pylist([], schema=schema), after

    def unmapped(self, extraction: Extraction) -> tuple[str, ...]:
        """Fields the extraction asks for that this source's profile does not map (they are not delivered)."""
        em = self._entity_map(extraction.entity)
        return tuple(f for f in extraction.fields if f not in em.fields)

    def _resolved(self, predicates: tuple[Predicate, ...]) -> list[Predicate]:
        """The predicates with each semi-join replaced by the set of values it admits, read from the source.

        Only the one id column of the other entity is held, never its records.
        """
        out = []
        for p in predicates:
            if p.op == "in_extraction":
                ids = [b.column(p.value.fields[0]) for b in self.stream(p.value)]
                values = pa.chunked_array(ids, type=pa.string()).unique() if ids else pa.array([], pa.string())
                out.append(Predicate(p.field, "in", values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values))
            else:
                out.append(p)
        return out

    def census(self, extraction: Extraction) -> Census | None:
        """How many records ``extraction`` would deliver and how many the entity holds, counted by the
        database: no record leaves it, only counts.

        One ``COUNT`` with the scope's predicates in ``WHERE`` (where the database plans semi-joins well) and
        one of the whole entity. A packed entity is counted per parts' group (BLIS: the test type) and spread
        over each group's parts; that also gives the sensitive categories, which follow from the test and the
        measure.
        None when only reading the records can tell: a full-export-only source, a predicate SQL cannot express
        that is not a property of the group and part, or a column the tags read that is not the same across a
        group (then :meth:`stream` and count).
        """
        self.check()
        em = self._entity_map(extraction.entity)
        pushed = [p for p in extraction.predicates if self._wholly_pushable(em, p)]
        in_memory = [p for p in extraction.predicates if p not in pushed]
        if self.full_export_only or (in_memory and not (em.packed and all(_per_part(em, p.field) for p in in_memory))):
            return None
        tables = self._tables(em, [p.field for p in pushed])
        rows = self._census_distinct(em, tables, pushed) if em.distinct else self._census_scan(em, tables, pushed, in_memory)
        if rows is None:
            return None
        if em.packed:
            return self._census_parts(em, rows, in_memory)
        return Census(int(rows["n"].sum()), int(rows.filter("in_scope")["n"].sum()), {}, exact=True)

    def _census_scan(self, em: EntityMap, tables: dict[str, sa.TableClause], pushed: list[Predicate], in_memory: list[Predicate]) -> pl.DataFrame | None:
        """Rows in scope and out of it (per group for a packed entity, with the values of the columns its tags
        and per-part predicates read, which must be the same across each group)."""
        keyed = sorted(f for f in _depends(em, [p.field for p in in_memory] + [f for f in em.fields if em.fields[f].kind == "classify"])
                       if em.packed and em.fields[f].kind in ("column", "attribute"))  # fmt: skip
        if any(em.fields[f].kind == "attribute" for f in keyed):
            return None
        keys = []
        if em.packed:
            # Grouped by an expression, not the bare column: MariaDB would otherwise walk the column's index and
            # fetch each row through it, several times slower than a scan.
            group = _col(tables, em.packed.group)
            keys.append(sa.func.coalesce(group, group).label("p_group"))

        def aggregates(exprs: dict[str, Any]) -> list[Any]:
            return [a for f, e in exprs.items() for a in (sa.func.min(e).label(f"value_{f}"), sa.func.max(e).label(f"max_{f}"), sa.func.count(e).label(f"count_{f}"))]

        def counts(predicates: list[Predicate], values: list[str]) -> pl.DataFrame:
            # A column of a table joined on the group column (BLIS: the test type's name) is the group's own:
            # read from that table, not through the join for every row counted.
            of_group = {f: j for f in values if (j := _group_join(em, f)) is not None}
            rows_values = {f: self._expr(em, tables, f) for f in values if f not in of_group}
            stmt = self._filtered(em, tables, sa.select(*keys, sa.func.count().label("n"), *aggregates(rows_values)), predicates)
            rows = pl.from_arrow(self._read_all(self._compile(stmt.group_by(*(k.element for k in keys)) if keys else stmt)))
            assert isinstance(rows, pl.DataFrame)
            for f, j in of_group.items():
                key = _col(tables, j.on[0][1])  # the joined table's side of its one pair (see _group_join)
                group = pl.from_arrow(self._read_all(self._compile(
                    sa.select(key.label("p_group"), *aggregates({f: self._expr(em, tables, f)})).select_from(tables[j.table]).group_by(key))))
                assert isinstance(group, pl.DataFrame)
                # Every row of a group meets the same row of that table, or none.
                rows = rows.join(group.with_columns(pl.col("p_group").cast(rows["p_group"].dtype)), on="p_group", how="left").with_columns(
                    pl.when(pl.col(f"count_{f}") > 0).then(pl.col("n")).otherwise(0).alias(f"count_{f}"))
            return rows

        # The scope's predicates in WHERE, where the database plans semi-joins well; then the whole entity.
        scoped = counts(pushed, keyed)
        for f in keyed:
            count, low, high = pl.col(f"count_{f}"), pl.col(f"value_{f}"), pl.col(f"max_{f}")
            if len(scoped.filter((count != 0) & ((count != pl.col("n")) | (low != high)))):
                return None
        scoped = scoped.with_columns(in_scope=pl.lit(True))
        if not pushed:
            return scoped
        # What is out of scope: the whole entity less what is in it, group by group.
        on = ["p_group"] if em.packed else []
        total = counts([], [])
        outside = (total.join(scoped.select(*on, pl.col("n").alias("n_in")), on=on, how="left") if on else total.with_columns(n_in=scoped["n"]))
        outside = outside.with_columns(n=pl.col("n") - pl.col("n_in").fill_null(0), in_scope=pl.lit(False)).drop("n_in")
        return pl.concat([scoped, outside], how="diagonal_relaxed")

    def _census_distinct(self, em: EntityMap, tables: dict[str, sa.TableClause], pushed: list[Predicate]) -> pl.DataFrame:
        """A distinct entity's records (one per distinct value of the column the stream orders by), counted with
        and without the pushed predicates."""
        counts = []
        for predicates in (pushed, []):
            inner = self._filtered(em, tables, sa.select(_col(tables, em.order_by)).distinct(), predicates).subquery()
            counts.append(int(self._read_all(self._compile(sa.select(sa.func.count().label("n")).select_from(inner))).column("n")[0].as_py()))
        scoped, total = counts
        return pl.DataFrame({"in_scope": [True, False], "n": [scoped, total - scoped]})

    def _census_parts(self, em: EntityMap, rows: pl.DataFrame, in_memory: list[Predicate]) -> Census:
        """Grouped counts spread over each group's parts: one weighted row per group and part."""
        assert em.packed is not None
        rows = rows.with_columns(pl.col("p_group").cast(pl.String)).join(self._parts(em), on="p_group", how="inner")
        parts = {n: _utf8(rows[f"part_{n}"].to_arrow()) for n in em.packed.parts_fields}
        values: dict[str, pa.Array] = {}
        for name in _ordered(em, {f for f in em.fields if _per_part(em, f)}):
            fm = em.fields[name]
            if f"value_{name}" in rows.columns:
                values[name] = _convert_simple(rows[f"value_{name}"].to_arrow(), fm)
            elif fm.kind == "part" or (fm.kind in ("compose", "classify") and all(src in values for src in fm.source)):
                values[name] = self._computed(fm, values, parts)
        batch = pa.RecordBatch.from_pydict(values)
        classify = sorted(f for f in em.fields if em.fields[f].kind == "classify")
        otherwise = pl.Series(predicate.mask(batch, [p for p in in_memory if p.field not in classify])) & rows["in_scope"]
        frame = rows.select("n").with_columns(otherwise=otherwise, kept=otherwise & pl.Series(predicate.mask(batch, in_memory)))
        tags: dict[str, tuple[int, int]] = {}
        for f in classify:
            listed = frame.with_columns(tag=pl.Series(values[f])).explode("tag").drop_nulls("tag")
            for tag, n_otherwise, n_kept in listed.group_by("tag").agg(
                otherwise=pl.col("n").filter("otherwise").sum(), kept=pl.col("n").filter("kept").sum()
            ).sort("tag").iter_rows():
                if n_otherwise:
                    tags[tag] = (int(n_otherwise), int(n_kept))
        return Census(int(rows["n"].sum()), int(frame.filter("kept")["n"].sum()), tags, exact=False)

    # -- query building ---------------------------------------------------------------------

    def _entity_map(self, entity: str) -> EntityMap:
        try:
            return self.profile.entities[entity]
        except KeyError:
            raise ProfileError(f"profile {self.profile.name} does not map the entity {entity}") from None

    def _pushable(self, em: EntityMap, p: Predicate) -> bool:
        fm = em.fields.get(p.field)
        if fm is None or fm.kind not in ("column", "attribute") or fm.mapping or fm.lookup or p.op == "none_of":
            return False
        if p.op == "in_extraction":
            sub = p.value
            if sub.entity not in self.profile.entities:
                return False
            sm = self._entity_map(sub.entity).fields.get(sub.fields[0])
            # A digest on both sides compares as the raw values it digests do (it is one-to-one).
            digests = sm is not None and fm.convert == sm.convert == "digest" and sm.kind == "column" and not (sm.mapping or sm.lookup or sm.nullif or fm.nullif)
            return digests or (fm.convert in _PUSHABLE_CONVERTS and self._pushable(self._entity_map(sub.entity), Predicate(sub.fields[0], "not_null")))
        if fm.convert not in _PUSHABLE_CONVERTS:
            return False
        return not (fm.nullif is not None and p.op in ("not_in", "not_null"))

    def _wholly_pushable(self, em: EntityMap, p: Predicate) -> bool:
        """Pushable, and so is every predicate of the records a semi-join reads: SQL alone then decides."""
        if not self._pushable(em, p):
            return False
        return p.op != "in_extraction" or all(self._wholly_pushable(self._entity_map(p.value.entity), q) for q in p.value.predicates)

    def _tables(self, em: EntityMap, fields: Iterable[str] = ()) -> dict[str, Any]:
        """The profile's tables (with the columns any entity reads, so that another entity's conditions on the
        same tables compile against these), and the pivot of ``em``'s custom fields among ``fields`` (the
        fields a statement selects or filters on), if any."""
        columns: dict[str, set[str]] = {}
        for ref in set().union(*(self.profile.columns(e) for e in self.profile.entities)):
            t, c = ref.split(".")
            columns.setdefault(t, set()).add(c)
        tables: dict[str, Any] = {t: sa.table(t, *(sa.column(c) for c in sorted(cs))) for t, cs in columns.items()}
        custom = sorted({em.fields[f].source for f in fields if em.fields[f].kind == "attribute"})  # type: ignore[misc]
        if custom:
            tables[_PIVOT] = self._pivot(em, custom)
        return tables

    def _query(self, em: EntityMap, needed: set[str], pushed: list[Predicate], after: Any = None) -> tuple[str, dict[str, str]]:
        """The SELECT for ``needed`` fields with the ``pushed`` predicates, and the label of each field's column.

        Rows come in ``order_by`` order, with that column as ``o_cursor``; ``after`` skips up to that position.
        """
        tables = self._tables(em, needed | {p.field for p in pushed})
        exprs = {name: self._expr(em, tables, name) for name in sorted(needed) if em.fields[name].kind in ("column", "attribute")}
        labels: dict[str, str] = {}
        columns = []
        for i, (name, expr) in enumerate(exprs.items()):
            fm = em.fields[name]
            shown = sa.cast(expr, sa.String) if fm.convert in ("date", "datetime") else expr
            labels[name] = f"c{i}"
            columns.append(shown.label(labels[name]))
        if em.packed:
            labels["@packed"], labels["@group"] = "p_value", "p_group"
            columns += [_col(tables, em.packed.column).label("p_value"), _col(tables, em.packed.group).label("p_group")]
        order = _col(tables, em.order_by)
        columns.append(order.label("o_cursor"))
        stmt = self._filtered(em, tables, sa.select(*columns), pushed)
        if after is not None:
            stmt = stmt.where(order > after)
        if em.distinct:
            stmt = stmt.distinct()
        return self._compile(stmt.order_by(order)), labels

    def _expr(self, em: EntityMap, tables: dict[str, sa.TableClause], name: str) -> Any:
        fm = em.fields[name]
        if fm.kind == "column":
            return _col(tables, fm.source)  # type: ignore[arg-type]
        return self._attribute(em, tables, fm.source)  # type: ignore[arg-type]

    def _filtered(self, em: EntityMap, tables: dict[str, sa.TableClause], stmt: Any, pushed: list[Predicate]) -> Any:
        """``stmt`` from the entity's table and joins (and custom fields' pivot), with its mapping conditions and
        the pushed predicates."""
        joins, conditions = self._where(em, tables, pushed)
        source = _joined(tables, em.table, tuple(joins))
        if _PIVOT in tables:
            key = em.attributes.key  # type: ignore[union-attr]
            source = source.outerjoin(tables[_PIVOT], tables[_PIVOT].c[key] == tables[em.table].c[key])
        stmt = stmt.select_from(source)
        return stmt.where(sa.and_(*conditions)) if conditions else stmt

    def _where(self, em: EntityMap, tables: dict[str, Any], pushed: list[Predicate]) -> tuple[list[Join], list[Any]]:
        """The joins and conditions that select ``em``'s records meeting ``pushed``: a semi-join on the same
        rows merged into them (see :meth:`_same_rows`), at every depth; any other as a subquery."""
        joins, conditions = list(em.joins), self._mapping_conditions(em, tables)
        for p in pushed:
            same = self._same_rows(em, p)
            if same is not None:
                other, predicates = same
                other_joins, other_conditions = self._where(other, tables, predicates)
                ours = {j.table: j for j in joins}
                # The other entity's joins are many-to-one (see _same_rows); one that clashes with ours cannot merge.
                if all(ours.get(j.table, j) == j for j in other_joins):
                    joins += [j for j in other_joins if j not in joins]
                    conditions += [_col(tables, em.order_by).is_not(None), *other_conditions]
                    continue
            conditions += self._conditions(em, tables, [p])
        return joins, conditions

    def _same_rows(self, em: EntityMap, p: Predicate) -> tuple[EntityMap, list[Predicate]] | None:
        """For a semi-join on another entity's records that are the very rows of ``em``'s table (BLIS: the
        orders of the specimens in scope, both rows of ``specimen``, matched on its order column), that
        entity and its pushed predicates, which then apply to the row itself: the database reads the table
        once instead of joining it to itself (7 s of MariaDB for 1.5 million specimens). The match is on
        the other entity's ``order_by`` column, unique in a non-distinct entity since runs resume by it, so
        its joins are many-to-one.

        ``em`` may be distinct on that column (BLIS practitioners: the distinct prescribers of ``specimen``)
        when what makes a row one of its records depends on that column alone: a value is then one of the
        records in scope exactly when a row of it meets the other entity's conditions."""
        if p.op != "in_extraction":
            return None
        other = self._entity_map(p.value.entity)
        fm, sm = em.fields[p.field], other.fields[p.value.fields[0]]
        if not (fm.kind == sm.kind == "column" and fm.source == sm.source == em.order_by and em.table == other.table):
            return None
        same_rows = not em.distinct and other.order_by == em.order_by
        same_values = em.distinct and all(c.column == em.order_by for c in em.where)
        if not (same_rows or same_values) or other.distinct or em.packed or other.packed:
            return None
        predicates = [q for q in p.value.predicates if self._pushable(other, q)]
        if any(other.fields[q.field].kind == "attribute" for q in predicates):
            return None
        return other, predicates

    def _mapping_conditions(self, em: EntityMap, tables: dict[str, sa.TableClause]) -> list[Any]:
        """What makes a source row one of the entity's records (BLIS: a test with a result)."""
        return [sa.and_(_col(tables, c.column).is_not(None), _col(tables, c.column) != "") for c in em.where if c.op == "not_empty"]

    def _conditions(self, em: EntityMap, tables: dict[str, sa.TableClause], pushed: list[Predicate]) -> list[Any]:
        """The pushed predicates in SQL."""
        out = []
        for p in pushed:
            expr = self._expr(em, tables, p.field)
            out.append(expr.in_(self._subselect(p.value)) if p.op == "in_extraction" else _sql_condition(expr, p))
        return out

    def _subselect(self, sub: Extraction) -> Any:
        """The values of ``sub``'s only field, as a SQL subquery with ``sub``'s pushable predicates."""
        em = self._entity_map(sub.entity)
        pushed = [p for p in sub.predicates if self._pushable(em, p)]
        tables = self._tables(em, [sub.fields[0], *(p.field for p in pushed)])
        return self._filtered(em, tables, sa.select(self._expr(em, tables, sub.fields[0])), pushed)

    def _attribute(self, em: EntityMap, tables: dict[str, Any], name: str) -> Any:
        """The value of custom field ``name`` for the record: its column in the pivot (see :meth:`_tables`)."""
        return tables[_PIVOT].c[name]

    def _pivot(self, em: EntityMap, names: list[str]) -> Any:
        """One row per record with a column per custom field in ``names`` (its value, or NULL): one grouped
        lookup per record, where a correlated subquery per field costs one per record and field (BLIS
        patients' six custom fields, 500,000 patients: 28 s, against 7 s for the pivot). The names are not
        filtered in ``WHERE``: with that filter MariaDB drives the pivot from the names table and fetches every
        value through the field index (49 s)."""
        a = em.attributes
        assert a is not None  # the profile parser guarantees it
        values = sa.table(a.table, sa.column(a.key), sa.column(a.attribute), sa.column(a.value)).alias("attr_values")
        fields = sa.table(a.names_table, sa.column(a.names_id), sa.column(a.names_name)).alias("attr_names")
        name = fields.c[a.names_name]
        return (
            sa.select(values.c[a.key], *(sa.func.max(sa.case((name == n, values.c[a.value]))).label(n) for n in names))
            .select_from(values.join(fields, values.c[a.attribute] == fields.c[a.names_id]))
            .group_by(values.c[a.key])
            .subquery("attr_pivot")
        )

    def _compile(self, stmt: Any) -> str:
        dialect = dburl.sqlalchemy_url(self.url).get_dialect()()
        return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    # -- reading ----------------------------------------------------------------------------

    def _batch_rows(self, em: EntityMap) -> int:
        """Source rows per batch: ``batch_rows``, divided for a packed entity by the mean parts per group (an
        estimate: frequent BLIS tests have more measures, and 50,000 tests made ~140,000 results of 26 columns,
        now ~31,000 tests make ~88,000)."""
        if em.packed is None:
            return self.batch_rows
        parts = self._parts(em)
        per_record = len(parts) / max(parts["p_group"].n_unique(), 1)
        return max(1, int(self.batch_rows / max(per_record, 1)))

    def _read(self, query: str, rows: int | None = None) -> Iterator[pa.RecordBatch]:
        rows = rows or self.batch_rows
        if self.dialect == "sqlite":
            yield from self._read_sqlite(query, rows)
            return
        try:
            reader = cx.read_sql(dburl.connectorx_url(self.url), query, return_type="arrow_stream", batch_size=rows)
            yield from reader
        except (RuntimeError, OSError) as e:
            raise self._failed(e) from None

    def _failed(self, e: Exception) -> SourceError:
        # connectorx messages carry driver text, never row values; keep the first line.
        return SourceError(f"reading the source {dburl.describe(self.url)} failed: {str(e).splitlines()[0][:200]}")

    def _read_sqlite(self, query: str, rows_per_batch: int) -> Iterator[pa.RecordBatch]:
        """SQLite through the standard library, read-only: connectorx infers an expression column's type
        from its first value and fails when that is NULL (a custom field a patient lacks)."""
        path = dburl.parse(self.url).database
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                cursor = conn.execute(query)
                names = [d[0] for d in cursor.description]
                while rows := cursor.fetchmany(rows_per_batch):
                    yield pa.RecordBatch.from_arrays([_column(values) for values in zip(*rows)], names=names)
            finally:
                conn.close()
        except sqlite3.Error as e:
            raise SourceError(f"reading the source {dburl.describe(self.url)} failed: {str(e).splitlines()[0][:200]}") from None

    def _read_all(self, query: str) -> pa.Table:
        """A small result (counts, reference tables) at once. connectorx waits for the server without holding
        the GIL when it returns a table, not when it streams, so the plan's counts run side by side."""
        if self.dialect == "sqlite":
            return pa.Table.from_batches(list(self._read(query)))
        try:
            return cx.read_sql(dburl.connectorx_url(self.url), query, return_type="arrow")
        except (RuntimeError, OSError) as e:
            raise self._failed(e) from None

    def _parts(self, em: EntityMap) -> pl.DataFrame:
        """The small reference table of packed parts (BLIS: measures per test type), read once."""
        if em.entity in self._parts_cache:
            return self._parts_cache[em.entity]
        p = em.packed
        assert p is not None
        tables = self._tables(em)
        names = sorted(p.parts_fields)
        stmt = (
            sa.select(
                _col(tables, p.parts_group).label("p_group"),
                *(_col(tables, p.parts_fields[n].source).label(f"part_{n}") for n in names),  # type: ignore[arg-type]
            )
            .select_from(_joined(tables, p.parts_from, p.parts_joins))
            .order_by(_col(tables, p.parts_group), _col(tables, p.parts_order_by))
        )
        df = pl.from_arrow(self._read_all(self._compile(stmt)))
        assert isinstance(df, pl.DataFrame)
        converted = {f"part_{n}": _convert_simple(df[f"part_{n}"].to_arrow(), p.parts_fields[n]) for n in names}
        df = df.with_columns(**{k: pl.Series(v) for k, v in converted.items()})
        df = df.with_columns(p_group=pl.col("p_group").cast(pl.String), p_pos=pl.int_range(pl.len()).over("p_group").cast(pl.UInt32))
        self._parts_cache[em.entity] = df
        return df

    # -- conversion to the canonical model ----------------------------------------------------

    def _canonical(self, em: EntityMap, raw: pa.RecordBatch, labels: dict[str, str], needed: set[str]) -> pa.RecordBatch:
        ent = model.entity(em.entity)
        table = pa.Table.from_batches([raw])
        parts: dict[str, pa.Array] = {}
        if em.packed:
            table, parts = self._unpack(em, table, labels)
        keys = table.column(labels[_first_column_field(em)]).combine_chunks()
        quarantined: set[int] = set()  # rows a conversion rejected: left out, like malformed packed ones
        values: dict[str, pa.Array] = {}
        derived: dict[str, pa.Array] | None = None
        for name in _ordered(em, needed):
            fm = em.fields[name]
            if fm.kind in ("column", "attribute"):
                arr = self._convert(em, name, table.column(labels[name]).combine_chunks(), keys, quarantined)
            elif fm.kind == "derive":  # one pass gives every derived field, so it runs once per batch
                if derived is None:
                    derived = results.derive(values["value_text"], parts.get("reference_text", pa.nulls(len(table), pa.string())))
                arr = derived[name]
            else:
                arr = self._computed(fm, values, parts)
            values[name] = arr
        arrays = [values[f.name].cast(f.type) for f in ent.fields if f.name in values]
        fields = [f.arrow() for f in ent.fields if f.name in values]
        batch = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
        if quarantined:
            keep = np.ones(batch.num_rows, dtype=bool)
            keep[list(quarantined)] = False
            batch = batch.filter(pa.array(keep))
        return batch

    def _computed(self, fm: FieldMap, values: dict[str, pa.Array], parts: dict[str, pa.Array]) -> pa.Array:
        """A part, compose or classify field, from the parts and the fields computed before it."""
        if fm.kind == "part":
            arr = parts[fm.source]  # type: ignore[index]
            return _lookup(arr, self.profile.codes[fm.lookup]) if fm.lookup else arr
        if fm.kind == "compose":
            return pc.binary_join_element_wise(*(values[s] for s in fm.source), fm.separator)
        from airlock import sensitivity

        return sensitivity.tag_column(*(values[s] for s in fm.source), curated=self.profile.sensitivity)

    def _convert(self, em: EntityMap, name: str, arr: pa.Array, keys: pa.Array, quarantined: set[int]) -> pa.Array:
        fm = em.fields[name]
        if fm.convert in ("date", "datetime"):
            return self._parse_dates(em, name, arr, keys, quarantined)
        return _convert_simple(arr, fm)

    def _parse_dates(self, em: EntityMap, name: str, arr: pa.Array, keys: pa.Array, quarantined: set[int]) -> pa.Array:
        fm = em.fields[name]
        s = pl.Series(arr).cast(pl.String).str.strip_chars()
        text = pl.when(s.str.contains(_ZERO_DATE) | (s == "")).then(None).otherwise(s)
        df = pl.DataFrame({"t": s}).with_columns(t=text)
        parsed = df.select(
            pl.coalesce(
                pl.col("t").str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False),
                pl.col("t").str.strptime(pl.Datetime("us"), "%Y-%m-%d", strict=False),
            )
        ).to_series()
        bad = parsed.is_null() & df["t"].is_not_null()
        if bad.any():
            # Bad records are few; naming each one is a loop over them, not over the batch.
            for row in bad.arg_true().to_list():
                self._bad_record(em, str(keys[row].as_py()), name, f"not a valid date in {fm.source}")
            quarantined |= set(bad.arg_true().to_list())
        out = parsed.to_arrow().cast(pa.timestamp("s"))
        return out.cast(pa.date32()) if fm.convert == "date" else out

    def _bad_record(self, em: EntityMap, key: str, field: str, problem: str) -> None:
        if self.on_bad_record == "fail":
            raise RecordError(em.entity, key, field, problem, _BAD_RECORD_HINT)
        if self.on_reject:
            self.on_reject(Rejected(em.entity, key, field, problem))

    def _unpack(self, em: EntityMap, table: pa.Table, labels: dict[str, str]) -> tuple[pa.Table, dict[str, pa.Array]]:
        """One row per packed value: split, check the count against the parts, join the parts' fields."""
        p = em.packed
        assert p is not None
        parts = self._parts(em)
        expected = parts.group_by("p_group").agg(p_expected=pl.len().cast(pl.UInt32))
        df = pl.DataFrame(
            {
                "p_row": pl.int_range(table.num_rows, eager=True).cast(pl.UInt32),
                "p_group": pl.Series(table.column(labels["@group"]).combine_chunks()).cast(pl.String),
                "p_vals": pl.Series(table.column(labels["@packed"]).combine_chunks())
                .cast(pl.String)
                .str.replace(p.trailer, "")
                .str.split(p.separator),
            }
        ).join(expected, on="p_group", how="left", maintain_order="left")
        counts = df["p_vals"].list.len().cast(pl.UInt32)
        bad = counts != df["p_expected"].fill_null(0)
        keep_rows = ~bad
        if bad.any():
            keys = table.column(labels[_first_column_field(em)]).combine_chunks()
            expected_counts = df["p_expected"].fill_null(0)
            # Bad records are few; naming each one is a loop over them, not over the batch.
            for i in bad.arg_true().to_list():
                problem = f"packed {p.column} holds {counts[i]} values where the test type has {expected_counts[i]} parts"
                self._bad_record(em, str(keys[i].as_py()), "value_text", problem)
        exploded = (
            df.filter(keep_rows)
            .with_columns(p_pos=pl.int_ranges(0, pl.col("p_vals").list.len(), dtype=pl.UInt32))
            .explode(["p_vals", "p_pos"])
            .with_columns(p_vals=pl.col("p_vals").str.strip_chars())
            .filter(pl.col("p_vals").is_not_null() & (pl.col("p_vals") != ""))
            .join(parts, on=["p_group", "p_pos"], how="left", maintain_order="left")
        )
        rows = exploded["p_row"].to_arrow()
        out = table.take(rows)
        fields = {n: exploded[f"part_{n}"].to_arrow() for n in p.parts_fields}
        fields["value"] = exploded["p_vals"].to_arrow()
        return out, {k: _utf8(v) for k, v in fields.items()}

def _column(values: tuple[Any, ...]) -> pa.Array:
    """One SQLite column as Arrow; a column mixing types (SQLite allows it) comes as text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _first_column_field(em: EntityMap) -> str:
    """The field holding the source row's own id (named in errors): the first column-mapped id field."""
    for name, fm in em.fields.items():
        if fm.kind == "column" and name.endswith("_id"):
            return name
    raise ProfileError(f"entities.{em.entity}: no id field mapped from a column")


def _closure(em: EntityMap, wanted: set[str]) -> set[str]:
    """The wanted fields plus everything they are computed from, and the field that names records in errors."""
    return _depends(em, wanted) | {_first_column_field(em)}


def _depends(em: EntityMap, names: Iterable[str]) -> set[str]:
    """The fields ``names`` are computed from, themselves included."""
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        fm = em.fields[name]
        if fm.kind in ("compose", "classify"):
            todo += list(fm.source)
        elif fm.kind == "derive":
            todo.append("value_text")
    return out


def _per_part(em: EntityMap, name: str) -> bool:
    """Whether a field of a packed entity is the same for every record of a group with the same column values:
    columns and attributes (counted per value), parts other than the packed value, and what is computed from them."""
    fm = em.fields[name]
    if fm.kind in ("column", "attribute"):
        return True
    if fm.kind == "part":
        return em.packed is not None and fm.source in em.packed.parts_fields
    if fm.kind in ("compose", "classify"):
        return all(_per_part(em, s) for s in fm.source)
    return False


def _ordered(em: EntityMap, needed: set[str]) -> list[str]:
    """Fields in an order where each is computed after what it depends on."""
    rank = {"column": 0, "attribute": 0, "part": 1, "compose": 2, "classify": 3, "derive": 3}
    key = model.entity(em.entity).key
    return sorted(needed, key=lambda n: (rank[em.fields[n].kind], n != key, n))


def _convert_simple(arr: pa.Array, fm: FieldMap) -> pa.Array:
    """Conversions that cannot fail: text, nullif, value maps, digests, name splitting, code lookups."""
    s = pl.Series(arr)
    if fm.convert == "text" or fm.mapping is not None or fm.nullif is not None or s.dtype != pl.String:
        s = s.cast(pl.String)
    if fm.nullif is not None:
        s = s.set(s == fm.nullif, None)  # type: ignore[arg-type]
    if fm.mapping is not None:
        mapped = s.replace_strict(fm.mapping, default=fm.default, return_dtype=pl.String)
        s = mapped.set(s.is_null(), fm.if_null) if fm.if_null is not None else mapped.set(s.is_null(), None)  # type: ignore[arg-type]
    if fm.convert == "digest":
        s = _digest(s)
    elif fm.convert == "family_name":
        s = s.str.strip_chars().str.extract(r"(\S+)$", 1)
    elif fm.convert == "given_names":
        s = s.str.strip_chars().str.extract(r"^(.*\S)\s+\S+$", 1)
    out = s.to_arrow()
    return _utf8(out)


def _utf8(arr: pa.Array) -> pa.Array:
    """Polars' large strings as the model's ``string`` type."""
    return arr.cast(pa.string()) if pa.types.is_large_string(arr.type) else arr


def _digest(s: pl.Series) -> pl.Series:
    """A stable short id per distinct value; hashes each distinct value once, not each row."""
    distinct = s.drop_nulls().unique()
    ids = {v: hashlib.sha256(v.encode()).hexdigest()[:16] for v in distinct.to_list()}
    return s.replace_strict(ids, default=None, return_dtype=pl.String)


def _lookup(arr: pa.Array, codes: dict[str, str]) -> pa.Array:
    out = pl.Series(arr).cast(pl.String).replace_strict(codes, default=None, return_dtype=pl.String).to_arrow()
    return out.cast(pa.string())


def _literal(value: Any, upper: bool = False) -> Any:
    """A predicate value as the source column holds it; dates as ISO text (DATE columns compare with it)."""
    if isinstance(value, datetime):
        if value.time() == datetime.min.time() and not upper:
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat() if not upper else f"{value.isoformat()} 23:59:59"
    return value


def _joined(tables: dict[str, sa.TableClause], table: str, joins: tuple[Join, ...]) -> Any:
    """``table`` LEFT JOINed with ``joins`` (each join's ``on`` pairs ANDed)."""
    source: Any = tables[table]
    for j in joins:
        source = source.outerjoin(tables[j.table], sa.and_(*(_col(tables, a) == _col(tables, b) for a, b in j.on)))
    return source


def _group_join(em: EntityMap, field: str) -> Join | None:
    """The join that brings ``field``'s column when it joins that table on the packed group column alone."""
    source = em.fields[field].source
    if em.packed is None or em.fields[field].kind != "column" or not isinstance(source, str):
        return None
    table = source.split(".")[0]
    return next((j for j in em.joins if j.table == table and len(j.on) == 1 and j.on[0][0] == em.packed.group), None)


def _col(tables: dict[str, sa.TableClause], ref: str) -> sa.ColumnClause:
    t, c = ref.split(".")
    return tables[t].c[c]


def _sql_condition(expr: Any, p: Predicate) -> Any:
    if p.op == "not_null":
        return expr.is_not(None)
    if p.op == "in":
        return expr.in_([_literal(v) for v in p.value])
    if p.op == "not_in":
        return sa.or_(expr.not_in([_literal(v) for v in p.value]), expr.is_(None))
    if p.op == "between":
        low, high = p.value
        return sa.and_(expr >= _literal(low), expr <= _literal(high, upper=True))
    if p.op == "ge":
        return expr >= _literal(p.value)
    if p.op == "le":
        return expr <= _literal(p.value, upper=True)
    return expr == _literal(p.value)

