"""A run's manifest: an append-only, MAC-chained list of what the vault holds.

One JSON line per record: the run header, then ``chunk`` records (entity,
index, rows, byte length, SHA-256 of the sealed file, schema digest), ``end``
records (an entity is complete, with its chunk count) and a final ``close``.
Each line carries ``mac = HMAC-SHA256(key, previous mac || RFC 8785 record)``,
so a line cannot be edited, dropped from the middle, reordered or taken from
another run (the key derives from that run's DEK) without the chain breaking.
Dropping lines from the tail looks like an interrupted run: readers therefore
require an entity's ``end`` record, which states its chunk count.

A last line without its newline is a write cut short by a crash; it is
ignored, and the next append overwrites it (that is how a run resumes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import rfc8785

FORMAT = "airlock-vault-manifest/1"
_GENESIS = bytes(32)


class ManifestBroken(Exception):
    """Internal: the manifest fails verification at ``line`` (1-based); the vault turns it into an integrity error."""

    def __init__(self, line: int, check: str):
        super().__init__(f"line {line}: {check}")
        self.line, self.check = line, check


def _mac(key: bytes, previous: bytes, record: dict[str, Any]) -> bytes:
    return hmac.new(key, previous + rfc8785.dumps(record), hashlib.sha256).digest()


class Manifest:
    """The verified records of one run's manifest, and appending to it."""

    def __init__(self, path: Path, key: bytes, records: list[dict[str, Any]], last_mac: bytes, valid_bytes: int):
        self.path, self._key = path, key
        self.records, self._last, self._valid_bytes = records, last_mac, valid_bytes

    @classmethod
    def create(cls, path: Path, key: bytes, run_id: str) -> "Manifest":
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        manifest = cls(path, key, [], _GENESIS, 0)
        manifest.append({"type": "run", "format": FORMAT, "run": run_id})
        return manifest

    @classmethod
    def load(cls, path: Path, key: bytes, run_id: str) -> "Manifest":
        """Read and verify the whole chain; raises ManifestBroken naming the first bad line."""
        data = path.read_bytes()
        valid = data.rfind(b"\n") + 1  # a crash can leave a partial last line: not part of the manifest
        previous, records = _GENESIS, []
        for number, line in enumerate(data[:valid].splitlines(), start=1):
            try:
                entry = json.loads(line)
                record, mac = entry["record"], bytes.fromhex(entry["mac"])
            except (ValueError, KeyError, TypeError):
                raise ManifestBroken(number, "malformed") from None
            if not hmac.compare_digest(mac, _mac(key, previous, record)):
                raise ManifestBroken(number, "mac")
            previous = mac
            records.append(record)
        if not records or records[0] != {"type": "run", "format": FORMAT, "run": run_id}:
            raise ManifestBroken(1, "header")
        _check_sequence(records)
        return cls(path, key, records, previous, valid)

    def append(self, record: dict[str, Any]) -> None:
        mac = _mac(self._key, self._last, record)
        line = json.dumps({"record": record, "mac": mac.hex()}, separators=(",", ":")).encode() + b"\n"
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.truncate(fd, self._valid_bytes)  # drop a partial line left by a crash
            os.pwrite(fd, line, self._valid_bytes)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._valid_bytes += len(line)
        self.records.append(record)
        self._last = mac

    def chunks(self, entity: str) -> Iterator[dict[str, Any]]:
        return (r for r in self.records if r["type"] == "chunk" and r["entity"] == entity)

    def ended(self, entity: str) -> dict[str, Any] | None:
        return next((r for r in self.records if r["type"] == "end" and r["entity"] == entity), None)

    @property
    def closed(self) -> bool:
        return self.records[-1]["type"] == "close"

    @property
    def entities(self) -> list[str]:
        return list(dict.fromkeys(r["entity"] for r in self.records if r["type"] in ("chunk", "end")))


def _check_sequence(records: list[dict[str, Any]]) -> None:
    """Indexes run 0, 1, 2... per entity; nothing follows an entity's end or the run's close."""
    next_index: dict[str, int] = {}
    ended: set[str] = set()
    for number, record in enumerate(records, start=1):
        kind, entity = record.get("type"), record.get("entity")
        if number > 1 and (kind not in ("chunk", "end", "close") or records[number - 2]["type"] == "close"):
            raise ManifestBroken(number, "sequence")
        if entity in ended:
            raise ManifestBroken(number, "sequence")
        if kind == "chunk":
            if record["index"] != next_index.get(entity, 0):
                raise ManifestBroken(number, "sequence")
            next_index[entity] = record["index"] + 1
        elif kind == "end":
            if record["chunks"] != next_index.get(entity, 0):
                raise ManifestBroken(number, "sequence")
            ended.add(entity)
