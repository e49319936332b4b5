"""Risk measures over the scenario losses as constraints: the worst loss, expected shortfall (the
mean of the k largest losses) and value at risk (the k-th largest), and the rounded portfolio
requirement ``round(factor · max(0, measure))`` at ``SR``.

``loss_s`` are linear combinations (per-instrument layout) or sums of gate outputs (K-slot
layout), every one bounded. Symbols as in docs/notes/risk-measures.md:

    worst   M ≥ 0, M ≥ loss_s                                          (M private)
    ES      t ∈ [L_lo, L_lo + 2^b), u_s ≥ 0, u_s ≥ loss_s − t,
            W ≥ 0, W ≥ k·t + Σ_s u_s       (Rockafellar–Uryasev: W ≥ k·ES_k for every t)
    VaR     V ≥ 0, f_s ∈ {0, 1}, Σ_s f_s ≤ k − 1, V − loss_s + f_s·B ≥ 0, B = max(0, L_hi)

Every private value is range-checked and every range check passes the builder's no-wrap rule. In
the ordinary statement each measure is an *upper* bound the prover may only overstate (which only
raises its requirement). With ``exact=True`` (margin-call zones, whose "equity below the next
threshold" needs the requirement from both sides) the value is also pinned from below:

    V ≤ max(0, ℓ_(k)):  z ∈ {0,1}, V·(1 − z) = 0, h_s ∈ {0,1}, Σ h_s ≥ k·z,
                        loss_s − V + (1 − h_s)·B' ≥ 0      (worst: k = 1)
    W ≤ max(0, S_k):    z ∈ {0,1}, W·(1 − z) = 0, g_s ∈ {0,1}, Σ g_s = k·z, Σ g_s·loss_s − W ≥ 0

Expected shortfall divides by k: its requirement is rounded as the policy says directly from the
k-scaled value, ``q·10^j·k`` against ``factor·W`` (:func:`round_ratio`), so nothing divides.

The per-scenario range checks are lookups into a small range table (:class:`RangeLookups`, a
randomized second phase) unless the caller passes its own range check: they are most of the cost
(two per scenario for ES), and limb lookups take about a fifth of the gates of bit decomposition.
The worst loss keeps its original encoding, gate for gate (the circuits of existing portfolio
policies do not change).

May import :mod:`zkmargin.crypto.field`, :mod:`..cs`, :mod:`..gadgets`, :mod:`..lookup`,
:mod:`.plan` and :mod:`.rounding`. Used by :mod:`.portfolio`, :mod:`.slots` and :mod:`.zones`.
"""

from __future__ import annotations

from collections.abc import Callable

from zkmargin.crypto.field import R
from zkmargin.errors import CircuitError

from ..cs import ConstraintSystem, LinearCombination, Variable
from ..gadgets import bits_for, boolean, range_check
from ..lookup import RangeLookups, best_limb_bits
from .constants import coefficient
from .plan import MarginPlan, p10
from .rounding import round_requirement

RangeCheck = Callable[[LinearCombination, int, str], object]


def _bound(cs: ConstraintSystem, lc: LinearCombination, what: str) -> tuple[int, int]:
    b = cs.bound(lc)
    if b is None:
        raise CircuitError(f"internal: {what} has no bound")
    return b


def _ranked(cs: ConstraintSystem, losses: list[LinearCombination]) -> list[int]:
    """Prover only: scenario indices from the largest loss to the smallest (ties by index)."""
    values = [cs.eval_signed(loss) for loss in losses]
    return sorted(range(len(values)), key=lambda s: (-values[s], s))


def measure_requirement(cs: ConstraintSystem, plan: MarginPlan, losses: list[LinearCombination],
                        rc: RangeCheck | None = None, *, exact: bool = False,
                        factor: int | None = None) -> LinearCombination:
    """The rounded portfolio requirement at ``SR`` for the plan's measure over ``losses``.

    ``rc`` is the range check to use (the K-slot circuit passes its lookup range checks); by
    default the worst loss uses bit decomposition (as it always did) and ES/VaR a range table of
    their own. ``factor`` (at ``dr``) overrides the plan's (zones need both requirement kinds)."""
    kind, k = plan.measure
    fac = plan.factor if factor is None else factor
    lift = coefficient(fac * p10(plan.SR - (plan.ds + plan.dp + plan.dr)), "scenarios.factor", "the scenario factor")
    if kind == "worst" and not exact:
        return _worst(cs, plan, losses, rc, lift)
    own: RangeLookups | None = None
    if rc is None:
        own = RangeLookups(cs, _limb_bits(cs, losses, k))
        rc = own.range_check
    if kind == "expected_shortfall":
        W = es_bound(cs, losses, k, rc, exact=exact)
        out = round_ratio(cs, LinearCombination.of(W) * lift, k, plan, "portfolio requirement (ES)",
                          rc, exact=exact)
    else:
        V = var_bound(cs, losses, k if kind == "var" else 1, rc, exact=exact, worst=kind == "worst")
        out = round_ratio(cs, LinearCombination.of(V) * lift, 1, plan, f"portfolio requirement ({kind})",
                          rc, exact=exact)
    if own is not None:
        own.finish()
    return out


