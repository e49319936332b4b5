"""The K-slot margin circuit: a fixed number K of private position slots (the policy's ``"slots"``),
each proved to hold a row of the venue's public instrument table by a logUp lookup, so the cost
follows the positions a trader may hold, not the size of the venue's universe.

The public table (one row per instrument × bracket, plus the null row) — docs/notes/lookup.md:

    cross       (id, live, lo, hi, rate, cum, mark [, per_size])
    portfolio   (id, live, hi, mark, pnl_0 … pnl_{S−1})

``id`` is the instrument's index in the policy (0 … N−1) and ``N`` for the null row; ``live`` is 1
for instruments, 0 for the null row; ``[lo, hi]`` is the bracket's interval of |q| (the whole width
for a flat or size-scaled rule; ``[0, 0]`` for the null row, which therefore holds size 0 only);
``rate`` at the rate scale, ``cum`` (the maintenance amount) at amount+rate scale, ``mark`` at the
price scale, ``per_size`` (Deribit's size-scaled rate) when the policy has such a rule; ``pnl_s``
the per-unit P&L of scenario s.

Committed values, in this order (the statement's slot names):

    position:k   v_k = id_k + 2^A·q_k (mod r): the slot's instrument and signed size, packed
    cost         C = Σ q·entry, the cost basis (bound by L ≤ C ≤ U as in circuits/margin.py)
    balance:a    one per collateral asset of the policy

Per slot the circuit allocates the row's fields as phase-1 wires and looks them up, unpacks
``q_k = (v_k − id_k)·2^(−A)`` (a wire), takes its sign bit and ``|q_k|``, checks
``lo ≤ |q_k| ≤ hi`` with lookup range checks, computes the notional ``N = |q|·mark`` and the
requirement ``N·rate − cum`` (lifted to a common scale, rounded as the policy says), and adds
``q·mark`` to the unrealised PnL. Non-null slots carry strictly increasing ids and null slots come
last: ``id_{k+1} − id_k − live_{k+1} ≥ 0``, so no instrument is split over two slots to dodge a
higher bracket. Collateral, cost basis and the final comparison are those of circuits/margin.py,
with lookup range checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from zkmargin.crypto.field import R, inv, signed
from zkmargin.errors import CircuitError, InputError, PolicyError
from zkmargin.rules.decimals import to_fixed

from ..cs import ConstraintSystem, LinearCombination, Variable
from ..gadgets import bits_for, boolean
from ..lookup import Lookups, RangeLookups, Table, best_limb_bits
from .plan import MarginPlan, Slot, plan_margin
from .plan import p10 as _p10
from .public_numbers import coefficient
from .risk_measures import measure_requirement as _measure_requirement
from .rounding import round_requirement as _round_requirement

if TYPE_CHECKING:
    from zkmargin.rules.models import Account, Market, Policy

CROSS_COLUMNS = ("id", "live", "lo", "hi", "rate", "cum", "mark")


@dataclass(kw_only=True)
class SlotPlan(MarginPlan):
    """A :class:`MarginPlan` (scales, widths, instruments, collateral, threshold) with K position
    slots and the public instrument table."""

    K: int = 0
    table: Table  # keyword-only, so it needs no default after the base plan's defaulted fields
    null_id: int = 0
    id_bits: int = 1  # A: v = id + 2^A·q
    limb_bits: int = 8
    has_linear: bool = False
    columns: tuple[str, ...] = ()
    rows_by_id: dict[int, list[int]] = field(default_factory=dict)  # instrument id -> its rows' indices, in bracket order

    def row_of(self, instrument: int, qabs: int) -> int:
        """Index of the table row of ``instrument`` whose interval holds ``|q|`` (the last row of
        the instrument when none does: the circuit then refuses)."""
        rows = self.rows_by_id[instrument]
        for j in rows:
            if self.mode == "portfolio":
                return j
            lo, hi = self.table.rows[j][2], self.table.rows[j][3]
            if lo <= qabs <= hi:
                return j
        return rows[-1]

    @property
    def null_row(self) -> int:
        return len(self.table.rows) - 1


def plan_slots(policy: Policy, market: Market, threshold: Decimal) -> SlotPlan:
    """The public side of the K-slot circuit (prover and verifier build it identically)."""
    base = plan_margin(policy, market, threshold)
    if policy.slots is None:  # layouts.plan_for calls this only for a policy that declares slots
        raise PolicyError("the policy declares no position slots", field="slots")
    K = int(policy.slots)
    N = len(base.instruments)
    size_max = (1 << base.size_bits) - 1
    has_linear = any(ip.rule == "linear" for ip in base.instruments)
    rows: list[tuple[int, ...]] = []
    by_id: dict[int, list[int]] = {}
    if base.mode == "portfolio":
        columns = ("id", "live", "hi", "mark") + tuple(f"pnl_{s}" for s in range(base.n_scenarios))
        for i, ip in enumerate(base.instruments):
            by_id[i] = [len(rows)]
            rows.append((i, 1, size_max, ip.mark, *ip.pnl))
        rows.append((N, 0, 0, 0) + (0,) * base.n_scenarios)
    else:
        columns = CROSS_COLUMNS + (("per_size",) if has_linear else ())
        for i, ip in enumerate(base.instruments):
            by_id[i] = []
            if ip.rule == "ratio":  # refused at load (models.tier_rules); never a rate of 0 here
                raise PolicyError("ratio rules are not supported with position slots", field="slots")
            if ip.rule == "brackets":
                pieces = [(lo, hi, rate, cum, 0) for lo, hi, rate, cum in ip.brackets]
            else:
                pieces = [(0, size_max, ip.rate, 0, ip.per_size)]
            for lo, hi, rate, cum, per_size in pieces:
                by_id[i].append(len(rows))
                row = (i, 1, lo, hi, rate, cum, ip.mark) + ((per_size,) if has_linear else ())
                rows.append(row)
        rows.append((N, 0, 0, 0, 0, 0, 0) + ((0,) if has_linear else ()))
    A = bits_for(N)
    if A + base.size_bits + 2 >= R.bit_length() - 1:  # pragma: no cover - widths are at most 120 bits
        raise PolicyError("the size width leaves no room to pack a slot's instrument and size", field="bits.size")
    table = Table("instruments", columns, rows)
    slots = [Slot("position", str(k), A + base.size_bits + 1, signed=True) for k in range(K)]
    cost_bits = bits_for(((1 << base.price_bits) - 1) * K * size_max)
    slots.append(Slot("cost", "", cost_bits, signed=True))
    for cp in base.collateral:
        slots.append(Slot("balance", cp.asset, base.amount_bits))
    widths = [base.size_bits] * (2 * K) + [A] * max(0, K - 1) + [base.amount_bits] * len(base.collateral) * 2
    widths += [cost_bits] * 2 + [cost_bits + 40]
    fields = {k: v for k, v in vars(base).items() if k in MarginPlan.__dataclass_fields__}
    fields["slots"] = slots
    plan = SlotPlan(
        **fields, K=K, table=table, null_id=N, id_bits=A, limb_bits=best_limb_bits(widths),
        has_linear=has_linear, columns=columns, rows_by_id=by_id,
    )
    return plan


# --- witness ---------------------------------------------------------------------------------------


def pack(plan: SlotPlan, instrument: int, size: int) -> int:
    """The committed value of a position slot: ``id + 2^A·q mod r``."""
    return (instrument + (size << plan.id_bits)) % R


def unpack(plan: SlotPlan, value: int) -> tuple[int, int]:
    """``(id, q)`` from a position slot's committed value (the prover's own; the circuit proves the
    decomposition is the only one within the widths)."""
    v = signed(value)
    instrument = v % (1 << plan.id_bits)
    return instrument, (v - instrument) >> plan.id_bits


def open_position(plan: SlotPlan, value: int) -> tuple[str | None, Decimal]:
    """A position slot's opened value as (symbol, size) — (None, 0) for a null slot; an auditor's
    view of an opening (the circuit proves no other reading exists)."""
    instrument, q = unpack(plan, value)
    if instrument >= len(plan.instruments):
        return None, Decimal(0)
    return plan.instruments[instrument].symbol, Decimal(q).scaleb(-plan.ds)


def slot_witness_values(plan: SlotPlan, account: Account) -> list[int]:
    """The committed values (prover only): open positions sorted by instrument id in the first
    slots, null slots after them, then the cost basis and the balances."""
    index = {ip.symbol: i for i, ip in enumerate(plan.instruments)}
    held = []
    cost = 0
    for pos in account.positions:
        q = to_fixed(pos.size, plan.ds)
        if q == 0:
            continue  # a zero position adds nothing: it takes no slot
        held.append((index[pos.symbol], q))
        cost += q * to_fixed(pos.entry_price, plan.dp)
    if len(held) > plan.K:
        raise InputError(
            f"the account holds {len(held)} open positions; the policy's circuit has {plan.K} position slots",
            field="positions",
        )
    held.sort()
    values = [pack(plan, i, q) for i, q in held] + [pack(plan, plan.null_id, 0)] * (plan.K - len(held))
    values.append(cost)
    for cp in plan.collateral:
        values.append(to_fixed(account.balances.get(cp.asset, Decimal(0)), plan.da))
    return values


def honest_rows(plan: SlotPlan, values: Sequence[int]) -> list[tuple[int, ...]]:
    """Each slot's table row, read from its committed value (the row whose interval holds |q|)."""
    out = []
    for k in range(plan.K):
        instrument, q = unpack(plan, values[k])
        if instrument == plan.null_id or instrument not in plan.rows_by_id:
            out.append(plan.table.rows[plan.null_row])
        else:
            out.append(plan.table.rows[plan.row_of(instrument, abs(q))])
    return out


