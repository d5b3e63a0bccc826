"""One pass of the data path: source → scope → transform → scope check → target(s), batch by batch.

All targets are opened together and committed together: if anything fails,
every target undoes what it wrote, so a failed migration leaves no half-loaded
target behind. Batches are read once and written to each target in turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

import pyarrow as pa

from airlock.predicate import Extraction
from airlock.sources.sql import Rejected, SqlSource
from airlock.targets import Target

#: Called after each batch with (entity, rows so far for that entity).
Progress = Callable[[str, int], None]


@dataclass
class EntityStats:
    rows: int = 0
    batches: int = 0
    seconds: float = 0.0


@dataclass
class Summary:
    """What a migration moved, per entity, and which records it quarantined (keys only)."""

    entities: dict[str, EntityStats] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    #: Free-text redactions per kind (health, nir, phone, email), counted by the transform stage.
    redactions: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def migrate(
    source: SqlSource,
    extractions: Sequence[Extraction],
    targets: Sequence[Target],
    transform: Callable[[str, pa.RecordBatch], pa.RecordBatch] | None = None,
    check: Callable[[str, pa.RecordBatch], None] | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Stream each extraction from ``source``, transform it, check it, write it to every target.

    ``check`` (the independent scope guard) sees each batch after transformation and raises to stop the
    run before that batch reaches any target; every target then rolls back.
    """
    summary = Summary()
    previous = source.on_reject
    source.on_reject = summary.rejected.append
    started = time.perf_counter()
    try:
        source.check()
        with ExitStack() as stack:
            opened = [stack.enter_context(t) for t in targets]
            for extraction in extractions:
                stats = summary.entities.setdefault(extraction.entity, EntityStats())
                t0 = time.perf_counter()
                for batch in source.stream(extraction):
                    if transform:
                        batch = transform(extraction.entity, batch)
                    if check:
                        check(extraction.entity, batch)
                    _write(opened, extraction.entity, batch)
                    stats.rows += batch.num_rows
                    stats.batches += 1
                    if progress:
                        progress(extraction.entity, stats.rows)
                stats.seconds = time.perf_counter() - t0
    finally:
        source.on_reject = previous
    summary.seconds = time.perf_counter() - started
    return summary


def _write(targets: Sequence[Target], entity: str, batch: pa.RecordBatch) -> None:
    for t in targets:
        t.write(entity, batch)
