"""Margin circuits: a policy and a market snapshot (public) compiled into one R1CS circuit.

The circuit's shape depends on public data only — one slot per instrument of the policy's universe
and per collateral asset, zero where nothing is held — so it hides which instruments are held.

Committed inputs (the "slots"), in this order:

    cross, portfolio   q_i (signed size, every instrument), C (cost basis Σ q_i·entry_i), b_j
    isolated           q_i, entry_i, iso_i (every instrument), b_j

Everything is an integer at a declared scale (docs/notes/margin-circuits.md): sizes at ds, prices
at dp, rates at dr, amounts at da. Products carry combined scales; sums are lifted to a common
scale with public powers of ten. The circuit proves

    E·10^(Z−s_E) ≥ (10^dr + buffer)·REQ·10^(Z−s_R−dr) + T·10^(Z−da)

and, in isolated mode, one such inequality per position. Rules that a venue states as a maximum
(brackets are convex, scenario margin is a max, rounding up) become inequalities the prover cannot
win by overstating; concave collateral tiers and brackets select their piece with one-hot bits and
two range checks that pin the private quantity inside the selected piece.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional

from zkmargin.rules.decimals import to_fixed
from zkmargin.errors import CircuitError, InputError
from zkmargin.crypto.field import R

from .cs import ConstraintSystem, LinearCombination, Variable
from .gadgets import abs_value, bits_for, boolean, is_nonzero, range_check


def _p10(k: int) -> int:
    if k < 0:
        raise CircuitError("internal: negative scale difference")
    return 10**k


@dataclass
class Slot:
    kind: str  # size | cost | entry | isolated | balance
    key: str  # symbol or asset ("" for the cost basis)
    bits: int
    signed: bool = False

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.key}" if self.key else self.kind


@dataclass
class InstrumentPlan:
    symbol: str
    kind: str
    mark: int  # at dp
    rule: str  # flat | linear | brackets | scenario
    rate: int = 0  # at dr (flat, linear)
    per_size: int = 0  # at dr per unit of size (linear)
    brackets: list = field(default_factory=list)  # [(lo_qabs, hi_qabs, rate_dr, cum_at_da+dr)]
    pnl: list = field(default_factory=list)  # per scenario, at dp (portfolio)


@dataclass
class CollateralPlan:
    asset: str
    price: int  # at dp
    tiers: list  # [(lo_amount, hi_amount, slope_dr, intercept_at_da+dr)]


@dataclass
class MarginPlan:
    """Everything public a margin circuit is made of. Built identically by prover and verifier."""

    mode: str
    requirement: str
    ds: int
    dp: int
    dr: int
    da: int
    size_bits: int
    price_bits: int
    amount_bits: int
    buffer: int  # at dr
    threshold: int  # at da
    rounding: Optional[tuple[str, int]]
    instruments: list[InstrumentPlan]
    collateral: list[CollateralPlan]
    factor: int = 0  # portfolio, at dr
    n_scenarios: int = 0
    slots: list[Slot] = field(default_factory=list)

    @property
    def SR(self) -> int:
        """Scale of one position's (unrounded) requirement."""
        s = self.ds + self.dp + self.dr
        if any(i.rule == "brackets" for i in self.instruments):
            s = max(s, self.da + self.dr)
        if any(i.rule == "linear" for i in self.instruments):
            s = max(s, 2 * self.ds + self.dp + self.dr)
        return s

    @property
    def Z(self) -> int:
        """The common scale of the final comparison."""
        return max(self.SR + self.dr, self.da + self.dp + self.dr, self.ds + self.dp, self.da)

    @property
    def cost_bits(self) -> int:
        """Width of ``C − L`` and ``U − C`` (both at most ``P·Σ|q_i|``, P = 2^price_bits − 1)."""
        P = (1 << self.price_bits) - 1
        return bits_for(P * max(1, len(self.instruments)) * ((1 << self.size_bits) - 1))

    def slot_names(self) -> list[str]:
        return [s.name for s in self.slots]


# --- plan ----------------------------------------------------------------------------------------


