"""``airlock vault``: the keyring, the staged runs, KEK rotation and purge.

The keyring passphrase comes from ``AIRLOCK_KEYRING_PASSPHRASE`` or a hidden
prompt, a PKCS#11 PIN from ``AIRLOCK_PKCS11_PIN`` or a hidden prompt: never
from the command line, where they would land in shell history and ``ps``.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from airlock.cli.keys import open_key
from airlock.errors import AirlockError
from airlock.vault import KeyProvider, PassphraseKeyring, Pkcs11Keyring, Vault, VaultIntegrityError
from airlock.vault.keyring import PASSPHRASE_ENV, airlock_home

PIN_ENV = "AIRLOCK_PKCS11_PIN"

app = typer.Typer(name="vault", help="Encrypted staging: keyring, runs, KEK rotation, purge.", no_args_is_help=True)


@app.callback()
def _watched(ctx: typer.Context) -> None:
    """What these commands open or destroy goes to the ledger and the alert rules, as the procedure's steps do."""
    from airlock.store import open_store
    from airlock.watch.service import watch

    store = ctx.obj = open_store()
    _, stop = watch(store)
    ctx.call_on_close(lambda: (stop(), store.close()))

VAULT = typer.Option(None, "--vault", help="Vault directory [default: $AIRLOCK_HOME/vault].")
KEYRING = typer.Option(None, "--keyring", help="Passphrase keyring file [default: $AIRLOCK_HOME/keyring.json].")
PKCS11 = typer.Option(None, "--pkcs11-module", help="PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so): use an HSM instead of the keyring file.")
TOKEN = typer.Option(None, "--token", help="PKCS#11 token label (with --pkcs11-module).")
KEY_LABEL = typer.Option("airlock-kek", "--key-label", help="Label of the KEK in the token (with --pkcs11-module).")


def _secret(env: str, prompt: str, *, confirm: bool = False) -> str:
    value = os.environ.get(env)
    return value if value is not None else typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def open_keyring(keyring: Path | None, pkcs11_module: Path | None, token: str | None, key_label: str) -> KeyProvider:
    """The KEK provider the options name: a PKCS#11 token if a module is given, else the keyring file."""
    if pkcs11_module is not None:
        if not token:
            raise AirlockError("--pkcs11-module needs --token (the label given to softhsm2-util --init-token or your HSM)")
        return Pkcs11Keyring(pkcs11_module, token, _secret(PIN_ENV, "Token PIN"), key_label)
    return PassphraseKeyring(keyring or airlock_home() / "keyring.json", _secret(PASSPHRASE_ENV, "Keyring passphrase"))


@app.command()
def init(keyring: Path = KEYRING) -> None:
    """Create the passphrase keyring (one random KEK, encrypted under an argon2id key).

    Example: AIRLOCK_KEYRING_PASSPHRASE=... airlock vault init --keyring ~/.airlock/keyring.json
    """
    path = keyring or airlock_home() / "keyring.json"
    ring = PassphraseKeyring.create(path, _secret(PASSPHRASE_ENV, "New keyring passphrase", confirm=True))
    typer.echo(f"keyring {path} created (mode 0600), current KEK {ring.key_id}")


@app.command()
def status(
    run: str = typer.Argument(None, help="One run id; all runs if omitted."),
    vault: Path = VAULT, keyring: Path = KEYRING, pkcs11_module: Path = PKCS11, token: str = TOKEN, key_label: str = KEY_LABEL,
) -> None:
    """Show staged runs: entities, chunks, rows, whether finished, purged. Verifies each manifest.

    Example: AIRLOCK_KEYRING_PASSPHRASE=... airlock vault status run-2026-11-29-001
    """
    store = Vault(vault)
    provider = open_keyring(keyring, pkcs11_module, token, key_label)
    table = Table("run", "entity", "chunks", "rows", "state")
    for run_id in [run] if run else store.runs():
        try:
            staged = store.open(run_id, provider)
        except VaultIntegrityError:
            table.add_row(run_id, "", "", "", "[red]integrity failure: purge it[/red]")
            continue
        if staged.purged:
            table.add_row(run_id, "", "", "", "purged")
            continue
        for entity in staged.entities:
            refs = staged.chunk_refs(entity)
            state = "finished" if staged.is_finished(entity) else "open"
            table.add_row(run_id, entity, str(len(refs)), str(sum(r.rows for r in refs)), state)
    Console().print(table)


