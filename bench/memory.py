"""Peak RSS of every leg at two scales, from the side-by-side results: streaming means it must not grow with the data.

Run: .venv/bin/python bench/memory.py --scales 50000 500000
Reads bench/results/side_by_side-N.json (run bench/side_by_side.py --patients N first) and writes
bench/results/memory.json and .md.
"""

from __future__ import annotations

import argparse
import json

import common
import side_by_side

LIMIT_MIB = 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs=2, default=[50_000, 500_000], metavar="PATIENTS")
    args = parser.parse_args()
    small, large = sorted(args.scales)
    runs = {}
    for n in (small, large):
        path = common.RESULTS / f"side_by_side-{n}.json"
        if not path.exists():
            raise SystemExit(f"{path} is missing: run .venv/bin/python bench/side_by_side.py --patients {n} first")
        runs[n] = json.loads(path.read_text())
    rows, report = [], {}
    for leg, what in side_by_side.LEGS.items():
        a, b = (runs[n]["legs"][leg]["peak_rss_mib"] for n in (small, large))
        report[leg] = {str(small): a, str(large): b, "growth": round(b / a, 2)}
        rows.append([what.split(" (")[0], f"{a:.0f}", f"{b:.0f}", f"×{b / a:.2f}", "yes" if max(a, b) <= LIMIT_MIB else "NO"])
    data = f"source rows ×{runs[large]['source_rows'] / runs[small]['source_rows']:.1f}"
    table = common.markdown(["leg", f"peak RSS MiB, {small:,} patients", f"{large:,} patients", f"growth ({data})", "≤ 1 GiB"], rows)
    print(table)
    print(f"written to {common.write('memory', {'scales': [small, large], 'peak_rss_mib': report}, table)}")


if __name__ == "__main__":
    main()
