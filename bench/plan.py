"""The dry run (``airlock plan``) at a scale: the everything scope of the side-by-side, and a laboratory's mandate.

Run: .venv/bin/python bench/plan.py --patients 500000
The laboratory's mandate is the demo's scope (collections 2015-2020, 26 of the 28 sites, the sensitive
categories it excludes): its predicates make the database join and semi-join, where the everything scope
only counts. Each plan is made twice (the first warms MariaDB's buffer pool, sized as in side_by_side.py);
the second is reported. Writes bench/results/plan-N.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import common
import dataset
import legs

from airlock.cli.demo import demo_mandate
from airlock.mandate import Mandate
from airlock.plan import make_plan


def scopes() -> dict[str, Mandate]:
    lab = demo_mandate(dt.date.today(), "")
    lab["delivery"] = {"channel": "database"}
    return {"everything (side-by-side scope)": Mandate.from_body(legs.everything()), "a laboratory's mandate (the demo's scope)": Mandate.from_body(lab)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50_000)
    args = parser.parse_args()
    dataset.ensure(args.patients)
    common.size_buffer_pool(args.patients)
    report, rows = {}, []
    for name, mandate in scopes().items():
        for _ in range(2):
            started = time.perf_counter()
            plan = make_plan(legs.source(args.patients), mandate)
            seconds = time.perf_counter() - started
        delivered = sum(e.extracted for e in plan.entities)
        report[name] = {"seconds": round(seconds, 2), "records_delivered": delivered, "exact": all(e.exact for e in plan.entities)}
        rows.append([name, f"{seconds:.1f}", f"{delivered:,}" + ("" if report[name]["exact"] else " (at most)")])
    table = common.markdown(["scope", f"plan s, {args.patients:,} patients", "records it would deliver"], rows)
    print(table)
    print(f"written to {common.write(f'plan-{args.patients}', {'patients': args.patients, 'plans': report}, table)}")


if __name__ == "__main__":
    main()
