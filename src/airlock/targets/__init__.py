"""Targets write canonical record batches out: a SQL schema or FHIR R4 files.

A target is used as a context manager around one load: batches arrive per
entity in model order (referenced entities before referencing ones), and
leaving the block without an exception commits the whole load. Leaving it with
an exception undoes what was written, so a failed load never leaves a
half-written target behind.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

import pyarrow as pa


class Target(Protocol):
    #: Short description for reports and logs, without credentials.
    description: str

    def __enter__(self) -> "Target": ...

    def write(self, entity: str, batch: pa.RecordBatch) -> None:
        """Write one batch of ``entity``; its schema is a projection of the model's."""

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
