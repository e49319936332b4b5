"""The policy's ``deribit_pme`` section (portfolio mode): the add-ons Deribit's portfolio margin
engine puts on top of the worst scenario loss, and the rounding it applies in between, as pydantic
models and their validation (``docs/notes/span.md``).

    risk matrix margin = round(worst case) + roll shock + delta shock + contingencies
    requirement        = round(factor · risk matrix margin)      (factor = Deribit's mm_factor)

Numbers use the policy's scales: deltas, shock rates, slopes and caps at the rate scale; the delta
shock threshold at the size scale (delta is a size in the base currency); contingency amounts per
unit of size and the futures contingency's underlying value per unit at the price scale.

May import :mod:`.fields`. Used by :mod:`.policy` (the field) and :mod:`.policy_checks` (the
validator).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from ...errors import PolicyError
from ..decimals import check_scale
from .fields import _M, Dec, Int, Str

if TYPE_CHECKING:
    from .policy import Policy

#: The ``deribit_pme`` section's version this code reads.
PME_VERSION = 1
#: Digits a rounding of the worst case may keep.
MAX_ROUNDING_DECIMALS = 36


class WorstCaseRounding(_M):
    """Deribit rounds the worst scenario loss before adding the shocks (to 1e-9, to nearest)."""

    mode: Literal["up", "down", "half_even"]
    decimals: Int


class RollGroup(_M):
    """One expiry: the roll shock adds ``rate · |Σ delta_i · q_i|`` over its instruments (Deribit:
    ``max(min_annualised_move, e^(annualised_move_risk · T) − 1)``, computed by the venue)."""

    name: Str
    rate: Dec
    instruments: list[Str]


class DeltaShock(_M):
    """``|Δ| · min(cap, slope · max(0, |Δ| − threshold))`` with ``Δ = Σ delta_i · q_i``."""

    threshold: Dec
    slope: Dec
    cap: Dec


class OptionContingency(_M):
    """``rate`` per unit of net short options at each strike (a list of the options sharing it)."""

    rate: Dec
    strikes: list[list[Str]]


class FuturesContingency(_M):
    """``rate`` of the underlying value of offsetting futures: ``rate · min(L, S)`` with
    ``L = Σ value_i · max(q_i, 0)`` and ``S = Σ value_i · max(−q_i, 0)`` over ``instruments``
    (symbol → underlying value of one unit)."""

    rate: Dec
    instruments: dict[str, Dec]


class DeribitPme(_M):
    """The ``deribit_pme`` section (``version`` 1). ``deltas``: per-unit delta of each instrument
    (options must be listed; futures and perpetuals default to 1)."""

    version: Int
    worst_case_rounding: WorstCaseRounding | None = None
    deltas: dict[str, Dec] = {}
    roll_shock: list[RollGroup] = []
    delta_shock: DeltaShock | None = None
    option_contingency: OptionContingency | None = None
    futures_contingency: FuturesContingency | None = None


def _check(p: Policy, d: Decimal, kind: str, field: str, source: str | None) -> None:
    check_scale(d, getattr(p.decimals, kind), field=field, kind=kind, source=source)
    if d < 0:
        raise PolicyError("must be >= 0", source=source, field=field)


def validate_deribit_pme(p: Policy, source: str | None) -> DeribitPme | None:
    """Check the ``deribit_pme`` section against the policy and return it with every instrument's
    delta filled in (so two spellings of one rule have one digest)."""
    s = p.deribit_pme
    if s is None:
        return None
    if s.version != PME_VERSION:
        raise PolicyError(f"this version reads deribit_pme version {PME_VERSION}", source=source,
                          field="deribit_pme.version")
    if p.mode != "portfolio":
        raise PolicyError(f"Deribit's portfolio margin is a portfolio-mode rule (this policy is "
                          f"{p.mode})", source=source, field="deribit_pme")
    if p.slots is not None:
        raise PolicyError("the Deribit add-ons are not available in the K-slot circuit; remove "
                          "'slots'", source=source, field="deribit_pme")
    if p.span is not None:
        raise PolicyError("a policy has either 'span' or 'deribit_pme'", source=source,
                          field="deribit_pme")
    kinds = {i.symbol: i.kind for i in p.instruments}
    r = s.worst_case_rounding
    if r is not None and not 0 <= r.decimals <= MAX_ROUNDING_DECIMALS:
        raise PolicyError(f"must be between 0 and {MAX_ROUNDING_DECIMALS}", source=source,
                          field="deribit_pme.worst_case_rounding.decimals")
    deltas: dict[str, Decimal] = {}
    for sym, d in s.deltas.items():
        if sym not in kinds:
            raise PolicyError(f"{sym!r} is not an instrument of the policy", source=source,
                              field=f"deribit_pme.deltas.{sym}")
        check_scale(d, p.decimals.rate, field=f"deribit_pme.deltas.{sym}", kind="rate",
                    source=source)
    for sym, kind in kinds.items():
        if sym in s.deltas:
            deltas[sym] = s.deltas[sym]
        elif kind == "option":
            raise PolicyError(f"option {sym!r} needs its delta", source=source,
                              field=f"deribit_pme.deltas.{sym}")
        else:
            deltas[sym] = Decimal(1)
    grouped: dict[str, str] = {}
    for g, grp in enumerate(s.roll_shock):
        f = f"deribit_pme.roll_shock[{g}]"
        _check(p, grp.rate, "rate", f"{f}.rate", source)
        if not grp.instruments:
            raise PolicyError("needs at least one instrument", source=source,
                              field=f"{f}.instruments")
        for k, sym in enumerate(grp.instruments):
            if sym not in kinds:
                raise PolicyError(f"{sym!r} is not an instrument of the policy", source=source,
                                  field=f"{f}.instruments[{k}]")
            if sym in grouped:
                raise PolicyError(f"{sym!r} is already in roll group {grouped[sym]!r}",
                                  source=source, field=f"{f}.instruments[{k}]")
            grouped[sym] = grp.name
    if s.delta_shock is not None:
        f = "deribit_pme.delta_shock"
        _check(p, s.delta_shock.threshold, "size", f"{f}.threshold", source)
        _check(p, s.delta_shock.slope, "rate", f"{f}.slope", source)
        _check(p, s.delta_shock.cap, "rate", f"{f}.cap", source)
    oc = s.option_contingency
    if oc is not None:
        f = "deribit_pme.option_contingency"
        _check(p, oc.rate, "price", f"{f}.rate", source)
        seen: set[str] = set()
        for k, strike in enumerate(oc.strikes):
            if not strike:
                raise PolicyError("a strike lists at least one option", source=source,
                                  field=f"{f}.strikes[{k}]")
            for j, sym in enumerate(strike):
                if kinds.get(sym) != "option":
                    raise PolicyError(f"{sym!r} is not an option of the policy", source=source,
                                      field=f"{f}.strikes[{k}][{j}]")
                if sym in seen:
                    raise PolicyError(f"{sym!r} is listed at two strikes", source=source,
                                      field=f"{f}.strikes[{k}][{j}]")
                seen.add(sym)
    fc = s.futures_contingency
    if fc is not None:
        f = "deribit_pme.futures_contingency"
        _check(p, fc.rate, "rate", f"{f}.rate", source)
        for sym, value in fc.instruments.items():
            if sym not in kinds or kinds[sym] == "option":
                raise PolicyError(f"{sym!r} is not a future or perpetual of the policy",
                                  source=source, field=f"{f}.instruments.{sym}")
            _check(p, value, "price", f"{f}.instruments.{sym}", source)
    return s.model_copy(update={"deltas": deltas})
