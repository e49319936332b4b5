"""Public constants that enter a margin circuit as coefficients, checked as integers.

A linear combination keeps its coefficients modulo the group order r, and the builder's bounds read
each one back as the signed residue in ``(−r/2, r/2)``. A public number (a product of a venue's
rates, prices and powers of ten) at or above that size is silently replaced by its residue: the
circuit then proves the rule with *another* number, and a residue that happens to be small lets an
account through that the engine refuses (red-team finding, docs/notes/unified.md "Public
constants"). The load-time bound (:mod:`zkmargin.rules.models.provability`) covers the rules whose
numbers it models; the coefficients of the rules it does not model (ratio rules' fractions, SPAN and
Deribit add-ons, margin-call ladders) pass through :func:`coefficient` where they are formed.

May import :mod:`zkmargin.errors` and :mod:`zkmargin.rules.models.provability`. Used by
:mod:`.tier_rules`, :mod:`.span`, :mod:`.deribit_pme`, :mod:`.risk_measures` and :mod:`.zones`.
"""

from __future__ import annotations

from zkmargin.errors import InputError, PolicyError
from zkmargin.rules.models.provability import RANGE_LIMIT_BITS


def coefficient(value: int, field: str, what: str, *, market: bool = False) -> int:
    """``value`` unchanged when its magnitude is below ``2^RANGE_LIMIT_BITS`` (so the builder reads
    the integer itself); else a one-line :class:`PolicyError` naming the policy's ``field`` (an
    :class:`InputError` when the number comes from the market snapshot or the threshold)."""
    if abs(value).bit_length() > RANGE_LIMIT_BITS:
        message = (f"{what} is too large for the margin circuit: it needs {abs(value).bit_length()} "
                   f"bits, the circuit's numbers stop at {RANGE_LIMIT_BITS} (it would be reduced "
                   "modulo the group order)")
        if market:
            raise InputError(message, field=field)
        raise PolicyError(message, field=field)
    return value
