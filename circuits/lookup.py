"""Lookup arguments on the two-phase R1CS: the logarithmic derivative ("logUp", Haböck 2022,
eprint 2022/1530), and range checks made of lookups into a table of small integers.

A :class:`Table` is public: ``N`` rows of ``w`` integers. A circuit records lookups — tuples
``f_k = (f_k,0 … f_k,w−1)`` of phase-1 linear combinations — with :meth:`Lookups.lookup`, then
:meth:`Lookups.finish` allocates the multiplicities ``m_j`` (phase-1 wires: how many lookups chose
row j; committed and blinded like every wire, so which rows were used is not visible) and registers
the phase-2 callback. With challenges α, β drawn after phase 1 is committed, tuples are compressed
as ``t_j = Σ_i β^i·t_j,i`` and ``f_k = Σ_i β^i·f_k,i``, and phase 2 adds

    one gate per lookup      a_L = α − f_k,  a_O = 1       (so a_R = w_k = 1/(α − f_k))
    one linear constraint    Σ_k w_k = Σ_j c_j·m_j,  c_j = 1/(α − t_j)   (public constants)

Soundness and its exact conditions are in docs/notes/lookup.md: if some f_k is not a row, the
identity Σ_k 1/(X − f_k) = Σ_j m_j/(X − t_j) of rational functions fails (every count ≤ L < r is
non-zero mod r) and holds at the random α with probability at most (N + L)/r, plus w·N·L/r for
the compression. A challenge α equal to some t_j makes c_j undefined: both sides then stop (the
prover starts again with fresh blindings, the verifier rejects): probability N/r.

:class:`RangeLookups` proves ``lc ∈ [0, 2^k)`` with ``⌈k/b⌉`` limbs looked up in the table
``{0 … 2^b − 1}``: the limbs below the top one are phase-1 wires, the top one is the linear
combination ``(lc − Σ limb_i·2^(b·i))·2^(−b·(n−1))`` — no wire — and, when ``b`` does not divide
``k``, the top limb is also looked up shifted by ``2^b − 2^(k mod b)``. The same no-wrap rule as
:func:`zkmargin.circuits.gadgets.range_check` applies. Cost: ``(n−1)/2`` phase-1 gates and ``n``
(or ``n + 1``) phase-2 gates instead of ``k`` gates, plus the table's ``2^(b−1)`` gates of
multiplicities, once per circuit.

May import :mod:`zkmargin.errors`, :mod:`zkmargin.crypto.field`, :mod:`.cs` and :mod:`.gadgets`.
Used by the K-slot margin circuit (:mod:`.margin.slots`) and the tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from zkmargin.crypto.field import R, batch_inv, inv
from zkmargin.errors import CircuitError, OverflowRiskError, UnsatisfiedError

from .cs import (
    ChallengeCollisionError,
    ConstraintSystem,
    LCLike,
    LinearCombination,
    RandomizedCS,
    Variable,
    check_no_wrap,
)
from .gadgets import MAX_RANGE_BITS

TABLE_DOMAIN = b"zkmargin.lookup-table/1\x00"
LOGUP_DOMAIN = b"zkmargin.logup/1\x00"


class Table:
    """A public lookup table: ``rows`` of ``len(columns)`` integers each (any sign; the circuit
    reads them mod r). ``bounds[i]`` is the integer interval of column i over all rows, which a
    looked-up wire inherits."""

    def __init__(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[int]]):
        if not rows:
            raise CircuitError(f"lookup table {name!r} has no rows")
        self.name = name
        self.columns = tuple(columns)
        self.width = len(self.columns)
        if self.width < 1:
            raise CircuitError(f"lookup table {name!r} has no columns")
        self.rows = [tuple(map(int, row)) for row in rows]
        if any(len(row) != self.width for row in self.rows):
            raise CircuitError(f"lookup table {name!r}: every row needs {self.width} values")
        self.bounds = [(min(col), max(col)) for col in zip(*self.rows)]
        # a looked-up value is a field element; it names one integer of its column only if the
        # column's values are distinct mod r and no two of them are r apart
        if any(hi - lo >= R // 2 for lo, hi in self.bounds):
            raise CircuitError(f"lookup table {name!r}: a column spans half the group order")
        self._index: dict[tuple[int, ...], int] | None = None
        self._digest: bytes | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def digest(self) -> bytes:
        """SHA-256 of the domain, the name, the column names, the row count and every value
        (32-byte big-endian, mod r), row by row."""
        if self._digest is None:
            h = hashlib.sha256(TABLE_DOMAIN)
            name = self.name.encode()
            h.update(len(name).to_bytes(4, "big") + name + self.width.to_bytes(4, "big"))
            for col in self.columns:
                c = col.encode()
                h.update(len(c).to_bytes(4, "big") + c)
            h.update(len(self.rows).to_bytes(8, "big"))
            for row in self.rows:
                h.update(b"".join((v % R).to_bytes(32, "big") for v in row))
            self._digest = h.digest()
        return self._digest

    def index_of(self, values: Sequence[int]) -> int | None:
        """The first row equal to ``values`` (field elements), or None."""
        if self._index is None:
            index: dict[tuple[int, ...], int] = {}
            for j, row in enumerate(self.rows):
                index.setdefault(tuple(v % R for v in row), j)
            self._index = index
        return self._index.get(tuple(v % R for v in values))

    def compressed(self, beta: int) -> list[int]:
        """``t_j = Σ_i β^i·t_j,i mod r`` for every row (Horner, highest column first)."""
        out = []
        for row in self.rows:
            acc = 0
            for v in reversed(row):
                acc = (acc * beta + v) % R
            out.append(acc)
        return out


def compress(values: Sequence[LCLike], beta: int) -> LinearCombination:
    """``Σ_i β^i·values_i`` as a linear combination."""
    out = LinearCombination()
    power = 1
    for v in values:
        out = out + LinearCombination.of(v) * power
        power = power * beta % R
    return out


class Lookups:
    """The lookups of one circuit into one table (see the module docstring)."""

    def __init__(self, cs: ConstraintSystem, table: Table, label: str | None = None):
        if cs.phase != 1:
            raise CircuitError("lookups are recorded in phase 1")
        self.cs = cs
        self.table = table
        self.label = label or table.name
        self.entries: list[tuple[list[LinearCombination], str]] = []
        self.multiplicities: list[Variable] = []
        self.finished = False

    def lookup(self, values: Sequence[LCLike], label: str) -> None:
        """Require the tuple ``values`` (phase-1 linear combinations: committed values and phase-1
        wires) to be a row of the table. A value that is a single wire inherits its column's
        integer bounds (it equals a table entry)."""
        if self.finished:
            raise CircuitError(f"lookups into {self.table.name!r} are already finished")
        if len(values) != self.table.width:
            raise CircuitError(f"{label}: a row of {self.table.name!r} has {self.table.width} values, got {len(values)}")
        lcs = [LinearCombination.of(v) for v in values]
        for lc, (lo, hi) in zip(lcs, self.table.bounds):
            if len(lc.terms) == 1:
                (var, coef), = lc.terms.items()
                if coef == 1 and var.kind != 0:
                    self.cs.set_bound(var, lo, hi)
        self.entries.append((lcs, label))

    def _values(self) -> list[list[int]]:
        return [[self.cs.eval(lc) for lc in lcs] for lcs, _ in self.entries]

    def counts(self) -> list[int]:
        """The honest multiplicities (prover): how many lookups chose each row."""
        m = [0] * len(self.table)
        for values in self._values():
            j = self.table.index_of(values)
            if j is not None:
                m[j] += 1
        return m

    def finish(self, multiplicities: Callable[[], list[int]] | None = None) -> None:
        """Allocate the multiplicities (phase-1 wires) and register the phase-2 argument. Call
        once, after the last lookup. ``multiplicities`` replaces the honest counts (tests play a
        cheating prover with it)."""
        if self.finished:
            raise CircuitError(f"lookups into {self.table.name!r} finished twice")
        self.finished = True
        cs = self.cs
        if len(self.entries) >= R:  # pragma: no cover - the field is ~2^255
            raise CircuitError("more lookups than the field's characteristic")
        m_values: list[int] = []
        if cs.is_prover:
            m_values = multiplicities() if multiplicities is not None else self.counts()
            if len(m_values) != len(self.table):
                raise CircuitError(f"{len(m_values)} multiplicities for {len(self.table)} rows")
        def count(j: int) -> Callable[[], int]:
            return lambda: m_values[j]

        self.multiplicities = [cs.allocate(count(j) if cs.is_prover else None) for j in range(len(self.table))]
        descriptor = (
            LOGUP_DOMAIN
            + self.table.digest()
            + len(self.entries).to_bytes(8, "big")
            + self.table.width.to_bytes(4, "big")
        )
        cs.specify_randomized_constraints(
            self._phase2,
            gates=len(self.entries),
            label=f"logup:{self.label}",
            descriptor=descriptor,
            precheck=self._precheck if cs.is_prover else None,
        )

    # --- prover's clear-text check (before anything is committed) ------------------------------

    def _precheck(self) -> None:
        values = self._values()
        for k, vals in enumerate(values):
            if self.table.index_of(vals) is None:
                raise UnsatisfiedError(f"the witness does not satisfy: {self.entries[k][1]} (not a row of {self.table.name})")
        counts = self.counts()
        got = [self.cs.value(m) for m in self.multiplicities]
        if got != [c % R for c in counts]:
            raise UnsatisfiedError(
                f"the witness does not satisfy: the multiplicities of {self.table.name} do not count its lookups"
            )

    # --- phase 2 ---------------------------------------------------------------------------------

    def _phase2(self, rcs: RandomizedCS) -> None:
        name = self.label.encode()
        alpha = rcs.challenge_scalar(b"logup:" + name + b":alpha")
        beta = rcs.challenge_scalar(b"logup:" + name + b":beta") if self.table.width > 1 else 1
        t = self.table.compressed(beta)
        d = [(alpha - tj) % R for tj in t]
        if any(x == 0 for x in d):
            raise ChallengeCollisionError(f"the challenge α of lookup {self.label!r} equals a compressed row")
        c = batch_inv(d)
        f = [compress(lcs, beta) for lcs, _ in self.entries]
        e: list[int] = []
        w_values: list[int] = []
        if rcs.is_prover:
            e = [(alpha - rcs.eval(fk)) % R for fk in f]
            nonzero = [x for x in e if x]
            invs = iter(batch_inv(nonzero)) if nonzero else iter(())
            # α = f_k can only happen for a tuple that is not a row (α is no row): that gate then
            # has no solution, and the forced proof fails
            w_values = [next(invs) if x else 0 for x in e]
        total = LinearCombination()
        for k, fk in enumerate(f):
            assign = (lambda k=k: (e[k], w_values[k])) if rcs.is_prover else None
            left, right, out = rcs.allocate_multiplier(assign)
            rcs.constrain(left - (alpha - fk), f"{self.entries[k][1]}: a_L = α − f")
            rcs.constrain(out - 1, f"{self.entries[k][1]}: (α − f)·w = 1")
            total = total + right
        table_side = LinearCombination({m: cj for m, cj in zip(self.multiplicities, c) if cj})
        rcs.constrain(total - table_side, f"lookups into {self.table.name}: Σ_k 1/(α − f_k) = Σ_j m_j/(α − t_j)")


# --- range checks by lookup ------------------------------------------------------------------------


def range_table(bits: int) -> Table:
    """The table ``{0, 1, …, 2^bits − 1}`` (one column)."""
    if not 1 <= bits <= 16:
        raise CircuitError(f"a range table of {bits}-bit limbs is not supported (1..16)")
    return Table(f"range{bits}", ["v"], [(v,) for v in range(1 << bits)])


class RangeLookups:
    """Range checks made of limb lookups into one ``range_table(limb_bits)`` (module docstring)."""

    def __init__(self, cs: ConstraintSystem, limb_bits: int = 8):
        self.cs = cs
        self.limb_bits = limb_bits
        self.lookups = Lookups(cs, range_table(limb_bits))
        self.checks = 0

    def range_check(self, lc: LCLike, bits: int, label: str) -> None:
        """Constrain the integer value of ``lc`` to ``[0, 2^bits)`` under the same rule as
        :func:`zkmargin.circuits.gadgets.range_check`: ``lc`` has a known interval that cannot
        wrap modulo r (checked), or is ``±x + (bounded part)`` for one unbounded wire ``x`` that a
        range check may define (whose bound is then recorded)."""
        cs = self.cs
        if not 1 <= bits <= MAX_RANGE_BITS:
            raise CircuitError(f"{label}: range width {bits} is outside 1..{MAX_RANGE_BITS}")
        lc = LinearCombination.of(lc)
        interval = cs.bound(lc)
        free: tuple[Variable, int] | None = None
        rest_bound: tuple[int, int] | None = None
        if interval is None:
            unbounded = [(v, c) for v, c in lc.terms.items() if v not in cs.bounds]
            if len(unbounded) != 1 or unbounded[0][1] not in (1, R - 1):
                raise CircuitError(f"{label}: range check over a combination of unbounded wires")
            if unbounded[0][0] not in cs.definable:
                raise OverflowRiskError(
                    f"{label}: range check over a gate output with no safe bound (its integer value could wrap modulo the group order)"
                )
            free = unbounded[0]
            rest_bound = cs.bound(LinearCombination({v: c for v, c in lc.terms.items() if v != free[0]}))
        else:
            check_no_wrap(interval[0], interval[1], bits, label)

        b = self.limb_bits
        n = -(-bits // b)
        mask = (1 << b) - 1
        cache: list[list[int]] = []

        def limb(i: int) -> Callable[[], int]:
            def assign() -> int:
                if not cache:
                    value = cs.eval(lc)
                    cache.append([(value >> (b * j)) & mask for j in range(n)])
                return cache[0][i]

            return assign

        low = LinearCombination()
        for i in range(n - 1):
            wire = cs.allocate(limb(i) if cs.is_prover else None)
            self.lookups.lookup([wire], f"{label}: limb {i}")
            low = low + wire * (1 << (b * i))
        top = (lc - low) * inv(1 << (b * (n - 1))) if n > 1 else lc
        self.lookups.lookup([top], f"{label}: value within {bits} bits")
        top_bits = bits - b * (n - 1)
        if top_bits < b:
            # top < 2^top_bits  ⟺  top ∈ [0, 2^b) and top + 2^b − 2^top_bits ∈ [0, 2^b)
            self.lookups.lookup([top + ((1 << b) - (1 << top_bits))], f"{label}: value within {bits} bits")
        self.checks += 1

        if free is not None:
            var, coef = free
            assert rest_bound is not None  # every wire but the free one is bounded
            lo_r, hi_r = rest_bound
            s_lo, s_hi = 0, (1 << bits) - 1
            if coef == 1:  # x = s − rest
                lo, hi = s_lo - hi_r, s_hi - lo_r
            else:  # x = rest − s
                lo, hi = lo_r - s_hi, hi_r - s_lo
            cs.set_bound(var, lo, hi)

    def geq(self, a: LCLike, b: LCLike, bits: int, label: str) -> None:
        """``a ≥ b`` for bounded a, b, by ``a − b ∈ [0, 2^bits)``."""
        diff = LinearCombination.of(a) - LinearCombination.of(b)
        if self.cs.bound(diff) is None:
            raise CircuitError(f"{label}: comparison of unbounded values")
        self.range_check(diff, bits, label)

    def finish(self) -> None:
        self.lookups.finish()


def best_limb_bits(widths: Sequence[int], choices: Sequence[int] = tuple(range(2, 13))) -> int:
    """The limb width that minimises the gates of range checks of ``widths`` bits: per check
    ``(n−1)/2 + n (+1)`` with ``n = ⌈k/b⌉``, plus ``2^(b−1)`` for the table's multiplicities."""

    def cost(b: int) -> float:
        total = (1 << b) / 2
        for k in widths:
            n = -(-k // b)
            total += (n - 1) / 2 + n + (1 if k % b else 0)
        return total

    return min(choices, key=lambda b: (cost(b), b))
