"""The ``airlock`` command line: one sub-module per group of commands."""

from __future__ import annotations

import sys

import typer

from airlock.errors import AirlockError

app = typer.Typer(
    name="airlock",
    help="Move a laboratory's data from one LIS to another under the controller's signed mandate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Entry point: an AirlockError is one line on stderr and exit status 2, never a traceback."""
    try:
        app(standalone_mode=False)
    except AirlockError as e:
        typer.echo(f"airlock: error: {e}", err=True)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        typer.echo("airlock: aborted", err=True)
        sys.exit(1)
