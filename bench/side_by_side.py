"""Side by side on one MariaDB source and one PostgreSQL server: pgloader, unprotected Airlock, secure Airlock,
and the machine's limits (the source's read speed, PostgreSQL's COPY speed).

Run: .venv/bin/python bench/side_by_side.py --patients 50000   (or: make bench PATIENTS=50000)
Each leg runs alone in a child process (bench/legs.py). Writes bench/results/side_by_side-N.json and .md.

Rows per second are *source* rows (every row of the BLIS database, counted by MariaDB) over the leg's wall
time, so the legs share one numerator: the same laboratory moved. CPU time is the child's process tree
(user + sys, pgloader's included), not the database servers'.
"""

from __future__ import annotations

import argparse
from typing import Any

import common
import dataset

LEGS = {
    "pgloader": "(a) pgloader, full copy (every table and column, passwords included)",
    "open": "(b) Airlock, protections off (scope = everything but credentials; no vault, no ledger)",
    "secure": "(c) Airlock, secure path (signed mandate, plan, approval, encrypted vault, load, reconcile, accept, purge, ledger)",
    "read": "limit: source read (the connector's SELECTs into Arrow, discarded)",
    "copy": "limit: PostgreSQL COPY (ADBC ingest of the canonical batches into unlogged tables)",
}


def run(patients: int) -> dict[str, Any]:
    data = dataset.ensure(patients)
    source_rows = sum(data["rows"].values())  # type: ignore[union-attr]
    print(f"  MariaDB buffer pool: {common.size_buffer_pool(patients)} MiB", flush=True)
    # Every leg meets a warm source: right after generation or a resized buffer pool, MariaDB took 78 s instead
    # of 10 s over the 500,000 patients' custom-field pivot, and whichever leg came first paid for it.
    print("  warming the source (the connector's SELECTs once, not measured) ...", flush=True)
    common.measure(common.child("read", str(patients)))
    legs: dict[str, Any] = {}
    for leg in LEGS:
        print(f"  {leg} ...", flush=True)
        m = common.measure(common.child(leg, str(patients)))
        out = m.output
        # Wall time of the work itself (the leg's own clock), not of interpreter start-up.
        wall = out.get("total_s") or sum(out["phases"].values())
        legs[leg] = {
            "wall_s": round(wall, 2),
            "process_wall_s": round(m.wall_s, 2),
            "cpu_s": round(m.cpu_s, 2),
            "peak_rss_mib": out["peak_rss_mib"],
            "source_rows_per_s": round(source_rows / wall),
            **{k: v for k, v in out.items() if k not in ("peak_rss_mib", "total_s")},
        }
    a, b, c = (legs[k]["source_rows_per_s"] for k in ("pgloader", "open", "secure"))
    limit = min(legs["read"]["source_rows_per_s"], legs["copy"]["source_rows_per_s"])
    ratios = {
        "c/a": round(c / a, 2),
        "c/b": round(c / b, 2),
        "b/limit": round(b / limit, 2),
        "c/limit": round(c / limit, 2),
        "limit": "read" if legs["read"]["source_rows_per_s"] <= legs["copy"]["source_rows_per_s"] else "copy",
    }
    return {"patients": patients, "source_rows": source_rows, "dataset": {k: v for k, v in data.items() if k != "rows"}, "legs": legs, "ratios": ratios}


def table(report: dict[str, Any]) -> str:
    rows = []
    for leg, what in LEGS.items():
        r = report["legs"][leg]
        staged = f"{r['staged_bytes'] / 2**20:.1f} MiB (encrypted)" if "staged_bytes" in r else "0"
        rows.append([what, f"{r['source_rows_per_s']:,}", f"{r['wall_s']:.1f}", f"{r['cpu_s']:.1f}", f"{r['peak_rss_mib']:.0f}", staged])
    t = common.markdown(["leg", "source rows/s", "wall s", "CPU s (process tree)", "peak RSS MiB", "bytes staged"], rows)
    phases = report["legs"]["secure"]["phases"]
    ratios = report["ratios"]
    return (
        f"### {report['patients']:,} patients, {report['source_rows']:,} source rows\n\n{t}\n\n"
        f"Ratios: c/a = {ratios['c/a']} (target ≥ 2), c/b = {ratios['c/b']} (target ≥ 0.85); "
        f"against the slower limit ({ratios['limit']}): b = {ratios['b/limit']:.0%}, c = {ratios['c/limit']:.0%} (target ≥ 70 %).\n\n"
        "Secure path by step (s): " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50_000)
    args = parser.parse_args()
    report = run(args.patients)
    text = table(report)
    print(text)
    print(f"written to {common.write(f'side_by_side-{args.patients}', report, text)}")


if __name__ == "__main__":
    main()
