"""Signing a mandate, verifying it, and chaining amendments.

Signatures are detached: ``MANDATE.yaml`` stays exactly as its author wrote it
(comments included) and its signatures go to ``MANDATE.yaml.sig.json``, a JSON
list of records ``{role, name, key_id, public_key, signature, signed_at,
mandate}``. Each signature is an Ed25519 signature (:mod:`airlock.signing`) of
the RFC 8785 canonical form of the body (:mod:`airlock.mandate.canonical`), so
any change to what the mandate says, even a field added to an allow-list,
breaks every signature; ``mandate`` (the digest) and ``signed_at`` are
informative and not trusted.

A mandate is in force when the controller signed it, the processor
countersigned it with another key, and its deadline has not passed.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airlock.mandate.canonical import canonical_form
from airlock.mandate.document import Mandate, load_mandate
from airlock.mandate.errors import MandateError
from airlock.signing import BadSignature, PublicIdentity, SigningIdentity, verify

ROLES = ("controller", "processor")


@dataclass(frozen=True)
class Signature:
    """One signer's record in the detached signature file."""

    role: str
    name: str
    key_id: str
    public_key: str  # base64 of the raw Ed25519 public key
    signature: str  # base64
    signed_at: str  # ISO 8601 UTC, informative
    mandate: str  # digest the signer saw, informative

    @property
    def signer(self) -> PublicIdentity:
        return PublicIdentity.from_json({"name": self.name, "role": self.role, "key_id": self.key_id, "public_key": self.public_key})

    def check(self, mandate: Mandate) -> None:
        """Raise BadSignature unless this is a valid signature of ``mandate``'s canonical body."""
        if self.mandate != mandate.digest:
            raise BadSignature(
                f"{mandate.path}: the {self.role} signature (key {self.key_id}) was made on another version "
                f"(digest {self.mandate[:12]}…, now {mandate.digest[:12]}…); a signed mandate cannot be changed: "
                "write an amendment with 'airlock mandate amend'"
            )
        try:
            raw = base64.b64decode(self.signature, validate=True)
        except ValueError:
            raw = b""
        try:
            verify(self.signer, raw, canonical_form(dict(mandate.body)))
        except BadSignature:
            raise BadSignature(f"{mandate.path}: the {self.role} signature (key {self.key_id}) does not verify; "
                               "the mandate or its signature file was altered") from None


@dataclass(frozen=True)
class SignedMandate:
    """A mandate signed by its controller and countersigned by its processor, in force on the day it was verified."""

    mandate: Mandate
    controller: Signature
    processor: Signature

    @property
    def digest(self) -> str:
        return self.mandate.digest


def signature_path(mandate_path: Path | str) -> Path:
    """``mandate.yaml`` → ``mandate.yaml.sig.json``."""
    p = Path(mandate_path)
    return p.with_name(p.name + ".sig.json")


def read_signatures(mandate_path: Path | str) -> tuple[Signature, ...]:
    """The records of the detached signature file; () when the mandate was never signed."""
    path = signature_path(mandate_path)
    if not path.exists():
        return ()
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
        sigs = tuple(Signature(**r) for r in records)
        if not all(isinstance(v, str) for s in sigs for v in asdict(s).values()):
            raise TypeError("non-text value")
    except (OSError, ValueError, TypeError) as e:
        raise MandateError(f"{path}: malformed signature file ({type(e).__name__}); sign the mandate again") from None
    for s in sigs:
        if s.role not in ROLES:
            raise MandateError(f"{path}: signature with role {s.role!r}; only {' and '.join(ROLES)} sign a mandate")
    return sigs