def _limb_bits(cs: ConstraintSystem, losses: list[LinearCombination], k: int) -> int:
    lo = min(_bound(cs, loss, "a scenario loss")[0] for loss in losses)
    hi = max(_bound(cs, loss, "a scenario loss")[1] for loss in losses)
    width = bits_for(max(1, hi - min(lo, 0)) * 2)
    return best_limb_bits([width] * (2 * len(losses)) + [width + bits_for(k)] * 2)


def _worst(cs: ConstraintSystem, plan: MarginPlan, losses: list[LinearCombination],
           rc: RangeCheck | None, lift: int) -> LinearCombination:
    """``M ≥ 0``, ``M ≥ loss_s``: the encoding portfolio margin always had, gate for gate."""
    check: RangeCheck
    if rc is None:
        def check(lc: LinearCombination, bits: int, what: str) -> object:
            return range_check(cs, lc, bits, what)
    else:
        check = rc
    worst_hi = max([0] + [_bound(cs, loss, f"portfolio: scenario {s}")[1] for s, loss in enumerate(losses)])

    def worst() -> int:
        return max([0] + [cs.eval_signed(loss) for loss in losses])

    M = cs.allocate(worst if cs.is_prover else None)
    check(LinearCombination.of(M), bits_for(worst_hi), "portfolio: worst scenario loss")
    for s, loss in enumerate(losses):
        gap = LinearCombination.of(M) - loss
        check(gap, bits_for(_bound(cs, gap, f"portfolio: scenario {s}")[1]), f"portfolio: scenario {s} loss covered")
    return round_requirement(cs, LinearCombination.of(M) * lift, plan, "portfolio requirement", rc=rc)


def var_bound(cs: ConstraintSystem, losses: list[LinearCombination], k: int, rc: RangeCheck, *,
              exact: bool = False, worst: bool = False) -> Variable:
    """A private ``V ≥ max(0, ℓ_(k))`` (the k-th largest loss), and ``=`` with ``exact``.

    Upper side (``worst``: the plain ``V ≥ loss_s``, no flags, k = 1): flags ``f_s`` with
    ``Σ f_s ≤ k − 1`` and ``V − loss_s + f_s·B ≥ 0``. Were ``V < ℓ_(k)``, the k scenarios with
    ``loss ≥ ℓ_(k) > V`` would each need ``f_s = 1``: k flags, one more than allowed."""
    bounds = [_bound(cs, loss, f"scenario {s} loss") for s, loss in enumerate(losses)]
    l_hi = max(hi for _, hi in bounds)
    B = max(0, l_hi)

    def value() -> int:
        order = _ranked(cs, losses)
        return max(0, cs.eval_signed(losses[order[k - 1]]))

    V = cs.allocate(value if cs.is_prover else None)
    rc(LinearCombination.of(V), bits_for(B), "risk measure: value at risk")
    if worst:
        for s, loss in enumerate(losses):
            gap = LinearCombination.of(V) - loss
            rc(gap, bits_for(_bound(cs, gap, f"scenario {s}")[1]), f"risk measure: scenario {s} loss covered")
    else:
        flags = LinearCombination()
        for s, loss in enumerate(losses):
            def flag(s: int = s) -> int:
                return 1 if cs.eval_signed(losses[s]) > cs.eval_signed(V) else 0

            f = boolean(cs, flag if cs.is_prover else None, f"VaR: scenario {s} above")
            flags = flags + f
            gap = LinearCombination.of(V) - loss + LinearCombination.of(f) * B
            rc(gap, bits_for(_bound(cs, gap, f"scenario {s}")[1]), f"VaR: scenario {s} loss at most VaR unless flagged")
        rc(LinearCombination.of(k - 1) - flags, bits_for(max(1, k - 1)), "VaR: at most k − 1 scenarios above")
    if exact:
        _at_most_kth(cs, V, losses, k, rc, f"{'worst loss' if worst else 'VaR'}")
    return V


