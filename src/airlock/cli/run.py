"""``airlock run`` and the procedure's steps: create, approve, extract, load, reconcile, accept, purge, status, resume.

Who acts is who holds the key: the processor's operator gives the processor key
that countersigned the mandate (``--key``), the lab's controller gives the key
that signed it. Key passphrases come from ``AIRLOCK_KEY_PASSPHRASE`` or a
prompt; the keyring's from ``AIRLOCK_KEYRING_PASSPHRASE`` or a prompt (or an HSM:
``AIRLOCK_PKCS11_MODULE`` and ``AIRLOCK_PKCS11_TOKEN``, PIN in ``AIRLOCK_PKCS11_PIN``).
``AIRLOCK_BATCH_ROWS`` (default 50,000) sets the source rows per batch and per sealed chunk.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from airlock.cli.keys import open_key
from airlock.cli.vault import open_keyring
from airlock.errors import AirlockError
from airlock.mandate import load_mandate
from airlock.procedure.lifecycle import State
from airlock.procedure.records import RunStore
from airlock.procedure.report import write_report
from airlock.procedure.runner import Procedure, Targets
from airlock.procedure.scheduler import purge_due
from airlock.store import open_store
from airlock.vault import Vault
from airlock.watch.service import watch

app = typer.Typer(name="run", help="Runs of the migration procedure: create, extract, load, reconcile, list, report.", no_args_is_help=True)
console = Console(stderr=True)

KEY = Annotated[Path, typer.Option("--key", help="Your signing key (.key.pem): the processor's for operating, the controller's for approving.")]
SOURCE = Annotated[str | None, typer.Option("--source", help="Source URL, if it needs a password the run does not store.")]


@contextmanager
def procedure() -> Iterator[Procedure]:
    """The procedure over this machine's metadata store, vault and keyring (AIRLOCK_HOME, AIRLOCK_DATABASE_URL)."""
    module = os.environ.get("AIRLOCK_PKCS11_MODULE")
    keyring = open_keyring(None, Path(module) if module else None, os.environ.get("AIRLOCK_PKCS11_TOKEN"), "airlock-kek")
    batch_rows = int(os.environ.get("AIRLOCK_BATCH_ROWS", "50000"))
    with open_store() as store:
        _, stop_watching = watch(store)  # every step and security event goes to the ledger and the alert rules
        try:
            yield Procedure(RunStore(store), Vault(), keyring, batch_rows=batch_rows)
        finally:
            stop_watching()


@contextmanager
def runs() -> Iterator[RunStore]:
    """The runs of this machine's metadata store, for commands that only read them (no keyring needed)."""
    with open_store() as store:
        yield RunStore(store)


@contextmanager
def progress_bars() -> Iterator:
    with Progress(
        TextColumn("{task.description:<22}"), BarColumn(), TextColumn("{task.completed:>10,} rows"),
        TextColumn("{task.fields[rate]:>10} rows/s"), TimeElapsedColumn(), console=console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, entity: str, rows: int) -> None:
            name = f"{phase} {entity}"
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=None, rate="")
            elapsed = bar.tasks[tasks[name]].elapsed or 0
            bar.update(tasks[name], completed=rows, rate=f"{rows / elapsed:,.0f}" if elapsed > 0 else "")

        yield update


def _said(run_id: str, status: str) -> None:
    typer.echo(f"run {run_id}: {status.replace('_', ' ')}")


@app.command()
def create(
    mandate: Annotated[Path, typer.Argument(help="The signed mandate (YAML).")],
    source: Annotated[str, typer.Option(help="Source LIS URL, e.g. mysql://reader@lis:3306/blis_127.")],
    key: KEY,
    sql: Annotated[str | None, typer.Option(help="Canonical SQL target URL.")] = None,
    fhir: Annotated[Path | None, typer.Option(help="FHIR R4 target directory.")] = None,
    profile: Annotated[str | None, typer.Option(help="Mapping profile; default: the mandate's source kind.")] = None,
) -> None:
    """Create a run: verify the mandate, plan it (dry run, recorded with its digest) and wait for approval.

    Example:

        airlock run create mandate.yaml --source mysql://reader@lis/blis_127 --sql postgresql://loader@new/lab --key proc.key.pem
    """
    with procedure() as p:
        run = p.create(mandate, source, Targets(sql, fhir), open_key(key), profile=profile)
    _said(run.id, run.status)
    typer.echo(f"plan digest {run.plan_digest}: the controller approves it with 'airlock approve {run.id} --key CONTROLLER.key.pem'")


