"""The command line: every command documents itself with an example, and errors are one line."""

from __future__ import annotations

import subprocess
import sys

import typer.main

from airlock.cli import app


def _leaves(command, path=()):
    children = getattr(command, "commands", None)
    if not children:
        yield path, command
        return
    for name, child in children.items():
        yield from _leaves(child, (*path, name))


def test_every_command_has_help_with_an_example() -> None:
    leaves = list(_leaves(typer.main.get_command(app)))
    assert len(leaves) > 25
    missing = [" ".join(path) for path, command in leaves if "Example" not in (command.help or "")]
    assert missing == []


def test_an_error_is_one_line_and_exit_status_2(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from airlock.cli import main; main()", "plan", str(tmp_path / "missing.yaml"), "--source", "sqlite:///x.db"],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("airlock: error: ") and "missing.yaml" in result.stderr
