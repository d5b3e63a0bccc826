"""``airlock incidents``: open and update incidents, declare a breach, export its notice and drafts, the breach register."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from airlock.cli.alerts import KEY, NOTE, person
from airlock.ledger import Ledger
from airlock.store import open_store
from airlock.watch.breaches import Breaches
from airlock.watch.incidents import Incidents

app = typer.Typer(name="incidents", help="Incidents and personal-data breaches (GDPR Art. 33 and 34).", no_args_is_help=True)

INCIDENT = Annotated[str, typer.Argument(help="The incident id.")]


class RegisterFormat(StrEnum):
    CSV = "csv"
    MARKDOWN = "markdown"


@app.command("open")
def open_(
    title: Annotated[str, typer.Option("--title", help="What happened, briefly (no patient data).")],
    key: KEY,
    alert: Annotated[str | None, typer.Option("--alert", help="The alert raised to an incident.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="The run concerned (taken from the alert if not given).")] = None,
) -> None:
    """Open an incident, from an alert or a report.

    Example: AIRLOCK_KEY_PASSPHRASE=... airlock incidents open --title "Staging kept past deadline" --alert 3f2a9c0d1e4b --key me.key.pem
    """
    who = person(key)
    with open_store() as store:
        incident = Incidents(store, Ledger(store)).open(title, who, alert_id=alert, run_id=run)
    typer.echo(f"incident {incident.id} opened" + (f" for run {incident.run_id}" if incident.run_id else ""))


@app.command()
def update(
    incident: INCIDENT,
    key: KEY,
    state: Annotated[str | None, typer.Option("--state", help="open, investigating, contained or closed.")] = None,
    note: NOTE = None,
) -> None:
    """Add to an incident's journal, or change its state.

    Example: AIRLOCK_KEY_PASSPHRASE=... airlock incidents update 9c0d1e4b3f2a --state contained --note "share closed" --key me.key.pem
    """
    who = person(key)
    with open_store() as store:
        row = Incidents(store, Ledger(store)).update(incident, who, state=state, note=note)
    typer.echo(f"incident {row.id}: {row.state}")


@app.command()
def breach(
    incident: INCIDENT,
    key: KEY,
    nature: Annotated[str, typer.Option("--nature", help="confidentiality, integrity or availability.")] = "confidentiality",
    aware_at: Annotated[datetime | None, typer.Option("--aware-at", help="When the processor became aware (UTC; default: now).")] = None,
) -> None:
    """Judge an incident a personal-data breach: the record is prefilled from its run and mandate; the 72-hour clock starts.

    Example: AIRLOCK_KEY_PASSPHRASE=... airlock incidents breach 9c0d1e4b3f2a --nature confidentiality --key me.key.pem
    """
    who = person(key)
    with open_store() as store:
        row = Breaches(store, Ledger(store)).declare(incident, who, nature=nature, aware_at=aware_at.replace(tzinfo=aware_at.tzinfo or UTC) if aware_at else None)
    typer.echo(f"breach {row.id}: {row.data_subjects} data subject(s), {row.records} record(s); tell the controller now: "
               f"airlock incidents export {row.id} --out DIR")


@app.command()
def export(
    breach_id: Annotated[str, typer.Argument(help="The breach id.")],
    key: KEY,
    out: Annotated[Path, typer.Option("--out", help="Directory for notice.md, communication.fr.md and communication.en.md.")],
) -> None:
    """Write the processor's notice to the controller (Art. 33(2), records when it was given) and the Art. 34 drafts.

    Example: AIRLOCK_KEY_PASSPHRASE=... airlock incidents export 4b3f2a9c0d1e --key me.key.pem --out breach/
    """
    who = person(key)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open_store() as store:
        breaches = Breaches(store, Ledger(store))
        (out / "notice.md").write_text(breaches.notice_to_controller(breach_id, who), encoding="utf-8")
        for language in ("fr", "en"):
            (out / f"communication.{language}.md").write_text(breaches.communication(breach_id, language), encoding="utf-8")
    typer.echo(out)


@app.command()
def register(fmt: Annotated[RegisterFormat, typer.Option("--format", help="csv or markdown.")] = RegisterFormat.MARKDOWN) -> None:
    """The Art. 33(5) register of every breach: facts, effects, remedial action.

    Example: airlock incidents register --format csv > breaches.csv
    """
    with open_store() as store:
        breaches = Breaches(store)
        typer.echo(breaches.register_csv() if fmt is RegisterFormat.CSV else breaches.register_markdown(), nl=False)