@app.command()
def extract(run_id: Annotated[str, typer.Argument(help="The run id.")], key: KEY, source: SOURCE = None) -> None:
    """Extract the approved plan's scope into the run's encrypted vault (resumes where it stopped).

    Example: airlock run extract run-20261129-ab12cd --key proc.key.pem
    """
    with procedure() as p, progress_bars() as bars:
        run = p.extract(run_id, open_key(key), source, progress=bars)
    _said(run.id, run.status)


@app.command()
def load(run_id: Annotated[str, typer.Argument(help="The run id.")], key: KEY) -> None:
    """Load the staged data into the targets: transformed, scope-checked, each target in one transaction.

    Example: airlock run load run-20261129-ab12cd --key proc.key.pem
    """
    with procedure() as p, progress_bars() as bars:
        run = p.load(run_id, open_key(key), progress=bars)
    _said(run.id, run.status)


@app.command("reconcile")
def reconcile_(run_id: Annotated[str, typer.Argument(help="The run id.")], key: KEY, source: SOURCE = None) -> None:
    """Reconcile source, staging and target per entity (counts and order-independent digests).

    Example: airlock run reconcile run-20261129-ab12cd --key proc.key.pem
    """
    with procedure() as p:
        run = p.reconcile(run_id, open_key(key), source)
    _said(run.id, run.status)
    typer.echo("reconciliation: " + ("every entity matches" if run.reconciled_ok else "DIFFERENCES found; see 'airlock status'"))


@app.command("list")
def list_() -> None:
    """List the runs of this machine's metadata store.

    Example: airlock run list
    """
    table = Table("mandate", "status", "created", "deadline")
    table.columns.insert(0, Column("run", no_wrap=True, min_width=22))
    with runs() as store:
        for r in store.list():
            table.add_row(r.id, r.mandate_id or "", r.status, f"{r.created_at:%Y-%m-%d %H:%M}", str(r.deadline or ""))
    Console().print(table)


@app.command()
def abort(run_id: Annotated[str, typer.Argument(help="The run id.")], key: KEY, reason: Annotated[str, typer.Option(help="Why.")]) -> None:
    """Abort a run before acceptance; its staging is then purged.

    Example: airlock run abort run-20261129-ab12cd --key proc.key.pem --reason "wrong source"
    """
    with procedure() as p:
        run = p.abort(run_id, open_key(key), reason)
    _said(run.id, run.status)


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    out: Annotated[Path, typer.Option(help="Directory for report.md and report.pdf.")] = Path("."),
) -> None:
    """Write the migration report (Markdown and PDF): mandate, plan, extraction, reconciliation, actors.

    Example: airlock run report run-20261129-ab12cd --out reports/
    """
    with runs() as store:
        md, pdf = write_report(store, run_id, out)
    typer.echo(f"{md}\n{pdf}")


def approve(run_id: Annotated[str, typer.Argument(help="The run id.")], key: KEY) -> None:
    """The controller approves the run's plan (signs its digest with the key that signed the mandate).

    Example: airlock approve run-20261129-ab12cd --key dpo.key.pem
    """
    with procedure() as p:
        run = p.approve(run_id, open_key(key))
    _said(run.id, run.status)


def accept(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    key: KEY,
    waive: Annotated[str | None, typer.Option(help="Accept despite reconciliation differences, for this written reason.")] = None,
) -> None:
    """The controller accepts the migrated result; refused while reconciliation fails unless waived.

    Example: airlock accept run-20261129-ab12cd --key dpo.key.pem
    """
    with procedure() as p:
        run = p.accept(run_id, open_key(key), waiver=waive)
    _said(run.id, run.status)
    grace = load_mandate(run.mandate_path).grace_days
    typer.echo(f"the staging is purged {'now' if grace == 0 else f'after {grace} day(s)'} by the scheduled "
               "'airlock purge --due' (or the server's worker), which the processor's key signs")


