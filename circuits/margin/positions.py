"""Positions: signed sizes and PnL, each position's requirement under its rule (flat, size-scaled,
notional brackets), and the bounds that bind the committed cost basis to the sizes.

Symbols as in docs/notes/margin-circuits.md: ``q_i`` the signed size (at ``ds``), ``mark_i`` (at
``dp``), ``SR`` the scale of one position's requirement, ``C = Σ q_i·entry_i`` the committed cost
basis, ``P = 2^price_bits − 1``. May import :mod:`..cs`, :mod:`..gadgets`, :mod:`.plan` and
:mod:`.pieces`. Used by :mod:`.circuit`.
"""

from __future__ import annotations

from ..cs import ConstraintSystem, LCLike, LinearCombination, Variable
from ..gadgets import abs_value, range_check
from .pieces import select_piece
from .plan import InstrumentPlan, MarginPlan, p10


def signed_size(cs: ConstraintSystem, plan: MarginPlan, ip: InstrumentPlan, q: Variable) -> tuple[Variable, Variable, list[Variable]]:
    """``(|q_i|, s_i, bits of |q_i|)``: ``q_i`` range-checked to the size width, ``s_i = 1`` iff
    ``q_i < 0`` (:func:`..gadgets.abs_value`)."""
    q_bits: list[Variable] = []
    qabs, sign = abs_value(cs, q, plan.size_bits, f"size {ip.symbol}", bits_out=q_bits)
    return qabs, sign, q_bits


def short_part(cs: ConstraintSystem, q: Variable, sign: Variable) -> Variable:
    """``min(q_i, 0) = q_i·s_i``, for the cost-basis bounds."""
    # s_i is the sign bit that abs_value pinned (s_i = 1 iff q_i < 0; either value when q_i = 0,
    # where the product is 0 anyway)
    _, _, short_i = cs.multiply(q, sign)
    return short_i


def position_requirement(cs: ConstraintSystem, plan: MarginPlan, ip: InstrumentPlan, qabs: LCLike, q_bits: list[Variable],
                         *, exact: bool = False) -> LinearCombination:
    """One position's requirement at ``SR``, before rounding:

        flat          N·rate                      = |q|·(mark·rate)
        size-scaled   N·(rate + per_size·|q|)     = mark·(rate·10^ds·|q| + per_size·|q|²)
        brackets      N·rate_k − cum_k            for the bracket k selected by |q| (:mod:`.pieces`)
        ratio         ⌈N·num/den⌉ + N·fee         (:mod:`.tier_rules`)

    Every rule but the ratio is exact (one value per witness); ``exact`` pins the ratio's rounding
    from above too (margin-call zones)."""
    SR = plan.SR
    ds, dp, dr, da = plan.ds, plan.dp, plan.dr, plan.da
    if ip.rule == "flat":
        mm = LinearCombination.of(qabs) * (ip.mark * ip.rate * p10(SR - (ds + dp + dr)))
    elif ip.rule == "ratio":
        from .tier_rules import ratio_requirement

        mm = ratio_requirement(cs, plan, ip, qabs, exact=exact)
    elif ip.rule == "linear":
        _, _, q2 = cs.multiply(qabs, qabs)
        # N·(rate + per_size·|q|) = mark·(rate·10^ds·|q| + per_size·|q|²)  at 2ds+dp+dr
        mm = (LinearCombination.of(qabs) * (ip.rate * p10(ds)) + q2 * ip.per_size) * (ip.mark * p10(SR - (2 * ds + dp + dr)))
    else:
        es = select_piece(cs, LinearCombination.of(qabs), plan.size_bits, q_bits, [(lo, hi) for lo, hi, _, _ in ip.brackets], f"brackets {ip.symbol}")
        rate_sel = sum((e * b[2] for e, b in zip(es, ip.brackets)), LinearCombination())
        cum_sel = sum((e * b[3] for e, b in zip(es, ip.brackets)), LinearCombination())
        _, _, o = cs.multiply(qabs, rate_sel)
        # N·rate_k − cum_k  =  mark·(|q|·rate_k) − cum_k   lifted to SR
        mm = o * (ip.mark * p10(SR - (ds + dp + dr))) - cum_sel * p10(SR - (da + dr))
    return mm


def cost_basis_equity(
    cs: ConstraintSystem,
    plan: MarginPlan,
    C: Variable,
    upnl: LinearCombination,
    shorts: LinearCombination,
    upnl_sizes: LinearCombination,
) -> LinearCombination:
    """The PnL term ``(Σ q_i·mark_i − C)`` of equity at ``Z``, with ``C`` bound to the sizes.

    The cost basis C = Σ q_i·entry_i is committed whole, so bind it to what entry prices within
    the policy's width could give: with P = 2^price_bits − 1 and entry_i ∈ [0, P],
        L = P·Σ min(q_i, 0)  ≤  C  ≤  P·Σ max(q_i, 0) = U
    The first range check defines C's interval (C is a committed wire), the second is checked
    against wrap-around. Both are exact: every C in [L, U] is Σ q_i·e_i for real e_i ∈ [0, P],
    and the lowest, L, for integer ones (longs bought at 0, shorts sold at P). Equity falls as
    C rises, so the statement holds for some entry prices within the width iff it holds at L.
    ``upnl`` is Σ q_i·mark_i, ``shorts`` Σ min(q_i, 0) (:func:`short_part`), ``upnl_sizes`` Σ q_i.
    """
    P = (1 << plan.price_bits) - 1
    longs = upnl_sizes - shorts
    k = plan.cost_bits
    range_check(cs, C - shorts * P, k, "cost basis: at least what entry prices within the width give")
    range_check(cs, longs * P - C, k, "cost basis: at most what entry prices within the width give")
    return (upnl - C) * p10(plan.Z - (plan.ds + plan.dp))
