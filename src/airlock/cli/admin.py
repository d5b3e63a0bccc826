"""``airlock admin``: the first administrator, made once, with their second factor enrolled at once.

There is no default account and no default password: until ``airlock admin
bootstrap`` has run, nobody can log in. The password comes from
``AIRLOCK_BOOTSTRAP_PASSWORD`` or a hidden prompt, never from the command line.
"""

from __future__ import annotations

import os

import typer
from rich.console import Console

from airlock.identity.directory import Directory
from airlock.identity.seeds import SeedKey
from airlock.store import open_store

PASSWORD_ENV = "AIRLOCK_BOOTSTRAP_PASSWORD"

app = typer.Typer(name="admin", help="Administer the server's accounts.", no_args_is_help=True)


@app.command()
def bootstrap(
    name: str = typer.Option(..., "--name", help="The administrator's full name (a person, not 'admin')."),
    email: str = typer.Option(..., "--email", help="Their professional e-mail address."),
    organisation: str = typer.Option(..., "--organisation", help="The processor organisation (made if missing)."),
    database: str | None = typer.Option(None, "--database", help="Metadata store URL [default: $AIRLOCK_DATABASE_URL or $AIRLOCK_HOME/airlock.db]."),
) -> None:
    """Create the first administrator and enrol their TOTP at once; refused once an administrator exists.

    Prints the otpauth:// URI (scan it into an authenticator app) and ten single-use recovery codes, once.

    Example: airlock admin bootstrap --name "Ada Lovelace" --email ada.lovelace@processor.example --organisation "Processor SA"
    """
    secret = os.environ.get(PASSWORD_ENV)
    if secret is None:
        secret = typer.prompt("Password (80 bits: e.g. 12+ characters of four kinds, or 7 words)", hide_input=True, confirmation_prompt=True)
    with open_store(database) as store:
        enrolment = Directory(store, seeds=SeedKey.load()).bootstrap(name, email, organisation, secret)
    console = Console(highlight=False)
    console.print(f"administrator {enrolment.account.id} created for {enrolment.account.email}")
    console.print("TOTP (shown once; scan into an authenticator app):", enrolment.totp_uri, soft_wrap=True)
    console.print("recovery codes (shown once; each works once; keep them offline):")
    for code in enrolment.recovery_codes:
        console.print(f"  {code}")
