"""Where the secure path's time goes: one secure leg (bench/legs.py) under pyinstrument.

Run: .venv/bin/python bench/profile_secure.py --patients 50000 [--leg secure|open]
Needs the 'bench' extra (pip install -e '.[bench]'). Writes bench/results/profile-LEG-N.txt (call tree of
Python frames: function names and timings, no data) and prints the functions that dominate.
"""

from __future__ import annotations

import argparse

import common
import dataset
import legs
from pyinstrument import Profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--leg", choices=("secure", "open"), default="secure")
    args = parser.parse_args()
    dataset.ensure(args.patients)
    profiler = Profiler(interval=0.005)
    with profiler:
        out = legs.LEGS[args.leg](args.patients)
    print({k: v for k, v in out.items() if k != "phases"}, {k: round(v, 1) for k, v in out["phases"].items()})
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    common.RESULTS.mkdir(exist_ok=True)
    path = common.RESULTS / f"profile-{args.leg}-{args.patients}.txt"
    path.write_text(text)
    print(text[:6000])
    print(f"written to {path}")


if __name__ == "__main__":
    main()
