"""``airlock ledger``: verify, export, checkpoint and prune the tamper-evident ledger in the metadata store."""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from airlock.cli.keys import open_key
from airlock.errors import AirlockError
from airlock.ledger import Ledger
from airlock.ledger.chain import RETENTION_MONTHS
from airlock.ledger.export import audit_events_ndjson, syslog_line
from airlock.signing import PublicIdentity
from airlock.store import open_store
from airlock.store.models import utcnow

app = typer.Typer(name="ledger", help="The tamper-evident ledger of security events: verify, export, checkpoint, prune.", no_args_is_help=True)

KEY = Annotated[Path, typer.Option("--key", help="The processor's signing key (.key.pem); passphrase in AIRLOCK_KEY_PASSPHRASE.")]
RETENTION_ENV = "AIRLOCK_LEDGER_RETENTION_MONTHS"


class Format(StrEnum):
    FHIR = "fhir"
    SYSLOG = "syslog"


@app.command()
def verify(processor: Annotated[Path | None, typer.Option("--processor", help="Require every checkpoint to be signed by this public identity (.pub.json).")] = None) -> None:
    """Walk the hash chain from its anchor and check every signed checkpoint; names the first bad entry.

    Example: airlock ledger verify --processor processor.pub.json
    """
    trusted = PublicIdentity.load(processor) if processor else None
    with open_store() as store:
        result = Ledger(store).verify(trusted)
    if not result.ok:
        more = f" (and {len(result.problems) - 1} more problem(s))" if len(result.problems) > 1 else ""
        raise AirlockError(f"ledger verification failed: {result.first_problem}{more}; open an incident and keep a copy of the store")
    typer.echo(f"ledger intact: {result.entries} entries after anchor {result.anchor}, {result.checkpoints} signed checkpoint(s)")


@app.command()
def export(
    fmt: Annotated[Format, typer.Option("--format", help="fhir (AuditEvent NDJSON) or syslog (RFC 5424 lines).")] = Format.FHIR,
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default: standard output).")] = None,
    since: Annotated[int, typer.Option("--since", help="Only entries after this sequence number.")] = 0,
) -> None:
    """Export the ledger as FHIR AuditEvent NDJSON (IHE Basic Audit Log Patterns) or RFC 5424 syslog lines.

    Example: airlock ledger export --format fhir --out audit.ndjson
    """
    with open_store() as store, (out.open("w", encoding="utf-8") if out else nullcontext(sys.stdout)) as sink:
        entries = Ledger(store).entries(since=since)
        lines = audit_events_ndjson(entries) if fmt is Format.FHIR else (syslog_line(e) + "\n" for e in entries)
        for line in lines:
            sink.write(line)


@app.command()
def checkpoint(key: KEY) -> None:
    """Sign the Merkle root of the entries since the last checkpoint (run it at regular intervals, e.g. hourly).

    Example: AIRLOCK_KEY_PASSPHRASE=... airlock ledger checkpoint --key ~/.airlock/3f2a9c0d1e4b5a67.key.pem
    """
    signer = open_key(key)
    with open_store() as store:
        cp = Ledger(store).checkpoint(signer)
    typer.echo(f"checkpoint of entries {cp.first_seq} to {cp.last_seq}: root {cp.root}" if cp else "nothing new since the last checkpoint")


@app.command()
def prune(
    key: KEY,
    months: Annotated[int | None, typer.Option("--months", help=f"Keep this many months (6 to 12; default ${RETENTION_ENV} or 12).")] = None,
) -> None:
    """Remove entries older than the retention (CNIL deliberation 2021-122: 6 to 12 months), leaving a signed anchor.

    Example: AIRLOCK_KEY_PASSPHRASE=... airlock ledger prune --key ~/.airlock/3f2a9c0d1e4b5a67.key.pem --months 12
    """
    months = months or int(os.environ.get(RETENTION_ENV, "12"))
    if not RETENTION_MONTHS[0] <= months <= RETENTION_MONTHS[1]:
        raise AirlockError(f"ledger retention is {RETENTION_MONTHS[0]} to {RETENTION_MONTHS[1]} months (CNIL deliberation 2021-122), not {months}")
    signer = open_key(key)
    with open_store() as store:
        removed = Ledger(store).prune(utcnow() - timedelta(days=30 * months), signer)
    typer.echo(f"{removed} entries older than {months} months removed; verification now starts from the signed anchor")
