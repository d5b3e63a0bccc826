"""``airlock migrate``: one migration of a signed mandate's scope from a SQL LIS to SQL and/or FHIR targets."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from airlock import migration, scope
from airlock.errors import AirlockError
from airlock.guard import ScopeGuard
from airlock.mandate import SignedMandate, verify_mandate
from airlock.signing import PublicIdentity
from airlock.sources import profile as profiles
from airlock.sources.sql import SqlSource
from airlock.targets import Target
from airlock.transform import Transformer

console = Console(stderr=True)


def run_migration(
    signed: SignedMandate,
    source_url: str,
    *,
    sql_url: str | None,
    fhir_dir: Path | None,
    profile_name: str | None = None,
    full_export_only: bool = False,
    on_bad_record: Literal["fail", "reject"] = "fail",
    quiet: bool = False,
) -> migration.Summary:
    """Verify-then-run: the mandate's scope, from the source, through its transformations, into the targets."""
    mandate = signed.mandate
    prof = profiles.load(profile_name or mandate.source.kind)
    targets: list[Target] = []
    if sql_url:
        from airlock.targets.sql import SqlTarget

        targets.append(SqlTarget(sql_url))
    if fhir_dir:
        from airlock.targets.fhir import FhirTarget

        fhir_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        targets.append(FhirTarget(fhir_dir))
    if not targets:
        raise AirlockError("no target: give --sql URL and/or --fhir DIR")
    source = SqlSource(source_url, prof, full_export_only=full_export_only, on_bad_record=on_bad_record)
    transformer = Transformer(mandate.scope, pseudonym_key=secrets.token_bytes(32))
    extractions = scope.compile_scope(mandate.scope)
    with Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.completed:>10,} rows"),
        TextColumn("{task.fields[rate]:>10} rows/s"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
    ) as bar:
        tasks: dict[str, TaskID] = {e.entity: bar.add_task(e.entity, total=None, rate="") for e in extractions}

        def progress(entity: str, rows: int) -> None:
            task = bar.tasks[tasks[entity]]
            elapsed = task.elapsed or 0
            bar.update(tasks[entity], completed=rows, rate=f"{rows / elapsed:,.0f}" if elapsed > 0 else "")

        guard = ScopeGuard(mandate.scope)
        summary = migration.migrate(source, extractions, targets, transform=transformer.apply, check=guard.check, progress=progress)
    summary.redactions = dict(transformer.redactions)
    return summary


def print_summary(summary: migration.Summary) -> None:
    table = Table(title="Migrated", show_edge=False)
    table.add_column("entity")
    table.add_column("rows", justify="right")
    table.add_column("seconds", justify="right")
    for name, stats in summary.entities.items():
        table.add_row(name, f"{stats.rows:,}", f"{stats.seconds:.2f}")
    console.print(table)
    if summary.rejected:
        console.print(f"[yellow]{len(summary.rejected)} record(s) quarantined[/yellow] (not loaded): "
                      + ", ".join(f"{r.entity} {r.key} ({r.field})" for r in summary.rejected[:10]))
    if any(summary.redactions.values()):
        console.print("free text redacted: " + ", ".join(f"{k} {v}" for k, v in summary.redactions.items() if v))


def migrate(
    mandate: Annotated[Path, typer.Argument(help="The signed mandate (YAML; signatures in MANDATE.sig.json).")],
    source: Annotated[str, typer.Option(help="Source LIS database URL, e.g. mysql://user@host:3306/blis_127.")],
    sql: Annotated[str | None, typer.Option(help="Canonical SQL target: postgresql://... or sqlite:///file.db.")] = None,
    fhir: Annotated[Path | None, typer.Option(help="FHIR R4 target directory (NDJSON per type + bundles).")] = None,
    profile: Annotated[str | None, typer.Option(help="Mapping profile name or YAML file; default: the mandate's source kind.")] = None,
    controller: Annotated[Path | None, typer.Option(help="Controller's public identity (.pub.json) the mandate must be signed with.")] = None,
    processor: Annotated[Path | None, typer.Option(help="Processor's public identity (.pub.json) that must countersign.")] = None,
    full_export_only: Annotated[bool, typer.Option(help="Treat the source as able to dump only everything: filter in memory.")] = False,
    on_bad_record: Annotated[str, typer.Option(help="fail (default) or reject: quarantine records that cannot be converted.")] = "fail",
) -> None:
    """Migrate what a signed mandate allows from a SQL LIS into SQL and/or FHIR targets.

    The mandate must be signed by the controller and countersigned by the processor, and in force.
    Nothing outside its scope is read; a failure leaves no half-written target.

    Example:

        airlock migrate mandate.yaml --source mysql://reader@lis:3306/blis_127 --sql postgresql://loader@new/lab --fhir out/fhir
    """
    if on_bad_record not in ("fail", "reject"):
        raise AirlockError("--on-bad-record takes fail or reject")
    signed = verify_mandate(
        mandate,
        PublicIdentity.load(controller) if controller else None,
        PublicIdentity.load(processor) if processor else None,
    )
    summary = run_migration(
        signed, source, sql_url=sql, fhir_dir=fhir, profile_name=profile,
        full_export_only=full_export_only, on_bad_record=on_bad_record,  # type: ignore[arg-type]
    )
    print_summary(summary)
