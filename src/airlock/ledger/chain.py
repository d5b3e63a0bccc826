"""The ledger: an append-only, hash-chained record of security events, with signed Merkle checkpoints.

Each entry's hash is the SHA-256 of the RFC 8785 canonical JSON of the entry
(its sequence number, time, kind, outcome, actor, objects and the previous
entry's hash), so changing, removing, inserting or reordering an entry breaks
the chain at a place :meth:`Ledger.verify` names. At intervals,
:meth:`Ledger.checkpoint` signs (Ed25519) the RFC 6962 Merkle root of the
entries since the previous checkpoint, so a rewrite of the whole chain from
some point on is caught too. Pruning old entries (CNIL deliberation 2021-122:
keep 6 to 12 months) leaves a signed anchor with the last pruned entry's hash,
from which verification starts.

>>> import tempfile
>>> from airlock.store import open_store
>>> from airlock.signing import SigningIdentity
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/airlock.db")
>>> ledger = Ledger(store)
>>> ledger.append(LedgerEntry("login", Actor("acc-1", "Karim Benali", "operator"))).seq
1
>>> signer = SigningIdentity.generate("Airlock ledger", "processor")
>>> ledger.checkpoint(signer).last_seq
1
>>> ledger.verify().ok
True
>>> store.close()
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import rfc8785
import sqlalchemy as sa

from airlock.errors import AirlockError
from airlock.ledger.entry import SYSTEM, Actor, Kind, LedgerEntry
from airlock.ledger.merkle import leaf_hash, tree_root
from airlock.ledger.models import CheckpointRow, EntryRow
from airlock.signing import BadSignature, PublicIdentity, SigningIdentity, verify
from airlock.store import Store
from airlock.store.models import utcnow

__all__ = ["GENESIS", "Checkpoint", "Ledger", "Problem", "Recorded", "Verification"]

#: The previous hash of the first entry.
GENESIS = "0" * 64
#: CNIL deliberation 2021-122: logs are kept 6 to 12 months.
RETENTION_MONTHS = (6, 12)
_MONTH = timedelta(days=30)


@dataclass(frozen=True)
class Recorded:
    """An entry as the ledger holds it."""

    seq: int
    at: datetime
    kind: str
    outcome: str
    actor: Actor
    objects: dict[str, str]
    prev_hash: str
    hash: str

    def canonical(self) -> bytes:
        """The RFC 8785 form the hash is computed over (the hash itself is not part of it)."""
        return rfc8785.dumps({
            "seq": self.seq, "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "kind": self.kind, "outcome": self.outcome,
            "actor": {"id": self.actor.id, "name": self.actor.name, "role": self.actor.role},
            "objects": self.objects, "prev": self.prev_hash,
        })

    def computed_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()

    @classmethod
    def from_row(cls, row: EntryRow) -> Recorded:
        # Built without validation: verify must read whatever is in the table, tampered or not.
        actor = object.__new__(Actor)
        object.__setattr__(actor, "id", row.actor_id)
        object.__setattr__(actor, "name", row.actor_name)
        object.__setattr__(actor, "role", row.actor_role)
        try:
            objects = json.loads(row.objects)
        except json.JSONDecodeError:
            objects = {"unreadable": row.objects}
        return cls(row.seq, row.at, row.kind, row.outcome, actor, objects, row.prev_hash, row.hash)


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement over entries first_seq..last_seq: ``checkpoint`` (their Merkle root) or ``anchor`` (pruned)."""

    kind: str
    at: datetime
    first_seq: int
    last_seq: int
    root: str
    last_hash: str
    signer: PublicIdentity

    @property
    def tree_size(self) -> int:
        return self.last_seq - self.first_seq + 1

    def message(self) -> bytes:
        return b"airlock ledger " + rfc8785.dumps({
            "kind": self.kind, "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "first": self.first_seq, "last": self.last_seq,
            "root": self.root, "last_hash": self.last_hash, "signer": self.signer.key_id,
        })


@dataclass(frozen=True)
class Problem:
    """What is wrong, and where: ``seq`` names the first entry concerned (None for the checkpoints themselves)."""

    seq: int | None
    what: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.what}" if self.seq is not None else self.what


@dataclass(frozen=True)
class Verification:
    entries: int
    checkpoints: int
    anchor: int  # last pruned sequence number, 0 if never pruned
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