def _write_signatures(mandate_path: Path, sigs: tuple[Signature, ...]) -> Path:
    path = signature_path(mandate_path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps([asdict(s) for s in sigs], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # never a half-written signature file
    return path


def _check_deadline(mandate: Mandate, today: dt.date) -> None:
    if mandate.deadline < today:
        raise MandateError(f"{mandate.path}: expired on {mandate.deadline.isoformat()}; no run may start under it: "
                           "sign an amendment with a new deadline")


def sign_mandate(path: Path | str, identity: SigningIdentity, *, today: dt.date | None = None) -> Path:
    """Add ``identity``'s signature to the mandate's signature file (after checking those already there).

    The controller signs, the processor countersigns; each role signs once.
    Returns the signature file's path.
    """
    mandate = load_mandate(path)
    role = identity.public.role
    if role not in ROLES:
        raise MandateError(f"{path}: key {identity.public.key_id} has role {role!r}; a mandate is signed by its controller and processor")
    _check_deadline(mandate, today or dt.date.today())
    existing = read_signatures(path)
    for s in existing:
        s.check(mandate)  # never countersign an altered mandate
        if s.role == role:
            raise MandateError(f"{path}: already signed by the {role} ({s.name}, key {s.key_id}); each role signs once")
    public = identity.public.to_json()
    record = Signature(
        role=role,
        name=identity.public.name,
        key_id=public["key_id"],
        public_key=public["public_key"],
        signature=base64.b64encode(identity.sign(canonical_form(dict(mandate.body)))).decode(),
        signed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        mandate=mandate.digest,
    )
    return _write_signatures(Path(path), existing + (record,))


def check_signatures(
    mandate: Mandate, controller: PublicIdentity | None = None, processor: PublicIdentity | None = None
) -> SignedMandate:
    """Both signatures present, valid, by two different keys (the given ones, if given). No deadline check."""
    sigs = read_signatures(mandate.path)
    if not sigs:
        raise MandateError(f"{mandate.path}: not signed (no {signature_path(mandate.path).name}); "
                           "the controller signs it, then the processor countersigns: 'airlock mandate sign'")
    by_role: dict[str, Signature] = {}
    for s in sigs:
        if s.role in by_role:
            raise MandateError(f"{mandate.path}: two {s.role} signatures; each role signs once")
        s.check(mandate)
        by_role[s.role] = s
    for role, expected in (("controller", controller), ("processor", processor)):
        if role not in by_role:
            raise MandateError(f"{mandate.path}: no {role} signature; the {role} must sign it with 'airlock mandate sign'")
        if expected is not None and by_role[role].key_id != expected.key_id:
            raise BadSignature(f"{mandate.path}: signed by {role} key {by_role[role].key_id}, "
                               f"not by the expected key {expected.key_id} ({expected.name})")
    if by_role["controller"].public_key == by_role["processor"].public_key:
        raise BadSignature(f"{mandate.path}: controller and processor signed with the same key; "
                           "the processor countersigns with its own key")
    return SignedMandate(mandate, by_role["controller"], by_role["processor"])


def verify_mandate(
    path: Path | str,
    controller: PublicIdentity | None = None,
    processor: PublicIdentity | None = None,
    *,
    today: dt.date | None = None,
    predecessor: SignedMandate | None = None,
) -> SignedMandate:
    """The mandate at ``path`` if it is in force: schema valid, within the hard limits, signed by the
    controller and countersigned by the processor (the given keys, if given), deadline not passed, and,
    when ``predecessor`` is given, its amendment. Raises MandateError or BadSignature otherwise.
    """
    signed = check_signatures(load_mandate(path), controller, processor)
    _check_deadline(signed.mandate, today or dt.date.today())
    if predecessor is not None:
        check_amendment(signed.mandate, predecessor.mandate)
    return signed


def check_amendment(new: Mandate, old: Mandate) -> None:
    """Raise MandateError unless ``new`` is the next version of ``old``: same id, version + 1, predecessor = old digest."""
    if new.id != old.id:
        raise MandateError(f"{new.path}: id {new.id!r} differs from the predecessor's {old.id!r}; an amendment keeps the id")
    if new.version != old.version + 1:
        raise MandateError(f"{new.path}: version: is {new.version}, the amendment of version {old.version} is {old.version + 1}")
    if new.predecessor != old.digest:
        raise MandateError(f"{new.path}: predecessor: does not name {old.path} (digest {old.digest}); "
                           "start the amendment with 'airlock mandate amend'")


def amendment(old: Mandate) -> dict[str, Any]:
    """The body of the next version of ``old``: the same text, version + 1, predecessor = old's digest; unsigned."""
    body = json.loads(json.dumps(dict(old.body)))
    body["version"] = old.version + 1
    body["predecessor"] = old.digest
    return body
