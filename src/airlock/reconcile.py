"""Reconciliation: does the target hold exactly what the run staged, no more, no less, unaltered?

Each side of an entity is summarised by a :class:`Fingerprint`: the row count and
an order-independent digest — the sums, modulo 2^64, of a 64-bit hash of every
normalised record (all fields as canonical text). A deleted, altered or
duplicated record changes the digest whatever the order of the rows. When the
fingerprints differ, :func:`differences` names the keys that differ (computed
from one hash per record, never from values), and only keys leave this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class Fingerprint:
    rows: int
    digest: str

    def __str__(self) -> str:
        return f"{self.rows} rows, digest {self.digest[:16]}"


@dataclass(frozen=True)
class Differences:
    """Keys present on one side only, and keys present on both with different content."""

    missing: tuple[str, ...]  # staged, not in the target
    unexpected: tuple[str, ...]  # in the target, not staged
    altered: tuple[str, ...]
    duplicated: tuple[str, ...]  # more than once in the target

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.unexpected) + len(self.altered) + len(self.duplicated)


def normalise(batch: pa.RecordBatch | pa.Table, columns: list[str]) -> pl.DataFrame:
    """The given columns, in that order, as canonical text: the same record gives the same text on every side."""
    df = pl.from_arrow(batch)
    assert isinstance(df, pl.DataFrame)
    out = []
    for name in columns:
        s = df[name]
        if s.dtype == pl.List(pl.String):
            s = _joined_sorted(s)
        elif s.dtype in (pl.Float32, pl.Float64):
            # Shortest round-trip text of the double, so 4.2 reads "4.2" on every side.
            s = s.cast(pl.Float64).cast(pl.String)
        elif isinstance(s.dtype, pl.Datetime):
            s = s.dt.strftime("%Y-%m-%d %H:%M:%S")
        elif s.dtype == pl.Date:
            s = s.dt.strftime("%Y-%m-%d")
        else:
            s = s.cast(pl.String)
        out.append(s.fill_null("\x00").alias(name))
    return pl.DataFrame(out)


def _joined_sorted(s: pl.Series) -> pl.Series:
    """Each list's items sorted and joined by "|"; sorted once per distinct list (tag sets are few), since
    polars' per-row list.sort costs ~100 times more than this mapping.

    >>> _joined_sorted(pl.Series([["sti", "hiv"], [], None, ["hiv", "sti"]])).to_list()
    ['hiv|sti', '', None, 'hiv|sti']
    """
    distinct = s.unique().drop_nulls()
    text = pl.DataFrame({"s": distinct, "t": ["|".join(sorted(x for x in v if x is not None)) for v in distinct.to_list()]}, schema={"s": s.dtype, "t": pl.String})
    return pl.DataFrame({"s": s}).join(text, on="s", how="left", maintain_order="left")["t"].rename(s.name)


def _hashes(df: pl.DataFrame) -> pl.Series:
    # Stable within one polars version; both sides of a reconciliation are hashed by the same process.
    return df.hash_rows(seed=0x41495231)


class Accumulator:
    """A fingerprint built batch by batch (see :func:`fingerprint`)."""

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.rows = self._high = self._low = 0

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows:
            self.add_normalised(normalise(batch, self.columns))

    def add_normalised(self, df: pl.DataFrame) -> None:
        """Add rows already through :func:`normalise` with this accumulator's columns."""
        h = _hashes(df)
        self.rows += len(h)
        self._high += int((h // (1 << 32)).sum())
        self._low += int((h % (1 << 32)).sum())

    def result(self) -> Fingerprint:
        digest = ((self._high << 32) + self._low) & _MASK
        return Fingerprint(self.rows, f"{digest:016x}{self.rows:016x}")


def fingerprint(batches: Iterable[pa.RecordBatch | pa.Table], columns: list[str]) -> Fingerprint:
    acc = Accumulator(columns)
    for batch in batches:
        acc.add(batch)
    return acc.result()


class FieldReport:
    """Per field: values present (non-null) and an order-independent digest of the field alone, batch by batch.

    What the controller reads to see that nothing more than the mandate's fields was taken. A field's digest
    is the fingerprint of that column alone, whether or not the batch comes already normalised:

    >>> batch = pa.record_batch({"id": ["1", "2"], "name": ["Ana", None]})
    >>> report, shared = FieldReport(["id", "name"]), FieldReport(["id", "name"])
    >>> report.add(batch); shared.add(batch, normalise(batch, ["id", "name"]))
    >>> report.result()["name"]["values"], report.result() == shared.result()
    (1, True)
    >>> report.result()["name"]["digest"] == fingerprint([batch.select(["name"])], ["name"]).digest[:16]
    True
    """

    def __init__(self, columns: list[str]):
        self.present = dict.fromkeys(columns, 0)
        self.digests = {c: Accumulator([c]) for c in columns}

    def add(self, batch: pa.RecordBatch, normalised: pl.DataFrame | None = None) -> None:
        """Add a batch; ``normalised``, the batch through :func:`normalise` with the report's columns, saves
        normalising it again when the caller fingerprints the whole rows too."""
        if batch.num_rows == 0:
            return
        # Normalised once for all columns: per column, the text is the same and only the hash is the field's.
        df = normalise(batch, list(self.digests)) if normalised is None else normalised
        for c, acc in self.digests.items():
            self.present[c] += batch.num_rows - batch.column(c).null_count
            acc.add_normalised(df.select(c))

    def result(self) -> dict[str, dict[str, object]]:
        return {c: {"values": self.present[c], "digest": acc.result().digest[:16]} for c, acc in self.digests.items()}


def _keyed(batches: Iterable[pa.RecordBatch | pa.Table], columns: list[str], key: str) -> pl.DataFrame:
    parts = []
    for b in batches:
        if b.num_rows:
            df = normalise(b, columns)
            parts.append(df.select(pl.col(key).alias("k")).with_columns(h=_hashes(df)))
    return pl.concat(parts) if parts else pl.DataFrame({"k": [], "h": []}, schema={"k": pl.String, "h": pl.UInt64})


def differences(expected: Iterable[pa.RecordBatch], actual: Iterable[pa.RecordBatch], columns: list[str], key: str) -> Differences:
    """Which keys differ between two sides; holds one key and one hash per record, not the records."""
    e, a = _keyed(expected, columns, key), _keyed(actual, columns, key)
    dup = a.group_by("k").len().filter(pl.col("len") > 1)["k"]
    a1 = a.unique("k", keep="first")
    joined = e.join(a1, on="k", how="full", suffix="_t", coalesce=True)
    missing = joined.filter(pl.col("h_t").is_null())["k"]
    unexpected = joined.filter(pl.col("h").is_null())["k"]
    altered = joined.filter(pl.col("h").is_not_null() & pl.col("h_t").is_not_null() & (pl.col("h") != pl.col("h_t")))["k"]
    return Differences(*(tuple(sorted(s.to_list())) for s in (missing, unexpected, altered, dup)))


def read_back(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Target rows cast to the canonical schema, so both sides normalise alike (lists stored as JSON text too)."""
    for batch in batches:
        columns = []
        for f in schema:
            col = batch.column(f.name)
            if pa.types.is_list(f.type) and (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
                col = pl.Series(col).str.json_decode(pl.List(pl.String)).to_arrow()
            columns.append(col.cast(f.type))
        yield pa.RecordBatch.from_arrays(columns, schema=schema)
