"""FHIR resource ids from canonical ids: deterministic, valid and distinct.

A FHIR id matches ``[A-Za-z0-9\\-\\.]{1,64}``. Canonical ids are free strings
(``"123"``, ``"4711:12"``), so they are mapped column-wise:

- an id made of letters, digits and ``-`` (at most 64) is kept as it is;
- any other id becomes a readable part (runs of other characters replaced by
  ``-``), a ``.`` and the hex of its UTF-8 bytes. Kept ids never contain a
  ``.`` and the hex after the last ``.`` gives back the canonical id, so two
  canonical ids never share a FHIR id;
- when that is longer than 64 characters, the hex is replaced by 32 hex digits
  of its SHA-256 (distinct up to a 128-bit hash). Only those overlong ids go
  through Python, one per distinct value.

The same canonical id always gives the same FHIR id, across batches and runs,
so a re-run PUTs onto the same resources.

>>> import polars as pl
>>> fhir_ids(pl.Series(["123", "4711:12", "a.b", None])).to_list()
['123', '4711-12.343731313a3132', 'a-b.612e62', None]
>>> long = fhir_ids(pl.Series(["x/" * 40]))[0]
>>> len(long), long[:10]
(64, 'x-x-x-x-x-')
"""

from __future__ import annotations

import hashlib

import polars as pl

_KEPT = r"^[A-Za-z0-9\-]{1,64}$"
_MAX = 64
_READABLE_OF_HASHED = _MAX - 1 - 32


def fhir_ids(canonical: pl.Series) -> pl.Series:
    """FHIR ids of a column of canonical ids (nulls stay null)."""
    canonical = canonical.cast(pl.String)
    frame = pl.DataFrame({"c": canonical}).with_columns(
        readable=pl.col("c").str.replace_all(r"[^A-Za-z0-9\-]+", "-"),
    )
    ids = frame.select(
        pl.when(pl.col("c").str.contains(_KEPT))
        .then(pl.col("c"))
        .otherwise(pl.col("readable") + "." + pl.col("c").str.encode("hex"))
        .alias("id")
    ).to_series()
    overlong = ids.str.len_bytes() > _MAX
    if overlong.any():
        # Rare (long ids with characters outside the id alphabet): one hash per distinct value.
        hashed = {
            c: f"{c_readable[:_READABLE_OF_HASHED]}.{hashlib.sha256(c.encode()).hexdigest()[:32]}"
            for c, c_readable in frame.filter(overlong).unique("c").select("c", "readable").iter_rows()
        }
        ids = pl.select(
            pl.when(overlong).then(canonical.replace_strict(hashed, default=None)).otherwise(ids)
        ).to_series()
    return ids.alias(canonical.name)


def fhir_id(column: str) -> pl.Expr:
    """Expression: the FHIR ids of a canonical id column."""
    return pl.col(column).map_batches(fhir_ids, return_dtype=pl.String)
