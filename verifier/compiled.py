"""The weights of a constraint system precompiled for the verifier's per-proof flattening.

Every proof makes the verifier collapse the q linear constraints with the powers of its own
challenge z (docs/notes/protocol.md, "The constraint system"):

    w_L = z^Q·W_L   w_R = z^Q·W_R   w_O = z^Q·W_O   w_V = z^Q·W_V   w_c = <z^Q, c>

:class:`CompiledWeights` holds the nonzero weights of W_L, W_R, W_O, −W_V and −c (our constraints
read ``Σ terms = 0``, so W_V and c are the negated coefficients of v and of the constant) in a
*gather form*, built once per circuit: per wire kind, the nonzeros sorted by wire index, each
naming where its summand comes from — ``z^(q+1)`` for a coefficient +1, ``−z^(q+1)`` for −1 (most
coefficients are ±1 and need no multiplication), ``c·z^(q+1)`` otherwise — and each wire's segment
of that list. Flattening is then one segment sum per wire kind — a sparse matrix times the vector of
summands — in whole-vector operations of a :class:`~zkmargin.crypto.scalar_ops.ScalarOps` (in C
where the extension is built; no interpreter loop per nonzero). The result is exactly ``ConstraintSystem.flatten``'s (tests/test_prepared.py).

:class:`CompiledCircuit` is a one-phase verifier circuit held in this form only: its gates,
committed values, constraint count, digest and compiled weights, without the constraint objects.
The prepared verifier's disk cache (:mod:`zkmargin.prepared_store`) reads it back, and the R1CS
verifier takes it wherever it takes the verifier's ``ConstraintSystem``.

Imports ``zkmargin.circuits.cs`` (the wire kinds) and ``zkmargin.crypto``. Used by
:mod:`zkmargin.verifier.r1cs` and the prepared verifier's disk cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from zkmargin.circuits.cs import (
    L_KIND,
    O_KIND,
    ONE_KIND,
    R_KIND,
    V_KIND,
    ConstraintSystem,
    LinearCombination,
)
from zkmargin.crypto.field import R
from zkmargin.crypto.scalar_ops import ScalarOps, Vec
from zkmargin.errors import CircuitError

MINUS_ONE = R - 1
#: the kinds in the order :meth:`CompiledWeights.flatten` returns them
KINDS = (L_KIND, R_KIND, O_KIND, V_KIND, ONE_KIND)


@dataclass
class KindWeights:
    """One wire kind's nonzero weights, sorted by wire index.

    ``sources[k]`` is where the k-th summand comes from: ``q`` (``+z^(q+1)``), ``Q + q``
    (``−z^(q+1)``) or ``2Q + g`` (``coefs[g]·z^(gen_q[g]+1)`` of the block's general
    coefficients), with Q the block's constraint count and q counted within the block; wire i's
    summands are ``sources[starts[i]:ends[i]]``."""

    size: int
    sources: list[int]
    starts: list[int]
    ends: list[int]

    @property
    def nonzeros(self) -> int:
        return len(self.sources)


@dataclass
class CompiledWeights:
    """A block of constraints (phase 1, or one proof's phase 2) in gather form; see the module
    docstring. ``q_offset`` is the index of the block's first constraint in the whole system."""

    q: int
    q_offset: int
    n_gates: int
    m: int
    kinds: dict[int, KindWeights]
    gen_q: list[int]
    coefs: list[int]
    _prepared: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def of_constraints(cls, constraints: Sequence[LinearCombination], *, q_offset: int, n_gates: int,
                       m: int) -> CompiledWeights:
        """Compile ``constraints`` (numbered from ``q_offset``) over ``n_gates`` gates and ``m``
        committed values."""
        q_count = len(constraints)
        per_kind: dict[int, list[tuple[int, int, int]]] = {k: [] for k in KINDS}  # (index, q, coef)
        for q, lc in enumerate(constraints):
            for (kind, index), c in lc.terms.items():
                if kind in (V_KIND, ONE_KIND):
                    c = (-c) % R  # w_V = z^Q·W_V with W_V = −(coefficients of v); w_c likewise
                per_kind[kind].append((index, q, c))
        sizes = {L_KIND: n_gates, R_KIND: n_gates, O_KIND: n_gates, V_KIND: m, ONE_KIND: 1}
        kinds = {}
        gen_q: list[int] = []  # the general coefficients of every kind, in one list
        coefs: list[int] = []
        for kind, entries in per_kind.items():
            entries.sort()
            size = sizes[kind]
            sources: list[int] = []
            starts = [0] * size
            ends = [0] * size
            pos = 0
            current = 0
            for index, q, c in entries:
                if not 0 <= index < size:
                    raise ValueError(f"a constraint names wire {index} of kind {kind}, beyond {size}")
                while current < index:  # close the wires before this one
                    ends[current] = pos
                    current += 1
                    starts[current] = pos
                if c == 1:
                    sources.append(q)
                elif c == MINUS_ONE:
                    sources.append(q_count + q)
                else:
                    sources.append(2 * q_count + len(gen_q))
                    gen_q.append(q)
                    coefs.append(c)
                pos += 1
            while current < size:
                ends[current] = pos
                current += 1
                if current < size:
                    starts[current] = pos
            kinds[kind] = KindWeights(size, sources, starts, ends)
        return cls(q=q_count, q_offset=q_offset, n_gates=n_gates, m=m, kinds=kinds, gen_q=gen_q, coefs=coefs)

    @classmethod
    def of_system(cls, cs: ConstraintSystem | CompiledCircuit) -> CompiledWeights:
        """Phase 1 of ``cs`` (every constraint it holds now), cached on the system until it
        changes; a :class:`CompiledCircuit`'s own."""
        if isinstance(cs, CompiledCircuit):
            return cs.weights
        key = (cs.n, cs.m, len(cs.constraints))
        cached = getattr(cs, "_compiled_weights", None)
        if cached is not None and cached[0] == key:
            assert isinstance(cached[1], CompiledWeights)
            return cached[1]
        compiled = cls.of_constraints(cs.constraints, q_offset=0, n_gates=cs.n, m=cs.m)
        cs._compiled_weights = (key, compiled)  # type: ignore[attr-defined]
        return compiled

    @property
    def nonzeros(self) -> int:
        return sum(k.nonzeros for k in self.kinds.values())

    def _native(self, ops: ScalarOps) -> dict[str, Any]:
        """This block's coefficients and index arrays in ``ops``' representation (made once per
        implementation and kept)."""
        if ops.name not in self._prepared:
            kinds = {kind: (ops.index(kw.sources), ops.index(kw.starts), ops.index(kw.ends))
                     for kind, kw in self.kinds.items()}
            self._prepared[ops.name] = {"coefs": ops.from_ints(self.coefs), "gen_q": ops.index(self.gen_q),
                                        "kinds": kinds}
        return self._prepared[ops.name]

    def z_powers(self, ops: ScalarOps, z: int, z_first: int) -> Vec:
        """``[z^(q_offset+1), …, z^(q_offset+q)]`` given ``z_first = z^(q_offset+1)``."""
        return ops.powers(z, self.q, z_first)

    def flatten(self, ops: ScalarOps, zq: Vec) -> tuple[Vec, Vec, Vec, Vec, int]:
        """``(w_L, w_R, w_O, w_V, w_c)`` of this block for the powers ``zq`` of z (from
        :meth:`z_powers`); w_L, w_R, w_O have ``n_gates`` entries, w_V ``m``, w_c is an int."""
        if ops.length(zq) != self.q:
            raise ValueError("flatten: one power of z per constraint")
        native = self._native(ops)
        # every summand any wire needs: z^(q+1), −z^(q+1), c·z^(q+1)
        source = ops.concat(zq, ops.neg(zq))
        if self.gen_q:
            source = ops.concat(source, ops.mul(ops.take(zq, native["gen_q"]), native["coefs"]))
        out = [ops.segment_sums(source, *native["kinds"][kind]) for kind in KINDS]
        w_l, w_r, w_o, w_v, w_c = out
        return w_l, w_r, w_o, w_v, ops.total(w_c)

    def check(self) -> None:
        """Every index in range: a block read back from elsewhere (the disk cache) could otherwise
        gather from the wrong place or fail deep inside a verification. ValueError if not."""
        if sorted(self.kinds) != sorted(KINDS) or len(self.gen_q) != len(self.coefs):
            raise ValueError("compiled weights: kinds or general coefficients malformed")
        sizes = {L_KIND: self.n_gates, R_KIND: self.n_gates, O_KIND: self.n_gates, V_KIND: self.m, ONE_KIND: 1}
        limit = 2 * self.q + len(self.gen_q)
        for kind, kw in self.kinds.items():
            if kw.size != sizes[kind] or len(kw.starts) != kw.size or len(kw.ends) != kw.size:
                raise ValueError(f"compiled weights: kind {kind} has the wrong number of wires")
            if kw.sources and not 0 <= min(kw.sources) <= max(kw.sources) < limit:
                raise ValueError(f"compiled weights: kind {kind} names a summand out of range")
            bounds = [0, *(x for pair in zip(kw.starts, kw.ends) for x in pair), len(kw.sources)]
            if any(a > b for a, b in zip(bounds, bounds[1:])):
                raise ValueError(f"compiled weights: kind {kind}'s wire segments are not in order")
        if self.gen_q and not 0 <= min(self.gen_q) <= max(self.gen_q) < self.q:
            raise ValueError("compiled weights: a general coefficient names a constraint out of range")
        if any(not 0 <= c < R for c in self.coefs):
            raise ValueError("compiled weights: a coefficient is not a canonical scalar")


class CompiledCircuit:
    """A one-phase verifier circuit in compiled form (see the module docstring): what the
    verifier reads of a :class:`ConstraintSystem` — ``n``, ``m``, the constraint count, the digest,
    ``padded_n()``, ``total_gates`` — and its :class:`CompiledWeights`."""

    is_prover = False
    phase = 1
    randomized: tuple[()] = ()
    phase2_gates = 0

    def __init__(self, weights: CompiledWeights, digest: bytes):
        if weights.q_offset != 0:
            raise ValueError("a compiled circuit holds phase 1, numbered from constraint 0")
        if len(digest) != 32:
            raise ValueError("a circuit digest is 32 bytes")
        self.weights = weights
        self.n = weights.n_gates
        self.m = weights.m
        self._digest = bytes(digest)

    @classmethod
    def of_system(cls, cs: ConstraintSystem) -> CompiledCircuit:
        """The compiled form of a verifier's one-phase ``cs``."""
        if cs.is_prover or cs.randomized or cs.phase != 1:
            raise CircuitError("only a verifier's one-phase circuit has a compiled form")
        return cls(CompiledWeights.of_system(cs), cs.digest())

    @property
    def constraints(self) -> range:
        """Stands for the constraints, of which only the number is read (the transcript binds q)."""
        return range(self.weights.q)

    @property
    def total_gates(self) -> int:
        return self.n

    def padded_n(self) -> int:
        n = self.n
        return 1 << max(0, (n - 1).bit_length()) if n > 0 else 1

    def digest(self) -> bytes:
        return self._digest

    def randomize(self, challenge: Callable[[bytes], int]) -> NoReturn:
        raise CircuitError("a compiled circuit has one phase")
