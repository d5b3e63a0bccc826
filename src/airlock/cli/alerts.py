"""``airlock alerts``: list, acknowledge and resolve security alerts; run the time-driven checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from airlock.cli.keys import open_key
from airlock.ledger import Actor, Ledger
from airlock.store import open_store
from airlock.watch.alerts import Watch, WatchSettings
from airlock.watch.notifications import Notifier

app = typer.Typer(name="alerts", help="Security alerts: list, acknowledge, resolve, check.", no_args_is_help=True)

ALERT = Annotated[str, typer.Argument(help="The alert id (from 'airlock alerts list').")]
KEY = Annotated[Path, typer.Option("--key", help="Your signing key (.key.pem): who acts; passphrase in AIRLOCK_KEY_PASSPHRASE.")]
NOTE = Annotated[str | None, typer.Option("--note", help="What was found or done (no patient data: it is refused).")]


def person(key: Path) -> Actor:
    """Who acts, from their signing key: its key id, name and role."""
    public = open_key(key).public
    return Actor(public.key_id, public.name, public.role)


@app.command("list")
def list_(state: Annotated[str | None, typer.Option("--state", help="open, acknowledged or resolved (default: all).")] = None) -> None:
    """The alerts, oldest first.

    Example: airlock alerts list --state open
    """
    with open_store() as store:
        alerts = Watch(store).alerts(state)
    # Ids are what the other commands take: never cut.
    table = Table(Column("id", no_wrap=True), "rule", "severity", "subject", "count", "state", "first", "last", "by")
    for a in alerts:
        table.add_row(a.id, a.rule, a.severity, a.subject, str(a.count), a.state, f"{a.first_at:%Y-%m-%d %H:%M}", f"{a.last_at:%Y-%m-%d %H:%M}",
                      a.resolved_by or a.acknowledged_by or "")
    Console().print(table)


@app.command()
def ack(alert: ALERT, key: KEY, note: NOTE = None) -> None:
    """Acknowledge an open alert: someone is on it (stops its escalation).

    Example: AIRLOCK_KEY_PASSPHRASE=... airlock alerts ack 3f2a9c0d1e4b --key me.key.pem --note "calling the account holder"
    """
    who = person(key)
    with open_store() as store:
        a = Watch(store, Ledger(store)).acknowledge(alert, who, note)
    typer.echo(f"alert {a.id} acknowledged by {a.acknowledged_by}")


@app.command()
def resolve(alert: ALERT, key: KEY, note: NOTE = None) -> None:
    """Resolve an alert, saying what was done.

    Example: AIRLOCK_KEY_PASSPHRASE=... airlock alerts resolve 3f2a9c0d1e4b --key me.key.pem --note "password reset, sessions ended"
    """
    who = person(key)
    with open_store() as store:
        a = Watch(store, Ledger(store)).resolve(alert, who, note)
    typer.echo(f"alert {a.id} resolved by {a.resolved_by}")


@app.command()
def check() -> None:
    """Run the time-driven rules now: escalations, overdue purges, ledger verification, breach reminders (run it from cron).

    Example: AIRLOCK_ALERT_EMAIL=securite@labo.fr airlock alerts check
    """
    with open_store() as store:
        raised = Watch(store, Ledger(store), Notifier.from_environ(), settings=WatchSettings.from_environ()).tick()
    typer.echo(f"{len(raised)} alert(s) raised or escalated" + "".join(f"\n  {a.id} {a.rule} {a.severity} {a.subject}" for a in raised))
