"""Row predicates on canonical fields, and what to read of one entity.

A source pushes the predicates it can into its query; whatever it cannot push
(or all of them, for a source that can only dump everything) is applied to
each batch in memory with :func:`mask`, before the batch goes anywhere.

>>> import pyarrow as pa, datetime as dt
>>> batch = pa.record_batch({"site_id": ["1", "2", None], "n": [1.0, 5.0, 3.0]})
>>> mask(batch, [Predicate("site_id", "in", ("2", "3"))]).to_pylist()
[False, True, False]
>>> mask(batch, [Predicate("n", "between", (2.0, 4.0))]).to_pylist()
[False, False, True]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Op = Literal["eq", "in", "not_in", "ge", "le", "between", "not_null", "none_of", "in_extraction"]

OPS: tuple[str, ...] = ("eq", "in", "not_in", "ge", "le", "between", "not_null", "none_of", "in_extraction")


@dataclass(frozen=True)
class Predicate:
    """``field op value``; a null field never satisfies a predicate except ``not_in`` and ``none_of``.

    ``between`` is inclusive and takes ``(low, high)``; ``none_of`` holds for a
    list field (sensitivity tags) that shares no element with ``value``;
    ``in_extraction`` (a semi-join) holds when the field's value is among the
    values of the only field of another :class:`Extraction` — e.g. patients
    that have a specimen in scope. A source resolves it before :func:`mask`.
    """

    field: str
    op: Op
    value: Any = None

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown predicate operator {self.op!r}")


@dataclass(frozen=True)
class Extraction:
    """What to read of one entity: the fields to deliver and the rows to keep."""

    entity: str
    fields: tuple[str, ...]
    predicates: tuple[Predicate, ...] = field(default=())


def _scalar(value: Any, type_: pa.DataType) -> pa.Scalar:
    if pa.types.is_timestamp(type_) and not isinstance(value, pa.Scalar):
        return pa.scalar(value).cast(type_)
    return pa.scalar(value, type=type_)


def _one(column: pa.Array, p: Predicate) -> pa.Array:
    t = column.type
    if p.op == "not_null":
        return pc.is_valid(column)
    if p.op == "none_of":
        hit = pc.is_in(pc.list_flatten(column), value_set=pa.array(list(p.value), type=pa.string()))
        rows_hit = pc.filter(pc.list_parent_indices(column), hit)
        rows = pa.array(np.arange(len(column), dtype=rows_hit.type.to_pandas_dtype()))
        return pc.invert(pc.is_in(rows, value_set=rows_hit))
    if p.op == "in_extraction":
        raise ValueError("an in_extraction predicate must be resolved by the source before masking")
    if p.op in ("in", "not_in"):
        if isinstance(p.value, pa.Array):
            values = p.value.cast(t)
        else:
            values = pa.array(list(p.value)).cast(t) if len(p.value) else pa.array([], type=t)
        found = pc.fill_null(pc.is_in(column, value_set=values), False)
        if p.op == "in":
            return pc.and_(found, pc.is_valid(column))
        return pc.invert(found)
    if p.op == "between":
        low, high = p.value
        return pc.and_(pc.greater_equal(column, _scalar(low, t)), pc.less_equal(column, _scalar(high, t)))
    fn = {"eq": pc.equal, "ge": pc.greater_equal, "le": pc.less_equal}[p.op]
    return fn(column, _scalar(p.value, t))


def mask(batch: pa.RecordBatch, predicates: Sequence[Predicate]) -> pa.BooleanArray:
    """Which rows of ``batch`` satisfy every predicate (nulls count as not satisfied)."""
    keep = pa.nulls(batch.num_rows, pa.bool_()).fill_null(True)
    for p in predicates:
        keep = pc.and_(keep, pc.fill_null(_one(batch.column(p.field), p), False))
    return keep


def apply(batch: pa.RecordBatch, predicates: Sequence[Predicate]) -> pa.RecordBatch:
    return batch.filter(mask(batch, predicates)) if predicates else batch
