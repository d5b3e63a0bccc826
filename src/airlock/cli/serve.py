"""``airlock serve``: the API server and the console's login page."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from airlock.cli.keys import open_key
from airlock.cli.run import procedure
from airlock.identity.directory import Directory, Policy
from airlock.identity.seeds import SeedKey
from airlock.procedure.scheduler import PurgeWorker
from airlock.server import check_listen, create_app
from airlock.store import open_store
from airlock.watch.service import watch


def serve(
    host: str = typer.Option("127.0.0.1", "--host", envvar="AIRLOCK_BIND", help="Address to listen on; beyond loopback TLS is required."),
    port: int = typer.Option(8443, "--port", min=1, max=65535, help="Port to listen on."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", envvar="AIRLOCK_TLS_CERT", help="TLS certificate (PEM)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", envvar="AIRLOCK_TLS_KEY", help="TLS private key (PEM)."),
    database: str | None = typer.Option(None, "--database", help="Metadata store URL [default: $AIRLOCK_DATABASE_URL or $AIRLOCK_HOME/airlock.db]."),
) -> None:
    """Serve the Airlock API: nothing answers without authentication but /api/health and the login.

    Refuses to listen on a non-loopback address without TLS. Session, re-authentication and
    shared-account settings come from AIRLOCK_* variables (docs/identity.md). With AIRLOCK_PROCESSOR_KEY (the
    processor's signing key; passphrase in AIRLOCK_KEY_PASSPHRASE) a background worker purges due runs hourly.

    Example: airlock serve --host 0.0.0.0 --port 8443 --tls-cert /etc/airlock/cert.pem --tls-key /etc/airlock/key.pem
    """
    import uvicorn

    check_listen(host, tls_cert, tls_key)
    store = open_store(database)
    app = create_app(Directory(store, Policy.from_environ(), seeds=SeedKey.load()))
    watch(store)  # logins, sessions, runs and vault events go to the ledger and the alert rules
    processor_key = os.environ.get("AIRLOCK_PROCESSOR_KEY")
    if processor_key:
        # The background worker purges due runs; the processor's key signs the deletion certificates.
        PurgeWorker(procedure, open_key(Path(processor_key))).start()
    else:
        typer.echo("note: AIRLOCK_PROCESSOR_KEY is not set, so this server purges nothing by itself; "
                   "schedule 'airlock purge --due --key ...' (cron or a systemd timer)", err=True)
    # No proxy headers: the client address feeds rate limiting and shared-account detection, so it is not taken from the request.
    uvicorn.run(app, host=host, port=port, ssl_certfile=tls_cert, ssl_keyfile=tls_key, proxy_headers=False, server_header=False,
                log_level="info")
