"""Unified accounts with borrows: signed balances, asset weights on what is held, liability
weights on what is owed (flat or Drift's size premium and discount, :mod:`.sqrt`), Binance's
margin maintenance on loans, and the weight on unrealized profit.

Per collateral asset ``j`` with the committed signed balance ``b_j`` (docs/notes/unified.md):

    |b_j|, s_j = abs_value(b_j)          the sign pinned, |b_j| < 2^amount_bits
    pos_j = (1 − s_j)·|b_j|,  neg_j = s_j·|b_j|                    (two gates)
    value_j = price_j·A_j(pos_j) − price_j·L_j·neg_j              at da+dp+dr
    loan_j  = price_j·loan_rate_j·neg_j                            at da+dp+dr, into the requirement

``A_j`` is the cross-mode haircut value (flat or tiers, the tier pinned by :mod:`.pieces` on the
bits of ``pos_j``) or Drift's size-discounted weight ``aw ≤ w``, ``aw·(10^6 + d) ≤ 1.1·10^(6+dr)``,
``d ≥ ⌊r·imf/10^5⌋``; ``L_j`` the flat liability weight or Drift's ``L ≥ w``,
``L ≥ w − ⌊w/5⌋ + p``, ``p ≥ ⌊r·imf/10^(11−dr)⌋``, with ``r ≥ ⌊√(10·size_9 + 1)⌋``. Every private
value here may only be overstated where that raises the requirement or lowers equity, and
understated where it lowers equity.

The weighted PnL: ``u ≤ P·10^dr`` and ``u ≤ P·w`` for the account's PnL ``P`` (at ds+dp), so
``u ≤ min(P, w·P)`` at ds+dp+dr.

May import :mod:`zkmargin.rules`, :mod:`..cs`, :mod:`..gadgets`, :mod:`.plan`, :mod:`.pieces` and
:mod:`.sqrt`. Used by :mod:`.circuit` and the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from zkmargin.rules.decimals import to_fixed

from ..cs import ConstraintSystem, LinearCombination, Variable
from ..gadgets import abs_value, bits_for, range_check, upper_bound
from .pieces import select_piece
from .plan import MarginPlan, p10
from .sqrt import floor_div_at_least, root_at_least

if TYPE_CHECKING:
    from zkmargin.rules.models import Policy

DRIFT_SIZE_DECIMALS = 9
DRIFT_IMF_DECIMALS = 6


@dataclass
class UnifiedAsset:
    asset: str
    liability_weight: int  # at dr (>= 10^dr)
    loan_rate: int  # at dr
    imf: int  # at 1e6 (0: none)
    asset_weight: int  # 1 − haircut at dr (flat haircuts; tiers use the collateral plan)


@dataclass
class UnifiedPlan:
    assets: list[UnifiedAsset]
    upnl_weight: int | None  # at dr


def plan_unified(policy: Policy, dr: int) -> UnifiedPlan:
    """The unified section's public integers (prover and verifier alike)."""
    assets = []
    for c in policy.collateral:
        zero, one = Decimal(0), Decimal(1)
        lw = c.liability_weight if c.liability_weight is not None else one
        aw = to_fixed(one - c.haircut, dr) if c.haircut is not None else 0
        assets.append(UnifiedAsset(
            c.asset, to_fixed(lw, dr), to_fixed(c.loan_rate if c.loan_rate is not None else zero, dr),
            to_fixed(c.imf if c.imf is not None else zero, DRIFT_IMF_DECIMALS), aw))
    w = policy.unified.upnl_weight if policy.unified is not None else None
    return UnifiedPlan(assets, None if w is None or w == 1 else to_fixed(w, dr))


def _drift_root(cs: ConstraintSystem, plan: MarginPlan, amount: LinearCombination, label: str) -> Variable:
    """``r ≥ ⌊√(10·size_9 + 1)⌋`` with ``size_9 = amount·10^(9−da)``."""
    x = amount * (10 * p10(DRIFT_SIZE_DECIMALS - plan.da)) + 1
    return root_at_least(cs, x, f"{label}: size root")


def _liability_weight(cs: ConstraintSystem, plan: MarginPlan, ua: UnifiedAsset, neg: LinearCombination, label: str) -> LinearCombination:
    """The liability weight (at dr) of ``neg``: public, or Drift's size premium."""
    w = ua.liability_weight
    if ua.imf == 0:
        return LinearCombination.of(w)
    r = _drift_root(cs, plan, neg, label)
    p = floor_div_at_least(cs, LinearCombination.of(r) * ua.imf, p10(DRIFT_SIZE_DECIMALS + 2 - plan.dr), f"{label}: size premium")
    numer = w - w // 5
    hi = max(w, numer + upper_bound(cs, p, label))

    def honest() -> int:
        return max(w, numer + cs.eval_signed(p))

    L = cs.allocate(honest if cs.is_prover else None)
    range_check(cs, L, bits_for(hi), f"{label}: liability weight within its width")
    range_check(cs, LinearCombination.of(L) - w, bits_for(hi), f"{label}: liability weight at least the base")
    gap = LinearCombination.of(L) - numer - p
    range_check(cs, gap, bits_for(upper_bound(cs, gap, label)), f"{label}: liability weight at least the size premium")
    return LinearCombination.of(L)


