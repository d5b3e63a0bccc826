"""``airlock mandate``: sign, countersign, verify, show and amend the controller's mandate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from airlock.cli.keys import open_key
from airlock.errors import AirlockError
from airlock.mandate import (
    Mandate,
    MandateError,
    amendment,
    load_mandate,
    read_signatures,
    sign_mandate,
    verify_mandate,
)
from airlock.mandate.signatures import check_signatures
from airlock.signing import PublicIdentity

app = typer.Typer(name="mandate", help="The controller's signed instruction: what may leave the source.", no_args_is_help=True)


@app.command()
def sign(
    mandate: Path = typer.Argument(..., help="The mandate YAML file."),
    key: Path = typer.Option(..., "--key", help="Your .key.pem file (made by 'airlock keys new')."),
) -> None:
    """Sign the mandate (controller) or countersign it (processor); signatures go to MANDATE.sig.json.

    Example: AIRLOCK_KEY_PASSPHRASE=... airlock mandate sign mandate.yaml --key ~/.airlock/3f2a9c0d1e4b5a67.key.pem
    """
    ident = open_key(key)
    sig_path = sign_mandate(mandate, ident)
    digest = load_mandate(mandate).digest
    typer.echo(f"signed as {ident.public.role} {ident.public.name} (key {ident.public.key_id}): {sig_path}")
    typer.echo(f"mandate digest: {digest}")


@app.command()
def verify(
    mandate: Path = typer.Argument(..., help="The mandate YAML file (its .sig.json next to it)."),
    controller: Path | None = typer.Option(None, "--controller", help="The controller's .pub.json: its key must have signed."),
    processor: Path | None = typer.Option(None, "--processor", help="The processor's .pub.json: its key must have countersigned."),
    predecessor: Path | None = typer.Option(None, "--predecessor", help="For an amendment: the signed version it replaces."),
) -> None:
    """Check that the mandate is in force: valid, signed, countersigned, not expired (and a correct amendment).

    Example: airlock mandate verify mandate.yaml --controller lab.pub.json --processor processor.pub.json
    """
    pins = [PublicIdentity.load(p) if p else None for p in (controller, processor)]
    previous = check_signatures(load_mandate(predecessor)) if predecessor else None
    signed = verify_mandate(mandate, *pins, today=dt.date.today(), predecessor=previous)
    m = signed.mandate
    typer.echo(f"in force: {m.id} version {m.version} until {m.deadline.isoformat()}, digest {m.digest}")
    for s in (signed.controller, signed.processor):
        typer.echo(f"  {s.role}: {s.name} (key {s.key_id})")
    if None in pins:
        typer.echo("note: signer keys not pinned; pass --controller and --processor with the .pub.json files you received")


@app.command()
def show(mandate: Path = typer.Argument(..., help="The mandate YAML file.")) -> None:
    """Print a summary of the mandate: parties, scope, limits, signatures and digest.

    Example: airlock mandate show mandate.yaml
    """
    m = load_mandate(mandate)
    out = Console()

    def say(text: str) -> None:
        out.print(text, markup=False, highlight=False)

    out.print(f"[bold]{escape(m.id)}[/] version {m.version}  digest [cyan]{m.digest}[/]")
    if m.predecessor:
        say(f"amends: {m.predecessor}")
    say(f"controller: {m.controller.name} (DPO {m.controller.dpo.name} <{m.controller.dpo.email}>)")
    say(f"processor:  {m.processor.name} (contact {m.processor.contact.name} <{m.processor.contact.email}>)")
    say(f"purpose:    {m.purpose}")
    say(f"from {m.source.name} ({m.source.kind}) to {m.target.name} ({m.target.kind}), delivery: {_delivery(m)}")
    say(f"deadline:   {m.deadline.isoformat()}, purge {m.grace_days} day(s) after acceptance")
    table = Table("entity", "fields extracted (everything else stays)", "treatment")
    for e in m.scope.entities.values():
        treatment = [f"{f}: {p}" for f, p in {**e.free_text, **e.transformations}.items()]
        table.add_row(e.entity, ", ".join(e.fields), ", ".join(treatment))
    out.print(table)
    for line in _rows(m):
        say(f"  {line}")
    for sp in m.sub_processors:
        say(f"sub-processor: {sp.name} ({sp.country}), {sp.role}")
    out.print(_signature_status(m))


def _delivery(m: Mandate) -> str:
    return f"files for {m.delivery.recipient}" if m.delivery.recipient else m.delivery.channel.value


def _rows(m: Mandate) -> list[str]:
    s = m.scope

    def span(r) -> str:
        return f"{r.first or '…'} to {r.last or '…'}"

    return [
        f"collected: {span(s.collected) if s.collected else 'any date'}",
        f"resulted: {span(s.resulted) if s.resulted else 'any date'}",
        f"sites: {', '.join(s.sites) if s.sites else 'all'}",
        f"tests: {'only ' + ', '.join(s.test_codes.include) if s.test_codes.include else 'all'}"
        + (f", except {', '.join(s.test_codes.exclude)}" if s.test_codes.exclude else ""),
        f"sensitive categories opted in: {', '.join(sorted(s.sensitivity)) or 'none'}; "
        f"excluded: {', '.join(sorted(s.excluded_sensitivity)) or 'none'}",
        f"patients: {'seen since ' + s.patients_seen_since.isoformat() if s.patients_seen_since else 'all with extracted records'}",
        f"raw source fields: {', '.join(s.source_fields) or 'none'}",
    ]


def _signature_status(m: Mandate) -> str:
    try:
        sigs = read_signatures(m.path)
        for s in sigs:
            s.check(m)
    except AirlockError as e:
        return f"[red]signatures: {escape(str(e))}[/]"
    if not sigs:
        return "[yellow]unsigned[/]"
    return escape("signed by: " + "; ".join(f"{s.role} {s.name} (key {s.key_id}, {s.signed_at})" for s in sigs))


@app.command()
def amend(
    old: Path = typer.Argument(..., help="The signed mandate to amend."),
    out: Path = typer.Option(..., "--out", help="Where to write the new version (must not exist)."),
) -> None:
    """Write the skeleton of the next version: same content, version + 1, predecessor = digest of OLD.

    Edit it, then have it signed and countersigned like the first version.
    Example: airlock mandate amend mandate.yaml --out mandate-v2.yaml
    """
    previous = load_mandate(old)
    if out.exists():
        raise MandateError(f"{out}: already exists; choose another --out")
    header = (
        f"# Amendment of {previous.id} version {previous.version} ({old.name}, digest {previous.digest}).\n"
        "# Edit what changes, then: airlock mandate sign (controller), airlock mandate sign (processor).\n"
        "# Keys are explained in docs/mandate.md.\n"
    )
    out.write_text(header + yaml.safe_dump(amendment(previous), sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    typer.echo(f"wrote {out} (version {previous.version + 1}); unsigned until both parties sign it")
