"""What every benchmark script shares: server URLs, the machine's description, child-process measurement, results.

Not a test helper: the scripts print figures and write ``bench/results/<name>.json`` and ``<name>.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from airlock import dburl

RESULTS = Path(__file__).parent / "results"
#: The servers of this machine; override with the environment (no password is ever written to a result).
MARIADB = os.environ.get("BENCH_MARIADB", "mysql://root@127.0.0.1:3306")
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
SEED = 1


def source_url(patients: int) -> str:
    return f"{MARIADB}/bench_blis_{patients}"


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, OS and the versions that decide the figures."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    versions = {p: _version(p) for p in ("pyarrow", "polars", "connectorx", "adbc-driver-postgresql", "cryptography", "SQLAlchemy")}
    versions["python"] = platform.python_version()
    versions["mariadb"] = _server_version(MARIADB + "/mysql", "SELECT VERSION()")
    versions["postgresql"] = _server_version(POSTGRES + "/postgres", "SHOW server_version")
    versions["pgloader"] = _pgloader_version()
    pool = _server_version(MARIADB + "/mysql", "SELECT @@innodb_buffer_pool_size DIV 1048576")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory / 2**30, 1), "os": platform.platform(), "versions": versions,
            "mariadb_buffer_pool_mib": pool}  # fmt: skip


def size_buffer_pool(patients: int) -> int:
    """Give MariaDB an InnoDB buffer pool that holds the source database, as a production LIS server's holds its
    working set (MariaDB's default, 128 MiB, would make every leg read the tables through the OS page cache
    again on each scan). Only ever grows it; changed at run time, until the server restarts. Returns MiB."""
    engine = dburl.engine(MARIADB + "/mysql")
    try:
        with engine.connect() as conn:
            size = int(conn.execute(sa.text(
                "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = :s"
            ), {"s": f"bench_blis_{patients}"}).scalar())  # fmt: skip
            current = int(conn.execute(sa.text("SELECT @@innodb_buffer_pool_size")).scalar())
            wanted = max(current, -(-2 * size // 2**27) * 2**27)  # twice the data, in 128 MiB units
            if wanted > current:
                conn.execute(sa.text(f"SET GLOBAL innodb_buffer_pool_size = {wanted}"))
            return wanted // 2**20
    finally:
        engine.dispose()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def _server_version(url: str, query: str) -> str:
    engine = dburl.engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text(query)).scalar())
    except sa.exc.SQLAlchemyError as e:  # a description, not a failure: say why it is unknown
        return f"unreachable ({type(e).__name__})"
    finally:
        engine.dispose()


def _pgloader_version() -> str:
    try:
        out = subprocess.run(["pgloader", "--version"], capture_output=True, text=True, check=True).stdout
        return out.splitlines()[0].replace("pgloader version", "").strip().strip('"')
    except (OSError, subprocess.CalledProcessError):
        return "absent"


@dataclass(frozen=True)
class Measured:
    """One leg run in a child process: wall time, CPU time of its process tree, and what it printed."""

    wall_s: float
    cpu_s: float
    output: dict[str, Any]


def measure(argv: list[str]) -> Measured:
    """Run ``argv`` as a child and measure it; the child prints one JSON object as its last stdout line.

    The CPU time is RUSAGE_CHILDREN's user+sys difference around this child (it includes its own children,
    e.g. pgloader's). Peak RSS is not read here: RUSAGE_CHILDREN's is the largest of *all* children so far,
    so each leg reports its own.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, check=False, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{' '.join(argv[:3])}... failed with status {done.returncode}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    output = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(wall, cpu, output)


def child(leg: str, *args: str) -> list[str]:
    """The argv running ``bench/legs.py leg args`` with this interpreter."""
    return [sys.executable, str(Path(__file__).parent / "legs.py"), leg, *args]


def write(name: str, report: dict[str, Any], table: str) -> Path:
    """bench/results/<name>.json and <name>.md (the table under the machine's description)."""
    RESULTS.mkdir(exist_ok=True)
    report = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(), **report}
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    described = (
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + f"; MariaDB buffer pool {m['mariadb_buffer_pool_mib']} MiB; {report['when']}\n"
    )
    (RESULTS / f"{name}.md").write_text(table.rstrip() + "\n\n" + described)
    return RESULTS / f"{name}.json"


def markdown(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table.

    >>> print(markdown(["a", "b"], [[1, "x"]]))
    | a | b |
    |---|---|
    | 1 | x |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
