"""The requirement rules of :mod:`zkmargin.rules.models.tier_rules` in clear text: whole-position
tiers, Binance's per-account bracket multiplier, Bybit's fee to close, Hyperliquid's initial margin
from the chosen leverage and dYdX's open-interest-scaled initial margin fraction.

Two of them divide: ``N / leverage`` and ``N·IMF`` with dYdX's rational IMF. Both are *ratio* rules
``N·num/den`` with public integers ``num, den``; the engine rounds them up at the requirement scale
``ds+dp+dr`` (one unit of the flat requirement's scale), which is what the circuit proves
(``im·den ≥ N·10^dr·num``, the prover may only overstate ``im``). dYdX rounds its initial margin up
at the quote quantum (1e-6 USDC): a policy with ``rounding: up`` at 6 decimals reproduces it, since
rounding up twice, at a finer then a coarser scale, is rounding up once.

May import :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.models` and :mod:`zkmargin.errors`.
Used by :mod:`.positions`, :mod:`.liquidation`, :mod:`.report` and the circuits' plan.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from ...errors import InputError, MissingPriceError
from ..decimals import EXACT, Number
from ..models import Rule
from ..models.policy_checks import scaled_brackets
from .exact import _DIV, _ZERO, _d


def _int_at(d: Decimal, scale: int) -> int:
    with localcontext(EXACT):
        v = d.scaleb(scale)
    if v != v.to_integral_value():
        raise InputError(f"internal: {d} is not on the 10^-{scale} grid")
    return int(v)


def _common_scale(*ds: Decimal) -> int:
    return max(max(0, -int(d.as_tuple().exponent)) for d in ds)


def rule_ratio(rule: Rule, open_interest: Number | None = None) -> tuple[int, int]:
    """``(num, den)``, positive integers with the rule's rate ``= num / den`` exactly, for a
    leverage rule (``1 / L``) or an open-interest-scaled one (dYdX: ``min(1, base + (1 − base)·
    clamp((OI − lower_cap) / (upper_cap − lower_cap), 0, 1))``, ``OI`` the open notional)."""
    if rule.kind == "leverage":
        assert rule.leverage is not None
        s = _common_scale(rule.leverage)
        return 10**s, _int_at(rule.leverage, s)
    assert rule.kind == "open_interest" and rule.open_interest is not None and rule.rate is not None
    if open_interest is None:
        raise MissingPriceError("the market snapshot has no open interest for an "
                                "open-interest-scaled rule", field="open_interest")
    oi = _d(open_interest)
    lo, hi, base = rule.open_interest.lower_cap, rule.open_interest.upper_cap, rule.rate
    s = _common_scale(oi, lo, hi)
    r = _common_scale(base)
    b, one = _int_at(base, r), 10**r
    if oi <= lo:
        return b, one
    if oi >= hi:
        return 1, 1
    span = _int_at(hi, s) - _int_at(lo, s)
    num = b * span + (one - b) * (_int_at(oi, s) - _int_at(lo, s))
    return min(num, one * span), one * span


def ceil_at(value_num: int, den: int) -> int:
    """``⌈value_num / den⌉`` for integers, ``den > 0``."""
    return -((-value_num) // den)


def ratio_requirement(n: Decimal, num: int, den: int, scale: int) -> Decimal:
    """``N·num/den`` rounded up at ``scale`` decimals (exact)."""
    with localcontext(EXACT):
        n_int = _int_at(n, scale)  # N has at most ds+dp <= scale decimals
        return Decimal(ceil_at(n_int * num, den)).scaleb(-scale)


def has_tier_rules(rule: Rule) -> bool:
    """Whether ``rule`` uses a rule of this module (else :mod:`.positions` handles it alone)."""
    return (rule.kind in ("leverage", "open_interest") or rule.fee_to_close is not None
            or rule.notional_coef is not None or bool(rule.whole_position)
            or rule.basis is not None)


def requirement_with_rules(rule: Rule, size: Number, mark: Number, *,
                           open_interest: Number | None = None,
                           scale: int | None = None) -> Decimal:
    """One position's requirement under ``rule`` with the rules of this module (unrounded, exact
    except the ratio rules, rounded up at ``scale`` = ``ds+dp+dr``)."""
    from .positions import bracket_for

    size, mark = _d(size), _d(mark)
    if size == 0:
        return _ZERO
    with localcontext(EXACT):
        n = abs(size) * mark
        fee = n * rule.fee_to_close if rule.fee_to_close is not None else _ZERO
        kind = rule.kind
        if kind in ("leverage", "open_interest"):
            if scale is None:
                raise InputError("internal: a ratio rule needs the policy's requirement scale")
            num, den = rule_ratio(rule, open_interest)
            return ratio_requirement(n, num, den, scale) + fee
        if kind == "flat":
            assert rule.rate is not None
            return n * rule.rate + fee
        if kind == "linear":
            assert rule.rate is not None and rule.per_size is not None
            return n * (rule.rate + rule.per_size * abs(size)) + fee
        bs = scaled_brackets(rule)
        k = bracket_for(abs(size) if rule.basis == "size" else n, bs)
        amount = bs[k].amount
        return n * bs[k].rate - (amount if amount is not None else _ZERO) + fee


def liquidation_brackets(rule: Rule, abs_size: Decimal, open_interest: Number | None = None
                         ) -> list[tuple[Decimal, Decimal | None, Decimal, Decimal]]:
    """``[(floor, cap, mmr, cum)]`` of a maintenance rule with the rules of this module, for the
    liquidation price (the fee to close is one more rate on the notional; a ratio rule's rate is
    reported to 60 digits: the liquidation price is informative)."""
    fee = rule.fee_to_close if rule.fee_to_close is not None else _ZERO
    with localcontext(EXACT):
        if rule.kind in ("leverage", "open_interest"):
            num, den = rule_ratio(rule, open_interest)
            return [(_ZERO, None, _DIV.divide(Decimal(num), Decimal(den)) + fee, _ZERO)]
        if rule.kind == "flat":
            assert rule.rate is not None
            return [(_ZERO, None, rule.rate + fee, _ZERO)]
        if rule.kind == "linear":
            assert rule.rate is not None and rule.per_size is not None
            return [(_ZERO, None, rule.rate + rule.per_size * abs_size + fee, _ZERO)]
        bs = scaled_brackets(rule)
        if rule.basis == "size":  # the tier follows the size, not the price: one rate
            from .positions import bracket_for

            b = bs[bracket_for(abs_size, bs)]
            return [(_ZERO, None, b.rate + fee, _ZERO)]
        return [(b.floor, b.cap, b.rate + fee, b.amount if b.amount is not None else _ZERO)
                for b in bs]
