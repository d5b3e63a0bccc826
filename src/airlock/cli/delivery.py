"""``airlock delivery``: age-encrypted deliverables for the receiving laboratory."""

from __future__ import annotations

from pathlib import Path

import typer

from airlock.vault.delivery import encrypt_directory, keygen as new_identity, open_delivery

app = typer.Typer(name="delivery", help="Encrypt deliverables to an age recipient, and open them.", no_args_is_help=True)


@app.command()
def keygen(out: Path = typer.Option(..., "--out", help="Where to write the new identity (secret, mode 0600).")) -> None:
    """Make an age identity for receiving deliveries; prints the public recipient to give the sender.

    Example: airlock delivery keygen --out ~/lab-delivery-key.txt
    """
    typer.echo(new_identity(out))


@app.command()
def seal(
    directory: Path = typer.Argument(..., help="The delivery directory (e.g. FHIR NDJSON output)."),
    recipient: str = typer.Option(..., "--recipient", help="The receiver's age public key (age1...)."),
    out: Path = typer.Option(None, "--out", help="Encrypted file [default: DIRECTORY.tar.age]."),
) -> None:
    """Pack a directory into a tar stream encrypted to an age recipient (nothing in clear is written).

    Example: airlock delivery seal fhir-out --recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
    """
    typer.echo(encrypt_directory(directory, recipient, out))


@app.command("open")
def open_(
    file: Path = typer.Argument(..., help="The delivery: a .tar.age file, or a directory of .age files (a FHIR delivery)."),
    identity: Path = typer.Option(..., "--identity", help="Your identity file (from 'airlock delivery keygen')."),
    out: Path = typer.Option(..., "--out", help="Directory to unpack into."),
) -> None:
    """Decrypt and unpack a delivery; nothing is left in OUT if the file is damaged or not for you.

    Example: airlock delivery open fhir-out.tar.age --identity ~/lab-delivery-key.txt --out received/
    """
    typer.echo(open_delivery(file, identity, out))
