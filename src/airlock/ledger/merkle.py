"""RFC 6962 Merkle tree hashes: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right).

The tree over n leaves splits at the largest power of two below n (RFC 6962 §2.1).

>>> tree_root([]).hex()[:16]  # the hash of the empty string
'e3b0c44298fc1c14'
>>> a, b, c = (leaf_hash(x) for x in (b"a", b"b", b"c"))
>>> tree_root([a, b, c]) == node_hash(node_hash(a, b), c)
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["leaf_hash", "node_hash", "tree_root"]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of already-hashed leaves."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(tree_root(leaves[:k]), tree_root(leaves[k:]))
