"""One measured leg of the benchmark, run in its own process by side_by_side.py and limits.py.

Usage: python bench/legs.py LEG PATIENTS   (LEG: pgloader, open, secure, read, copy)
Each leg prints one JSON object as its last line: rows, seconds per phase, its own peak RSS (and its
children's, e.g. pgloader's). Targets are fresh PostgreSQL databases named bench_<leg>_<patients>.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import common
import pyarrow as pa
import sqlalchemy as sa

from airlock import dburl, scope
from airlock.cli.demo import demo_mandate
from airlock.mandate import Mandate, sign_mandate
from airlock.model import ENTITIES, Sensitivity
from airlock.pipeline import prefetch
from airlock.sources import profile as profiles
from airlock.sources.sql import SqlSource

PROFILE = "blis-1.27"
BATCH_ROWS = 50_000


def everything() -> dict[str, Any]:
    """A mandate whose scope is everything the model holds (credentials are not in it), every sensitive
    category opted in, comments kept, no row predicate: what an unprotected copy would move."""
    body = demo_mandate(dt.date.today(), "")
    body["id"] = "bench-everything"
    body["scope"] = {
        "entities": {
            name: {"fields": list(e.field_names), **({"free_text": {"comment": "keep"}} if "comment" in e.field_names else {})}
            for name, e in ENTITIES.items()
        },
        "sensitivity": [s.value for s in Sensitivity],
    }
    body["delivery"] = {"channel": "database"}
    return body


def fresh_database(name: str) -> str:
    server = dburl.engine(common.POSTGRES + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()
    return f"{common.POSTGRES}/{name}"


def target_rows(url: str) -> int:
    """Rows in every user table of the database, counted by PostgreSQL."""
    engine = dburl.engine(url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(sa.text(
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables"
                " WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
            )).scalars().all()  # fmt: skip
            return sum(int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()) for t in tables)
    finally:
        engine.dispose()


def source(patients: int) -> SqlSource:
    return SqlSource(common.source_url(patients), profiles.load(PROFILE), batch_rows=BATCH_ROWS)


def canonical_batches(patients: int) -> Iterator[tuple[str, pa.RecordBatch]]:
    """What the unprotected path hands to the target: every extraction of the everything scope, streamed."""
    src = source(patients)
    for ex in scope.compile_scope(Mandate.from_body(everything()).scope):
        for batch in src.stream(ex):
            yield ex.entity, batch


# -- legs --------------------------------------------------------------------------------------------


def leg_pgloader(patients: int) -> dict[str, Any]:
    """(a) pgloader's full copy of the BLIS database: every table and column, passwords included."""
    target = fresh_database(f"bench_pgloader_{patients}")
    started = time.perf_counter()
    subprocess.run(["pgloader", "--quiet", common.source_url(patients), target.replace("postgresql://", "pgsql://")], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return {"phases": {"copy": time.perf_counter() - started}, "rows_written": target_rows(target)}


def leg_open(patients: int) -> dict[str, Any]:
    """(b) Airlock with every protection off that can be: no scope beyond everything, no vault, no ledger."""
    from airlock.targets.sql import SqlTarget

    target = fresh_database(f"bench_open_{patients}")
    started = time.perf_counter()
    with SqlTarget(target) as t:
        # The overlap the Procedure uses: the source is read and converted ahead, on a thread, while this
        # thread writes (airlock.pipeline.prefetch).
        for entity, batch in prefetch(canonical_batches(patients)):
            t.write(entity, batch)
    return {"phases": {"copy": time.perf_counter() - started}, "rows_written": sum(t.counts().values())}


def leg_secure(patients: int) -> dict[str, Any]:
    """(c) the full secure path through Procedure: signed mandate, plan, approval, encrypted vault, load,
    reconciliation, acceptance, purge with a signed certificate, every step and security event in the ledger
    and the watch's rules (as the CLI's procedure commands run it)."""
    import yaml

    from airlock.procedure.records import RunStore
    from airlock.procedure.runner import Procedure, Targets
    from airlock.signing import SigningIdentity
    from airlock.store import open_store
    from airlock.vault import PassphraseKeyring, Vault
    from airlock.watch.service import watch

    target = fresh_database(f"bench_secure_{patients}")
    phases: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="airlock-bench-") as tmp:
        home = Path(tmp)
        controller = SigningIdentity.generate("Déléguée à la protection des données", "controller")
        processor = SigningIdentity.generate("Ingénieur migration", "processor")
        mandate = home / "mandate.yaml"
        mandate.write_text(yaml.safe_dump(everything(), allow_unicode=True, sort_keys=False))
        sign_mandate(mandate, controller)
        sign_mandate(mandate, processor)
        keyring = PassphraseKeyring.create(home / "keyring.json", secrets.token_urlsafe(24))
        with open_store(f"sqlite:///{home / 'airlock.db'}") as store:
            _, stop_watching = watch(store)
            p = Procedure(RunStore(store), Vault(home / "vault"), keyring, batch_rows=BATCH_ROWS)

            def step(name: str, fn, *args: Any) -> Any:
                t0 = time.perf_counter()
                out = fn(*args)
                phases[name] = time.perf_counter() - t0
                return out

            started = time.perf_counter()
            run = step("create and plan", p.create, mandate, common.source_url(patients), Targets(target), processor)
            step("approve", p.approve, run.id, controller)
            step("extract", p.extract, run.id, processor)
            staged = sum(f.stat().st_size for f in (home / "vault" / run.id).rglob("*") if f.is_file())
            step("load", p.load, run.id, processor)
            run = step("reconcile", p.reconcile, run.id, processor)
            step("accept", p.accept, run.id, controller)
            step("purge", p.purge, run.id, processor, "accepted by the controller")
            total = time.perf_counter() - started
            written = sum(e.rows_written or 0 for e in p.store.entities(run.id))
            ok = bool(run.reconciled_ok)
            ledgered = store_entries(store)
            stop_watching()
    return {"phases": phases, "total_s": total, "rows_written": written, "staged_bytes": staged, "reconciled": ok, "ledger_entries": ledgered,
            "target_rows": target_rows(target)}  # fmt: skip