# --- the prover's values (allocate calls them at once; the verifier passes None) -----------------


def _cell(rows: Sequence[Sequence[int]], k: int, i: int) -> Callable[[], int]:
    """Column ``i`` of the row slot ``k`` claims."""
    return lambda: int(rows[k][i])


def _size(cs: ConstraintSystem, v: Variable, idw: Variable, inv_2A: int) -> Callable[[], int]:
    """``q = (v − id)·2^(−A)``, signed."""
    return lambda: signed((cs.eval(v) - cs.eval(idw)) * inv_2A % R)


def _sign(cs: ConstraintSystem, q: Variable) -> Callable[[], int]:
    """1 when ``q < 0``, else 0."""
    return lambda: 1 if cs.eval_signed(q) < 0 else 0


def _flag(t: int, pick: int | None) -> Callable[[], int]:
    """The one-hot bit of collateral tier ``t``."""
    return lambda: 1 if t == pick else 0


# --- the circuit -----------------------------------------------------------------------------------


def slot_margin_circuit(cs: ConstraintSystem, plan: SlotPlan,
                        rows: Sequence[Sequence[int]] | None = None) -> None:
    """The one definition of the K-slot margin statement, for prover and verifier alike.
    ``rows`` (prover only) are the table rows the slots claim; by default the honest ones (tests
    pass others to play a cheating prover)."""
    if cs.m != len(plan.slots):
        raise CircuitError(f"the plan has {len(plan.slots)} slots, the constraint system {cs.m} inputs")
    claimed: Sequence[Sequence[int]] = ()
    if cs.is_prover:
        claimed = rows if rows is not None else honest_rows(plan, cs.v)
    K, table = plan.K, plan.table
    SR, Z = plan.SR, plan.Z
    ds, dp, dr, da = plan.ds, plan.dp, plan.dr, plan.da
    size_max = (1 << plan.size_bits) - 1
    one_b = _p10(dr) + plan.buffer
    rl = RangeLookups(cs, plan.limb_bits)
    rc = rl.range_check
    positions = Lookups(cs, table, "instruments")
    width = table.width
    inv_2A = inv(1 << plan.id_bits)

    requirement = LinearCombination()  # at SR
    upnl = LinearCombination()  # Σ q·mark at ds+dp
    shorts = LinearCombination()  # Σ min(q, 0)
    longs = LinearCombination()  # Σ max(q, 0)
    ids: list[Variable] = []
    lives: list[Variable] = []
    qs: list[Variable] = []
    marks: list[Variable] = []
    pnls: list[list[Variable]] = []
    for k in range(K):
        label = f"position slot {k}"
        f = [cs.allocate(_cell(claimed, k, i) if cs.is_prover else None) for i in range(width)]
        positions.lookup(f, f"{label}: a row of the instrument table")
        col = dict(zip(plan.columns, f))
        v = cs.inputs[k]
        # q = (v − id)·2^(−A): a wire, tied to the committed v by one constraint
        q = cs.allocate(_size(cs, v, col["id"], inv_2A) if cs.is_prover else None)
        cs.constrain(LinearCombination.of(q) * (1 << plan.id_bits) + col["id"] - v, f"{label}: v = id + 2^A·q")
        s = boolean(cs, _sign(cs, q) if cs.is_prover else None, f"{label} sign")
        _, _, qabs = cs.multiply(q, 1 - 2 * LinearCombination.of(s))
        # |q| = ±q for the wire q, which nothing else fixes: the range check below defines it
        cs.mark_definable(qabs)
        lo = col["lo"] if "lo" in col else 0
        rc(qabs - lo, plan.size_bits, f"{label}: size at least the bracket's lower end")
        rc(col["hi"] - qabs, plan.size_bits, f"{label}: size at most the bracket's upper end")
        # lo ≥ 0 and hi ≤ 2^size_bits − 1 are table facts: |q| ∈ [0, size_max], q ∈ [−size_max, size_max]
        cs.set_bound(qabs, 0, size_max)
        cs.set_bound(q, -size_max, size_max)
        _, _, s_qabs = cs.multiply(s, qabs)  # −min(q, 0)
        shorts = shorts - s_qabs
        longs = longs + qabs - s_qabs
        ids.append(col["id"])
        lives.append(col["live"])
        qs.append(q)
        marks.append(col["mark"])
        if plan.mode == "portfolio":
            pnls.append([col[f"pnl_{s_}"] for s_ in range(plan.n_scenarios)])
            _, _, qm = cs.multiply(q, col["mark"])
            upnl = upnl + qm
            continue
        _, _, N = cs.multiply(qabs, col["mark"])  # notional at ds+dp
        _, _, sN = cs.multiply(s, N)
        upnl = upnl + N - 2 * LinearCombination.of(sN)  # q·mark = (1 − 2s)·N
        if plan.has_linear:
            _, _, g = cs.multiply(col["per_size"], qabs)
            _, _, NR = cs.multiply(N, LinearCombination.of(col["rate"]) * _p10(ds) + g)
            mm = LinearCombination.of(NR) * _p10(SR - (2 * ds + dp + dr))
        else:
            _, _, NR = cs.multiply(N, col["rate"])
            mm = LinearCombination.of(NR) * _p10(SR - (ds + dp + dr))
        if any(ip.rule == "brackets" for ip in plan.instruments):  # else every cum is 0 (and SR may be < da+dr)
            mm = mm - LinearCombination.of(col["cum"]) * _p10(SR - (da + dr))
        mm = _round_requirement(cs, mm, plan, f"requirement of {label}", rc=rc)
        requirement = requirement + mm

    # Null slots last, non-null ids strictly increasing: id_{k+1} − id_k − live_{k+1} ≥ 0. A live
    # slot after a null one would need id_{k+1} ≥ N + 1; two slots of one instrument, id ≥ id + 1.
    for k in range(K - 1):
        rc(LinearCombination.of(ids[k + 1]) - ids[k] - lives[k + 1], plan.id_bits,
           f"position slots {k} and {k + 1}: ids increase, null slots last")

    if plan.mode == "portfolio":
        losses = []
        for s_ in range(plan.n_scenarios):
            loss = LinearCombination()
            for q, pnl in zip(qs, pnls):
                _, _, o = cs.multiply(q, pnl[s_])
                loss = loss - o
            losses.append(loss)
        # the policy's risk measure over the losses (worst, ES, VaR), with this circuit's lookups
        requirement = _measure_requirement(cs, plan, losses, rc)

    # Collateral: one committed balance per asset of the policy
    collateral_value = LinearCombination()
    lift_e = _p10(Z - (da + dp + dr))
    for j, cp in enumerate(plan.collateral):
        for _, _, slope, icpt in cp.tiers:  # the coefficients below, at Z (public_numbers.py)
            coefficient(cp.price * slope * lift_e, f"prices.{cp.asset}")
            coefficient(icpt * _p10(dp) * lift_e, f"collateral.{cp.asset}.tiers")
        b = cs.inputs[K + 1 + j]
        if len(cp.tiers) == 1 and cp.tiers[0][1] >= (1 << plan.amount_bits) - 1:
            _, _, slope, icpt = cp.tiers[0]
            rc(b, plan.amount_bits, f"balance {cp.asset}")
            collateral_value = collateral_value + b * (cp.price * slope) + icpt * _p10(dp)
            continue
        tiers = cp.tiers
        pick = None
        if cs.is_prover:
            amount = cs.eval_signed(b)
            pick = next((t for t, (lo, hi, _, _) in enumerate(tiers) if lo <= amount <= hi), 0)
        es = [boolean(cs, _flag(t, pick) if cs.is_prover else None, f"collateral {cp.asset} tier {t}")
              for t in range(len(tiers))]
        cs.constrain(sum((LinearCombination.of(e) for e in es), LinearCombination()) - 1, f"collateral {cp.asset}: exactly one tier")
        lo_sel = sum((e * t[0] for e, t in zip(es, tiers)), LinearCombination())
        hi_sel = sum((e * min(t[1], (1 << plan.amount_bits) - 1) for e, t in zip(es, tiers)), LinearCombination())
        rc(LinearCombination.of(b) - lo_sel, plan.amount_bits, f"balance {cp.asset}: at least its tier's lower end")
        rc(hi_sel - b, plan.amount_bits, f"balance {cp.asset}: at most its tier's upper end")
        slope_sel = sum((e * t[2] for e, t in zip(es, tiers)), LinearCombination())
        icpt_sel = sum((e * t[3] for e, t in zip(es, tiers)), LinearCombination())
        _, _, o = cs.multiply(b, slope_sel)
        collateral_value = collateral_value + o * cp.price + icpt_sel * _p10(dp)
    equity = collateral_value * _p10(Z - (da + dp + dr))

    # The cost basis, bound to the sizes as in circuits/margin.py: P·Σ min(q, 0) ≤ C ≤ P·Σ max(q, 0)
    C = cs.inputs[K]
    P = (1 << plan.price_bits) - 1
    kc = plan.slots[K].bits
    rc(C - shorts * P, kc, "cost basis: at least what entry prices within the width give")
    rc(longs * P - C, kc, "cost basis: at most what entry prices within the width give")
    equity = equity + (upnl - C) * _p10(Z - (ds + dp))

    required = requirement * (one_b * _p10(Z - SR - dr)) + coefficient(plan.threshold * _p10(Z - da), "threshold")
    excess = equity - required
    bound = cs.bound(excess)
    if bound is None:
        raise CircuitError("internal: the excess has no bound")
    rc(excess, bits_for(max(1, bound[1])), "equity covers the required margin")

    positions.finish()
    rl.finish()


def build_slots(plan: SlotPlan, values: list[int] | None = None, *,
                rows: Sequence[Sequence[int]] | None = None) -> ConstraintSystem:
    """The K-slot circuit for ``plan``: the prover's when ``values`` are given, else the
    verifier's."""
    cs = ConstraintSystem.for_prover(values) if values is not None else ConstraintSystem.for_verifier(len(plan.slots))
    slot_margin_circuit(cs, plan, rows)
    return cs
