"""Rank-1 constraint systems for Bulletproofs, in the shape of dalek's r1cs API.

A circuit is written once against :class:`ConstraintSystem`. The prover's instance carries values
(committed inputs ``v`` with blindings ``γ``, and every wire as it is allocated); the verifier's
carries the commitments ``V`` only. Gadgets never ask which one they run in: anything that needs a
value is a callable handed to :meth:`ConstraintSystem.allocate` / ``allocate_multiplier``, which the
prover calls and the verifier ignores.

The system is

    multiplication gates     a_L[i] · a_R[i] = a_O[i]                        (i < n)
    linear constraints       W_L·a_L + W_R·a_R + W_O·a_O = W_V·v + c          (q of them)

and every linear constraint is kept as a :class:`LinearCombination` that must equal zero.

Randomized constraints (a second phase, dalek's ``specify_randomized_constraints``): a gadget may
register a callback that runs *after* the prover has committed to every wire allocated so far
(phase 1). The callback receives a :class:`RandomizedCS`, which can draw challenge scalars from the
proof's transcript and add gates and constraints whose weights use them (phase 2). Each callback
declares its gate count and a descriptor of the public data it uses, so the padded size and the
circuit digest are known before the first challenge (docs/notes/protocol.md, "Two phases").

Soundness guard: the builder tracks, for every wire it can, the interval of integers its value lies
in. A range check ``lc ∈ [0, 2^k)`` only proves something about the *integer* ``lc`` if no other
integer in ``lc``'s interval has the same residue mod r; :func:`check_no_wrap` refuses a circuit
where that could happen, and a range check over a combination of unbounded wires is refused too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Union

from zkmargin.errors import CircuitError, OverflowRiskError, UnsatisfiedError
from zkmargin.crypto.field import R, signed

# Variable kinds
ONE_KIND, V_KIND, L_KIND, R_KIND, O_KIND = 0, 1, 2, 3, 4
_KIND_NAMES = {ONE_KIND: "1", V_KIND: "v", L_KIND: "a_L", R_KIND: "a_R", O_KIND: "a_O"}


class Variable(tuple):
    """A wire: ``(kind, index)``. ``Variable.ONE`` is the constant 1."""

    __slots__ = ()

    def __new__(cls, kind: int, index: int = 0):
        return tuple.__new__(cls, (kind, index))

    @property
    def kind(self) -> int:
        return self[0]

    @property
    def index(self) -> int:
        return self[1]

    def __repr__(self) -> str:
        return "1" if self[0] == ONE_KIND else f"{_KIND_NAMES[self[0]]}[{self[1]}]"

    # arithmetic lifts to linear combinations
    def lc(self) -> "LinearCombination":
        return LinearCombination({self: 1})

    def __add__(self, other):
        return self.lc() + other

    __radd__ = __add__

    def __sub__(self, other):
        return self.lc() - other

    def __rsub__(self, other):
        return LinearCombination.of(other) - self.lc()

    def __mul__(self, k: int):
        return self.lc() * k

    __rmul__ = __mul__

    def __neg__(self):
        return -self.lc()


Variable.ONE = Variable(ONE_KIND, 0)  # type: ignore[attr-defined]
ONE = Variable.ONE  # type: ignore[attr-defined]


class LinearCombination:
    """``Σ coeff·var`` with coefficients in Z_r (the constant term is the coefficient of ONE)."""

    __slots__ = ("terms",)

    def __init__(self, terms: Optional[dict] = None):
        self.terms: dict = dict(terms) if terms else {}

    @staticmethod
    def of(x: "LCLike") -> "LinearCombination":
        if isinstance(x, LinearCombination):
            return x
        if isinstance(x, Variable):
            return LinearCombination({x: 1})
        if isinstance(x, int):
            return LinearCombination({ONE: x % R} if x % R else {})
        raise TypeError(f"cannot make a linear combination of {type(x).__name__}")

    def copy(self) -> "LinearCombination":
        return LinearCombination(self.terms)

    def __add__(self, other: "LCLike") -> "LinearCombination":
        out = dict(self.terms)
        for var, c in LinearCombination.of(other).terms.items():
            nc = (out.get(var, 0) + c) % R
            if nc:
                out[var] = nc
            else:
                out.pop(var, None)
        return LinearCombination(out)

    __radd__ = __add__

    def __neg__(self) -> "LinearCombination":
        return LinearCombination({v: (-c) % R for v, c in self.terms.items()})

    def __sub__(self, other: "LCLike") -> "LinearCombination":
        return self + (-LinearCombination.of(other))

    def __rsub__(self, other: "LCLike") -> "LinearCombination":
        return LinearCombination.of(other) - self

    def __mul__(self, k: int) -> "LinearCombination":
        if not isinstance(k, int):
            raise TypeError("a linear combination can only be scaled by a public integer")
        k %= R
        if k == 0:
            return LinearCombination()
        return LinearCombination({v: c * k % R for v, c in self.terms.items()})

    __rmul__ = __mul__

    def __repr__(self) -> str:
        parts = [f"{signed(c)}·{v!r}" for v, c in self.terms.items()]
        return " + ".join(parts) or "0"


LCLike = Union[LinearCombination, Variable, int]


def _as_int(value, what: str) -> int:
    """Witness values are integers; a float or Decimal is a bug upstream, never rounded here."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CircuitError(f"{what}: witness values must be integers, got {type(value).__name__}")
    return value