@app.command()
def rewrap(
    vault: Path = VAULT, keyring: Path = KEYRING, pkcs11_module: Path = PKCS11, token: str = TOKEN, key_label: str = KEY_LABEL,
) -> None:
    """Rotate the KEK, then re-wrap every run's DEK under the new one (chunks are not touched).

    Then retire the old KEK with 'airlock vault retire'.
    Example: AIRLOCK_KEYRING_PASSPHRASE=... airlock vault rewrap
    """
    provider = open_keyring(keyring, pkcs11_module, token, key_label)
    old = provider.key_id
    new = provider.rotate()
    runs = Vault(vault).rewrap_all(provider)
    typer.echo(f"new KEK {new}; {len(runs)} run key(s) re-wrapped; retire the old KEK with: airlock vault retire {old}")


@app.command()
def retire(
    kek: str = typer.Argument(..., help="Id of the old KEK to destroy."),
    vault: Path = VAULT, keyring: Path = KEYRING, pkcs11_module: Path = PKCS11, token: str = TOKEN, key_label: str = KEY_LABEL,
) -> None:
    """Destroy an old KEK; refused while a run in the vault is still wrapped under it.

    Example: AIRLOCK_KEYRING_PASSPHRASE=... airlock vault retire kek-0f3a9c1d2b4e5f60
    """
    using = [run for run, kek_id in Vault(vault).kek_ids().items() if kek_id == kek]
    if using:
        raise AirlockError(f"KEK {kek} still wraps run(s) {', '.join(using)}; run 'airlock vault rewrap' first")
    open_keyring(keyring, pkcs11_module, token, key_label).retire(kek)
    typer.echo(f"KEK {kek} destroyed")


@app.command()
def purge(
    ctx: typer.Context,
    run: str = typer.Argument(..., help="The run id to purge (staging the metadata store has no run for)."),
    actor: str = typer.Option(..., "--actor", help="Who triggers the purge (recorded in the certificate)."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the certificate)."),
    key: Path = typer.Option(..., "--key", help="The processor's .key.pem signing key (made by 'airlock keys new')."),
    mandate_digest: str = typer.Option(..., "--mandate-digest", help="Digest of the mandate the run served."),
    out: Path = typer.Option(None, "--out", help="Also copy the certificate here."),
    vault: Path = VAULT,
) -> None:
    """Crypto-shred staging no run of the procedure owns (destroy its key, delete its chunks) and sign a
    deletion certificate.

    For staging left without its run (a metadata store lost, a vault restored from a backup). A run of the
    procedure is purged with 'airlock purge', which checks its state and records the certificate on it.
    Needs no keyring: a damaged run can be purged too. Safe to run again after an interruption.
    Example: AIRLOCK_KEY_PASSPHRASE=... airlock vault purge run-2026-11-29-001 --actor "ops@processor" --reason "migration accepted" --key proc.key.pem --mandate-digest 9f2c... --out cert.json
    """
    from airlock.procedure.records import RunRecord

    with ctx.obj.session() as session:
        owned = session.get(RunRecord, run)
    if owned is not None:
        raise AirlockError(f"run {run} is a run of the procedure ({owned.status}): purge it with 'airlock purge {run} --key ...', "
                           "which checks its state and records the certificate on the run")
    certificate = Vault(vault).purge(run, actor, reason, open_key(key), mandate_digest=mandate_digest)
    if out is not None:
        certificate.save(out)
    typer.echo(f"run {run} purged: {len(certificate.chunks)} chunk(s), key(s) {', '.join(certificate.destroyed_keys) or 'none left'} destroyed")
