"""Merkle tree hashing and proofs exactly as RFC 9162 §2.1 defines them (SHA-256).

For a list of n leaves D_n = {d_0, …, d_{n-1}}::

    MTH({})      = SHA-256()                                   the empty tree
    MTH({d_0})   = SHA-256(0x00 || d_0)                        a leaf hash
    MTH(D_n)     = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  k = the largest power of two < n

Inclusion proofs (the audit path PATH(m, D_n), §2.1.3) and consistency proofs (PROOF(m, D_n),
§2.1.4) are lists of 32-byte node hashes, byte-compatible with Certificate Transparency; the two
``verify_*`` functions are the RFC's verification algorithms (§2.1.3.2, §2.1.4.2). Leaf indices
are 0-based, as in the RFC.

:class:`MerkleTree` holds the leaf hashes and every complete subtree in memory (about 2n hashes)
and answers roots and proofs for any tree size up to its own. :class:`CompactRange` keeps only the
roots of the perfect subtrees of the current tree ("peaks", at most log2(n)+1 of them): enough to
append a leaf, compute the new root and the inclusion proof of the newest leaf in O(log n) — what
the log needs per append.

We write these ourselves rather than use ``pymerkle``: its proofs are serialized in its own format
(a bit rule plus a path that starts with the leaf), not the RFC's audit paths, and it is GPL-3.0.

Imports the standard library only. Used by the log, receipts and the audit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """k: the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_hash(h) -> bool:
    return isinstance(h, (bytes, bytearray)) and len(h) == HASH_SIZE


class MerkleTree:
    """An append-only tree over leaf hashes, with every complete subtree kept.

    ``levels[j][i]`` is the root of the perfect subtree over leaves ``[i·2^j, (i+1)·2^j)``."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()):
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> int:
        """Add one leaf hash; returns its index."""
        if not _is_hash(leaf):
            raise ValueError("a leaf hash is 32 bytes")
        level = 0
        self._levels[0].append(bytes(leaf))
        index = len(self._levels[0]) - 1
        # a new right child completes its parent, up as far as the carries go
        while len(self._levels[level]) % 2 == 0:
            row = self._levels[level]
            if level + 1 == len(self._levels):
                self._levels.append([])
            self._levels[level + 1].append(node_hash(row[-2], row[-1]))
            level += 1
        return index

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def _mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for the ranges the RFC's recursions produce (lo a multiple of the largest
        perfect subtree in the range)."""
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0:
            j = n.bit_length() - 1
            return self._levels[j][lo >> j]
        k = split_point(n)
        return node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))

    def _size(self, size) -> int:
        if size is None:
            return self.size
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= self.size:
            raise ValueError(f"tree size {size!r} is not between 0 and {self.size}")
        return size

    def root(self, size=None) -> bytes:
        """MTH of the first ``size`` leaves (default: all)."""
        return self._mth(0, self._size(size))

    def inclusion_proof(self, index: int, size=None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1."""
        n = self._size(size)
        if not isinstance(index, int) or not 0 <= index < n:
            raise ValueError(f"leaf index {index!r} is not in a tree of size {n}")
        path: list[bytes] = []
        lo, hi, m = 0, n, index
        while hi - lo > 1:
            k = split_point(hi - lo)
            if m < k:
                path.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._mth(lo, lo + k))
                lo, m = lo + k, m - k
        path.reverse()  # the recursion appends from the root down; the path lists leaf-side first
        return path

    def consistency_proof(self, old_size: int, size=None) -> list[bytes]:
        """PROOF(old_size, D[0:size]) of RFC 9162 §2.1.4.1 (empty when old_size is 0 or size)."""
        n = self._size(size)
        if not isinstance(old_size, int) or not 0 <= old_size <= n:
            raise ValueError(f"old size {old_size!r} is not between 0 and {n}")
        if old_size == 0 or old_size == n:
            return []
        proof: list[bytes] = []
        lo, hi, m, complete = 0, n, old_size, True
        while m != hi - lo:
            k = split_point(hi - lo)
            if m <= k:
                proof.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._mth(lo, lo + k))
                lo, m, complete = lo + k, m - k, False
        if not complete:
            proof.append(self._mth(lo, hi))
        proof.reverse()
        return proof


class CompactRange:
    """The peaks of a tree of ``size`` leaves: roots of its perfect subtrees, largest (leftmost)
    first, one per set bit of ``size``."""

    def __init__(self, size: int = 0, peaks: Sequence[bytes] = ()):
        if size < 0 or bin(size).count("1") != len(peaks) or not all(_is_hash(p) for p in peaks):
            raise ValueError("the peaks do not match the tree size")
        self.size = size
        self.peaks = [bytes(p) for p in peaks]

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        r = self.peaks[-1]
        for p in reversed(self.peaks[:-1]):
            r = node_hash(p, r)
        return r

    def append(self, leaf: bytes) -> list[bytes]:
        """Add a leaf; returns its inclusion proof in the new tree (the old peaks, smallest
        first: exactly PATH(size-1, D[0:size]) for the last leaf)."""
        if not _is_hash(leaf):
            raise ValueError("a leaf hash is 32 bytes")
        proof = list(reversed(self.peaks))
        h, m = bytes(leaf), self.size
        while m & 1:
            h = node_hash(self.peaks.pop(), h)
            m >>= 1
        self.peaks.append(h)
        self.size += 1
        return proof

    def to_bytes(self) -> bytes:
        return b"".join(self.peaks)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> CompactRange:
        if len(data) % HASH_SIZE:
            raise ValueError("the peaks are not a whole number of hashes")
        return cls(size, [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ------------------------------------------------


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]):
    """The root an inclusion proof leads to, or None when the proof cannot be one for
    (index, size)."""
    if not (isinstance(index, int) and isinstance(size, int)) or not 0 <= index < size:
        return None
    if not _is_hash(leaf) or not all(_is_hash(p) for p in proof):
        return None
    fn, sn, r = index, size - 1, bytes(leaf)
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree of ``size``
    leaves whose root is ``root``."""
    r = root_from_inclusion_proof(index, size, leaf, proof)
    return r is not None and _is_hash(root) and r == bytes(root)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows that the tree of ``new_size`` leaves with root ``new_root`` extends
    the tree of ``old_size`` leaves with root ``old_root`` (same first ``old_size`` leaves)."""
    if not (isinstance(old_size, int) and isinstance(new_size, int)) or not 0 <= old_size <= new_size:
        return False
    if not (_is_hash(old_root) and _is_hash(new_root)) or not all(_is_hash(p) for p in proof):
        return False
    if old_size == new_size:
        return not proof and bytes(old_root) == bytes(new_root)
    if old_size == 0:
        return not proof and bytes(old_root) == EMPTY_ROOT
    path = [bytes(p) for p in proof]
    if not path:
        return False
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == bytes(old_root) and sr == bytes(new_root)
