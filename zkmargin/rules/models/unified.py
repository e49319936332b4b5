"""Unified accounts with borrows (``"mode": "unified"``): the policy's ``unified`` section and the
checks of the collateral fields only this mode reads.

In unified mode a balance may be negative (a liability). Each collateral entry says how a positive
balance counts (``haircut`` or ``tiers`` as in cross mode) and how a negative one does:

* ``liability_weight`` (>= 1, default 1): the liability counts ``|b|·price·weight`` against equity;
* ``loan_rate`` (>= 0): Binance Portfolio Margin's margin maintenance on a loan, ``Loan·MMR``, added
  to the requirement;
* ``imf`` (Drift's ``imf_factor``, at most 6 decimals): the size premium on the liability weight,
  ``max(w, w − ⌊w/5⌋ + ⌊√(10·size+1)·imf⌋)``, and the size discount on the asset weight,
  ``min(w, ⌊1.1·w_1/(1 + ⌊√(10·size+1)·imf⌋)⌋)``, in Drift's integer arithmetic
  (``docs/notes/unified.md``).

The section itself: ``{"upnl_weight": w}`` (0 <= w <= 1, default 1), the weight on the account's
unrealized profit (a loss counts in full).

May import :mod:`.fields`, :mod:`zkmargin.rules.decimals` and :mod:`zkmargin.errors`. Used by
:mod:`.policy` (the model) and :mod:`.policy_checks` (the checks).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ...errors import PolicyError
from ..decimals import canonical as _c
from ..decimals import check_scale, decimals_of
from .fields import _M, Dec

if TYPE_CHECKING:
    from .policy import Policy

#: Drift's precisions: the size premium is computed on sizes at 1e9 (AMM_RESERVE_PRECISION) and
#: with imf at 1e6 (SPOT_IMF_PRECISION).
DRIFT_SIZE_DECIMALS = 9
DRIFT_IMF_DECIMALS = 6


class Unified(_M):
    """The ``unified`` section of a unified-mode policy."""

    upnl_weight: Dec | None = None


def validate_unified(p: Policy, source: str | None) -> None:
    """Check the unified section and the collateral fields only unified mode reads."""
    one = Decimal(1)
    dr = p.decimals.rate
    unified_mode = p.mode == "unified"
    if p.unified is not None:
        if not unified_mode:
            raise PolicyError(f"the 'unified' section is only read in unified mode (this policy is "
                              f"{p.mode})", source=source, field="unified")
        w = p.unified.upnl_weight
        if w is not None:
            check_scale(w, dr, field="unified.upnl_weight", kind="rate", source=source)
            if not 0 <= w <= 1:
                raise PolicyError("must be between 0 and 1", source=source,
                                  field="unified.upnl_weight")
    quote_listed = False
    for j, c in enumerate(p.collateral):
        f = f"collateral[{j}]"
        quote_listed = quote_listed or c.asset == p.quote
        for name in ("liability_weight", "loan_rate", "imf"):
            v = getattr(c, name)
            if v is None:
                continue
            if not unified_mode:
                raise PolicyError(f"{name!r} is only read in unified mode (this policy is {p.mode})",
                                  source=source, field=f"{f}.{name}")
            if name == "imf":
                if decimals_of(v) > DRIFT_IMF_DECIMALS:
                    raise PolicyError(f"Drift's imf factor has {DRIFT_IMF_DECIMALS} decimals, not "
                                      f"{decimals_of(v)}", source=source, field=f"{f}.imf")
            else:
                check_scale(v, dr, field=f"{f}.{name}", kind="rate", source=source)
            if v < 0:
                raise PolicyError("must be >= 0", source=source, field=f"{f}.{name}")
        if c.liability_weight is not None and c.liability_weight < one:
            raise PolicyError(f"a liability weight below 1 ({_c(c.liability_weight)}) would count a "
                              "debt at less than its value", source=source,
                              field=f"{f}.liability_weight")
        if c.imf is not None:
            if c.haircut is None:
                raise PolicyError("a size-scaled weight ('imf') needs a flat 'haircut', not tiers",
                                  source=source, field=f"{f}.imf")
            if p.decimals.amount > DRIFT_SIZE_DECIMALS:
                raise PolicyError(f"a size-scaled weight needs at most {DRIFT_SIZE_DECIMALS} "
                                  "decimals for amounts (Drift's size precision)", source=source,
                                  field="decimals.amount")
            if dr > DRIFT_SIZE_DECIMALS + 2:
                raise PolicyError(f"a size-scaled weight needs at most {DRIFT_SIZE_DECIMALS + 2} "
                                  "decimals for rates", source=source, field="decimals.rate")
    if unified_mode and not quote_listed:
        raise PolicyError(f"unified mode needs the quote asset {p.quote!r} among the collateral "
                          "(profit and loss settle in it)", source=source, field="collateral")
