"""``airlock doctor``: check this deployment against each finding of CNIL decision SAN-2022-009."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from airlock.mandate import load_mandate
from airlock.paperwork import current
from airlock.paperwork.doctor import FAIL, diagnose

_STYLE = {"pass": "[green]pass[/]", "fail": "[red]fail[/]", "skip": "[yellow]skip[/]"}


def doctor(
    mandate: list[Path] = typer.Option([], "--mandate", help="An active mandate (repeatable); its agreement sits next to it as MANDATE.agreement.md/pdf/txt/docx."),
    config: list[Path] = typer.Option([], "--config", help="A configuration or environment file to search for a stored passphrase (repeatable)."),
    vault: Path | None = typer.Option(None, "--vault", help="Vault directory [default: $AIRLOCK_HOME/vault]."),
    keyring: Path | None = typer.Option(None, "--keyring", help="Passphrase keyring file [default: $AIRLOCK_HOME/keyring.json]."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check the deployment: TLS, MFA, key protection, purge deadlines, log retention, signed mandates and
    complete agreements; checks whose inputs do not exist yet are reported as skip, never as pass.
    Exit status 1 when any check fails.

    Example: airlock doctor --mandate mandate.yaml --json
    """
    settings = current()
    settings = dataclasses.replace(settings, vault=vault or settings.vault, keyring=keyring or settings.keyring)
    checks = diagnose(settings, [load_mandate(m) for m in mandate], configs=config)
    if as_json:
        typer.echo(json.dumps([c.to_json() for c in checks], indent=2, ensure_ascii=False))
    else:
        table = Table("check", "article", "status", "detail", title="Airlock posture (CNIL SAN-2022-009 findings)")
        for c in checks:
            table.add_row(c.title, c.article, _STYLE[c.status], escape(c.detail))
        Console().print(table)
    if any(c.status == FAIL for c in checks):
        raise typer.Exit(1)