def check_no_wrap(lo: int, hi: int, bits: int, what: str) -> None:
    """``lc ≡ s (mod r)`` with ``s ∈ [0, 2^bits)`` implies ``lc = s`` as integers iff no other
    representative fits in ``[lo, hi]``: ``hi < r`` and ``lo > 2^bits − 1 − r``."""
    if hi >= R or lo <= (1 << bits) - 1 - R:
        raise OverflowRiskError(
            f"{what}: the range-checked combination spans [{lo}, {hi}], which could wrap modulo the group order"
        )


@dataclass
class RandomizedBlock:
    """One registered phase-2 callback.

    ``gates`` is the exact number of multiplication gates the callback adds (checked when it runs);
    ``descriptor`` is every public datum the callback uses besides the challenges (a table's rows,
    for a lookup), bound into the circuit digest; ``precheck``, prover only, checks the part of the
    witness the callback will need in clear text, so a wrong witness is refused before anything is
    committed."""

    label: str
    gates: int
    descriptor: bytes
    callback: Callable[["RandomizedCS"], None]
    precheck: Optional[Callable[[], None]] = None


class ChallengeCollisionError(CircuitError):
    """A phase-2 challenge hit a value the gadget must divide by (probability ~2^-240); the prover
    starts again with fresh blindings, the verifier rejects."""