class Ledger:
    """The ledger in the metadata store; ``clock`` gives entry times (tests inject theirs)."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = utcnow, listeners: list[Callable[[Recorded], None]] | None = None):
        self.store, self.clock = store, clock
        #: Called with every entry once it is committed (the watch listens here).
        self.listeners = listeners if listeners is not None else []

    # -- writing --------------------------------------------------------------------------------

    def append(self, entry: LedgerEntry) -> Recorded:
        """Chain ``entry`` after the last one; retried if another writer took the same sequence number."""
        if not isinstance(entry, LedgerEntry):
            raise TypeError("Ledger.append takes a LedgerEntry")
        for attempt in range(5):
            try:
                with self.store.session.begin() as s:
                    last = s.scalars(sa.select(EntryRow).order_by(EntryRow.seq.desc()).limit(1)).first()
                    if last is not None:
                        seq, prev = last.seq + 1, last.hash
                    else:
                        anchor = self._anchor(s)
                        seq, prev = (anchor.last_seq + 1, anchor.last_hash) if anchor else (1, GENESIS)
                    at = self.clock().astimezone(UTC).replace(microsecond=0)
                    rec = Recorded(seq, at, entry.kind, entry.outcome, entry.actor, dict(entry.objects), prev, "")
                    rec = Recorded(**{**rec.__dict__, "hash": rec.computed_hash()})
                    s.add(EntryRow(seq=seq, at=at, kind=rec.kind, outcome=rec.outcome, actor_id=entry.actor.id,
                                   actor_name=entry.actor.name, actor_role=entry.actor.role,
                                   objects=json.dumps(rec.objects, sort_keys=True), prev_hash=prev, hash=rec.hash))
                break
            except sa.exc.IntegrityError:
                if attempt == 4:
                    raise AirlockError("ledger: could not append after 5 attempts (concurrent writers); retry") from None
        for listener in list(self.listeners):
            listener(rec)
        return rec

    def checkpoint(self, signer: SigningIdentity, *, through: int | None = None) -> Checkpoint | None:
        """Sign the Merkle root of the entries after the last checkpoint (up to ``through``); None if there are none."""
        with self.store.session.begin() as s:
            done = s.scalar(sa.select(sa.func.max(CheckpointRow.last_seq))) or 0
            last = s.scalar(sa.select(sa.func.max(EntryRow.seq))) or 0
            last = min(last, through) if through is not None else last
            if last <= done:
                return None
            rows = [Recorded.from_row(r) for r in s.scalars(sa.select(EntryRow).where(EntryRow.seq > done, EntryRow.seq <= last).order_by(EntryRow.seq))]
            root = tree_root([leaf_hash(r.canonical()) for r in rows]).hex()
            cp = Checkpoint("checkpoint", self.clock().astimezone(UTC).replace(microsecond=0), done + 1, last, root, rows[-1].hash, signer.public)
            s.add(_row(cp, signer))
        return cp

    def prune(self, before: datetime, signer: SigningIdentity) -> int:
        """Remove entries older than ``before`` (at least 6 months old), leaving a signed anchor; returns how many."""
        if before > self.clock() - RETENTION_MONTHS[0] * _MONTH:
            raise AirlockError("ledger prune: CNIL deliberation 2021-122 keeps logs at least 6 months; give an earlier date")
        with self.store.session() as s:
            cut = s.scalar(sa.select(sa.func.max(EntryRow.seq)).where(EntryRow.at < before)) or 0
            boundaries = set(s.scalars(sa.select(CheckpointRow.last_seq).where(CheckpointRow.kind == "checkpoint")))
        if not cut:
            return 0
        if cut > max(boundaries, default=0):
            self.checkpoint(signer, through=cut)  # the pruned range must be covered by a signed root
        elif cut not in boundaries:
            cut = max((b for b in boundaries if b <= cut), default=0)  # never split a checkpoint's range
            if not cut:
                return 0
        with self.store.session.begin() as s:
            covering = s.scalars(sa.select(CheckpointRow).where(CheckpointRow.kind == "checkpoint", CheckpointRow.last_seq == cut)).one()
            first = s.scalar(sa.select(sa.func.min(EntryRow.seq))) or 1
            anchor = Checkpoint("anchor", self.clock().astimezone(UTC).replace(microsecond=0), first, cut, covering.root, covering.last_hash, signer.public)
            count = s.execute(sa.delete(EntryRow).where(EntryRow.seq <= cut)).rowcount
            s.execute(sa.delete(CheckpointRow).where(CheckpointRow.last_seq <= cut))
            s.add(_row(anchor, signer))
        self.append(LedgerEntry(Kind.LEDGER_PRUNE, SYSTEM, {"through": str(cut), "anchor": anchor.last_hash}))
        return count

    # -- reading --------------------------------------------------------------------------------

    def entries(self, *, since: int = 0) -> Iterator[Recorded]:
        """Every entry after ``since``, in order, streamed."""
        with self.store.session() as s:
            for row in s.scalars(sa.select(EntryRow).where(EntryRow.seq > since).order_by(EntryRow.seq).execution_options(yield_per=1000)):
                yield Recorded.from_row(row)

    def checkpoints(self) -> list[Checkpoint]:
        with self.store.session() as s:
            return [_checkpoint(r) for r in s.scalars(sa.select(CheckpointRow).order_by(CheckpointRow.last_seq, CheckpointRow.id))]

    def verify(self, processor: PublicIdentity | None = None) -> Verification:
        """Walk the chain from the anchor and check every checkpoint; problems in order, the first bad entry first.

        With ``processor``, every checkpoint and anchor must be signed by that key.
        """
        problems: list[Problem] = []
        with self.store.session() as s:
            anchor_row = self._anchor(s)
            rows = list(s.scalars(sa.select(CheckpointRow).order_by(CheckpointRow.last_seq, CheckpointRow.id)))
        anchor = _checkpoint(anchor_row) if anchor_row else None
        checkpoints = [_checkpoint(r) for r in rows if r.kind == "checkpoint"]
        signed = [r for r in rows if r.kind == "checkpoint"] + ([anchor_row] if anchor_row else [])
        problems += [p for row in signed if (p := _signature_problem(row, _checkpoint(row), processor))]
        expected, prev = (anchor.last_seq + 1, anchor.last_hash) if anchor else (1, GENESIS)
        count, leaves = 0, dict[int, bytes]()
        ranges = [(cp.first_seq, cp.last_seq) for cp in checkpoints]
        for rec in self.entries(since=0):
            count += 1
            if rec.seq < expected:
                problems.append(Problem(rec.seq, "is at or before the pruning anchor (inserted)"))
                continue
            if rec.seq > expected:
                gap = f"entry {expected}" if rec.seq == expected + 1 else f"entries {expected} to {rec.seq - 1}"
                problems.append(Problem(expected, f"missing ({gap} deleted)"))
            if rec.computed_hash() != rec.hash:
                problems.append(Problem(rec.seq, "content does not match its hash (altered, or moved from another position)"))
            elif rec.prev_hash != prev:
                problems.append(Problem(rec.seq, f"previous hash is not entry {rec.seq - 1}'s hash (an entry was inserted, removed or altered before it)"))
            prev, expected = rec.hash, rec.seq + 1
            if any(a <= rec.seq <= b for a, b in ranges):
                leaves[rec.seq] = leaf_hash(rec.canonical())
        for cp in checkpoints:
            seqs = range(cp.first_seq, cp.last_seq + 1)
            missing = next((q for q in seqs if q not in leaves), None)
            if missing is not None:
                problems.append(Problem(missing, f"covered by the checkpoint of entries {cp.first_seq} to {cp.last_seq} but not in the ledger (deleted)"))
            elif tree_root([leaves[q] for q in seqs]).hex() != cp.root:
                problems.append(Problem(cp.first_seq, f"the entries {cp.first_seq} to {cp.last_seq} do not give their checkpoint's Merkle root (rewritten)"))
        problems.sort(key=lambda p: (p.seq is not None, p.seq or 0))
        return Verification(count, len(checkpoints), anchor.last_seq if anchor else 0, tuple(problems))

    def _anchor(self, s: sa.orm.Session) -> CheckpointRow | None:
        return s.scalars(sa.select(CheckpointRow).where(CheckpointRow.kind == "anchor").order_by(CheckpointRow.last_seq.desc()).limit(1)).first()


def _row(cp: Checkpoint, signer: SigningIdentity) -> CheckpointRow:
    return CheckpointRow(kind=cp.kind, at=cp.at, first_seq=cp.first_seq, last_seq=cp.last_seq, root=cp.root, last_hash=cp.last_hash,
                         signer=json.dumps(cp.signer.to_json()), signature=base64.b64encode(signer.sign(cp.message())).decode())


def _checkpoint(row: CheckpointRow) -> Checkpoint:
    return Checkpoint(row.kind, row.at, row.first_seq, row.last_seq, row.root, row.last_hash, PublicIdentity.from_json(json.loads(row.signer)))


def _signature_problem(row: CheckpointRow, cp: Checkpoint, processor: PublicIdentity | None) -> Problem | None:
    what = f"{cp.kind} of entries {cp.first_seq} to {cp.last_seq}"
    if processor is not None and cp.signer.key_id != processor.key_id:
        return Problem(None, f"{what}: signed by key {cp.signer.key_id}, not by the processor's key {processor.key_id}")
    try:
        verify(cp.signer, base64.b64decode(row.signature), cp.message())
    except (BadSignature, ValueError):
        return Problem(None, f"{what}: its signature does not verify (checkpoint altered)")
    return None
