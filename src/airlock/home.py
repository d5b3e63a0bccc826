"""Where Airlock keeps its own state on this machine: the metadata store, the vault, the keyring."""

from __future__ import annotations

import os
from pathlib import Path


def airlock_home() -> Path:
    """``$AIRLOCK_HOME``, else ``~/.local/share/airlock``; created readable by its owner only."""
    home = Path(os.environ.get("AIRLOCK_HOME") or Path.home() / ".local" / "share" / "airlock")
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home