def _interval_bounds(thresholds_hi: list[Optional[int]], unit: int, max_value: int) -> list[tuple[int, int]]:
    """Integer intervals [lo_k, hi_k] of x such that the k-th piece applies, where the pieces are
    ``(t_{k−1}, t_k]`` in units where the quantity is ``x·unit`` (t_0 = −∞ for the first)."""
    out = []
    lo = 0
    for t in thresholds_hi:
        if unit == 0:
            hi = max_value if not out else -1
        elif t is None:
            hi = max_value
        else:
            hi = min(max_value, t // unit)
        out.append((lo, hi))
        lo = max(lo, hi + 1)
    return out


def plan_margin(policy, market, threshold: Decimal) -> MarginPlan:
    """Compile the public side: integer constants at declared scales, and the slot layout."""
    from zkmargin.rules.engine import bracket_pieces, collateral_pieces
    from zkmargin.models import price_of

    d = policy.decimals
    ds, dp, dr, da = d.size, d.price, d.rate, d.amount
    bits = policy.bits
    mode = policy.mode
    size_max = (1 << bits.size) - 1
    amount_max = (1 << bits.amount) - 1
    instruments: list[InstrumentPlan] = []
    for ins in policy.instruments:
        mark = to_fixed(market.prices[ins.symbol], dp, field=f"prices.{ins.symbol}", kind="price")
        if mark < 0:
            raise InputError(f"negative mark price for {ins.symbol}", field=f"prices.{ins.symbol}")
        if mode == "portfolio":
            pnl = [to_fixed(v, dp, field=f"scenarios.pnl.{ins.symbol}", kind="price") for v in policy.scenarios.pnl[ins.symbol]]
            instruments.append(InstrumentPlan(ins.symbol, ins.kind, mark, "scenario", pnl=pnl))
            continue
        rule = ins.rule(policy.requirement)
        kind = rule.kind
        if kind == "flat":
            instruments.append(InstrumentPlan(ins.symbol, ins.kind, mark, "flat", rate=to_fixed(rule.rate, dr)))
        elif kind == "linear":
            instruments.append(
                InstrumentPlan(ins.symbol, ins.kind, mark, "linear", rate=to_fixed(rule.rate, dr), per_size=to_fixed(rule.per_size, dr))
            )
        else:
            S = max(ds + dp, da)
            unit = mark * _p10(S - ds - dp)
            caps = [None if b.cap is None else to_fixed(b.cap, S) for b in rule.brackets]
            intervals = _interval_bounds(caps, unit, size_max)
            pieces = bracket_pieces(rule.brackets)
            brackets = [
                (lo, hi, to_fixed(rate, dr), to_fixed(cum, da + dr)) for (lo, hi), (rate, cum) in zip(intervals, pieces)
            ]
            instruments.append(InstrumentPlan(ins.symbol, ins.kind, mark, "brackets", brackets=brackets))
    collateral: list[CollateralPlan] = []
    for c in policy.collateral:
        price = to_fixed(price_of(market, policy, c.asset), dp, field=f"prices.{c.asset}", kind="price")
        pieces = collateral_pieces(c)
        if c.tiers is None:
            ups: list[Optional[int]] = [None]
        else:
            ups = [None if t.up_to is None else to_fixed(t.up_to, da) * _p10(dp) for t in c.tiers]
        intervals = _interval_bounds(ups[: len(pieces)], price, amount_max)
        tiers = [(lo, hi, to_fixed(slope, dr), to_fixed(icpt, da + dr)) for (lo, hi), (slope, icpt) in zip(intervals, pieces)]
        collateral.append(CollateralPlan(c.asset, price, tiers))

    rounding = None
    if policy.rounding is not None:
        rounding = (policy.rounding.mode, policy.rounding.decimals)
    plan = MarginPlan(
        mode=mode,
        requirement=policy.requirement,
        ds=ds, dp=dp, dr=dr, da=da,
        size_bits=bits.size, price_bits=bits.price, amount_bits=bits.amount,
        buffer=to_fixed(policy.buffer, dr, field="buffer", kind="rate"),
        threshold=to_fixed(threshold, da, field="threshold", kind="amount"),
        rounding=rounding,
        instruments=instruments,
        collateral=collateral,
    )
    if mode == "portfolio":
        plan.factor = to_fixed(policy.factor, dr, field="scenarios.factor", kind="rate")
        plan.n_scenarios = len(policy.scenarios.names)
    slots: list[Slot] = []
    for ip in instruments:
        slots.append(Slot("size", ip.symbol, plan.size_bits, signed=True))
        if mode == "isolated":
            slots.append(Slot("entry", ip.symbol, plan.price_bits))
            slots.append(Slot("isolated", ip.symbol, plan.amount_bits))
    if mode != "isolated":
        slots.append(Slot("cost", "", plan.cost_bits, signed=True))
    for cp in collateral:
        slots.append(Slot("balance", cp.asset, plan.amount_bits))
    plan.slots = slots
    return plan


# --- witness -------------------------------------------------------------------------------------


def witness_values(plan: MarginPlan, account) -> list[int]:
    """The committed values, slot by slot, from a validated account (prover only)."""
    held = {p.symbol: p for p in account.positions}
    sizes = {}
    entries = {}
    for ip in plan.instruments:
        pos = held.get(ip.symbol)
        sizes[ip.symbol] = to_fixed(pos.size, plan.ds) if pos else 0
        entries[ip.symbol] = to_fixed(pos.entry_price, plan.dp) if pos else 0
    values = []
    for slot in plan.slots:
        if slot.kind == "size":
            values.append(sizes[slot.key])
        elif slot.kind == "entry":
            values.append(entries[slot.key])
        elif slot.kind == "isolated":
            # the engine counts isolated margin only where a position is held
            iso = account.isolated_margin.get(slot.key, Decimal(0)) if slot.key in held else Decimal(0)
            values.append(to_fixed(iso, plan.da))
        elif slot.kind == "cost":
            values.append(sum(sizes[s] * entries[s] for s in sizes))
        else:
            values.append(to_fixed(account.balances.get(slot.key, Decimal(0)), plan.da))
    return values


# --- the circuit ---------------------------------------------------------------------------------


def _choose_piece(x: int, intervals: list[tuple[int, int]]) -> int:
    """The honest prover's choice: the piece whose ends hold x (tests replace it to play a
    cheating prover)."""
    return next((k for k, (lo, hi) in enumerate(intervals) if lo <= x <= hi), 0)


def _select_piece(
    cs: ConstraintSystem,
    x: LinearCombination,
    x_bits: int,
    x_bit_wires: list,
    intervals: list[tuple[int, int]],
    label: str,
):
    """One-hot bits e_k with ``lo_k ≤ x ≤ hi_k`` for the selected piece k, for an ``x`` already
    decomposed into ``x_bits`` bit wires (``x_bit_wires``, least significant first).

    Every finite piece end is below ``2^t`` for a ``t`` usually far smaller than ``x_bits`` (a
    bracket cap in size units, a tier end in amount units), so the ends are compared on the low
    part ``v`` = x mod 2^t only. ``g = [x ≥ 2^t]`` (the high part is non-zero) forces the top
    piece, whose lower end is below ``2^t``; when g = 0, x = v and both ends are exact:

        v − lo_sel + g·2^t ∈ [0, 2^(t+1))        (lower end; void when g = 1)
        hi'_sel − v ∈ [0, 2^t)                    (upper end; hi'_top = 2^t − 1 when unbounded)
        g·(1 − e_top) = 0

    A piece table whose last piece ends below the width's maximum (a finite last cap) instead
    constrains the high part to zero. Gates: K + 2t + ~5 instead of K + 2·x_bits.
    """
    max_value = (1 << x_bits) - 1
    K = len(intervals)
    top_lo, top_hi = intervals[-1]
    finite_top = top_hi < max_value
    ends = [hi for _, hi in intervals[:-1]] + [top_hi if finite_top else top_lo]
    T = max([0] + [e for e in ends if 0 <= e <= max_value])
    t = bits_for(T)
    if len(x_bit_wires) != x_bits:
        raise CircuitError(f"{label}: expected {x_bits} bit wires")
    if t >= x_bits:
        t = x_bits
    v = sum((b * (1 << i) for i, b in enumerate(x_bit_wires[:t])), LinearCombination())
    high = sum((b * (1 << (i - t)) for i, b in enumerate(x_bit_wires) if i >= t), LinearCombination())
    g = None
    if t < x_bits:
        if finite_top:
            cs.constrain(high, f"{label}: within the last piece")
        else:
            g = is_nonzero(cs, high, f"{label} above every finite end")
    if K == 1:
        if finite_top:
            range_check(cs, top_hi - v, t, f"{label}: below the last end")
        return [Variable.ONE]  # type: ignore[attr-defined]
    ev = _choose_piece(cs.eval_signed(x), intervals) if cs.is_prover else None
    es = [boolean(cs, (lambda k=k: 1 if k == ev else 0) if cs.is_prover else None, f"{label} piece {k}") for k in range(K)]
    cs.constrain(sum((LinearCombination.of(e) for e in es), LinearCombination()) - 1, f"{label}: exactly one piece")
    his = [hi for _, hi in intervals[:-1]] + [top_hi if finite_top else (1 << t) - 1]
    lo_sel = sum((e * lo for e, (lo, _) in zip(es, intervals)), LinearCombination())
    hi_sel = sum((e * hi for e, hi in zip(es, his)), LinearCombination())
    if g is None:
        range_check(cs, v - lo_sel, t, f"{label}: above the piece's lower end")
    else:
        range_check(cs, v - lo_sel + LinearCombination.of(g) * (1 << t), t + 1, f"{label}: above the piece's lower end")
        _, _, o = cs.multiply(g, 1 - LinearCombination.of(es[-1]))
        cs.constrain(o, f"{label}: beyond every finite end means the last piece")
    range_check(cs, hi_sel - v, t, f"{label}: below the piece's upper end")
    return es


def _round_requirement(cs: ConstraintSystem, x: LinearCombination, plan: MarginPlan, label: str) -> LinearCombination:
    """Replace the requirement ``x`` (at scale SR, ≥ 0) by a rounded ``q·10^k`` with q at the
    rounding's decimals, q ≥ round(x) (the prover can only overstate: that never helps it)."""
    if plan.rounding is None:
        return x
    mode, decimals = plan.rounding
    k = plan.SR - decimals
    if k <= 0:
        return x
    D = _p10(k)
    hi = cs.bound(x)[1]
    q_bits = bits_for(hi // D + 1)

    def exact():
        from zkmargin.rules.decimals import from_fixed, quantize

        value = from_fixed(cs.eval_signed(x), plan.SR)
        return to_fixed(quantize(value, decimals, mode), decimals)

    q = cs.allocate(exact if cs.is_prover else None)
    range_check(cs, q, q_bits, f"{label}: rounded requirement")
    qD = q * D
    if mode == "up":
        range_check(cs, qD - x, bits_for(D - 1), f"{label}: rounded up")
    elif mode == "down":
        range_check(cs, qD - x + (D - 1), bits_for(D - 1), f"{label}: rounded down")
    else:
        h = D // 2
        dlc = qD - x + h
        range_check(cs, dlc, bits_for(D), f"{label}: rounded half-even")
        # tie (d = 0) ⇒ q even:  e = [d == 0] via e·d = 0 and d·inv = 1 − e; q = 2p + o; e·o = 0
        e = boolean(cs, (lambda: 1 if cs.eval(dlc) == 0 else 0) if cs.is_prover else None, f"{label} tie")
        _, _, o1 = cs.multiply(e, dlc)
        cs.constrain(o1, f"{label}: tie flag only when exactly halfway")
        inv_wire = cs.allocate((lambda: pow(cs.eval(dlc), -1, R) if cs.eval(dlc) else 0) if cs.is_prover else None)
        _, _, o2 = cs.multiply(dlc, inv_wire)
        cs.constrain(o2 - (1 - e), f"{label}: tie flag when exactly halfway")
        odd = boolean(cs, (lambda: cs.eval(q) & 1) if cs.is_prover else None, f"{label} parity")
        p = cs.allocate((lambda: cs.eval(q) >> 1) if cs.is_prover else None)
        range_check(cs, p, max(1, q_bits - 1), f"{label}: half of the rounded requirement")
        cs.constrain(LinearCombination.of(q) - p * 2 - odd, f"{label}: parity split")
        _, _, o3 = cs.multiply(e, odd)
        cs.constrain(o3, f"{label}: ties round to even")
    return qD


def margin_circuit(cs: ConstraintSystem, plan: MarginPlan) -> None:
    """The one definition of the margin statement, for prover and verifier alike."""
    if cs.m != len(plan.slots):
        raise CircuitError(f"the plan has {len(plan.slots)} slots, the constraint system {cs.m} inputs")
    var = {slot.name: cs.inputs[k] for k, slot in enumerate(plan.slots)}
    SR, Z = plan.SR, plan.Z
    ds, dp, dr, da = plan.ds, plan.dp, plan.dr, plan.da
    one_b = _p10(dr) + plan.buffer

    # Collateral: balances range-checked; value_j at da+dp+dr
    collateral_value = LinearCombination()
    for cp in plan.collateral:
        b = var[f"balance:{cp.asset}"]
        b_bits = range_check(cs, b, plan.amount_bits, f"balance {cp.asset}")
        if len(cp.tiers) == 1 and cp.tiers[0][1] >= (1 << plan.amount_bits) - 1:
            _, _, slope, icpt = cp.tiers[0]
            collateral_value = collateral_value + b * (cp.price * slope) + icpt * _p10(dp)
        else:
            es = _select_piece(cs, LinearCombination.of(b), plan.amount_bits, b_bits, [(lo, hi) for lo, hi, _, _ in cp.tiers], f"collateral {cp.asset} tier")
            slope_sel = sum((e * t[2] for e, t in zip(es, cp.tiers)), LinearCombination())
            icpt_sel = sum((e * t[3] for e, t in zip(es, cp.tiers)), LinearCombination())
            _, _, o = cs.multiply(b, slope_sel)
            collateral_value = collateral_value + o * cp.price + icpt_sel * _p10(dp)
    equity = collateral_value * _p10(Z - (da + dp + dr))

    requirement = LinearCombination()  # at SR
    upnl = LinearCombination()  # at ds+dp
    shorts = LinearCombination()  # Σ min(q_i, 0), for the cost-basis bounds
    upnl_sizes = LinearCombination()  # Σ q_i
    isolated_checks = []
    for ip in plan.instruments:
        q = var[f"size:{ip.symbol}"]
        q_bits: list = []
        qabs, sign = abs_value(cs, q, plan.size_bits, f"size {ip.symbol}", bits_out=q_bits)
        upnl = upnl + q * ip.mark
        if plan.mode != "isolated":
            # min(q_i, 0) = q_i·s_i: s_i is the sign bit that abs_value pinned (s_i = 1 iff q_i < 0;
            # either value when q_i = 0, where the product is 0 anyway)
            _, _, short_i = cs.multiply(q, sign)
            shorts = shorts + short_i
            upnl_sizes = upnl_sizes + q
        if ip.rule == "scenario":
            continue
        if ip.rule == "flat":
            mm = LinearCombination.of(qabs) * (ip.mark * ip.rate * _p10(SR - (ds + dp + dr)))
        elif ip.rule == "linear":
            _, _, q2 = cs.multiply(qabs, qabs)
            # N·(rate + per_size·|q|) = mark·(rate·10^ds·|q| + per_size·|q|²)  at 2ds+dp+dr
            mm = (LinearCombination.of(qabs) * (ip.rate * _p10(ds)) + q2 * ip.per_size) * (ip.mark * _p10(SR - (2 * ds + dp + dr)))
        else:
            es = _select_piece(cs, LinearCombination.of(qabs), plan.size_bits, q_bits, [(lo, hi) for lo, hi, _, _ in ip.brackets], f"brackets {ip.symbol}")
            rate_sel = sum((e * b[2] for e, b in zip(es, ip.brackets)), LinearCombination())
            cum_sel = sum((e * b[3] for e, b in zip(es, ip.brackets)), LinearCombination())
            _, _, o = cs.multiply(qabs, rate_sel)
            # N·rate_k − cum_k  =  mark·(|q|·rate_k) − cum_k   lifted to SR
            mm = o * (ip.mark * _p10(SR - (ds + dp + dr))) - cum_sel * _p10(SR - (da + dr))
        mm = _round_requirement(cs, mm, plan, f"requirement {ip.symbol}")
        requirement = requirement + mm
        if plan.mode == "isolated":
            entry = var[f"entry:{ip.symbol}"]
            iso = var[f"isolated:{ip.symbol}"]
            range_check(cs, entry, plan.price_bits, f"entry price {ip.symbol}")
            range_check(cs, iso, plan.amount_bits, f"isolated margin {ip.symbol}")
            _, _, qe = cs.multiply(q, entry)
            e_i = iso * _p10(Z - da) + (q * ip.mark - qe) * _p10(Z - (ds + dp))
            isolated_checks.append((ip.symbol, e_i, mm))
            equity = equity + e_i

    if plan.mode == "portfolio":
        losses = []
        for s in range(plan.n_scenarios):
            loss = LinearCombination()
            for ip in plan.instruments:
                loss = loss - var[f"size:{ip.symbol}"] * ip.pnl[s]
            losses.append(loss)
        worst_hi = max([0] + [cs.bound(l)[1] for l in losses])
        m_bits = bits_for(worst_hi)

        def worst():
            return max([0] + [cs.eval_signed(l) for l in losses])

        M = cs.allocate(worst if cs.is_prover else None)
        range_check(cs, M, m_bits, "portfolio: worst scenario loss")
        for s, loss in enumerate(losses):
            gap = LinearCombination.of(M) - loss
            range_check(cs, gap, bits_for(cs.bound(gap)[1]), f"portfolio: scenario {s} loss covered")
        requirement = _round_requirement(cs, LinearCombination.of(M) * (plan.factor * _p10(SR - (ds + dp + dr))), plan, "portfolio requirement")

    if plan.mode != "isolated":
        # The cost basis C = Σ q_i·entry_i is committed whole, so bind it to what entry prices within
        # the policy's width could give: with P = 2^price_bits − 1 and entry_i ∈ [0, P],
        #     L = P·Σ min(q_i, 0)  ≤  C  ≤  P·Σ max(q_i, 0) = U
        # The first range check defines C's interval (C is a committed wire), the second is checked
        # against wrap-around. Both are exact: every C in [L, U] is Σ q_i·e_i for real e_i ∈ [0, P],
        # and the lowest, L, for integer ones (longs bought at 0, shorts sold at P). Equity falls as
        # C rises, so the statement holds for some entry prices within the width iff it holds at L.
        C = var["cost"]
        P = (1 << plan.price_bits) - 1
        longs = upnl_sizes - shorts
        k = plan.cost_bits
        range_check(cs, C - shorts * P, k, "cost basis: at least what entry prices within the width give")
        range_check(cs, longs * P - C, k, "cost basis: at most what entry prices within the width give")
        equity = equity + (upnl - C) * _p10(Z - (ds + dp))

    for symbol, e_i, mm in isolated_checks:
        gap = e_i - mm * (one_b * _p10(Z - SR - dr))
        bound = cs.bound(gap)
        range_check(cs, gap, bits_for(max(1, bound[1])), f"isolated position {symbol} meets its requirement")

    required = requirement * (one_b * _p10(Z - SR - dr)) + plan.threshold * _p10(Z - da)
    excess = equity - required
    bound = cs.bound(excess)
    if bound is None:
        raise CircuitError("internal: the excess has no bound")
    range_check(cs, excess, bits_for(max(1, bound[1])), "equity covers the required margin")


def build(plan: MarginPlan, values: Optional[list[int]] = None) -> ConstraintSystem:
    """The margin circuit for ``plan``: the prover's when ``values`` are given, else the
    verifier's."""
    cs = ConstraintSystem.for_prover(values) if values is not None else ConstraintSystem.for_verifier(len(plan.slots))
    margin_circuit(cs, plan)
    return cs
