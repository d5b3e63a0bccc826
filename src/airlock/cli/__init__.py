"""The ``airlock`` command line: one sub-module per group of commands."""

from __future__ import annotations

import logging
import sys

import typer

from airlock.errors import AirlockError
from airlock.logs import configure_logging

app = typer.Typer(
    name="airlock",
    help="Move a laboratory's data from one LIS to another under the controller's signed mandate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from airlock.cli import (
        admin, alerts, certificate, delivery, demo, doctor, dpa, incidents, keys, ledger, mandate, model, plan, records,
        run, serve, synth, vault,
    )

    app.command("model")(model.show)
    app.command("plan")(plan.plan)
    app.add_typer(run.app, name="run")
    for step in (run.approve, run.accept, run.status, run.resume, run.purge):
        app.command(step.__name__)(step)
    app.command("demo")(demo.demo)
    app.add_typer(keys.app, name="keys")
    app.add_typer(mandate.app, name="mandate")
    app.add_typer(synth.app, name="synth", help="Synthetic LIS databases for demos, tests and benchmarks.")
    app.add_typer(vault.app, name="vault")
    app.add_typer(delivery.app, name="delivery")
    app.add_typer(certificate.app, name="certificate")
    app.add_typer(dpa.app, name="dpa")
    app.command("records")(records.records)
    app.command("doctor")(doctor.doctor)
    app.add_typer(admin.app, name="admin")
    app.command("serve")(serve.serve)
    app.add_typer(ledger.app, name="ledger")
    app.add_typer(alerts.app, name="alerts")
    app.add_typer(incidents.app, name="incidents")


_register()


def main() -> None:
    """Entry point: an AirlockError is one line on stderr and exit status 2, never a traceback.

    Usage errors, --help and exit codes are typer's own (standalone mode).
    """
    configure_logging(logging.WARNING)  # defence in depth: personal-data patterns are redacted from every log record
    try:
        app()
    except AirlockError as e:
        typer.echo(f"airlock: error: {e}", err=True)
        sys.exit(2)
