"""The FHIR R4 target: Bulk Data NDJSON files per resource type plus transaction Bundles.

Layout of ``out_dir`` after a successful load::

    manifest.json              Bulk Data export manifest (type, url, count per file)
    Organization.ndjson        sites
    Patient.ndjson
    Practitioner.ndjson
    ServiceRequest.ndjson      orders
    Specimen.ndjson
    Observation.ndjson         results
    DiagnosticReport.ndjson    one per result report_id
    bundles/bundle-000001.json transaction Bundles of PUTs, to be posted in order

The load is written into ``<out_dir>.partial-<random>`` (mode 0700) next to
``out_dir`` and renamed to ``out_dir`` only when the ``with`` block ends
without an exception; otherwise the partial directory is deleted.

References point only at resources in the output: the ids of written sites,
patients, practitioners, orders and specimens are tracked (ids only), and a
reference to one the mandate left out is omitted (a required ServiceRequest
subject is marked ``masked`` with the data-absent-reason extension instead).

>>> import tempfile, pathlib, pyarrow as pa
>>> from airlock import model
>>> out = pathlib.Path(tempfile.mkdtemp()) / "fhir"
>>> with FhirTarget(out) as target:
...     target.write("site", pa.record_batch([["1"], ["Central lab"]], schema=model.SITE.projection(["name"])))
>>> sorted(p.name for p in out.iterdir())
['Organization.ndjson', 'bundles', 'manifest.json']
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO

import polars as pl
import pyarrow as pa

from airlock import model
from airlock.errors import TargetError
from airlock.targets.fhir_ids import fhir_id
from airlock.vault.delivery import EncryptedWriter
from airlock.targets.fhir_mapping import (
    REFERENCE,
    Mapping,
    diagnostic_report,
    observation,
    organization,
    patient,
    practitioner,
    service_request,
    specimen,
    resource_json,
)

#: Resource type of each referenced entity.
RESOURCE_OF = {
    "site": "Organization",
    "patient": "Patient",
    "practitioner": "Practitioner",
    "order": "ServiceRequest",
    "specimen": "Specimen",
}
_MAPPERS = {
    "site": [("Organization", organization)],
    "patient": [("Patient", patient)],
    "practitioner": [("Practitioner", practitioner)],
    "order": [("ServiceRequest", service_request)],
    "specimen": [("Specimen", specimen)],
    # Observations first: a Bundle then PUTs them before the reports that point at them.
    "result": [("Observation", observation), ("DiagnosticReport", diagnostic_report)],
}
_ORDER = list(model.ENTITIES)


class FhirTarget:
    """Write canonical batches as FHIR R4 resources into a new directory ``out_dir``.

    ``timezone`` is the lab's time zone (canonical timestamps are its wall-clock
    times; FHIR times carry an offset). ``local_system`` prefixes the code and
    identifier systems of the source's own codes (tests, measures, accession...).

    Batches must come in model order (site, patient, practitioner, order,
    specimen, result), and all results of one ``report_id`` in the same batch,
    as the SQL source delivers them: DiagnosticReports are grouped per batch.
    """

    def __init__(
        self,
        out_dir: Path,
        bundle_size: int = 500,
        *,
        timezone: str = "Europe/Paris",
        local_system: str = "urn:airlock:local",
        replace: bool = False,
        recipient: str | None = None,
    ):
        if bundle_size < 1:
            raise TargetError(f"FHIR bundle size {bundle_size} is not positive; give at least 1")
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise TargetError(
                f"unknown time zone {timezone!r} for the FHIR target; give an IANA name such as Europe/Paris"
            ) from None
        self.out_dir = Path(out_dir)
        #: Replace a previous output (a resumed run's load): swapped in only once the new one is complete.
        self.replace = replace
        #: The controller's age public key: every NDJSON and bundle file is then written straight into age
        #: encryption (``*.age``), so the delivery never exists in clear on disk; the manifest holds counts only.
        self.recipient = recipient
        self.bundle_size = bundle_size
        self.description = f"FHIR R4 NDJSON + bundles in {self.out_dir}"
        self._mapping = Mapping(reference=self._reference, timezone=timezone, local_system=local_system)
        self._partial: Path | None = None

    def __enter__(self) -> FhirTarget:
        if self.replace:
            # A load killed before its end leaves a partial directory: personal data, removed first.
            for stale in self.out_dir.parent.glob(f"{self.out_dir.name}.partial-*"):
                shutil.rmtree(stale, ignore_errors=True)
        elif self.out_dir.exists() and (not self.out_dir.is_dir() or any(self.out_dir.iterdir())):
            raise TargetError(
                f"FHIR output directory {self.out_dir} already exists and is not empty; "
                "give a new directory or remove this one"
            )
        try:
            self.out_dir.parent.mkdir(parents=True, exist_ok=True)
            # mkdtemp makes it 0700: the files hold personal data.
            self._partial = Path(tempfile.mkdtemp(prefix=f"{self.out_dir.name}.partial-", dir=self.out_dir.parent))
        except OSError as e:
            raise TargetError(
                f"cannot create the FHIR output next to {self.out_dir} ({e.strerror}); check the parent directory"
            ) from None
        self._files: dict[str, IO[str]] = {}
        self._counts: dict[str, int] = {}
        self._written: dict[str, pl.Series] = {}
        self._last = 0
        self._bundles = _Bundles(self._partial / "bundles", self.bundle_size, self._open)
        return self

    def write(self, entity: str, batch: pa.RecordBatch) -> None:
        if entity not in _MAPPERS:
            raise TargetError(
                f"the FHIR target has no mapping for entity {entity!r}; expected one of {', '.join(_ORDER)}"
            )
        position = _ORDER.index(entity)
        if position < self._last:
            raise TargetError(
                f"FHIR target got {entity} after {_ORDER[self._last]}; batches must come in model order "
                f"({', '.join(_ORDER)}) so that references resolve"
            )
        self._last = position
        rows = _complete(entity, pl.from_arrow(batch))
        for resource_type, mapper in _MAPPERS[entity]:
            resources = mapper(rows, self._mapping)
            if resources.height:
                self._append(resource_type, resources)
        if entity in RESOURCE_OF:
            # Tracked after mapping: a batch never refers to its own entity.
            key = pl.from_arrow(batch.column(model.entity(entity).key)).cast(pl.String)
            known = self._written.get(entity)
            self._written[entity] = key if known is None else pl.concat([known, key], rechunk=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._partial is not None, "FhirTarget used outside its with block"
        partial, self._partial = self._partial, None
        done = False
        try:
            for f in self._files.values():
                f.close()
            self._bundles.close()
            if exc_type is None:
                self._write_manifest(partial)
                if self.out_dir.exists() and self.replace:
                    old = self.out_dir.with_name(f"{self.out_dir.name}.partial-old-{partial.name[-8:]}")
                    self.out_dir.rename(old)
                    partial.rename(self.out_dir)
                    shutil.rmtree(old)
                else:
                    if self.out_dir.exists():
                        self.out_dir.rmdir()  # checked empty on entry; the rename needs it gone
                    partial.rename(self.out_dir)
                done = True
        except OSError as e:
            raise TargetError(
                f"cannot finish the FHIR output {self.out_dir} ({e.strerror}); nothing was written, "
                "check the directory and retry"
            ) from None
        finally:
            if not done:
                shutil.rmtree(partial, ignore_errors=True)

    def _reference(self, entity: str, column: str) -> pl.Expr:
        written = self._written.get(entity)
        if written is None:
            return pl.lit(None, REFERENCE)
        return pl.when(pl.col(column).is_in(written.implode())).then(
            pl.struct(reference=pl.lit(f"{RESOURCE_OF[entity]}/") + fhir_id(column))
        )

    def _append(self, resource_type: str, resources: pl.DataFrame) -> None:
        assert self._partial is not None
        f = self._files.get(resource_type)
        if f is None:
            f = self._files[resource_type] = self._open(self._partial / f"{resource_type}.ndjson")
        resources = resources.select("id", json=resource_json(resources))
        f.write(resources.get_column("json").str.join("\n").item() + "\n")
        self._counts[resource_type] = self._counts.get(resource_type, 0) + resources.height
        self._bundles.add(resource_type, resources)

    @property
    def _suffix(self) -> str:
        return "" if self.recipient is None else ".age"

    def _open(self, path: Path) -> IO[str]:
        if self.recipient is None:
            return open(path, "w", encoding="utf-8")
        return EncryptedWriter(path.with_name(path.name + ".age"), self.recipient)  # type: ignore[return-value]

    def _write_manifest(self, partial: Path) -> None:
        manifest = {
            "transactionTime": datetime.now(UTC).isoformat(timespec="seconds"),
            "request": "airlock migrate",
            "requiresAccessToken": False,
            "output": [{"type": t, "url": f"{t}.ndjson{self._suffix}", "count": n} for t, n in self._counts.items()],
            "error": [],
            "extension": {"bundles": [f"{b}{self._suffix}" for b in self._bundles.names], "bundleSize": self.bundle_size,
                          "encryptedTo": self.recipient},
        }
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _complete(entity: str, rows: pl.DataFrame) -> pl.DataFrame:
    """The rows with every field of the entity: fields out of the mandate become null columns."""
    full = pl.from_arrow(model.entity(entity).schema.empty_table()).schema
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in full.items() if name not in rows.columns]
    return rows.with_columns(missing)


class _Bundles:
    """Transaction Bundles of at most ``size`` PUT entries, filled in the order resources are written."""

    def __init__(self, directory: Path, size: int, opener: Callable[[Path], IO[str]]):
        self.directory, self.size, self._opener = directory, size, opener
        self.names: list[str] = []
        self._file: IO[str] | None = None
        self._in_file = 0
        self._entries = 0
        # fullUrls only need to be unique within a Bundle: a per-load UUID prefix and a counter.
        self._url_prefix = f"urn:uuid:{str(uuid.uuid4())[:23]}-"

    def add(self, resource_type: str, resources: pl.DataFrame) -> None:
        offset = 0
        while offset < resources.height:
            if self._file is None or self._in_file == self.size:
                self._next()
            assert self._file is not None
            take = min(self.size - self._in_file, resources.height - offset)
            # fullUrl and ids use only URL-safe characters: pasted into the JSON as they are.
            entries = resources.slice(offset, take).select(
                pl.concat_str(
                    pl.lit('{"fullUrl":"' + self._url_prefix),
                    pl.int_range(self._entries, self._entries + take).cast(pl.String).str.zfill(12),
                    pl.lit('","resource":'),
                    pl.col("json"),
                    pl.lit(f',"request":{{"method":"PUT","url":"{resource_type}/'),
                    pl.col("id"),
                    pl.lit('"}}'),
                ).str.join(",\n")
            )
            self._file.write((",\n" if self._in_file else "") + entries.item())
            self._in_file += take
            self._entries += take
            offset += take

    def _next(self) -> None:
        self.close()
        self.directory.mkdir(exist_ok=True)
        name = f"bundle-{len(self.names) + 1:06d}.json"
        self.names.append(f"bundles/{name}")
        self._file = self._opener(self.directory / name)
        self._file.write('{"resourceType":"Bundle","type":"transaction","entry":[\n')
        self._in_file = 0

    def close(self) -> None:
        if self._file is not None:
            self._file.write("\n]}\n")
            self._file.close()
            self._file = None
