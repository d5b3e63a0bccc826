"""``airlock synth``: synthetic source databases for tests, demos and benchmarks."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from airlock import dburl
from airlock.synth import blis as blis_generator
from airlock.synth.people import TOWNS

app = typer.Typer(name="synth", no_args_is_help=True)
console = Console()


@app.callback()
def synth() -> None:
    """Generate synthetic LIS databases (never real people)."""


@app.command()
def blis(
    patients: Annotated[int, typer.Option("--patients", min=1, help="Number of patients (about 3 specimens and 20 results each).")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed: the same seed writes the same rows.")],
    out: Annotated[str, typer.Option("--out", help="Empty target: sqlite:///file.db or mysql://user@host:3306/db (database must exist).")],
    sites: Annotated[int, typer.Option("--sites", min=1, max=len(TOWNS), help="Number of lab sites.")] = 28,
) -> None:
    """Write a C4G BLIS 1.27 database of synthetic French patients, specimens and results.

    Example:

        airlock synth blis --patients 50000 --seed 7 --out sqlite:///blis-50k.db
    """
    with Progress(
        TextColumn("patients"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as bar:
        task = bar.add_task("patients", total=patients)
        summary = blis_generator.generate(out, patients, seed, sites, progress=lambda n: bar.advance(task, n))
    table = Table(title=f"BLIS 1.27 written to {dburl.describe(out)}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in summary.counts.items():
        table.add_row(name, f"{rows:,}")
    table.add_row("[bold]result values[/bold]", f"{summary.results:,}")
    console.print(table)
    console.print(f"{patients:,} patients in {summary.seconds:.1f} s ({patients / summary.seconds:,.0f} patients/s)")
