"""Margin-call zones as one circuit: the account's zone on the venue's ladder, and nothing else.

The ladder (docs/notes/risk-measures.md, "Zones"): rungs ``z = 0 … n−1`` from the best, rung z
(z < n − 1) with ``θ_z = ratio_z·REQ_{kind_z} + T``, the account in zone
``min {z : E ≥ θ_z}``. A claim is public and bound into the statement:

    at least zone Z     E ≥ θ_Z
    exactly zone Z      E ≥ θ_Z (unless Z is the last rung) and E < θ_j for every j < Z

The strict ``E < θ_j`` is ``θ_j − E − 1 ≥ 0`` between integers at one common scale ``Zc``.
An upper bound on E against a threshold is sound only if the threshold is not overstated, so in
this circuit every requirement is *exact*, pinned from both sides: per-position requirements are
exact already (flat and size-scaled are linear, bracket pieces are pinned by both ends), their
rounding uses :func:`.risk_measures.round_ratio` with ``exact``, and the portfolio measure is
pinned from below as well (:mod:`.risk_measures`, ``exact``). Both requirement kinds the ladder
names are computed in the one circuit from the same committed values (one slot layout, the
policy's own); the measure over the scenario losses is computed once and scaled by each kind's
factor.

Supported: cross and portfolio mode, per-instrument layout; the policy fields this module knows
(:data:`KNOWN_POLICY_FIELDS`). A policy with any other field (a rule family added later, e.g.
SPAN add-ons) is refused rather than proved without it.

May import :mod:`..cs`, :mod:`..gadgets`, :mod:`..lookup` and this package's modules. Used by the
zone proofs (:mod:`zkmargin.zone_proofs`) and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from zkmargin.errors import CircuitError, InputError, PolicyError
from zkmargin.rules.decimals import to_fixed

from ..cs import ConstraintSystem, LinearCombination
from ..gadgets import bits_for
from ..lookup import RangeLookups
from .collateral import collateral_value
from .constants import coefficient
from .plan import MarginPlan, p10, plan_margin
from .positions import cost_basis_equity, position_requirement, short_part, signed_size
from .risk_measures import es_bound, round_ratio, var_bound

if TYPE_CHECKING:
    from zkmargin.rules.models import Market, Policy

#: Policy fields the zone circuit accounts for; any other set field is refused.
KNOWN_POLICY_FIELDS = frozenset({
    "format", "venue", "quote", "decimals", "bits", "requirement", "mode", "buffer", "collateral",
    "instruments", "scenarios", "rounding", "trust", "zones", "notes",
})
KNOWN_SCENARIO_FIELDS = frozenset({"factor", "initial_factor", "names", "pnl", "measure", "source"})
KNOWN_INSTRUMENT_FIELDS = frozenset({"symbol", "kind", "maintenance", "initial", "underlying", "strike",
                                     "expiry", "right"})


@dataclass(frozen=True)
class ZoneClaim:
    """What a zone proof reveals: the zone's index on the ladder and whether it is exact."""

    index: int
    exact: bool

    def to_json(self, names: list[str]) -> dict[str, Any]:
        return {"index": self.index, "name": names[self.index], "exact": self.exact}


@dataclass
class ZonePlan(MarginPlan):
    """The policy's own plan (slots, equity) plus one plan per requirement kind the ladder names
    and the ladder itself, as integers (ratios at the rate scale)."""

    kind_plans: dict[str, MarginPlan] = field(default_factory=dict)
    rungs: list[tuple[str, str | None, int | None]] = field(default_factory=list)
    claim: ZoneClaim = ZoneClaim(0, False)


def check_supported(policy: Policy) -> None:
    """Refuse a policy the zone circuit cannot prove faithfully (mode, layout, unknown fields)."""
    if policy.zones is None:
        raise InputError("the policy declares no margin-call zones", field="zones")
    doc = policy.model_dump(exclude_none=True)
    for key in doc:
        if key not in KNOWN_POLICY_FIELDS:
            raise PolicyError(f"zone proofs do not cover the policy's {key!r} yet", field=key)
    for key in doc.get("scenarios", {}):
        if key not in KNOWN_SCENARIO_FIELDS:
            raise PolicyError(f"zone proofs do not cover scenarios.{key} yet", field=f"scenarios.{key}")
    for i, ins in enumerate(doc["instruments"]):
        for key in ins:
            if key not in KNOWN_INSTRUMENT_FIELDS:
                raise PolicyError(f"zone proofs do not cover instruments' {key!r} yet",
                                  field=f"instruments[{i}].{key}")
        for kind in ("maintenance", "initial"):
            if "option" in ins.get(kind, {}):  # standard option margin: no exact encoding here yet
                raise PolicyError("zone proofs do not cover option standard margin yet",
                                  field=f"instruments[{i}].{kind}.option")


