"""``airlock certificate``: check a deletion certificate offline, render it for the DPO."""

from __future__ import annotations

from pathlib import Path

import typer

from airlock.signing import PublicIdentity
from airlock.vault import DeletionCertificate

app = typer.Typer(name="certificate", help="Deletion certificates: verify offline, render as PDF.", no_args_is_help=True)


@app.command()
def verify(
    certificate: Path = typer.Argument(..., help="The certificate JSON."),
    processor: Path = typer.Option(..., "--processor", help="The processor's public identity (.pub.json) you trust."),
) -> None:
    """Check that the processor you trust signed this certificate and that nothing in it changed.

    Example: airlock certificate verify cert.json --processor processor.pub.json
    """
    cert = DeletionCertificate.load(certificate)
    cert.verify(PublicIdentity.load(processor))
    typer.echo(
        f"valid: run {cert.run_id}, {len(cert.chunks)} chunk(s) deleted and key(s) "
        f"{', '.join(cert.destroyed_keys) or 'none left'} destroyed at {cert.deleted_at} by {cert.actor}, "
        f"signed by {cert.processor.name} ({cert.processor.key_id})"
    )


@app.command()
def pdf(
    certificate: Path = typer.Argument(..., help="The certificate JSON."),
    out: Path = typer.Option(..., "--out", help="The PDF to write."),
) -> None:
    """Render the certificate as a PDF a DPO can file (the JSON stays the proof: verify it).

    Example: airlock certificate pdf cert.json --out cert.pdf
    """
    DeletionCertificate.load(certificate).render_pdf(out)
    typer.echo(out)
