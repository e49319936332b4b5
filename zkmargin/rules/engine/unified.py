"""Unified accounts with borrows in clear text: signed balances, asset weights on what is held,
liability weights on what is owed (Drift's size premium and size discount in Drift's own integer
arithmetic), Binance Portfolio Margin's margin maintenance on loans, and the weight on unrealized
profit.

For a unified-mode policy and a balance ``b`` of an asset at ``price`` (``docs/notes/unified.md``):

* ``b >= 0``: the cross-mode collateral value (flat haircut or tiers); with ``imf`` the weight is
  Drift's ``min(w, ⌊1.1·10^(6+dr) / (10^6 + ⌊r·imf_6/10^5⌋)⌋) / 10^dr`` with ``w = 1 − haircut``;
* ``b < 0``: ``−|b|·price·L`` with ``L`` the ``liability_weight`` (default 1), or with ``imf``
  Drift's ``max(w, w − ⌊w/5⌋ + ⌊r·imf_6 / 10^(11−dr)⌋) / 10^dr``;
* ``r = ⌊√(10·size_9 + 1)⌋``, ``size_9 = |b|·10^9`` (Drift's 1e9 precision), ``imf_6 = imf·10^6``,
  weights as integers at the rate scale ``dr`` (Drift's is 4);
* the requirement gains ``loan_rate·|b|·price`` per borrowed asset (Binance's ``Loan·MMR``);
* the account's total unrealized PnL counts in full when negative and times ``upnl_weight`` when
  positive.

May import :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.models` and :mod:`.collateral`.
Used by :mod:`.report` and the tests.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from math import isqrt

from ..decimals import EXACT, Number
from ..models import Collateral, Policy
from ..models.unified import DRIFT_IMF_DECIMALS, DRIFT_SIZE_DECIMALS
from .collateral import collateral_value
from .exact import _ONE, _ZERO, _d


def _int(d: Decimal, scale: int) -> int:
    with localcontext(EXACT):
        v = d.scaleb(scale)
    assert v == v.to_integral_value(), "validated scales keep this exact"
    return int(v)


def drift_root(amount: Number) -> int:
    """``⌊√(10·size + 1)⌋`` with ``size = |amount|·10^9`` (Drift's ``size_sqrt``)."""
    return isqrt(10 * _int(abs(_d(amount)), DRIFT_SIZE_DECIMALS) + 1)


def liability_weight(c: Collateral, amount: Number, dr: int) -> Decimal:
    """The weight of a liability of ``|amount|`` (>= 1)."""
    w = c.liability_weight if c.liability_weight is not None else _ONE
    if c.imf is None or c.imf == 0:
        return w
    w_int = _int(w, dr)
    premium = drift_root(amount) * _int(c.imf, DRIFT_IMF_DECIMALS) // 10 ** (DRIFT_SIZE_DECIMALS + 2 - dr)
    return Decimal(max(w_int, w_int - w_int // 5 + premium)).scaleb(-dr)


def asset_weight(c: Collateral, amount: Number, dr: int) -> Decimal:
    """Drift's size-discounted asset weight of a flat-haircut asset with ``imf`` (``1 − haircut``
    without it)."""
    assert c.haircut is not None  # imf needs a flat haircut (validated)
    w = _ONE - c.haircut
    if c.imf is None or c.imf == 0:
        return w
    w_int = _int(w, dr)
    d = drift_root(amount) * _int(c.imf, DRIFT_IMF_DECIMALS) // 10**5
    return Decimal(min(w_int, 11 * 10 ** (5 + dr) // (10**6 + d))).scaleb(-dr)


def balance_value(c: Collateral, amount: Number, price: Number, dr: int) -> Decimal:
    """What a signed balance adds to equity (negative for a liability)."""
    amount, price = _d(amount), _d(price)
    with localcontext(EXACT):
        if amount < 0:
            return amount * price * liability_weight(c, amount, dr)
        if c.imf is not None and c.imf != 0:
            return amount * price * asset_weight(c, amount, dr)
        return collateral_value(c, amount, price)


def loan_requirement(c: Collateral, amount: Number, price: Number) -> Decimal:
    """Binance's ``Loan·MMR`` of a negative balance, in the quote currency (0 otherwise)."""
    amount, price = _d(amount), _d(price)
    if amount >= 0 or c.loan_rate is None:
        return _ZERO
    with localcontext(EXACT):
        return -amount * price * c.loan_rate


def weighted_pnl(pnl: Number, policy: Policy) -> Decimal:
    """The account's unrealized PnL as equity: in full when negative, times ``upnl_weight`` when
    positive."""
    pnl = _d(pnl)
    w = policy.unified.upnl_weight if policy.unified is not None else None
    if pnl <= 0 or w is None:
        return pnl
    with localcontext(EXACT):
        return pnl * w