def status(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show a run: state, plan, per-entity figures and reconciliation, and every step with its actor.

    Example: airlock status run-20261129-ab12cd --json
    """
    with runs() as store:
        run = store.get(run_id)
        entities = store.entities(run_id)
        events = store.events(run_id)
    data = {
        "run": run.id, "status": run.status, "mandate": run.mandate_id, "mandate_digest": run.mandate_digest,
        "plan_digest": run.plan_digest, "source": run.source, "target": run.target,
        "deadline": str(run.deadline) if run.deadline else None, "reconciled_ok": run.reconciled_ok, "waiver": run.waiver,
        "entities": [
            {"entity": e.entity, "staged": e.rows_read, "loaded": e.rows_written, "source": e.source_rows,
             "target": e.target_rows, "reconciled": e.reconciled, "differences": json.loads(e.differences) if e.differences else None}
            for e in entities
        ],
        "steps": [
            {"at": f"{ev.at:%Y-%m-%d %H:%M:%S}", "step": ev.step, "from": ev.from_state, "to": ev.to_state,
             "actor": f"{ev.actor_role} {ev.actor_name} ({ev.actor_key})"}
            for ev in events
        ],
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    out = Console()
    out.print(f"run [bold]{run.id}[/bold] — {run.status.replace('_', ' ')} — mandate {run.mandate_id} — deadline {run.deadline}")
    t = Table("entity", "staged", "loaded", "source", "target", "reconciled")
    for e in data["entities"]:
        t.add_row(e["entity"], *(str(e[k]) if e[k] is not None else "" for k in ("staged", "loaded", "source", "target", "reconciled")))
    out.print(t)
    s = Table("at", "step", "state", "actor")
    for ev in data["steps"]:
        s.add_row(ev["at"], ev["step"], f"{ev['from']} → {ev['to']}", ev["actor"])
    out.print(s)


def resume(run_id: Annotated[str, typer.Argument(help="The run id.")], key: KEY, source: SOURCE = None) -> None:
    """Continue a run after a crash or a failure, from where it stopped (extraction, loading, reconciliation).

    Example: airlock resume run-20261129-ab12cd --key proc.key.pem
    """
    operator = open_key(key)
    with procedure() as p, progress_bars() as bars:
        run = p.store.get(run_id)
        if run.status in (State.PLAN_APPROVED, State.EXTRACTING):
            run = p.extract(run_id, operator, source, progress=bars)
        if run.status in (State.STAGED, State.LOADING):
            run = p.load(run_id, operator, progress=bars)
        if run.status == State.LOADED:
            run = p.reconcile(run_id, operator, source)
    _said(run.id, run.status)


def purge(
    run_id: Annotated[str | None, typer.Argument(help="The run to purge (accepted, aborted or failed).")] = None,
    key: Annotated[Path | None, typer.Option("--key", help="The processor's key, which signs the deletion certificate.")] = None,
    due: Annotated[bool, typer.Option("--due", help="Purge every run whose deadline or grace period is over (for a scheduler).")] = False,
) -> None:
    """Destroy a run's staged data by crypto-shredding and record the signed deletion certificate.

    With --due (run it from cron or a systemd timer), every run past its mandate's deadline, or accepted and
    past its grace period, or aborted or failed, is purged without anyone asking.

    Example: airlock purge --due --key /etc/airlock/processor.key.pem
    """
    if key is None:
        raise AirlockError("give --key: the processor's signing key signs the deletion certificate")
    signer = open_key(key)
    with procedure() as p:
        if due:
            for run in purge_due(p, signer, dt.date.today()):
                _said(run.id, run.status)
            return
        if run_id is None:
            raise AirlockError("give a run id, or --due")
        run = p.purge(run_id, signer, "purge requested")
    _said(run.id, run.status)
