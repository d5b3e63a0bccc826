"""Where Airlock keeps its own state on this machine: the metadata store, the vault, the keyring."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def home_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$AIRLOCK_HOME``, else ``~/.local/share/airlock`` (not created)."""
    env = os.environ if environ is None else environ
    return Path(env.get("AIRLOCK_HOME") or Path.home() / ".local" / "share" / "airlock")


def airlock_home() -> Path:
    """:func:`home_path`, created readable by its owner only."""
    home = home_path()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home
