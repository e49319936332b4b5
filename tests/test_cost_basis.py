"""The committed cost basis is bound by the circuit (issue 9, finding 1).

In cross and portfolio mode the account commits ``C = Σ q_i·entry_i`` whole. Before the fix ``C``
was only range-checked, so an empty account could commit ``C ≈ −4·10^34`` and prove any threshold.
The circuit now proves ``L ≤ C ≤ U`` with ``L = P·Σ min(q_i, 0)``, ``U = P·Σ max(q_i, 0)`` and
``P = 2^price_bits − 1``: exactly the cost bases that entry prices within the policy's width give.

* The forgeries of the issue, built by hand in prover mode: the witness check refuses them, naming
  the cost-basis constraint, and a proof forced past it is rejected by the verifier (library and
  CLI). Each has its honest twin.
* The central property, extended to forged witnesses: for random accounts and a random committed
  ``C`` (honest, on either bound, one past it, or anywhere in a wide range) the circuit is satisfied
  exactly when ``L ≤ C ≤ U`` and the engine's arithmetic says the account meets the requirement
  with that cost basis; and *some* ``C`` satisfies it exactly when the engine says "meets" for the
  entry prices that make ``C`` lowest (longs bought at 0, shorts sold at P).
"""

from __future__ import annotations

import copy
import json
import secrets
import sys
from decimal import Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

import margin_strategies as S  # noqa: E402

from zkmargin import verify  # noqa: E402
from zkmargin.api import public_inputs, statement_for  # noqa: E402
from zkmargin.circuits.margin import build, plan_margin, witness_values  # noqa: E402
from zkmargin.crypto.backends import get_backend  # noqa: E402
from zkmargin.crypto.field import R  # noqa: E402
from zkmargin.documents.bundle import ProofBundle  # noqa: E402
from zkmargin.errors import UnsatisfiedError, VerificationError  # noqa: E402
from zkmargin.prover.r1cs import prove as r1cs_prove  # noqa: E402
from zkmargin.rules.decimals import EXACT  # noqa: E402