def _at_most_kth(cs: ConstraintSystem, V: Variable, losses: list[LinearCombination], k: int,
                 rc: RangeCheck, what: str) -> None:
    """``V ≤ max(0, ℓ_(k))``: V = 0 (z = 0), or k scenarios with ``loss_s ≥ V`` (h_s = 1)."""
    v_hi = _bound(cs, LinearCombination.of(V), what)[1]
    l_lo = min(_bound(cs, loss, "scenario loss")[0] for loss in losses)
    Bp = max(0, v_hi - l_lo)
    z = boolean(cs, (lambda: 1 if cs.eval_signed(V) > 0 else 0) if cs.is_prover else None, f"{what}: positive")
    _, _, o = cs.multiply(V, 1 - LinearCombination.of(z))
    cs.constrain(o, f"{what}: zero unless positive")
    top: list[list[int]] = []
    hs = LinearCombination()
    for s, loss in enumerate(losses):
        def pick(s: int = s) -> int:
            if not top:
                top.append(_ranked(cs, losses)[:k])
            return 1 if cs.eval(z) == 1 and s in top[0] else 0

        h = boolean(cs, pick if cs.is_prover else None, f"{what}: scenario {s} at or above")
        hs = hs + h
        gap = loss - V + (1 - LinearCombination.of(h)) * Bp
        rc(gap, bits_for(_bound(cs, gap, f"scenario {s}")[1]), f"{what}: scenario {s} at least the value unless unpicked")
    rc(hs - LinearCombination.of(z) * k, bits_for(len(losses)), f"{what}: k scenarios at or above")


def es_bound(cs: ConstraintSystem, losses: list[LinearCombination], k: int, rc: RangeCheck, *,
             exact: bool = False) -> Variable:
    """A private ``W ≥ max(0, S_k)`` (k times the expected shortfall), ``=`` with ``exact``.

    For every integer t and ``u_s ≥ max(0, loss_s − t)``: ``k·t + Σ_s u_s ≥ k·t + Σ_(top k)
    (loss_s − t) = S_k``; the honest witness takes t = ℓ_(k) and reaches equality."""
    bounds = [_bound(cs, loss, f"scenario {s} loss") for s, loss in enumerate(losses)]
    l_lo = min(lo for lo, _ in bounds)
    l_hi = max(hi for _, hi in bounds)
    span = max(1, l_hi - l_lo)
    order_cache: list[list[int]] = []

    def order() -> list[int]:
        if not order_cache:
            order_cache.append(_ranked(cs, losses))
        return order_cache[0]

    t = cs.allocate((lambda: cs.eval_signed(losses[order()[k - 1]])) if cs.is_prover else None)
    rc(LinearCombination.of(t) - l_lo, bits_for(span), "ES: the cut-off t within the losses' range")
    total = LinearCombination.of(t) * k
    for s, loss in enumerate(losses):
        def u_value(s: int = s) -> int:
            return max(0, cs.eval_signed(losses[s]) - cs.eval_signed(t))

        u = cs.allocate(u_value if cs.is_prover else None)
        rc(LinearCombination.of(u), bits_for(span), f"ES: u_{s} ≥ 0")
        gap = LinearCombination.of(u) - loss + t
        rc(gap, bits_for(_bound(cs, gap, f"scenario {s}")[1]), f"ES: u_{s} ≥ loss_{s} − t")
        total = total + u

    def w_value() -> int:
        return max(0, sum(cs.eval_signed(losses[s]) for s in order()[:k]))

    W = cs.allocate(w_value if cs.is_prover else None)
    rc(LinearCombination.of(W), bits_for(k * max(1, l_hi)), "ES: k·ES ≥ 0")
    gap = LinearCombination.of(W) - total
    rc(gap, bits_for(max(1, _bound(cs, gap, "ES bound")[1])), "ES: k·ES ≥ k·t + Σ u_s")
    if exact:
        z = boolean(cs, (lambda: 1 if cs.eval_signed(W) > 0 else 0) if cs.is_prover else None, "ES: positive")
        _, _, o = cs.multiply(W, 1 - LinearCombination.of(z))
        cs.constrain(o, "ES: zero unless positive")
        gs = LinearCombination()
        picked = LinearCombination()
        for s, loss in enumerate(losses):
            def g_value(s: int = s) -> int:
                return 1 if cs.eval(z) == 1 and s in order()[:k] else 0

            g = boolean(cs, g_value if cs.is_prover else None, f"ES: scenario {s} among the k")
            gs = gs + g
            _, _, p = cs.multiply(g, loss)
            picked = picked + p
        cs.constrain(gs - LinearCombination.of(z) * k, "ES: exactly k scenarios picked when positive")
        rc(picked - W, bits_for(max(1, _bound(cs, picked - W, "ES picked")[1])), "ES: k·ES at most a sum of k losses")
    return W


