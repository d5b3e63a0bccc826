"""``airlock keys``: signing identities of the controller and the processor.

The private key file is encrypted with a passphrase taken from the
``AIRLOCK_KEY_PASSPHRASE`` environment variable or asked for without echo;
never from the command line, where it would land in shell history and ``ps``.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path

import typer

from airlock.errors import AirlockError
from airlock.signing import PublicIdentity, SigningIdentity

PASSPHRASE_ENV = "AIRLOCK_KEY_PASSPHRASE"

app = typer.Typer(name="keys", help="Create and show signing identities.", no_args_is_help=True)


class Role(StrEnum):
    CONTROLLER = "controller"
    PROCESSOR = "processor"


def passphrase(*, confirm: bool = False) -> bytes:
    """The key passphrase from the environment, else a hidden prompt."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value is None:
        value = typer.prompt("Key passphrase", hide_input=True, confirmation_prompt=confirm)
    return value.encode()


def open_key(path: Path) -> SigningIdentity:
    return SigningIdentity.load(path, passphrase())


@app.command()
def new(
    name: str = typer.Option(..., "--name", help="Who signs with this key, as it should appear on the mandate."),
    role: Role = typer.Option(..., "--role", help="controller (the lab) or processor."),
    out: Path = typer.Option(..., "--out", help="Directory for KEY_ID.key.pem (private) and KEY_ID.pub.json (public)."),
) -> None:
    """Make a signing identity: an encrypted private key and a public identity to share.

    Example: AIRLOCK_KEY_PASSPHRASE=... airlock keys new --name "Dr Anne Martin" --role controller --out ~/.airlock
    """
    ident = SigningIdentity.generate(name, role.value)
    key_path, pub_path = ident.save(out, passphrase(confirm=True))
    typer.echo(f"private key (keep it, mode 0600): {key_path}")
    typer.echo(f"public identity (send it to the other party): {pub_path}")
    typer.echo(f"key id: {ident.public.key_id}")


@app.command()
def show(file: Path = typer.Argument(..., help="A .pub.json public identity or a .key.pem private key file.")) -> None:
    """Print the public identity (JSON) of a key file, to give to the other party.

    Example: airlock keys show ~/.airlock/3f2a9c0d1e4b5a67.key.pem > anne-martin.pub.json
    """
    if file.name.endswith(".pub.json"):
        public = PublicIdentity.load(file)
    elif file.name.endswith(".key.pem"):
        public = open_key(file).public
    else:
        raise AirlockError(f"{file}: give a .pub.json or .key.pem file made by 'airlock keys new'")
    typer.echo(json.dumps(public.to_json(), indent=2))
