"""``airlock plan``: the dry run of a mandate against a source — counts, exclusions and reasons, a digest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from airlock.mandate import load_mandate
from airlock.plan import Plan, make_plan
from airlock.sources import profile as profiles
from airlock.sources.sql import SqlSource


def show(plan: Plan, console: Console) -> None:
    console.print(f"Plan for mandate {plan.mandate} (digest {plan.mandate_digest[:16]}…) on {plan.source}")
    table = Table(show_edge=False)
    for col in ("entity", "in source", "extracted", "conditions"):
        table.add_column(col)
    for e in plan.entities:
        # Packed records (BLIS results) are counted as the values their tests can hold: empty ones are not extracted.
        bound = "" if e.exact else "at most "
        table.add_row(e.entity, f"{bound}{e.in_source:,}", f"{bound}{e.extracted:,}", "\n".join(e.conditions) or "all records")
    console.print(table)
    for e in plan.entities:
        console.print(f"[bold]{e.entity}[/bold] delivers: " + ", ".join(e.fields))
        if e.not_allowed:
            console.print("  left in the source (not in the mandate): " + ", ".join(e.not_allowed))
        if e.unavailable:
            console.print("  allowed but not in this source: " + ", ".join(e.unavailable))
    for e in plan.entities:
        for tag, n in e.sensitive.items():
            status = "opted in" if n["extracted"] else "excluded: not opted in"
            console.print(f"  sensitive {tag}: {n['in_scope_otherwise']:,} result(s) otherwise in scope, {n['extracted']:,} extracted ({status})")
    if plan.not_named:
        console.print("entities the mandate does not name (nothing extracted): " + ", ".join(plan.not_named))
    console.print(f"plan digest {plan.digest}")


def plan(
    mandate: Annotated[Path, typer.Argument(help="The mandate (YAML); signatures are not needed for a dry run.")],
    source: Annotated[str, typer.Option(help="Source LIS database URL.")],
    profile: Annotated[str | None, typer.Option(help="Mapping profile; default: the mandate's source kind.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    full_export_only: Annotated[bool, typer.Option(help="Treat the source as able to dump only everything (also a profile setting).")] = False,
) -> None:
    """Dry run: show what the mandate would extract from the source, per entity, field and sensitive category.

    Nothing is staged or written. The plan's digest is what the controller approves.

    Example:

        airlock plan mandate.yaml --source mysql://reader@lis:3306/blis_127 --json
    """
    m = load_mandate(mandate)
    src = SqlSource(source, profiles.load(profile or m.source.kind), full_export_only=full_export_only or None, on_bad_record="reject")
    p = make_plan(src, m)
    if as_json:
        typer.echo(json.dumps({**p.to_json(), "digest": p.digest}, indent=2, ensure_ascii=False))
    else:
        show(p, Console())
