"""The transform stage: what the mandate permits doing to fields on their way to the target.

Free-text fields follow their policy (``keep``, ``redact`` — detected health
terms and direct identifiers masked, see :mod:`airlock.redact` — or ``drop``),
and fields may be pseudonymised with a keyed hash, reduced to the birth year,
or dropped (delivered empty). A pseudonymised id is replaced in *every* entity that carries it
(``patient_id`` in patient, order, specimen and result alike), so references
still resolve in the target while the source ids do not leave.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from airlock import model, redact
from airlock.mandate.document import FreeTextPolicy, Scope, Transformation


@dataclass
class Transformer:
    """Applies one mandate's field treatments to canonical batches; counts what it redacted."""

    scope: Scope
    #: Secret of this run for keyed pseudonyms; never stored in clear, never logged.
    pseudonym_key: bytes
    redactions: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Ids pseudonymised anywhere are pseudonymised everywhere they appear.
        self._pseudonymised_ids = {
            f
            for es in self.scope.entities.values()
            for f, t in es.transformations.items()
            if t is Transformation.PSEUDONYMISE and f.endswith("_id")
        }

    def treatments(self, entity: str) -> Mapping[str, Transformation | FreeTextPolicy]:
        es = self.scope.entities[entity]
        out: dict[str, Transformation | FreeTextPolicy] = dict(es.free_text)
        out.update(es.transformations)
        for f in self._pseudonymised_ids:
            if f in model.ENTITIES[entity].field_names:
                out[f] = Transformation.PSEUDONYMISE
        return out

    def apply(self, entity: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = {name: batch.column(name) for name in batch.schema.names}
        for name, treatment in self.treatments(entity).items():
            if name not in columns:
                continue
            if treatment in (Transformation.DROP, FreeTextPolicy.DROP):
                # Delivered empty: the target keeps its shape, the values stay in the source.
                columns[name] = pa.nulls(batch.num_rows, columns[name].type)
            elif treatment is FreeTextPolicy.REDACT:
                columns[name], counts = redact.redact_column(columns[name])
                for kind, n in asdict(counts).items():
                    self.redactions[kind] = self.redactions.get(kind, 0) + n
            elif treatment is Transformation.PSEUDONYMISE:
                columns[name] = self._pseudonym(columns[name])
            elif treatment is Transformation.BIRTH_YEAR:
                # Keeps the date type the target expects: the year, on 1 January.
                years = pc.year(columns[name])
                columns[name] = pc.strptime(pc.binary_join_element_wise(pc.cast(years, pa.string()), "-01-01", ""), "%Y-%m-%d", "s").cast(pa.date32())
        return pa.RecordBatch.from_arrays(list(columns.values()), schema=batch.schema)

    def _pseudonym(self, values: pa.Array) -> pa.Array:
        """HMAC-SHA256 of each distinct value under the run's key (hashed once per distinct value)."""
        s = pl.Series(values).cast(pl.String)
        distinct = s.drop_nulls().unique().to_list()
        table = {v: hmac.new(self.pseudonym_key, v.encode(), hashlib.sha256).hexdigest()[:24] for v in distinct}
        return s.replace_strict(table, default=None, return_dtype=pl.String).to_arrow().cast(pa.string())
