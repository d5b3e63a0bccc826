"""Reconciliation: does the target hold exactly what the run staged, no more, no less, unaltered?

Each side of an entity is summarised by a :class:`Fingerprint`: the row count and
an order-independent digest — the sums, modulo 2^64, of a 64-bit hash of every
normalised record (its fields cast to the canonical model's Arrow types, so a
target that stores a timestamp or a list its own way reads back as the same
record). A deleted, altered or duplicated record changes the digest whatever the
order of the rows. When the fingerprints differ, :func:`differences` names the
keys that differ (computed from one hash per record, never from values), and
only keys leave this module.

The hash is polars', stable within one polars version only: every digest ends
with :data:`SCHEME`, which names the hashing and the version, so that a digest
recorded by another version is recognised (:func:`comparable`) and recomputed
rather than compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

_MASK = (1 << 64) - 1
#: What made a digest: typed rows (not text) hashed by this polars version.
SCHEME = hashlib.sha256(f"typed rows, polars {pl.__version__}".encode()).hexdigest()[:8]


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


def normalise(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> pl.DataFrame:
    """The schema's columns, in its order and with its types: the same record is the same row on every side.

    Hashing typed values costs a fifth of hashing them as text, and a cast to a type the column already has
    copies nothing.

    >>> schema = pa.schema([("id", pa.string()), ("at", pa.timestamp("s"))])
    >>> stored = pa.record_batch({"at": pa.array([0], pa.timestamp("us")), "id": pa.array(["1"], pa.large_string())})
    >>> normalise(stored, schema).equals(normalise(pa.record_batch([["1"], pa.array([0], pa.timestamp("s"))], schema=schema), schema))
    True
    """
    df = pl.from_arrow(batch.select(schema.names).cast(schema))
    assert isinstance(df, pl.DataFrame)
    return df


def comparable(digest: str) -> bool:
    """Whether ``digest`` was made the way this process makes them (see :data:`SCHEME`)."""
    return digest.endswith(f".{SCHEME}")


def _hashes(df: pl.DataFrame) -> pl.Series:
    # Stable within one polars version; both sides of a reconciliation are hashed by the same process.
    return df.hash_rows(seed=0x41495231)


class Accumulator:
    """A fingerprint built batch by batch (see :func:`fingerprint`)."""

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self.rows = self._high = self._low = 0

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows:
            self.add_normalised(normalise(batch, self.schema))

    def add_normalised(self, df: pl.DataFrame) -> None:
        """Add rows already through :func:`normalise` with this accumulator's schema."""
        h = _hashes(df)
        self.rows += len(h)
        self._high += int((h // (1 << 32)).sum())
        self._low += int((h % (1 << 32)).sum())

    def result(self) -> Fingerprint:
        digest = ((self._high << 32) + self._low) & _MASK
        return Fingerprint(self.rows, f"{digest:016x}{self.rows:016x}.{SCHEME}")


def fingerprint(batches: Iterable[pa.RecordBatch | pa.Table], schema: pa.Schema) -> Fingerprint:
    acc = Accumulator(schema)
    for batch in batches:
        acc.add(batch)
    return acc.result()


class FieldReport:
    """Per field: values present (non-null) and an order-independent digest of the field alone, batch by batch.

    What the controller reads to see that nothing more than the mandate's fields was taken. A field's digest
    is the fingerprint of that column alone, whether or not the batch comes already normalised:

    >>> batch = pa.record_batch({"id": ["1", "2"], "name": ["Ana", None]})
    >>> report, shared = FieldReport(batch.schema), FieldReport(batch.schema)
    >>> report.add(batch); shared.add(batch, normalise(batch, batch.schema))
    >>> report.result()["name"]["values"], report.result() == shared.result()
    (1, True)
    >>> name = batch.select(["name"])
    >>> report.result()["name"]["digest"] == fingerprint([name], name.schema).digest[:16]
    True
    """

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self.present = dict.fromkeys(schema.names, 0)
        self.digests = {f.name: Accumulator(pa.schema([f])) for f in schema}

    def add(self, batch: pa.RecordBatch, normalised: pl.DataFrame | None = None) -> None:
        """Add a batch; ``normalised``, the batch through :func:`normalise` with the report's schema, saves
        normalising it again when the caller fingerprints the whole rows too."""
        if batch.num_rows == 0:
            return
        # Normalised once for all columns: per column, the values are the same and only the hash is the field's.
        df = normalise(batch, self.schema) if normalised is None else normalised
        for c, acc in self.digests.items():
            self.present[c] += batch.num_rows - batch.column(c).null_count
            acc.add_normalised(df.select(c))

    def result(self) -> dict[str, dict[str, object]]:
        return {c: {"values": self.present[c], "digest": acc.result().digest[:16]} for c, acc in self.digests.items()}


def _keyed(batches: Iterable[pa.RecordBatch | pa.Table], schema: pa.Schema, key: str) -> pl.DataFrame:
    parts = []
    for b in batches:
        if b.num_rows:
            df = normalise(b, schema)
            parts.append(df.select(pl.col(key).cast(pl.String).alias("k")).with_columns(h=_hashes(df)))
    return pl.concat(parts) if parts else pl.DataFrame({"k": [], "h": []}, schema={"k": pl.String, "h": pl.UInt64})


def differences(expected: Iterable[pa.RecordBatch], actual: Iterable[pa.RecordBatch], schema: pa.Schema, key: str) -> Differences:
    """Which keys differ between two sides; holds one key and one hash per record, not the records."""
    e, a = _keyed(expected, schema, key), _keyed(actual, schema, key)
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