class ConstraintSystem:
    """One class, two roles; see the module docstring."""

    phase = 1

    def __init__(self, *, prover: bool, values: Optional[list[int]] = None, m: int | None = None):
        self.is_prover = prover
        self.n = 0  # multiplication gates
        self.a_L: list[int] = []
        self.a_R: list[int] = []
        self.a_O: list[int] = []
        self.v: list[int] = list(values or []) if prover else []
        self.m = len(self.v) if prover else int(m or 0)
        self.constraints: list[LinearCombination] = []
        self.labels: list[str] = []
        self.bounds: dict[Variable, tuple[int, int]] = {ONE: (1, 1)}
        self._pending: Optional[int] = None
        self.inputs = [Variable(V_KIND, j) for j in range(self.m)]
        # Wires whose value is unconstrained until a range check defines it: committed inputs and
        # allocated wires. A multiplication output is *not* definable: its value is fixed by the
        # gate, so a range check over it means something only if its integer bound is known.
        self.definable: set[Variable] = set(self.inputs)
        self.randomized: list[RandomizedBlock] = []

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def for_prover(cls, values: Iterable[int]) -> "ConstraintSystem":
        return cls(prover=True, values=[_as_int(v, "committed value") % R for v in values])

    @classmethod
    def for_verifier(cls, m: int) -> "ConstraintSystem":
        return cls(prover=False, m=m)

    # --- values (prover only; gadgets use them inside assignment callables) --------------------

    def value(self, var: Variable) -> int:
        kind, i = var
        if kind == ONE_KIND:
            return 1
        if kind == V_KIND:
            return self.v[i]
        if kind == L_KIND:
            return self.a_L[i]
        if kind == R_KIND:
            return self.a_R[i]
        return self.a_O[i]

    def eval(self, lc: LCLike) -> int:
        """The field value of ``lc`` (prover only)."""
        if not self.is_prover:
            raise CircuitError("eval() is the prover's: the verifier has no values")
        total = 0
        for var, c in LinearCombination.of(lc).terms.items():
            total += c * self.value(var)
        return total % R

    def eval_signed(self, lc: LCLike) -> int:
        return signed(self.eval(lc))

    # --- wires ------------------------------------------------------------------------------

    def _new_gate(self, left: int, right: int) -> int:
        i = self.n
        self.n += 1
        if self.is_prover:
            self.a_L.append(left % R)
            self.a_R.append(right % R)
            self.a_O.append(left * right % R)
        return i

    def multiply(self, left: LCLike, right: LCLike) -> tuple[Variable, Variable, Variable]:
        """A gate ``l·r = o`` with ``l = left`` and ``r = right`` constrained."""
        left, right = LinearCombination.of(left), LinearCombination.of(right)
        if self.is_prover:
            i = self._new_gate(self.eval(left), self.eval(right))
        else:
            i = self._new_gate(0, 0)
        l, r, o = Variable(L_KIND, i), Variable(R_KIND, i), Variable(O_KIND, i)
        self.constrain(left - l, "multiply: left input")
        self.constrain(right - r, "multiply: right input")
        bl, br = self.bound(left), self.bound(right)
        if bl is not None:
            self.bounds[l] = bl
        if br is not None:
            self.bounds[r] = br
        if bl is not None and br is not None:
            corners = [bl[0] * br[0], bl[0] * br[1], bl[1] * br[0], bl[1] * br[1]]
            lo, hi = min(corners), max(corners)
            if hi - lo < R:
                self.bounds[o] = (lo, hi)
        return l, r, o

    def allocate(self, assign: Optional[Callable[[], int]]) -> Variable:
        """A free wire (half a gate). The prover calls ``assign``; the verifier does not."""
        value = 0
        if self.is_prover:
            if assign is None:
                raise CircuitError("the prover needs a value for every allocated wire")
            value = _as_int(assign(), "allocated wire") % R
        if self._pending is None:
            i = self._new_gate(value, 0)
            self._pending = i
            var = Variable(L_KIND, i)
        else:
            i = self._pending
            self._pending = None
            if self.is_prover:
                self.a_R[i] = value
                self.a_O[i] = self.a_L[i] * value % R
            var = Variable(R_KIND, i)
        self.definable.add(var)
        return var

    def allocate_multiplier(
        self, assign: Optional[Callable[[], tuple[int, int]]]
    ) -> tuple[Variable, Variable, Variable]:
        """A gate with free inputs ``(l, r)`` and output ``o = l·r``."""
        left = right = 0
        if self.is_prover:
            if assign is None:
                raise CircuitError("the prover needs values for every allocated multiplier")
            left, right = assign()
            left, right = _as_int(left, "multiplier input"), _as_int(right, "multiplier input")
        i = self._new_gate(left, right)
        l, r = Variable(L_KIND, i), Variable(R_KIND, i)
        self.definable.update((l, r))
        return l, r, Variable(O_KIND, i)

    def constrain(self, lc: LCLike, label: str = "") -> None:
        """Require ``lc = 0``."""
        lc = LinearCombination.of(lc)
        self.constraints.append(lc)
        self.labels.append(label)

    # --- the second phase -------------------------------------------------------------------

    def specify_randomized_constraints(
        self,
        callback: Callable[["RandomizedCS"], None],
        *,
        gates: int,
        label: str,
        descriptor: bytes = b"",
        precheck: Optional[Callable[[], None]] = None,
    ) -> None:
        """Run ``callback`` in phase 2, after every wire allocated in phase 1 is committed.

        The callback gets a :class:`RandomizedCS`: it draws challenges with
        ``challenge_scalar(label)`` and adds exactly ``gates`` multiplication gates and any number
        of constraints (their weights may use the challenges). Its challenges are sound only for
        claims about phase-1 wires and committed values, which are fixed before they are drawn.
        ``descriptor`` must name every public datum the callback reads (it enters the circuit
        digest, which the transcript binds before the first challenge)."""
        if self.phase != 1:
            raise CircuitError("randomized constraints cannot be registered in the second phase")
        if gates < 0:
            raise CircuitError("a randomized block declares a negative gate count")
        self.randomized.append(RandomizedBlock(label, int(gates), bytes(descriptor), callback, precheck))

    @property
    def phase2_gates(self) -> int:
        """Gates the registered phase-2 callbacks will add."""
        return sum(b.gates for b in self.randomized)

    @property
    def total_gates(self) -> int:
        """Multiplication gates of the whole circuit, both phases (padding excluded)."""
        return self.n + self.phase2_gates

    def randomize(self, challenge: Callable[[bytes], int]) -> "RandomizedCS":
        """Phase 2: a copy of this system extended by every registered callback, in order, each
        drawing its challenges from ``challenge(label)`` (the transcript's ``challenge_scalar``).
        This system is left unchanged (a verifier reuses it for every proof)."""
        rcs = RandomizedCS(self, challenge)
        for block in self.randomized:
            before = rcs.n
            block.callback(rcs)
            rcs._pending = None
            if rcs.n - before != block.gates:
                raise CircuitError(
                    f"randomized block {block.label!r} declared {block.gates} gates and added {rcs.n - before}"
                )
        return rcs

    # --- bounds -----------------------------------------------------------------------------

    def mark_definable(self, var: Variable) -> None:
        """Let a range check define ``var`` (gadgets that know why it is sound, e.g. abs_value)."""
        self.definable.add(var)

    def set_bound(self, var: Variable, lo: int, hi: int) -> None:
        if hi - lo >= R:
            raise OverflowRiskError(f"bound of {var!r} is wider than the group order")
        old = self.bounds.get(var)
        if old is not None:
            lo, hi = max(lo, old[0]), min(hi, old[1])
        self.bounds[var] = (lo, hi)

    def bound(self, lc: LCLike) -> Optional[tuple[int, int]]:
        """Integer interval of ``lc`` (coefficients read as signed representatives), or None when
        it involves a wire with no known bound."""
        lo = hi = 0
        for var, c in LinearCombination.of(lc).terms.items():
            b = self.bounds.get(var)
            if b is None:
                return None
            c = signed(c)
            x, y = c * b[0], c * b[1]
            lo += min(x, y)
            hi += max(x, y)
        return lo, hi

    # --- finishing --------------------------------------------------------------------------

    def _check_range(self, gates: range, constraints: range) -> None:
        for i in gates:
            if self.a_L[i] * self.a_R[i] % R != self.a_O[i]:
                raise UnsatisfiedError(f"multiplication gate {i} is not satisfied")
        for k in constraints:
            if self.eval(self.constraints[k]) != 0:
                label = self.labels[k] or f"constraint {k}"
                raise UnsatisfiedError(f"the witness does not satisfy: {label}")

    def check_witness(self, *, phase2: bool = True) -> None:
        """Prover only: every gate and every linear constraint holds; else UnsatisfiedError naming
        the first failing constraint by its label (never by its values).

        With registered phase-2 callbacks, their prechecks run, and (``phase2=True``) the callbacks
        run with fresh random challenges and their gates and constraints are checked too — what the
        prover will meet with the transcript's challenges, except with negligible probability."""
        if not self.is_prover:
            raise CircuitError("check_witness() is the prover's")
        self._check_range(range(self.n), range(len(self.constraints)))
        for block in self.randomized:
            if block.precheck is not None:
                block.precheck()
        if phase2 and self.randomized:
            self.randomize(lambda _label: secrets.randbelow(R - 1) + 1).check_witness()

    def padded_n(self) -> int:
        """The power of two the proof runs over: both phases' gates, padded."""
        n = self.total_gates
        return 1 << max(0, (n - 1).bit_length()) if n > 0 else 1

    def digest(self) -> bytes:
        """SHA-256 of the circuit itself: n, m, q and every weight of W_L, W_R, W_O, W_V and c
        (each constraint's terms in a canonical order). Prover and verifier compute it
        independently; the transcript binds it before the first challenge. Cached until the
        circuit changes."""
        key = (self.n, self.m, len(self.constraints), len(self.randomized))
        cached = getattr(self, "_digest", None)
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

    def _columns(self):
        """The constraints as flat lists per wire kind, split by coefficient: +1 entries, −1
        entries and the rest (most coefficients are ±1, which need no multiplication). Cached."""
        cached = getattr(self, "_cols", None)
        if cached is not None and cached[0] == len(self.constraints):
            return cached[1]
        cols = _build_columns(self.constraints, 0)
        self._cols = (len(self.constraints), cols)
        return cols

    def _column_sets(self) -> list:
        return [self._columns()]

    def flatten(self, z: int, n: int):
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

        def collapse(kind: int, size: int) -> list:
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

    def stats(self) -> dict:
        return {
            "multipliers": self.total_gates,
            "padded": self.padded_n(),
            "constraints": len(self.constraints),
            "committed": self.m,
            "nonzeros": sum(len(lc.terms) for lc in self.constraints),
            "phase2_gates": self.phase2_gates,
        }


