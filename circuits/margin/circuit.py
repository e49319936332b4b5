"""The margin circuit: the one definition of the margin statement, for prover and verifier alike,
composed from the rule families beside this module.

    E·10^(Z−s_E) ≥ (10^dr + buffer)·REQ·10^(Z−s_R−dr) + T·10^(Z−da)

with ``E`` = collateral value (:mod:`.collateral`) + PnL (:mod:`.positions`, or each position's own
equity in isolated mode, :mod:`.isolated`) and ``REQ`` = Σ rounded position requirements
(:mod:`.positions`, :mod:`.rounding`) or the portfolio requirement (:mod:`.portfolio`). The order in
which the families add their gates is part of the circuit's digest: change it only with the
protocol version. May import :mod:`..cs`, :mod:`..gadgets` and this package's modules. Used by the
API (``build``) and the tests.
"""

from __future__ import annotations

from zkmargin.errors import CircuitError

from ..cs import ConstraintSystem, LinearCombination
from ..gadgets import bits_for, range_check
from .collateral import collateral_value
from .coverage import inverse_equity, leg_size, order_requirement
from .coverage import requirement as coverage_requirement
from .isolated import isolated_equity, isolated_meets
from .plan import MarginPlan, p10
from .portfolio import portfolio_requirement
from .positions import cost_basis_equity, short_part, signed_size
from .public_numbers import coefficient
from .rounding import round_requirement


def margin_circuit(cs: ConstraintSystem, plan: MarginPlan) -> None:
    """The one definition of the margin statement, for prover and verifier alike."""
    if cs.m != len(plan.slots):
        raise CircuitError(f"the plan has {len(plan.slots)} slots, the constraint system {cs.m} inputs")
    var = {slot.name: cs.inputs[k] for k, slot in enumerate(plan.slots)}
    SR, Z = plan.SR, plan.Z
    dp, dr, da = plan.dp, plan.dr, plan.da
    one_b = p10(dr) + plan.buffer

    # Collateral: balances range-checked; value_j at da+dp+dr (unified: signed, with loans)
    loans = None
    if plan.mode == "unified":
        from .unified import unified_collateral

        value, loans = unified_collateral(cs, plan, var)
        equity = value * p10(Z - (da + dp + dr))
    else:
        equity = collateral_value(cs, plan, var) * p10(Z - (da + dp + dr))

    requirement = LinearCombination()  # at SR
    upnl = LinearCombination()  # at ds+dp
    shorts = LinearCombination()  # Σ min(q_i, 0), for the cost-basis bounds
    upnl_sizes = LinearCombination()  # Σ q_i
    isolated_checks = []
    inverse_terms = []  # (plan, q, min(q, 0)) of inverse contracts (coverage.py)
    for ip in plan.instruments:
        q = var[f"size:{ip.key}"]
        short: LinearCombination | None = None
        if ip.leg:  # hedge mode: the leg's sign is public (coverage.py)
            qabs, q_bits, short = leg_size(cs, plan, ip, q)
        else:
            qabs_v, sign, q_bits = signed_size(cs, plan, ip, q)
            qabs = LinearCombination.of(qabs_v)
            var[f"sign:{ip.key}"] = sign  # for the venues' rules that need a position's side
        if ip.inv is None:
            upnl = upnl + q * ip.mark
        if plan.mode != "isolated":
            if short is None:
                short = LinearCombination.of(short_part(cs, q, sign))
            if ip.inv is None:
                shorts = shorts + short
                upnl_sizes = upnl_sizes + q
            else:
                inverse_terms.append((ip, LinearCombination.of(q), short))
        if ip.rule == "scenario":
            continue
        if plan.orders and ip.inv is None and ip.opt is None:
            mm = order_requirement(cs, plan, ip, q, var)
        else:
            mm = coverage_requirement(cs, plan, ip, q, qabs, q_bits, short if short is not None else LinearCombination())
        mm = round_requirement(cs, mm, plan, f"requirement {ip.key}")
        requirement = requirement + mm
        if plan.mode == "isolated":
            e_i = isolated_equity(cs, plan, ip, q, var[f"entry:{ip.key}"], var[f"isolated:{ip.key}"])
            isolated_checks.append((ip.key, e_i, mm))
            equity = equity + e_i

    if plan.mode == "portfolio":
        requirement = portfolio_requirement(cs, plan, var)

    if loans is not None:
        requirement = requirement + loans * p10(SR - (da + dp + dr))

    if plan.mode != "isolated":
        pnl_equity = cost_basis_equity(cs, plan, var["cost"], upnl, shorts, upnl_sizes)
        if plan.unified is not None and plan.unified.upnl_weight is not None:
            from .unified import weighted_pnl

            u = weighted_pnl(cs, plan, upnl - var["cost"])
            equity = equity + u * p10(Z - (plan.ds + dp + dr))
        else:
            equity = equity + pnl_equity
    if inverse_terms:
        equity = equity + inverse_equity(cs, plan, var, inverse_terms)

    for symbol, e_i, mm in isolated_checks:
        isolated_meets(cs, plan, symbol, e_i, mm)

    # the threshold lifted to Z is checked before it is reduced mod r (public_numbers.py)
    required = requirement * (one_b * p10(Z - SR - dr)) + coefficient(plan.threshold * p10(Z - da), "threshold")
    excess = equity - required
    bound = cs.bound(excess)
    if bound is None:
        raise CircuitError("internal: the excess has no bound")
    range_check(cs, excess, bits_for(max(1, bound[1])), "equity covers the required margin")


def build(plan: MarginPlan, values: list[int] | None = None) -> ConstraintSystem:
    """The margin circuit for ``plan``: the prover's when ``values`` are given, else the
    verifier's."""
    cs = ConstraintSystem.for_prover(values) if values is not None else ConstraintSystem.for_verifier(len(plan.slots))
    margin_circuit(cs, plan)
    return cs
