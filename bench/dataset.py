"""The benchmark's source: a synthetic BLIS laboratory in MariaDB (database bench_blis_N), generated once and reused.

Run: .venv/bin/python bench/dataset.py --patients 50000 [--seed 1]
Generates with ``airlock.synth.blis.generate`` (28 sites, 2015-2020, about 19 results per patient), timing
it, and marks the database as complete with its seed in the database comment; a later run with the same N
and seed reuses it. Writes bench/results/dataset-N.json and .md.
"""

from __future__ import annotations

import argparse
import sys

import common
import sqlalchemy as sa

from airlock import dburl
from airlock.synth import blis

MARK = "airlock bench: synth blis seed={seed}, complete"


def ensure(patients: int, seed: int = common.SEED) -> dict[str, object]:
    """The dataset's description; generates it unless a complete one with this seed exists."""
    url = common.source_url(patients)
    name = dburl.parse(url).database
    server = dburl.engine(common.MARIADB + "/mysql")
    try:
        with server.connect() as conn:
            comment = conn.execute(
                sa.text("SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :n"), {"n": name}
            ).scalar()
            if comment == MARK.format(seed=seed):
                return {"patients": patients, "seed": seed, "database": name, "reused": True, "rows": _rows(url)}
            # Absent, another seed or an interrupted generation: start again from an empty database.
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
            conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        summary = blis.generate(url, patients=patients, seed=seed, progress=_progress(patients))
        with server.connect() as conn:
            conn.execute(sa.text(f"ALTER DATABASE `{name}` COMMENT '{MARK.format(seed=seed)}'"))
    finally:
        server.dispose()
    print(file=sys.stderr)
    return {
        "patients": patients, "seed": seed, "database": name, "reused": False,
        "generation_s": round(summary.seconds, 1), "result_values": summary.results, "rows": _rows(url),
    }  # fmt: skip


def _rows(url: str) -> dict[str, int]:
    """Rows per table, counted by the server (not taken from the generator)."""
    engine = dburl.engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            return {t: int(conn.execute(sa.text(f"SELECT COUNT(*) FROM `{t}`")).scalar()) for t in sorted(tables)}
    finally:
        engine.dispose()


def _progress(total: int):
    done = 0

    def report(n: int) -> None:
        nonlocal done
        done += n
        print(f"\r  generating: {done:,}/{total:,} patients", end="", file=sys.stderr, flush=True)

    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=common.SEED)
    args = parser.parse_args()
    info = ensure(args.patients, args.seed)
    rows = info["rows"]
    assert isinstance(rows, dict)
    how = "reused" if info["reused"] else f"generated in {info['generation_s']} s"
    print(f"{info['database']}: {args.patients:,} patients (seed {args.seed}), {how}")
    table = common.markdown(["table", "rows"], [[t, f"{n:,}"] for t, n in rows.items() if n])
    print(table)
    if not info["reused"]:
        common.write(f"dataset-{args.patients}", info, f"Dataset bench_blis_{args.patients}: {how}\n\n{table}")


if __name__ == "__main__":
    main()
