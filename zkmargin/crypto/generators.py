"""Pedersen generators: B, B̃ and the vectors G, H, all by RFC 9380 hash-to-G1.

    B   = H2C("B"  , DST)          value base of the commitments V_j = v_j·B + γ_j·B̃
    B̃   = H2C("B~" , DST)          blinding base
    G_i = H2C("G" || u32be(i), DST) for the left/output wires a_L, a_O
    H_i = H2C("H" || u32be(i), DST) for the right wires a_R

with DST = ``ZKMARGIN-V1-GENERATORS-`` + the suite name. Nobody knows a discrete-log relation between
any two of them (that is what "transparent setup" means here).

Deriving a point costs ~0.2 ms on the native backend, so 2 × 2048 points would cost ~1 s on every
start. Derived vectors are cached on disk in chunks of power-of-two size (chunk c holds indices
[2^(c-1), 2^c), chunk 0 index 0) as uncompressed affine points, and every chunk read back is checked
against a digest pinned in this module (``PINNED_CHUNK_DIGESTS``) before it is trusted; a missing,
corrupt or unpinned chunk is derived again. The reference backend derives and keeps points in
memory only.

Imports :mod:`zkmargin.crypto.backends` and the pinned digests beside it. Used by the prover, the
verifier, the custodian workflows and the benchmarks.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from .backends import get_backend
from .backends.base import HASH_TO_CURVE_SUITE, GroupBackend, Point
from .fixed_base import ColumnTables, FixedBaseTable

GENERATORS_VERSION = 1
DST = b"ZKMARGIN-V1-GENERATORS-" + HASH_TO_CURVE_SUITE.encode()
#: Largest vector length supported (2^18 multiplication gates after padding: cross universes of a
#: few thousand instruments). Chunks 17 and 18 (2^16 … 2^18 − 1) were pinned for issue 12.
MAX_GENERATORS = 1 << 18

CACHE_ENV = "ZKMARGIN_CACHE_DIR"


def _label(vector: str, index: int) -> bytes:
    return vector.encode() + index.to_bytes(4, "big")


def _chunk_range(c: int) -> range:
    return range(0, 1) if c == 0 else range(1 << (c - 1), 1 << c)


def chunks_for(n: int) -> list[int]:
    """Chunk numbers covering indices [0, n) for a power-of-two n."""
    return list(range(n.bit_length())) if n > 0 else []


# SHA-256 over the concatenated compressed encodings of each chunk, for G and for H. Computed once
# from the RFC 9380 derivation (tests/test_generators.py re-derives the small ones on both
# backends, benchmarks/pin_generators.py all of them).
PINNED_CHUNK_DIGESTS: dict[str, dict[int, str]] = {"G": {}, "H": {}}
from ._generator_digests import PINNED as _PINNED  # noqa: E402

PINNED_CHUNK_DIGESTS.update(_PINNED)


def _run_here(jobs: Sequence[Callable[[], bytes]]) -> list[bytes]:
    return [job() for job in jobs]


def chunk_digest(backend: GroupBackend, points: Sequence[Point]) -> str:
    h = hashlib.sha256()
    for p in points:
        h.update(backend.encode(p))
    return h.hexdigest()


def cache_dir() -> Path | None:
    base = os.environ.get(CACHE_ENV)
    if base == "":
        return None
    if base is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(base, "zkmargin")
    return Path(base)


class Generators:
    """B, B̃ and lazily extended vectors G, H for one backend."""

    def __init__(self, backend: GroupBackend):
        self.backend = backend
        self.B = backend.hash_to_curve(b"B", DST)
        self.B_blinding = backend.hash_to_curve(b"B~", DST)
        self._G: list[Point] = []
        self._H: list[Point] = []
        self._lock = threading.Lock()
        self._identity: dict[int, bytes] = {}
        # fixed-base tables of G and H for the verifier's columns (native backend only)
        self._tables = ColumnTables(getattr(backend, "dump_affine", None) if backend.fixed_base else None)

    # --- identity ---------------------------------------------------------------------------

    def identity_digest(self, n: int) -> bytes:
        """What the transcript binds: derivation version, DST, n, B, B̃ and the chunk digests of
        G[0:n], H[0:n] (n a power of two)."""
        if n in self._identity:
            return self._identity[n]
        h = hashlib.sha256()
        h.update(b"zkmargin.generators/%d\x00" % GENERATORS_VERSION)
        h.update(len(DST).to_bytes(4, "big") + DST)
        h.update(n.to_bytes(8, "big"))
        h.update(self.backend.encode(self.B))
        h.update(self.backend.encode(self.B_blinding))
        for vector in ("G", "H"):
            for c in chunks_for(n):
                h.update(bytes.fromhex(self._chunk_digest(vector, c)))
        self._identity[n] = h.digest()
        return self._identity[n]

    def _chunk_digest(self, vector: str, c: int) -> str:
        pinned = PINNED_CHUNK_DIGESTS.get(vector, {}).get(c)
        if pinned is not None:
            return pinned
        self.ensure(1 << c)
        pts = (self._G if vector == "G" else self._H)[_chunk_range(c).start : _chunk_range(c).stop]
        return chunk_digest(self.backend, pts)

    # --- vectors ----------------------------------------------------------------------------

    def G(self, n: int) -> list[Point]:
        self.ensure(n)
        return self._G[:n]

    def H(self, n: int) -> list[Point]:
        self.ensure(n)
        return self._H[:n]

    def column_tables(self, n: int) -> tuple[FixedBaseTable, FixedBaseTable] | None:
        """The fixed-base tables of ``G(n)`` and ``H(n)`` for a verifier's column MSM, or ``None``
        when the columns should take the variable-base MSM (:mod:`zkmargin.crypto.fixed_base`:
        built on a size's second use, never for a one-off verification)."""
        return self._tables.tables_for(n, self.G, self.H, getattr(self.backend, "run_jobs", _run_here))

    def ensure(self, n: int) -> None:
        if n > MAX_GENERATORS:
            raise ValueError(f"at most {MAX_GENERATORS} generators are supported, asked for {n}")
        with self._lock:
            if len(self._G) >= n:
                return
            target = 1 << max(0, (n - 1).bit_length())
            for c in chunks_for(target):
                rng = _chunk_range(c)
                if rng.stop <= len(self._G):
                    continue
                self._G.extend(self._load_or_derive("G", c))
                self._H.extend(self._load_or_derive("H", c))

    def _derive(self, vector: str, c: int) -> list[Point]:
        return [self.backend.hash_to_curve(_label(vector, i), DST) for i in _chunk_range(c)]

    def _load_or_derive(self, vector: str, c: int) -> list[Point]:
        loader = getattr(self.backend, "load_affine_unchecked", None)
        directory = cache_dir()
        pinned = PINNED_CHUNK_DIGESTS.get(vector, {}).get(c)
        path = directory / f"generators-v{GENERATORS_VERSION}-{vector}-{c}.bin" if directory else None
        if loader is not None and path is not None and pinned is not None and path.is_file():
            try:
                pts: list[Point] = loader(path.read_bytes(), len(_chunk_range(c)))
                if chunk_digest(self.backend, pts) == pinned:
                    return pts
            except Exception:  # a corrupt cache file is derived again below
                pass
        pts = self._derive(vector, c)
        if pinned is not None and chunk_digest(self.backend, pts) != pinned:
            raise RuntimeError(f"generator chunk {vector}{c} does not match its pinned digest")
        dumper = getattr(self.backend, "dump_affine", None)
        if dumper is not None and path is not None and pinned is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(dumper(pts))
                os.replace(tmp, path)
            except OSError:
                pass  # no writable cache: keep the derived points in memory only
        return pts


_by_backend: dict[str, Generators] = {}
_by_backend_lock = threading.Lock()


def get_generators(backend: str | GroupBackend | None = None) -> Generators:
    be = get_backend(backend)
    with _by_backend_lock:
        if be.name not in _by_backend:
            _by_backend[be.name] = Generators(be)
        return _by_backend[be.name]