def store_entries(store: Any) -> int:
    """Entries the run left in the ledger, once the chain verifies."""
    from airlock.ledger import Ledger

    ledger = Ledger(store)
    if not ledger.verify().ok:
        raise SystemExit("the ledger does not verify")
    return sum(1 for _ in ledger.entries())


class _Recorder(SqlSource):
    """A source that records the SELECTs it would issue (with their batch sizes) instead of running them."""

    queries: list[tuple[str, int]]

    def _read(self, query: str, rows: int | None = None) -> Iterator[pa.RecordBatch]:
        self.queries.append((query, rows or self.batch_rows))
        return iter(())

    def _read_all(self, query: str) -> pa.Table:
        # The small reference tables (BLIS: measures per test type) are read for real: batch sizes follow them.
        return pa.Table.from_batches(list(SqlSource._read(self, query)))


def connector_queries(patients: int) -> list[tuple[str, int]]:
    """The SELECTs the connector issues for the everything scope (semi-join id reads included), with the
    rows per batch it asks for."""
    rec = _Recorder(common.source_url(patients), profiles.load(PROFILE), batch_rows=BATCH_ROWS)
    rec.queries = []
    for ex in scope.compile_scope(Mandate.from_body(everything()).scope):
        for _ in rec.stream(ex):
            pass
    return rec.queries


def leg_read(patients: int) -> dict[str, Any]:
    """The source's read limit: the connector's SELECTs through connectorx into Arrow, discarded."""
    import connectorx as cx

    queries = connector_queries(patients)
    url = dburl.connectorx_url(common.source_url(patients))
    rows = 0
    started = time.perf_counter()
    for q, batch_rows in queries:
        for batch in cx.read_sql(url, q, return_type="arrow_stream", batch_size=batch_rows):
            rows += batch.num_rows
    return {"phases": {"read": time.perf_counter() - started}, "queries": len(queries), "rows_read": rows}


def leg_copy(patients: int) -> dict[str, Any]:
    """PostgreSQL's COPY limit: ADBC ingest of the canonical batches into unlogged tables; only the ingest is timed."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    target = fresh_database(f"bench_copy_{patients}")
    copying, rows, created = 0.0, 0, set()
    with adbc_pg.connect(target) as conn, conn.cursor() as cur:
        for entity, batch in canonical_batches(patients):
            table = f"copy_{entity}"
            if entity not in created:
                cur.adbc_ingest(table, batch.slice(0, 0), mode="create")
                cur.execute(f"ALTER TABLE {table} SET UNLOGGED")
                created.add(entity)
            t0 = time.perf_counter()
            cur.adbc_ingest(table, batch, mode="append")
            copying += time.perf_counter() - t0
            rows += batch.num_rows
        t0 = time.perf_counter()
        conn.commit()
        copying += time.perf_counter() - t0
    return {"phases": {"copy": copying}, "rows_written": rows}


LEGS = {"pgloader": leg_pgloader, "open": leg_open, "secure": leg_secure, "read": leg_read, "copy": leg_copy}


def main() -> None:
    leg, patients = sys.argv[1], int(sys.argv[2])
    out = LEGS[leg](patients)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out["peak_rss_mib"] = round(max(own, children) / 1024, 1)  # KiB on Linux
    print(json.dumps(out))


if __name__ == "__main__":
    main()
