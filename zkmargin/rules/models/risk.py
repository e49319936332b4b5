"""The policy's risk sections (all optional, additive to ``zkmargin.policy/1``):

* ``scenarios.measure`` — the risk measure over the scenario losses: ``{"kind": "worst"}`` (the
  default: the largest loss), ``{"kind": "expected_shortfall", "k": K}`` (the mean of the K
  largest losses) or ``{"kind": "var", "k": K}`` (the K-th largest loss);
* ``scenarios.source`` — how the venue generated the table (method, seed, inputs, their digests),
  so anyone can regenerate it (:mod:`zkmargin.rules.scenario_sources`);
* ``zones`` — the margin-call ladder: rungs from the best zone down, each but the last with a
  threshold ``ratio · requirement`` (maintenance or initial), the last one the catch-all.

Validation of each (:func:`validate_measure`, :func:`validate_zones`) is called from
:mod:`.policy_checks`. May import :mod:`.fields` and :mod:`zkmargin.rules.decimals`. Used by
:mod:`.policy`, :mod:`.policy_checks`, the engine and the circuits' plans.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from ...errors import PolicyError
from ..decimals import check_scale
from .fields import _M, Dec, Int, Str

#: Risk measures a scenario table may declare.
MEASURES = ("worst", "expected_shortfall", "var")

#: Modes a zone ladder is supported in (one wallet: equity against one requirement per kind).
ZONE_MODES = ("cross", "portfolio")


class Measure(_M):
    """The risk measure over the scenario losses (``docs/notes/risk-measures.md``)."""

    kind: Literal["worst", "expected_shortfall", "var"]
    k: Int | None = None


class ScenarioSource(_M):
    """How the table was made: ``method`` (``historical``, ``monte_carlo``, ``stress``, ``grid``),
    the generator's parameters (``params``: seeds, windows, volatilities, correlations, horizon —
    plain JSON) and the SHA-256 of every input file (``inputs``). Informative for the circuit (the
    table is what is proved against); what lets anyone regenerate the same table."""

    method: Literal["historical", "monte_carlo", "stress", "grid"]
    generator: Str
    params: dict[str, Any] = {}
    inputs: dict[str, Str] = {}


class ZoneRung(_M):
    """One rung of the ladder: the account is in this zone (or better) when
    ``equity >= ratio * requirement + threshold``. The last rung has no ``requirement`` and no
    ``ratio``: every account is at least there."""

    name: Str
    requirement: Literal["maintenance", "initial"] | None = None
    ratio: Dec | None = None


def measure_of(scenarios: Any) -> tuple[str, int]:
    """``(kind, k)`` of a validated scenario table (``("worst", 1)`` when it declares none)."""
    m = getattr(scenarios, "measure", None)
    if m is None or m.kind == "worst":
        return ("worst", 1)
    return (m.kind, int(m.k))


def validate_measure(m: Measure | None, n_scenarios: int, rounding: Any, scales: Any,
                     source: str | None) -> Measure | None:
    """Check ``scenarios.measure``: ``k`` between 1 and the number of scenarios for ES and VaR
    (none for ``worst``); expected shortfall needs the policy's ``rounding`` at no more decimals
    than the requirement's own scale (size + price + rate decimals), because the mean of ``k``
    losses is a fraction and the venue must say at which digit and in which direction it is
    rounded. Returns ``None`` for ``worst`` (so a table that says it and one that does not have
    one digest)."""
    if m is None:
        return None
    field = "scenarios.measure"
    if m.kind == "worst":
        if m.k is not None and m.k != 1:
            raise PolicyError("the worst loss takes no 'k' (it is the 1st largest loss)",
                              source=source, field=f"{field}.k")
        return None
    if m.k is None:
        raise PolicyError(f"{m.kind} needs 'k', the number of largest losses it looks at",
                          source=source, field=f"{field}.k")
    if not 1 <= m.k <= n_scenarios:
        raise PolicyError(f"k must be between 1 and the number of scenarios ({n_scenarios})",
                          source=source, field=f"{field}.k")
    if m.kind == "expected_shortfall":
        if rounding is None:
            raise PolicyError(
                "expected shortfall is a mean of k losses, a fraction: the policy must say how "
                "the requirement is rounded ('rounding')", source=source, field="rounding")
        sr = scales.size + scales.price + scales.rate
        if rounding.decimals > sr:
            raise PolicyError(
                f"with expected shortfall the rounding may keep at most {sr} decimals (size + "
                "price + rate decimals, the scale the requirement is computed at)",
                source=source, field="rounding.decimals")
    return m


def validate_zones(zones: list[ZoneRung] | None, policy: Any, source: str | None) -> None:
    """Check the ladder: at least two rungs, unique names, every rung but the last with a
    requirement kind and a ratio ``> 0`` at the rate scale, ratios on one requirement kind
    strictly decreasing down the ladder, the last rung with neither; cross or portfolio mode,
    per-instrument layout (no ``slots``). Rungs on different kinds cannot be ordered for every
    account (an initial requirement need not exceed the maintenance one): "at least zone Z"
    therefore means the equity meets zone Z's own threshold."""
    if zones is None:
        return
    if policy.mode not in ZONE_MODES:
        raise PolicyError(f"margin-call zones are supported in {' and '.join(ZONE_MODES)} mode, "
                          f"not {policy.mode}", source=source, field="zones")
    if policy.slots is not None:
        raise PolicyError("margin-call zones are not supported with position slots",
                          source=source, field="zones")
    if len(zones) < 2:
        raise PolicyError("a ladder needs at least two zones (the last one is the catch-all)",
                          source=source, field="zones")
    seen: set[str] = set()
    last = len(zones) - 1
    previous: dict[str, Decimal] = {}
    for z, rung in enumerate(zones):
        f = f"zones[{z}]"
        if rung.name in seen:
            raise PolicyError(f"zone {rung.name!r} is named twice", source=source,
                              field=f"{f}.name")
        seen.add(rung.name)
        if z == last:
            if rung.requirement is not None or rung.ratio is not None:
                raise PolicyError("the last zone is the catch-all: no 'requirement' or 'ratio'",
                                  source=source, field=f)
            continue
        if rung.requirement is None or rung.ratio is None:
            raise PolicyError("every zone but the last needs 'requirement' and 'ratio'",
                              source=source, field=f)
        check_scale(rung.ratio, policy.decimals.rate, field=f"{f}.ratio", kind="rate",
                    source=source)
        if rung.ratio <= Decimal(0):
            raise PolicyError("must be > 0", source=source, field=f"{f}.ratio")
        before = previous.get(rung.requirement)
        if before is not None and rung.ratio >= before:
            raise PolicyError(f"a lower zone on the {rung.requirement} requirement must ask less than "
                              f"the one above it (ratio {before} there)", source=source,
                              field=f"{f}.ratio")
        previous[rung.requirement] = rung.ratio