def _asset_weight(cs: ConstraintSystem, plan: MarginPlan, ua: UnifiedAsset, pos: LinearCombination, label: str) -> Variable:
    """Drift's size-discounted asset weight (at dr) of ``pos``."""
    w, K = ua.asset_weight, 11 * p10(5 + plan.dr)
    r = _drift_root(cs, plan, pos, label)
    d = floor_div_at_least(cs, LinearCombination.of(r) * ua.imf, 10**5, f"{label}: size discount")

    def honest() -> int:
        return min(w, K // (10**6 + cs.eval_signed(d)))

    aw = cs.allocate(honest if cs.is_prover else None)
    range_check(cs, aw, bits_for(w), f"{label}: asset weight within its width")
    range_check(cs, w - LinearCombination.of(aw), bits_for(w), f"{label}: asset weight at most the base")
    _, _, t = cs.multiply(aw, LinearCombination.of(d) + 10**6)
    gap = K - LinearCombination.of(t)
    range_check(cs, gap, bits_for(max(1, upper_bound(cs, gap, label))), f"{label}: asset weight at most the size discount")
    return aw


def unified_collateral(cs: ConstraintSystem, plan: MarginPlan, var: dict[str, Variable]) -> tuple[LinearCombination, LinearCombination]:
    """``(Σ value_j, Σ loan_j)``, both at ``da+dp+dr``."""
    assert plan.unified is not None
    dp = plan.dp
    value = LinearCombination()
    loans = LinearCombination()
    for cp, ua in zip(plan.collateral, plan.unified.assets):
        label = f"balance {cp.asset}"
        b = var[f"balance:{cp.asset}"]
        babs, s = abs_value(cs, b, plan.amount_bits, label)
        _, _, neg = cs.multiply(s, babs)
        _, _, pos = cs.multiply(1 - LinearCombination.of(s), babs)
        # what is held
        if ua.imf:
            aw = _asset_weight(cs, plan, ua, LinearCombination.of(pos), label)
            _, _, o = cs.multiply(pos, aw)
            value = value + o * cp.price
        elif len(cp.tiers) == 1 and cp.tiers[0][1] >= (1 << plan.amount_bits) - 1:
            _, _, slope, icpt = cp.tiers[0]
            value = value + pos * (cp.price * slope) + icpt * p10(dp)
        else:
            pos_bits = range_check(cs, pos, plan.amount_bits, f"{label}: held amount")
            es = select_piece(cs, LinearCombination.of(pos), plan.amount_bits, pos_bits, [(lo, hi) for lo, hi, _, _ in cp.tiers], f"collateral {cp.asset} tier")
            slope_sel = sum((e * t[2] for e, t in zip(es, cp.tiers)), LinearCombination())
            icpt_sel = sum((e * t[3] for e, t in zip(es, cp.tiers)), LinearCombination())
            _, _, o = cs.multiply(pos, slope_sel)
            value = value + o * cp.price + icpt_sel * p10(dp)
        # what is owed
        L = _liability_weight(cs, plan, ua, LinearCombination.of(neg), label)
        if ua.imf:
            _, _, owed = cs.multiply(neg, L)
            value = value - owed * cp.price
        else:
            value = value - neg * (cp.price * ua.liability_weight)
        if ua.loan_rate:
            loans = loans + neg * (cp.price * ua.loan_rate)
    return value, loans


def weighted_pnl(cs: ConstraintSystem, plan: MarginPlan, pnl: LinearCombination) -> LinearCombination:
    """``u ≤ min(P·10^dr, P·w)`` at ``ds+dp+dr`` for the account's PnL ``P`` at ``ds+dp``."""
    assert plan.unified is not None and plan.unified.upnl_weight is not None
    w, one = plan.unified.upnl_weight, p10(plan.dr)
    bound = cs.bound(pnl)
    assert bound is not None, "the PnL is bounded by the sizes and the cost basis"
    k = bits_for(max(-bound[0], bound[1], 1) * one)

    def honest() -> int:
        P: int = cs.eval_signed(pnl)
        return int(min(P * one, P * w))

    u = cs.allocate(honest if cs.is_prover else None)
    range_check(cs, pnl * one - u, k, "unified: weighted PnL at most the PnL")
    range_check(cs, pnl * w - u, k, "unified: weighted PnL at most the weighted profit")
    return LinearCombination.of(u)