def plan_zone(policy: Policy, market: Market, threshold: Decimal, claim: ZoneClaim) -> ZonePlan:
    """The public side of a zone proof (prover and verifier build it identically)."""
    from zkmargin.rules.engine.zones import kind_policy

    check_supported(policy)
    assert policy.zones is not None
    n = len(policy.zones)
    if not 0 <= claim.index < n:
        raise InputError(f"zone index {claim.index} is not on the ladder (0..{n - 1})", field="zone")
    if claim.index == n - 1 and not claim.exact:
        raise InputError("every account is at least in the last zone: nothing to prove", field="zone")
    base = plan_margin(policy, market, threshold)
    kinds: list[str] = sorted({str(r.requirement) for r in policy.zones if r.requirement is not None})
    kind_plans: dict[str, MarginPlan] = {kind: plan_margin(kind_policy(policy, kind), market, threshold) for kind in kinds}
    dr = policy.decimals.rate
    rungs: list[tuple[str, str | None, int | None]] = [(r.name, r.requirement, None if r.ratio is None else to_fixed(r.ratio, dr)) for r in policy.zones]
    _check_numbers(policy, market, threshold, base, kind_plans, rungs)
    fields = {k: v for k, v in vars(base).items() if k in MarginPlan.__dataclass_fields__}
    return ZonePlan(**fields, kind_plans=kind_plans, rungs=rungs, claim=claim)


