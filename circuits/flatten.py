"""A constraint system as the prover and verifier use it: its digest and its flattened weights.

:meth:`Flattening.digest` is the SHA-256 of the circuit itself (both phases' shape), which the
transcript binds before the first challenge; :meth:`Flattening.flatten` collapses the ``q`` linear
constraints with powers of a challenge ``z`` into the vectors ``w_L, w_R, w_O, w_V`` and the
scalar ``w_c`` of the Bulletproofs R1CS argument (docs/notes/protocol.md). The constraints are
kept as flat columns per wire kind, split by coefficient (+1, −1, other), built once and cached.

May import :mod:`zkmargin.crypto.field` and :mod:`.wires`. Used by :mod:`.system` and
:mod:`.randomized` (:class:`Flattening` is a base of the constraint system).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from zkmargin.crypto.field import R

from .wires import L_KIND, O_KIND, ONE_KIND, R_KIND, V_KIND, LinearCombination

if TYPE_CHECKING:
    from .randomized import RandomizedBlock

#: Per wire kind: (q of +1 entries, their wire index, q of −1 entries, their index, q of the other
#: entries, their index, their coefficient).
Column = tuple[list[int], list[int], list[int], list[int], list[int], list[int], list[int]]
Columns = dict[int, Column]
#: (w_L, w_R, w_O, w_V, w_c)
FlatWeights = tuple[list[int], list[int], list[int], list[int], int]


class Flattening:
    """The digest and flattening part of a constraint system."""

    n: int
    m: int
    constraints: list[LinearCombination]
    randomized: list[RandomizedBlock]
    _digest: tuple[tuple[int, int, int, int], bytes] | None = None
    _cols: tuple[int, Columns] | None = None

    def digest(self) -> bytes:
        """SHA-256 of the circuit itself: n, m, q and every weight of W_L, W_R, W_O, W_V and c
        (each constraint's terms in a canonical order). Prover and verifier compute it
        independently; the transcript binds it before the first challenge. Cached until the
        circuit changes."""
        key = (self.n, self.m, len(self.constraints), len(self.randomized))
        cached = self._digest
        if cached is not None and cached[0] == key:
            return cached[1]
        h = hashlib.sha256()
        h.update(b"zkmargin.circuit/1\x00")
        h.update(self.n.to_bytes(8, "big") + self.m.to_bytes(8, "big") + len(self.constraints).to_bytes(8, "big"))
        for lc in self.constraints:
            items = sorted(lc.terms.items())
            h.update(len(items).to_bytes(4, "big"))
            h.update(
                b"".join(bytes((var[0],)) + var[1].to_bytes(4, "big") + c.to_bytes(32, "big") for var, c in items)
            )
        if self.randomized:
            # phase 2: each block's label, declared gates and descriptor (length-prefixed); absent
            # for a one-phase circuit, whose digest is unchanged from before the second phase existed
            h.update(b"randomized" + len(self.randomized).to_bytes(4, "big"))
            for block in self.randomized:
                lab = block.label.encode()
                h.update(len(lab).to_bytes(4, "big") + lab + block.gates.to_bytes(8, "big"))
                h.update(len(block.descriptor).to_bytes(8, "big") + block.descriptor)
        self._digest = (key, h.digest())
        return self._digest[1]

    def _columns(self) -> Columns:
        """The constraints as flat lists per wire kind, split by coefficient: +1 entries, −1
        entries and the rest (most coefficients are ±1, which need no multiplication). Cached."""
        cached = self._cols
        if cached is not None and cached[0] == len(self.constraints):
            return cached[1]
        cols = build_columns(self.constraints, 0)
        self._cols = (len(self.constraints), cols)
        return cols

    def _column_sets(self) -> list[Columns]:
        return [self._columns()]

    def flatten(self, z: int, n: int) -> FlatWeights:
        """Collapse the q constraints with powers of z (constraint q gets weight z^(q+1)):

            w_L = z^Q·W_L,  w_R = z^Q·W_R,  w_O = z^Q·W_O,  w_V = z^Q·W_V,  w_c = <z^Q, c>

        where our constraints read Σ terms = 0, so W_V = −(coefficients of v) and c = −(constant).
        Vectors w_L, w_R, w_O have length n (the padded gate count)."""
        zq = [0] * len(self.constraints)
        acc = z % R
        for q in range(len(zq)):
            zq[q] = acc
            acc = acc * z % R
        sets = self._column_sets()

        def collapse(kind: int, size: int) -> list[int]:
            vec = [0] * size
            for cols in sets:
                plus_q, plus_i, minus_q, minus_i, gen_q, gen_i, gen_c = cols[kind]
                for q, i in zip(plus_q, plus_i):
                    vec[i] += zq[q]
                for q, i in zip(minus_q, minus_i):
                    vec[i] -= zq[q]
                for q, i, c in zip(gen_q, gen_i, gen_c):
                    vec[i] += zq[q] * c
            return [x % R for x in vec]

        w_L = collapse(L_KIND, n)
        w_R = collapse(R_KIND, n)
        w_O = collapse(O_KIND, n)
        w_V = [(-x) % R for x in collapse(V_KIND, self.m)]
        w_c = (-sum(collapse(ONE_KIND, 1))) % R
        return w_L, w_R, w_O, w_V, w_c


def build_columns(constraints: list[LinearCombination], q_offset: int) -> Columns:
    """Columns of ``constraints`` (numbered from ``q_offset``); see :meth:`Flattening._columns`."""
    minus_one = R - 1
    cols: Columns = {k: ([], [], [], [], [], [], []) for k in (ONE_KIND, V_KIND, L_KIND, R_KIND, O_KIND)}
    for q, lc in enumerate(constraints, start=q_offset):
        for (kind, index), c in lc.terms.items():
            plus_q, plus_i, minus_q, minus_i, gen_q, gen_i, gen_c = cols[kind]
            if c == 1:
                plus_q.append(q)
                plus_i.append(index)
            elif c == minus_one:
                minus_q.append(q)
                minus_i.append(index)
            else:
                gen_q.append(q)
                gen_i.append(index)
                gen_c.append(c)
    return cols
