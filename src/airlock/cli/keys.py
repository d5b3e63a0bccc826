"""``airlock keys``: signing identities of the controller and the processor.

The private key file is encrypted with a passphrase taken from the
``AIRLOCK_KEY_PASSPHRASE`` environment variable or asked for without echo;
never from the command line, where it would land in shell history and ``ps``.
"""

from __future__ import annotations

import base64
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


@app.command()
def sign(
    statement: str = typer.Argument(..., help="The statement to sign, exactly as the console or 'airlock status' shows it."),
    key: Path = typer.Option(..., "--key", help="Your .key.pem private key file."),
) -> None:
    """Sign a run's approval or acceptance statement on your own machine; paste the printed signature into the
    console. Only statements Airlock asks for are signed, so that a key is never used to sign arbitrary text.

    Example: AIRLOCK_KEY_PASSPHRASE=... airlock keys sign --key dpo.key.pem "airlock plan approval run-7f3a 9c1e..."
    """
    if not statement.startswith(("airlock plan approval ", "airlock acceptance ")):
        raise AirlockError("only a run's approval or acceptance statement is signed here ('airlock plan approval ...' or "
                           "'airlock acceptance ...'); copy it whole from the console")
    typer.echo(base64.b64encode(open_key(key).sign(statement.encode())).decode())
