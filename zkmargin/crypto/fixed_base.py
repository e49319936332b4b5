"""Fixed-base MSM tables for the verifier's generator columns ``<g, G> + <h, H>``.

Every verification of a circuit with ``n`` padded gates multiplies the same ``2n`` generator points.
A table stores each point once per ``WINDOW``-bit window of the scalars, already multiplied by the
window's power of two (``T[i][j] = 2^(WINDOW·j)·P_i``), so the MSM is one bucket pass with no
doublings: about half the binding's variable-base MSM at 2,048 points per thread on this machine
(docs/notes/verification-at-scale.md, "Fixed-base generator columns"). The arithmetic is the C
extension ``zkmargin.crypto._g1fixed``.

When a table is built, and what it costs:

- It is built from the generator points this process already holds — derived or read from the cache
  and checked against their pinned digests (:mod:`zkmargin.crypto.generators`) — and never stored
  on disk, so it adds nothing anyone could tamper with.
- Building costs about 0.17 ms per point on one core (about 0.35 s for W1's 4,096 column points on
  this machine's two), ``WINDOWS`` × 96 bytes per point (7.9 MB for W1). So a process builds it on
  the *second* column MSM of a size (:meth:`ColumnTables.tables_for`): a one-off ``zkmargin verify``
  never pays for it, a service, an audit or a benchmark pays once.
- Columns of more than ``MAX_TABLE_GATES`` gates (tables of 31 MB and more) keep the
  variable-base MSM, as does a backend other than the native one, a machine where the extension did
  not compile, and ``ZKMARGIN_FIXED_BASE=0``.

Only public scalars go through here (a verifier's); the bucket pass is not constant-time, so the
prover, whose scalars are secret, does not use it.

Imports :mod:`zkmargin.crypto._g1fixed` (optional). Used by :mod:`zkmargin.crypto.generators`, the
native backend (:meth:`ArkworksBackend.msm_fixed_start`) and :mod:`zkmargin.verifier.r1cs`.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

try:  # the C extension is optional: without it the columns take the variable-base MSM
    from . import _g1fixed
except ImportError:  # pragma: no cover - a machine without a C compiler
    _g1fixed = None  # type: ignore[assignment]

#: Bits per signed digit, and digits per scalar (WINDOW·WINDOWS ≥ 257: a canonical scalar's last
#: digit never carries out). 13 minimises the bucket pass for 2,048–4,096 points per thread.
WINDOW = 13
WINDOWS = 20
#: Columns of at most this many padded gates get tables (2·8,192 points: 31 MB).
MAX_TABLE_GATES = 1 << 13
#: The column MSMs of one size a process runs before it builds that size's tables.
BUILD_AFTER_USES = 2
ENV = "ZKMARGIN_FIXED_BASE"


def available() -> bool:
    """The extension compiled and ``ZKMARGIN_FIXED_BASE`` is not ``0``."""
    return _g1fixed is not None and os.environ.get(ENV, "1") != "0"


class FixedBaseTable:
    """The table of a growing prefix of one generator vector (G or H): the first ``count`` points.
    A table for ``N`` points serves every MSM over the first ``n ≤ N``."""

    def __init__(self) -> None:
        self.data = b""
        self.count = 0

    def extend(self, affine: bytes, run: Callable[[list[Callable[[], bytes]]], list[bytes]]) -> None:
        """Append the points given as concatenated 96-byte affine encodings (the backend's
        ``dump_affine``), building their rows with ``run`` (which runs the build jobs, on threads)."""
        if _g1fixed is None:  # pragma: no cover
            raise RuntimeError("the fixed-base extension is not available")
        count = len(affine) // 96
        jobs = max(1, min(4, count // 512))
        step = -(-count // jobs)
        parts = [affine[96 * a : 96 * min(count, a + step)] for a in range(0, count, step)]
        rows = run([functools.partial(_g1fixed.build_table, part, WINDOW, WINDOWS) for part in parts])
        self.data = self.data + b"".join(rows)
        self.count += count

    def msm(self, start: int, scalars: bytes) -> bytes | None:
        """``Σ_k scalars[k]·P_{start+k}`` as 96 affine bytes, ``None`` for the identity. Releases the
        GIL while it runs."""
        return _g1fixed.msm(self.data, WINDOW, WINDOWS, start, scalars)


class ColumnTables:
    """The G and H tables of one :class:`~zkmargin.crypto.generators.Generators`, built when a column
    size is asked for the second time."""

    def __init__(self, dump_affine: Callable[[Sequence[Any]], bytes] | None) -> None:
        self._dump = dump_affine
        self.G = FixedBaseTable()
        self.H = FixedBaseTable()
        self._uses: dict[int, int] = {}
        self._lock = threading.Lock()

    def tables_for(self, n: int, G: Callable[[int], Sequence[Any]], H: Callable[[int], Sequence[Any]],
                   run: Callable[[list[Callable[[], bytes]]], list[bytes]]) -> tuple[FixedBaseTable, FixedBaseTable] | None:
        """The two tables covering ``n`` points each, or ``None`` while the columns should take the
        variable-base MSM (see the module docstring). ``G``/``H`` give the vectors' prefixes."""
        if self._dump is None or not available() or n > MAX_TABLE_GATES:
            return None
        with self._lock:
            if min(self.G.count, self.H.count) >= n:
                return self.G, self.H
            uses = self._uses[n] = self._uses.get(n, 0) + 1
            if uses < BUILD_AFTER_USES:
                return None
            try:
                for table, vector in ((self.G, G), (self.H, H)):
                    if table.count < n:
                        table.extend(self._dump(vector(n)[table.count :]), run)
            except MemoryError:  # the tables are an optimisation: without them, the variable-base MSM
                return None
            return self.G, self.H