def _check_numbers(policy: Policy, market: Market, threshold: Decimal, base: MarginPlan,
                   kind_plans: dict[str, MarginPlan], rungs: list[tuple[str, str | None, int | None]]) -> None:
    """Refuse a zone statement whose numbers could wrap modulo the group order: the exact-integer
    bound of the ordinary statement (``circuits/provable.build_checked`` checks it for ordinary
    proofs; zone proofs did not) for each rung's requirement kind, at the market's prices and the
    threshold, lifted to the zone circuit's common scale and times the rung's ratio. Without it a
    threshold ``T`` with ``T·10^(Zc−da)`` a multiple of r plus a small rest proved "at least the
    best zone" for any account (red-team finding, docs/notes/risk-measures.md)."""
    from zkmargin.rules.engine.zones import kind_policy
    from zkmargin.rules.models.provability import RANGE_LIMIT_BITS, statement_bound

    b = policy.bits
    one = p10(policy.decimals.rate)
    Zc = max([base.Z] + [kp.Z for kp in kind_plans.values()])
    for z, (name, kind, ratio) in enumerate(rungs):
        if kind is None or ratio is None:
            continue
        lift = p10(Zc - kind_plans[kind].Z) * (1 - (-ratio // one))

        def need(t: Decimal, kind: str = kind, lift: int = lift) -> int:
            return int(statement_bound(kind_policy(policy, kind), b.size, b.price, b.amount, market.prices, t) * lift)

        if need(threshold).bit_length() > RANGE_LIMIT_BITS:
            if need(Decimal(0)).bit_length() <= RANGE_LIMIT_BITS:
                raise InputError("the threshold is too large for the policy's amount scale and widths "
                                 "(the zone circuit would wrap around)", field="threshold")
            raise PolicyError(f"zone {name!r}: its threshold needs {need(threshold).bit_length()} bits at "
                              f"this market's prices; the circuit's range checks stop at {RANGE_LIMIT_BITS}",
                              field=f"zones[{z}]")


def zone_circuit(cs: ConstraintSystem, plan: ZonePlan) -> None:
    """The one definition of the zone statement, for prover and verifier alike."""
    if cs.m != len(plan.slots):
        raise CircuitError(f"the plan has {len(plan.slots)} slots, the constraint system {cs.m} inputs")
    var = {slot.name: cs.inputs[k] for k, slot in enumerate(plan.slots)}
    da, dp, dr = plan.da, plan.dp, plan.dr
    kinds = list(plan.kind_plans)
    widths = [plan.size_bits + plan.price_bits + 16] * (4 + 2 * plan.n_scenarios + 2 * len(plan.instruments))
    from ..lookup import best_limb_bits

    rl = RangeLookups(cs, best_limb_bits(widths))
    rc = rl.range_check

    # equity, as the ordinary margin circuit has it (at the base plan's Z)
    equity = collateral_value(cs, plan, var) * p10(plan.Z - (da + dp + dr))
    upnl = LinearCombination()
    shorts = LinearCombination()
    sizes = LinearCombination()
    requirement = {kind: LinearCombination() for kind in kinds}  # at each kind plan's SR
    qvars = []
    for i, ip in enumerate(plan.instruments):
        q = var[f"size:{ip.symbol}"]
        qabs, sign, q_bits = signed_size(cs, plan, ip, q)
        qvars.append(q)
        upnl = upnl + q * ip.mark
        shorts = shorts + short_part(cs, q, sign)
        sizes = sizes + q
        if plan.mode == "portfolio":
            continue
        for kind in kinds:
            kp = plan.kind_plans[kind]
            mm = position_requirement(cs, kp, kp.instruments[i], qabs, q_bits, exact=True)
            requirement[kind] = requirement[kind] + round_ratio(cs, mm, 1, kp, f"{kind} requirement {ip.symbol}", rc, exact=True)
    if plan.mode == "portfolio":
        losses = []
        for s in range(plan.n_scenarios):
            loss = LinearCombination()
            for ip, q in zip(plan.instruments, qvars):
                loss = loss - q * ip.pnl[s]
            losses.append(loss)
        kind_, k = plan.measure
        if kind_ == "expected_shortfall":
            value, den = LinearCombination.of(es_bound(cs, losses, k, rc, exact=True)), k
        else:
            v = var_bound(cs, losses, k if kind_ == "var" else 1, rc, exact=True, worst=kind_ == "worst")
            value, den = LinearCombination.of(v), 1
        for kind in kinds:
            kp = plan.kind_plans[kind]
            lift = coefficient(kp.factor * p10(kp.SR - (kp.ds + kp.dp + kp.dr)), "scenarios.factor", "the scenario factor")
            requirement[kind] = round_ratio(cs, value * lift, den, kp, f"{kind} portfolio requirement", rc, exact=True)
    equity = equity + cost_basis_equity(cs, plan, var["cost"], upnl, shorts, sizes)

    # the claim, at one common scale
    Zc = max([plan.Z] + [kp.Z for kp in plan.kind_plans.values()])
    E = equity * p10(Zc - plan.Z)
    T = coefficient(plan.threshold * p10(Zc - da), "threshold", "the threshold", market=True)

    def theta(z: int) -> LinearCombination:
        _, kind, ratio = plan.rungs[z]
        assert kind is not None and ratio is not None
        kp = plan.kind_plans[kind]
        return requirement[kind] * coefficient(ratio * p10(Zc - kp.SR - dr), f"zones[{z}].ratio", "a zone's ratio") + T

    Z = plan.claim.index
    last = len(plan.rungs) - 1
    if Z < last:
        gap = E - theta(Z)
        rc(gap, bits_for(max(1, _hi(cs, gap))), f"zone {plan.rungs[Z][0]}: equity meets its threshold")
    if plan.claim.exact:
        for j in range(Z):
            gap = theta(j) - E - 1
            rc(gap, bits_for(max(1, _hi(cs, gap))), f"zone {plan.rungs[Z][0]}: equity below zone {plan.rungs[j][0]}'s threshold")
    rl.finish()


def _hi(cs: ConstraintSystem, lc: LinearCombination) -> int:
    b = cs.bound(lc)
    if b is None:
        raise CircuitError("internal: a zone comparison has no bound")
    return b[1]


def build_zone(plan: ZonePlan, values: list[int] | None = None) -> ConstraintSystem:
    """The zone circuit for ``plan``: the prover's when ``values`` are given, else the verifier's."""
    cs = ConstraintSystem.for_prover(values) if values is not None else ConstraintSystem.for_verifier(len(plan.slots))
    zone_circuit(cs, plan)
    return cs
