"""Sealing and opening throughput of the vault next to raw AES-256-GCM on the same buffers.

Run: .venv/bin/python bench/vault_throughput.py [--mb 64] [--rows 50000]
Prints a table and writes bench/results/vault.json. MB/s are measured on the
uncompressed Arrow IPC size of the batches (what the data path hands over);
the vault also compresses (zstd), hashes, writes with fsync and keeps a manifest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from airlock import model
from airlock.vault import PassphraseKeyring, Vault
from airlock.vault.keyring import Argon2Cost


def result_batch(rows: int, seed: int) -> pa.RecordBatch:
    rng = np.random.default_rng(seed)
    schema = model.entity("result").schema
    ids = np.arange(seed * rows, (seed + 1) * rows)
    columns = {f.name: pa.nulls(rows, f.type) for f in schema}
    columns |= {
        "result_id": pa.array(ids.astype(str)),
        "patient_id": pa.array((ids % 5000).astype(str)),
        "test_code": pa.array(rng.choice(["HBA1C", "GLY", "CREA", "TSH"], rows)),
        "value_numeric": pa.array(rng.normal(5, 2, rows)),
        "collected_at": pa.array(ids.astype("datetime64[s]")),
        "comment": pa.array(rng.choice(["", "hémolysé", "contrôle à 3 mois", "à jeun"], rows)),
    }
    return pa.RecordBatch.from_pydict(columns, schema=schema)


def ipc_bytes(batch: pa.RecordBatch) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write(batch)
    return sink.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=64, help="approximate plaintext volume (uncompressed IPC)")
    parser.add_argument("--rows", type=int, default=50_000, help="rows per batch (one chunk each)")
    args = parser.parse_args()

    probe = ipc_bytes(result_batch(args.rows, 0)).size
    batches = [result_batch(args.rows, i) for i in range(max(1, args.mb * 2**20 // probe))]
    buffers = [ipc_bytes(b) for b in batches]
    total = sum(b.size for b in buffers)

    with tempfile.TemporaryDirectory() as home:
        # Cheap KDF: the keyring is opened once and is not what is measured.
        ring = PassphraseKeyring.create(Path(home) / "k.json", "benchmark passphrase", Argon2Cost(1, 8 * 1024, 1))
        run = Vault(Path(home) / "vault").create_run("bench", ring)
        t0 = time.perf_counter()
        for b in batches:
            run.seal("result", b)
        run.close()
        seal_s = time.perf_counter() - t0
        on_disk = sum(p.stat().st_size for p in (Path(home) / "vault").rglob("*.chunk"))
        t0 = time.perf_counter()
        rows = sum(b.num_rows for b in run.chunks("result"))
        open_s = time.perf_counter() - t0
        assert rows == sum(b.num_rows for b in batches)

    key, nonce = AESGCM(AESGCM.generate_key(256)), os.urandom(12)
    views = [memoryview(b).cast("B") for b in buffers]
    t0 = time.perf_counter()
    sealed = [key.encrypt(nonce, v, b"") for v in views]  # one nonce is fine: throwaway key, nothing kept
    raw_seal_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in sealed:
        key.decrypt(nonce, s, b"")
    raw_open_s = time.perf_counter() - t0

    mb = total / 2**20
    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "processor": platform.machine(), "cpus": os.cpu_count()},
        "plaintext_mb": round(mb, 1),
        "chunks": len(batches),
        "rows_per_chunk": args.rows,
        "vault_on_disk_mb": round(on_disk / 2**20, 1),
        "mb_per_s": {
            "vault_seal": round(mb / seal_s, 1),
            "vault_open": round(mb / open_s, 1),
            "raw_aesgcm_encrypt": round(mb / raw_seal_s, 1),
            "raw_aesgcm_decrypt": round(mb / raw_open_s, 1),
        },
    }
    out = Path(__file__).parent / "results" / "vault.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{mb:.1f} MB of Arrow IPC in {len(batches)} chunks of {args.rows} rows; {on_disk / 2**20:.1f} MB sealed on disk")
    for name, value in report["mb_per_s"].items():
        print(f"  {name:<20} {value:>8.1f} MB/s")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