_HC = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
FORGED = settings(max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# --- helpers -------------------------------------------------------------------------------------


def _models(case: dict):
    p, m, a, t = S.load(case)
    return p, m, a, t


def _cost_index(plan) -> int:
    return plan.slot_names().index("cost")


def cost_bounds(plan, values) -> tuple[int, int]:
    """``(L, U)`` for the sizes in ``values``: what entry prices in [0, 2^price_bits − 1] give."""
    P = (1 << plan.price_bits) - 1
    sizes = [v for s, v in zip(plan.slots, values) if s.kind == "size"]
    return P * sum(min(q, 0) for q in sizes), P * sum(max(q, 0) for q in sizes)


def satisfied(plan, values) -> bool:
    cs = build(plan, values)
    try:
        cs.check_witness()
        return True
    except UnsatisfiedError:
        return False


def forced_bundle(policy, market, threshold, challenge: bytes, plan, values) -> ProofBundle:
    """A proof for an arbitrary witness, made past the prover's witness check — what an attacker
    running their own prover would send."""
    be = get_backend()
    cs = build(plan, values)
    statement = statement_for(policy, market, threshold, challenge, plan, cs)
    blindings = [secrets.randbelow(R - 1) + 1 for _ in values]
    proof, V = r1cs_prove(cs, blindings, public_inputs(statement), be, check=False)
    return ProofBundle(statement=statement, commitments=[be.encode(v) for v in V], proof=proof.to_bytes())


def example(mode: str):
    d = EXAMPLES / mode
    return (json.loads((d / "policy.json").read_text()), json.loads((d / "market.json").read_text()),
            json.loads((d / "account.json").read_text()))


# --- the forgeries -----------------------------------------------------------------------


def test_empty_account_with_a_huge_negative_cost_basis_is_refused_and_its_forced_proof_rejected():
    """Issue 9, finding 1: an empty account committed C ≈ −4·10^34 and proved a 10^12 threshold."""
    pol, mkt, _ = example("cross")
    empty = {"format": "zkmargin.account/1"}
    case = {"policy": pol, "market": mkt, "account": empty, "threshold": "1000000000000"}
    p, m, a, t = _models(case)
    plan = plan_margin(p, m, t)
    values = witness_values(plan, a)
    assert cost_bounds(plan, values) == (0, 0)
    forged = list(values)
    forged[_cost_index(plan)] = -4 * 10**34
    with pytest.raises(UnsatisfiedError, match="cost basis"):
        build(plan, forged).check_witness()
    ch = secrets.token_bytes(32)
    bundle = forced_bundle(p, m, t, ch, plan, forged)
    with pytest.raises(VerificationError) as info:
        verify(bundle.to_json(), mkt, pol, case["threshold"], ch)
    assert type(info.value) is VerificationError
    # twin: the honest empty account (C = 0) satisfies the circuit at threshold 0 and its forced
    # proof machinery produces a proof that verifies — the rejection above is the cost basis's.
    p0, m0, a0, t0 = _models({**case, "threshold": "0"})
    plan0 = plan_margin(p0, m0, t0)
    honest = witness_values(plan0, a0)
    assert satisfied(plan0, honest)
    ch0 = secrets.token_bytes(32)
    ok = forced_bundle(p0, m0, t0, ch0, plan0, honest)
    assert verify(ok.to_json(), mkt, pol, "0", ch0).valid


def test_real_sizes_with_a_cost_basis_outside_the_width_are_refused():
    """Real sizes and balances; the cost basis moved one unit past what any entry price within the
    width could give (in both directions) is refused; exactly on either bound it is accepted by
    the circuit (then only the margin inequality decides)."""
    pol, mkt, acct = example("cross")
    case = {"policy": pol, "market": mkt, "account": acct, "threshold": "0"}
    p, m, a, t = _models(case)
    plan = plan_margin(p, m, t)
    values = witness_values(plan, a)
    k = _cost_index(plan)
    L, U = cost_bounds(plan, values)
    assert L < values[k] < U
    below, above, at_low = list(values), list(values), list(values)
    below[k], above[k], at_low[k] = L - 1, U + 1, L
    with pytest.raises(UnsatisfiedError, match="cost basis: at least"):
        build(plan, below).check_witness()
    with pytest.raises(UnsatisfiedError, match="cost basis: at most"):
        build(plan, above).check_witness()
    assert satisfied(plan, at_low)  # the most favourable entries within the width: meets
    ch = secrets.token_bytes(32)
    with pytest.raises(VerificationError):
        verify(forced_bundle(p, m, t, ch, plan, below).to_json(), mkt, pol, "0", ch)
    ch2 = secrets.token_bytes(32)
    assert verify(forced_bundle(p, m, t, ch2, plan, at_low).to_json(), mkt, pol, "0", ch2).valid


def test_portfolio_cost_basis_is_bound_too():
    pol, mkt, acct = example("portfolio")
    case = {"policy": pol, "market": mkt, "account": acct, "threshold": "0"}
    p, m, a, t = _models(case)
    plan = plan_margin(p, m, t)
    values = witness_values(plan, a)
    k = _cost_index(plan)
    L, U = cost_bounds(plan, values)
    assert satisfied(plan, values)
    for bad in (L - 1, U + 1, -(10**30)):
        forged = list(values)
        forged[k] = bad
        with pytest.raises(UnsatisfiedError, match="cost basis"):
            build(plan, forged).check_witness()


def test_cli_rejects_the_forged_bundle(tmp_path):
    """The same forgery through ``zkmargin verify`` (exit 1, rejected); twin: the honest proof of
    the same empty account at threshold 0 exits 0."""
    from click.testing import CliRunner

    from zkmargin.cli.main import cli

    pol, mkt, _ = example("cross")
    (tmp_path / "policy.json").write_text(json.dumps(pol))
    (tmp_path / "market.json").write_text(json.dumps(mkt))
    case = {"policy": pol, "market": mkt, "account": {"format": "zkmargin.account/1"}, "threshold": "1000000000000"}
    p, m, a, t = _models(case)
    plan = plan_margin(p, m, t)
    forged = witness_values(plan, a)
    forged[_cost_index(plan)] = -4 * 10**34
    ch = secrets.token_bytes(32)
    forced_bundle(p, m, t, ch, plan, forged).save(tmp_path / "forged.json")
    runner = CliRunner()
    base = ["--market", str(tmp_path / "market.json"), "--policy", str(tmp_path / "policy.json")]
    res = runner.invoke(cli, ["verify", str(tmp_path / "forged.json"), *base, "--threshold", "1000000000000",
                              "--challenge", ch.hex()])
    assert res.exit_code == 1, res.output
    p0, m0, a0, t0 = _models({**case, "threshold": "0"})
    plan0 = plan_margin(p0, m0, t0)
    ch0 = secrets.token_bytes(32)
    forced_bundle(p0, m0, t0, ch0, plan0, witness_values(plan0, a0)).save(tmp_path / "honest.json")
    res = runner.invoke(cli, ["verify", str(tmp_path / "honest.json"), *base, "--threshold", "0",
                              "--challenge", ch0.hex()])
    assert res.exit_code == 0, res.output


# --- the central property with forged cost bases ---------------------------------------------------


def _excess_with_cost(case: dict, honest_cost: int, cost: int, ds: int, dp: int):
    """The engine's excess for the account, with its cost basis replaced by ``cost`` (at ds+dp):
    equity is ``collateral + Σ q·mark − C``, so the excess moves by ``−(cost − honest)``."""
    rep = S.engine_report(case)
    if rep is None:
        return None
    with localcontext(EXACT):
        return rep.excess - Decimal(cost - honest_cost).scaleb(-(ds + dp))


@st.composite
def forged_costs(draw, mode: str):
    case = draw(S.margin_cases(mode))
    p, m, a, t = _models(case)
    plan = plan_margin(p, m, t)
    values = witness_values(plan, a)
    k = _cost_index(plan)
    L, U = cost_bounds(plan, values)
    honest = values[k]
    wide = 1 << (plan.cost_bits + 2)
    choice = draw(st.sampled_from(["honest", "low", "high", "below", "above", "inside", "wide"]))
    cost = {
        "honest": honest,
        "low": L,
        "high": U,
        "below": L - 1,
        "above": U + 1,
        "inside": draw(st.integers(L, U)),
        "wide": draw(st.integers(-wide, wide)),
    }[choice]
    return case, plan, values, k, L, U, honest, cost


@pytest.mark.parametrize("mode", ["cross", "portfolio"])
@FORGED
@given(data=st.data())
def test_forged_cost_basis_satisfies_iff_within_the_width_and_the_engine_meets(mode, data):
    case, plan, values, k, L, U, honest, cost = data.draw(forged_costs(mode))
    forged = list(values)
    forged[k] = cost
    sat = satisfied(plan, forged)
    if not L <= cost <= U:
        assert not sat, "a cost basis no entry price within the width gives was accepted"
        return
    excess = _excess_with_cost(case, honest, cost, plan.ds, plan.dp)
    if excess is None:  # the engine refuses the account (a notional above the last cap)
        assert not sat
        return
    assert sat == (excess >= 0)


def _extreme_entries(case: dict) -> dict:
    """The account with the entry prices that make its cost basis lowest within the width."""
    pb, dp = case["policy"]["bits"]["price"], case["policy"]["decimals"]["price"]
    top = S.dec((1 << pb) - 1, dp)
    out = copy.deepcopy(case)
    for pos in out["account"].get("positions", []):
        pos["entry_price"] = top if Decimal(pos["size"]) < 0 else "0"
    return out


@pytest.mark.parametrize("mode", ["cross", "portfolio"])
@FORGED
@given(data=st.data())
def test_some_cost_basis_satisfies_iff_some_entries_within_the_width_meet(mode, data):
    """∃ C: the circuit holds for (sizes, C, balances)  ⇔  the engine says "meets" for some entry
    prices within the width — equivalently for the extreme ones (equity is monotone in C)."""
    case = data.draw(S.margin_cases(mode))
    extreme = _extreme_entries(case)
    meets = S.engine_report(extreme)
    p, m, a, t = _models(extreme)
    plan = plan_margin(p, m, t)
    values = witness_values(plan, a)
    k = _cost_index(plan)
    L, _ = cost_bounds(plan, values)
    assert values[k] == L  # the extreme entries give the lowest cost basis
    sat_at_low = satisfied(plan, values)
    if meets is None:
        assert not sat_at_low
    else:
        assert sat_at_low == meets.meets
    # and no cost basis does better than L: one below is refused whatever the margin
    below = list(values)
    below[k] = L - 1
    assert not satisfied(plan, below)
