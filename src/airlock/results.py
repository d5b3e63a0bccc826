"""What a result value *is*, derived from the value and reference range as the lab wrote them.

LIS databases store a value as text ("4.2", "Positive", "A") and a range as
text ("4.0:10.0", "Positif/Négatif"). The canonical model wants a value type, a
number where there is one, the bounds of the range and an abnormal flag.

>>> import pyarrow as pa
>>> d = derive(pa.array(["4.2", "12", "Positive", None]), pa.array(["4.0:10.0", "4.0:10.0", "Negative/Positive", None]))
>>> d["value_type"].to_pylist(), d["abnormal_flag"].to_pylist()
(['numeric', 'numeric', 'coded', None], ['N', 'H', None, None])
>>> d["reference_low"].to_pylist()
[4.0, 4.0, None, None]
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

DERIVED = ("value_type", "value_numeric", "reference_low", "reference_high", "abnormal_flag")
_NUMBER = r"^\s*[-+]?\d+(?:\.\d+)?\s*$"
_RANGE = r"^\s*([-+]?\d+(?:\.\d+)?)\s*:\s*([-+]?\d+(?:\.\d+)?)\s*$"


def derive(value_text: pa.Array, reference_text: pa.Array) -> dict[str, pa.Array]:
    """The derived result fields, computed column-wise."""
    df = pl.DataFrame({"v": pl.Series(value_text, dtype=pl.String), "r": pl.Series(reference_text, dtype=pl.String)})
    # A batch holds a few dozen distinct ranges: each is parsed once, then joined back to its results.
    ranges = df.select(pl.col("r").unique()).with_columns(
        low=pl.col("r").str.extract(_RANGE, 1).cast(pl.Float64, strict=False),
        high=pl.col("r").str.extract(_RANGE, 2).cast(pl.Float64, strict=False),
        coded=pl.col("r").str.contains("/"),
    )
    df = df.with_columns(is_number=pl.col("v").str.contains(_NUMBER)).with_columns(
        number=pl.when("is_number").then(pl.col("v").str.strip_chars().cast(pl.Float64, strict=False))
    ).join(ranges, on="r", how="left", nulls_equal=True, maintain_order="left")
    number, low, high = pl.col("number"), pl.col("low"), pl.col("high")
    out = df.select(
        value_type=pl.when(pl.col("v").is_null())
        .then(None)
        .when("is_number")
        .then(pl.lit("numeric"))
        .when(pl.col("coded").fill_null(False))
        .then(pl.lit("coded"))
        .otherwise(pl.lit("text")),
        value_numeric=number,
        reference_low=low,
        reference_high=high,
        abnormal_flag=pl.when(number.is_null() | low.is_null() | high.is_null())
        .then(None)
        .when(number < low)
        .then(pl.lit("L"))
        .when(number > high)
        .then(pl.lit("H"))
        .otherwise(pl.lit("N")),
    )
    return {name: out[name].to_arrow() for name in DERIVED}