def round_ratio(cs: ConstraintSystem, X: LinearCombination, den: int, plan: MarginPlan, label: str,
                rc: RangeCheck, *, exact: bool = False) -> LinearCombination:
    """``q·10^j`` at ``SR``: ``q`` is ``X/den`` (X at ``SR``, ``X ≥ 0``) rounded as the policy
    says to its decimals (``j = SR − decimals``), with ``B = den·10^j`` and nothing divided:

        up          q·B − X ≥ 0                        (exact: also ≤ B − 1)
        down        q·B − X + B − 1 ≥ 0                (exact: also X − q·B ≥ 0)
        half_even   d = 2q·B − 2X + B ≥ 0, d = 0 ⇒ q even   (exact: also d ≤ 2B, d = 2B ⇒ q even)

    The lower bounds make ``q ≥ round(X/den)`` (an overstated requirement never helps the
    prover); ``exact`` adds the upper ones, so ``q = round(X/den)``."""
    if plan.rounding is None:
        if den != 1:
            raise CircuitError(f"{label}: a fraction needs the policy's rounding")
        return X
    mode, decimals = plan.rounding
    j = plan.SR - decimals
    if j < 0:
        if den != 1:
            raise CircuitError(f"{label}: the rounding keeps more decimals than the requirement has")
        return X
    if j == 0 and den == 1:
        return X
    D = p10(j)
    Bq = den * D
    hi = _bound(cs, X, label)[1]
    q_bits = bits_for(hi // Bq + 1)

    def exact_q() -> int:
        from fractions import Fraction

        from zkmargin.rules.engine.risk_measures import round_fraction

        value = Fraction(cs.eval_signed(X), den * p10(plan.SR))
        d = round_fraction(value, decimals, mode)
        return int(d.scaleb(decimals))

    q = cs.allocate(exact_q if cs.is_prover else None)
    rc(LinearCombination.of(q), q_bits, f"{label}: rounded requirement")
    qB = LinearCombination.of(q) * Bq
    width = bits_for(max(1, Bq - 1))
    if mode == "up":
        rc(qB - X, width, f"{label}: rounded up")
        if exact:
            rc(X - qB + (Bq - 1), width, f"{label}: rounded up, not more")
    elif mode == "down":
        rc(qB - X + (Bq - 1), width, f"{label}: rounded down")
        if exact:
            rc(X - qB, width, f"{label}: rounded down, not more")
    else:
        d = qB * 2 - X * 2 + Bq
        rc(d, bits_for(2 * Bq), f"{label}: rounded half-even")
        odd = boolean(cs, (lambda: cs.eval(q) & 1) if cs.is_prover else None, f"{label} parity")
        p = cs.allocate((lambda: cs.eval(q) >> 1) if cs.is_prover else None)
        rc(LinearCombination.of(p), max(1, q_bits - 1), f"{label}: half of the rounded requirement")
        cs.constrain(LinearCombination.of(q) - LinearCombination.of(p) * 2 - odd, f"{label}: parity split")
        ends = [d] + ([LinearCombination.of(2 * Bq) - d] if exact else [])
        if exact:
            rc(ends[1], bits_for(2 * Bq), f"{label}: rounded half-even, not more")
        for i, end in enumerate(ends):
            # tie at this end (end = 0) ⇒ q even:  e = [end = 0] via e·end = 0, end·inv = 1 − e
            def tie(end: LinearCombination = end) -> int:
                return 1 if cs.eval(end) == 0 else 0

            def inverse(end: LinearCombination = end) -> int:
                return pow(cs.eval(end), -1, R) if cs.eval(end) else 0

            e = boolean(cs, tie if cs.is_prover else None, f"{label} tie {i}")
            _, _, o1 = cs.multiply(e, end)
            cs.constrain(o1, f"{label}: tie flag {i} only when exactly halfway")
            inv_wire = cs.allocate(inverse if cs.is_prover else None)
            _, _, o2 = cs.multiply(end, inv_wire)
            cs.constrain(o2 - (1 - LinearCombination.of(e)), f"{label}: tie flag {i} when exactly halfway")
            _, _, o3 = cs.multiply(e, odd)
            cs.constrain(o3, f"{label}: ties round to even ({i})")
    return LinearCombination.of(q) * D