def _build_columns(constraints: list, q_offset: int) -> dict:
    """Columns of ``constraints`` (numbered from ``q_offset``); see ConstraintSystem._columns."""
    minus_one = R - 1
    cols: dict[int, tuple[list, list, list, list, list, list, list]] = {
        k: ([], [], [], [], [], [], []) for k in (ONE_KIND, V_KIND, L_KIND, R_KIND, O_KIND)
    }
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


class RandomizedCS(ConstraintSystem):
    """The second phase of a :class:`ConstraintSystem`: every phase-1 wire, constraint and bound,
    plus ``challenge_scalar`` and room for more gates and constraints.

    Phase-1 gates are ``0 … n1−1`` and phase-1 constraints ``0 … q1−1``; what the callbacks add
    follows. The phase-1 system itself is not modified (its lists are copied; a verifier keeps one
    phase-1 system per policy and market and randomizes it once per proof)."""

    phase = 2

    def __init__(self, base: ConstraintSystem, challenge: Callable[[bytes], int]):
        if base.phase != 1:
            raise CircuitError("only a phase-1 constraint system can be randomized")
        self.base = base
        self._challenge = challenge
        self.is_prover = base.is_prover
        self.n = base.n
        self.n1 = base.n
        self.q1 = len(base.constraints)
        self.a_L = list(base.a_L)
        self.a_R = list(base.a_R)
        self.a_O = list(base.a_O)
        self.v = base.v
        self.m = base.m
        self.constraints = list(base.constraints)
        self.labels = list(base.labels)
        self.bounds = dict(base.bounds)
        # a half-filled phase-1 gate was committed with a_R = 0: phase 2 never completes it
        self._pending = None
        self.inputs = base.inputs
        self.definable = set(base.definable)
        self.randomized = []
        self.challenges: list[tuple[bytes, int]] = []

    def challenge_scalar(self, label: bytes) -> int:
        """A challenge drawn now: after every phase-1 commitment (and every earlier phase-2
        challenge) entered the transcript."""
        value = self._challenge(bytes(label)) % R
        self.challenges.append((bytes(label), value))
        return value

    @property
    def phase2_gates(self) -> int:
        return self.n - self.n1

    @property
    def total_gates(self) -> int:
        return self.n

    def digest(self) -> bytes:
        return self.base.digest()

    def _column_sets(self) -> list:
        # phase-1 columns are cached on the base system; only phase 2's are built per proof
        return [self.base._columns(), _build_columns(self.constraints[self.q1 :], self.q1)]

    def check_witness(self, *, phase2: bool = True) -> None:
        """Prover only: the phase-2 gates and constraints hold (phase 1 is checked on the base)."""
        if not self.is_prover:
            raise CircuitError("check_witness() is the prover's")
        self._check_range(range(self.n1, self.n), range(self.q1, len(self.constraints)))
