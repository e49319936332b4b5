"""Risk measures over the scenario losses, in clear text: the worst loss, expected shortfall (the
mean of the k largest losses) and value at risk (the k-th largest loss); the portfolio
requirement they give.

With the losses sorted from the largest, ``ℓ_(1) ≥ ℓ_(2) ≥ … ≥ ℓ_(n)``:

* ``worst = ℓ_(1)``;
* ``VaR_k = ℓ_(k)``;
* ``ES_k = (ℓ_(1) + … + ℓ_(k)) / k``;

and the requirement is ``round(factor · max(0, measure))`` with the policy's rounding (for ES the
rounding applies to the exact fraction ``factor · max(0, S_k) / k``, ``S_k`` the sum of the k
largest losses: the engine never rounds before that one step, and neither does the circuit,
``docs/notes/risk-measures.md``). Exact arithmetic throughout (``Decimal`` under
:data:`zkmargin.rules.decimals.EXACT` and integer fractions).

May import :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.rules.models` and :mod:`.exact`. Used by
:mod:`.requirements` (the portfolio requirement), :mod:`.zones`, the plots and the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext
from fractions import Fraction

from ..decimals import EXACT
from ..models import Policy, Rounding
from ..models.risk import measure_of
from .exact import _ZERO

__all__ = [
    "sorted_losses",
    "largest_sum",
    "risk_measure",
    "round_fraction",
    "measure_requirement",
]


def sorted_losses(losses: Sequence[Decimal]) -> list[Decimal]:
    """The losses from the largest to the smallest."""
    return sorted(losses, reverse=True)


def largest_sum(losses: Sequence[Decimal], k: int) -> Decimal:
    """``S_k``: the sum of the ``k`` largest losses (exact)."""
    with localcontext(EXACT):
        return sum(sorted_losses(losses)[:k], _ZERO)


def risk_measure(kind: str, k: int, losses: Sequence[Decimal]) -> Fraction:
    """The measure's exact value (a fraction: ES divides by ``k``), before ``max(0, ·)``."""
    if not losses:
        raise ValueError("a risk measure needs at least one scenario")
    if kind == "worst":
        return Fraction(max(losses))
    if kind == "var":
        return Fraction(sorted_losses(losses)[k - 1])
    if kind == "expected_shortfall":
        return Fraction(largest_sum(losses, k)) / k
    raise ValueError(f"unknown risk measure {kind!r}")


def round_fraction(x: Fraction, decimals: int, mode: str) -> Decimal:
    """``x`` rounded to ``decimals`` digits after the point, exactly (``up`` toward +infinity,
    ``down`` toward −infinity, ``half_even`` to nearest with ties to even)."""
    scaled = x * 10**decimals
    n, d = scaled.numerator, scaled.denominator
    fl = n // d
    rem = n - fl * d  # 0 <= rem < d
    if mode == "down" or rem == 0:
        q = fl
    elif mode == "up":
        q = fl + 1
    elif mode == "half_even":
        twice = 2 * rem
        q = fl + 1 if twice > d or (twice == d and fl % 2 == 1) else fl
    else:
        raise ValueError(f"unknown rounding mode {mode!r}")
    return Decimal(q).scaleb(-decimals)


def _exact_decimal(x: Fraction) -> Decimal:
    """``x`` as a Decimal; only for fractions whose denominator divides a power of ten."""
    with localcontext(EXACT):
        return Decimal(x.numerator) / Decimal(x.denominator)


def measure_requirement(policy: Policy, losses: Sequence[Decimal],
                        rounding: Rounding | None | bool = True) -> Decimal:
    """``round(factor · max(0, measure))`` for the policy's measure and requirement kind.

    ``rounding`` True uses the policy's rounding; ``None``/``False`` none (informative only, and
    never for ES, whose value needs the policy's rounding to be a decimal)."""
    assert policy.scenarios is not None  # a validated portfolio policy has its table
    kind, k = measure_of(policy.scenarios)
    value = max(Fraction(0), risk_measure(kind, k, losses)) * Fraction(policy.factor)
    rnd = policy.rounding if rounding is True else None
    if kind == "expected_shortfall":
        # validated: an ES policy has its rounding
        assert policy.rounding is not None
        rnd = policy.rounding
    if rnd is None:
        return _exact_decimal(value)
    return round_fraction(value, rnd.decimals, rnd.mode)
