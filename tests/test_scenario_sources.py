"""Scenario generation for venues: historical simulation, seeded Monte-Carlo, named stress
scenarios; every figure recomputed independently with numpy here, the recorded source
regenerating the same table (and a tampered entry caught), EWMA volatility against its
closed form, and the ``generate-scenarios`` / ``dynamic-margin --method ewma`` commands.
"""

from __future__ import annotations

import copy
import json
import math
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

import margin_strategies as S  # noqa: E402

from zkmargin.cli.main import cli  # noqa: E402
from zkmargin.errors import InputError, PolicyError  # noqa: E402
from zkmargin.rules.decimals import loads_json  # noqa: E402
from zkmargin.rules.digests import policy_digest  # noqa: E402
from zkmargin.rules.dynamic import ewma_vol, multipliers  # noqa: E402
from zkmargin.rules.models import dump_document, load_policy  # noqa: E402
from zkmargin.rules.scenario_sources import (  # noqa: E402
    check_regenerates,
    generate,
    monte_carlo_moves,
)
from zkmargin.rules.scenarios import black_scholes, year_fraction  # noqa: E402

STRESS = {"format": "zkmargin.stress/1",
          "scenarios": [{"name": "crash", "spot": {"A": "-0.4"}, "vol": {"A": "0.5"}},
                        {"name": "melt-up", "spot": {"A": "0.3"}}]}


def base():
    case = S.base_case("portfolio")
    del case["policy"]["scenarios"]
    return case


def history(n=60, seed=7):
    rng = np.random.default_rng(seed)
    return {"A": [str(round(250 * float(np.exp(x)), 2)) for x in np.cumsum(rng.normal(0, 0.03, n))]}


def test_historical_simulation_recomputed_with_numpy():
    """Scenario d moves A by P_d/P_(d-1) − 1 on today's mark 250; the option O (call 250, vol 0.6,
    expiry 2024-12-27) is repriced with Black–Scholes a day closer to expiry. Every published
    entry is the float rounded half-even to the price scale (2 decimals)."""
    case = base()
    hist = history()
    p = generate(case["policy"], case["market"], method="historical", history=hist, window=50, vols={"A": 0.6})
    prices = np.array([float(x) for x in hist["A"]])
    moves = prices[-50:] / prices[-51:-1] - 1
    assert len(p.scenarios.names) == 50
    assert [float(x) for x in p.scenarios.pnl["A"]] == [round(250 * m, 2) for m in moves]
    t0 = year_fraction(S.AS_OF, "2024-12-27T08:00:00Z")
    v0 = black_scholes(np.array([250.0]), 250.0, t0, 0.6, "call")[0]
    v = black_scholes(250 * (1 + moves), 250.0, t0 - 1 / 365, 0.6, "call") - v0
    assert [float(x) for x in p.scenarios.pnl["O"]] == pytest.approx([round(x, 2) for x in v], abs=0.0051)
    src = p.scenarios.source
    assert src.method == "historical" and src.params["window"] == "50" and "market" in src.inputs


def test_monte_carlo_is_the_seeded_generator_and_reproducible():
    under = ["A", "B"]
    C = [[1, 0.5], [0.5, 1]]
    m1 = monte_carlo_moves(under, vols={"A": 0.8, "B": 0.4}, correlation=C, n=2000, seed=11)
    m2 = monte_carlo_moves(under, vols={"A": 0.8, "B": 0.4}, correlation=C, n=2000, seed=11)
    m3 = monte_carlo_moves(under, vols={"A": 0.8, "B": 0.4}, correlation=C, n=2000, seed=12)
    assert np.array_equal(m1.spot["A"], m2.spot["A"]) and not np.array_equal(m1.spot["A"], m3.spot["A"])
    # the stated model, recomputed: Z = N(0,1)·chol(C)^T, m = exp(−σ²τ/2 + σ√τ Z) − 1
    rng = np.random.Generator(np.random.PCG64(11))
    Z = rng.standard_normal((2000, 2)) @ np.linalg.cholesky(np.array(C, dtype=float)).T
    tau = 1 / 365
    assert np.array_equal(m1.spot["B"], np.exp(-0.5 * 0.16 * tau + 0.4 * math.sqrt(tau) * Z[:, 1]) - 1)
    logs = np.log1p(np.vstack([m1.spot["A"], m1.spot["B"]]))
    assert np.corrcoef(logs)[0, 1] == pytest.approx(0.5, abs=0.05)
    with pytest.raises(InputError, match="positive definite"):
        monte_carlo_moves(under, vols={"A": 1, "B": 1}, correlation=[[1, 1.2], [1.2, 1]], n=3, seed=1)
    with pytest.raises(InputError, match="no volatility for 'B'"):
        monte_carlo_moves(under, vols={"A": 1}, correlation=None, n=3, seed=1)


def test_stress_scenarios_are_named_and_priced():
    case = base()
    p = generate(case["policy"], case["market"], method="stress", stress=STRESS, vols={"A": 0.6})
    assert p.scenarios.names == ["stress: crash", "stress: melt-up"]
    assert p.scenarios.pnl["A"] == [Decimal("-100"), Decimal("75")]
    t0 = year_fraction(S.AS_OF, "2024-12-27T08:00:00Z")
    put = black_scholes(np.array([150.0]), 200.0, t0 - 1 / 365, 1.1, "put")[0] - \
        black_scholes(np.array([250.0]), 200.0, t0, 0.6, "put")[0]
    assert float(p.scenarios.pnl["P"][0]) == round(put, 2)
    bad = copy.deepcopy(STRESS)
    bad["scenarios"][0]["spot"] = {"ZZZ": "0.1"}
    with pytest.raises(InputError, match="not an underlying"):
        generate(case["policy"], case["market"], method="stress", stress=bad, vols={"A": 0.6})


def test_the_recorded_source_regenerates_the_table_and_a_tampered_entry_is_named():
    case = base()
    hist = history()
    model = {"seed": 5, "n": 300, "vols": {"A": "0.7"}, "vol_of_vol": {"A": "2"}}
    for kw, extra in ((dict(method="historical", history=hist, window=40), dict(history=hist)),
                      (dict(method="monte_carlo", model=model, stress=STRESS), dict(stress=STRESS))):
        p = generate(case["policy"], case["market"], vols={"A": 0.6}, measure={"kind": "var", "k": 4}, **kw)
        # the digest is the same in memory and after a round trip through JSON
        again = load_policy(loads_json(json.dumps(dump_document(p))))
        assert policy_digest(again) == policy_digest(p)
        assert check_regenerates(again, case["market"], **extra) == []
        doc = dump_document(p)
        doc["scenarios"]["pnl"]["O"][3] = str(Decimal(doc["scenarios"]["pnl"]["O"][3]) + Decimal("0.01"))
        assert check_regenerates(load_policy(doc), case["market"], **extra) == ["scenarios.pnl.O[3]"]
    # another history is caught too
    p = generate(case["policy"], case["market"], method="historical", history=hist, vols={"A": 0.6})
    assert check_regenerates(p, case["market"], history=history(seed=8))


def test_generation_needs_a_portfolio_policy_and_its_inputs():
    case = S.base_case("cross")
    with pytest.raises(PolicyError, match="portfolio mode"):
        generate(case["policy"], case["market"], method="stress", stress=STRESS)
    case = base()
    with pytest.raises(InputError, match="implied volatility"):
        generate(case["policy"], case["market"], method="stress", stress=STRESS)
    with pytest.raises(InputError, match="same number of prices|no prices"):
        generate(case["policy"], case["market"], method="historical", history={"B": ["1", "2"]}, vols={"A": 0.6})


# --- EWMA ------------------------------------------------------------------------------------------


def test_ewma_matches_its_closed_form_and_reacts_faster_than_the_sample_std():
    """σ²_n = λ^(n−1)·r_1² + (1−λ)·Σ_{t=2..n} λ^(n−t)·r_t² (the recursion unrolled); no published
    figure is reproduced here (RiskMetrics' document gives the method, not a price series)."""
    rng = np.random.default_rng(3)
    p = 100 * np.exp(np.cumsum(np.r_[rng.normal(0, 0.01, 200), rng.normal(0, 0.05, 10)]))
    r = np.diff(np.log(p))
    lam = 0.94
    n = len(r)
    closed = lam ** (n - 1) * r[0] ** 2 + (1 - lam) * sum(lam ** (n - 1 - t) * r[t] ** 2 for t in range(1, n))
    assert ewma_vol(p, lam, 365) == pytest.approx(math.sqrt(closed * 365), rel=1e-12)
    from zkmargin.rules.dynamic import realized_vol

    assert ewma_vol(p, lam) > 1.8 * realized_vol(p)  # the last ten days of 5% moves dominate
    with pytest.raises(InputError, match="between 0 and 1"):
        ewma_vol(p, 1.0)


def test_ewma_multipliers_respect_the_venues_caps():
    pol = load_policy(S.base_policy("cross"))
    rng = np.random.default_rng(3)
    calm = [str(round(100 * float(np.exp(x)), 4)) for x in np.cumsum(rng.normal(0, 0.001, 100))]
    wild = [str(round(100 * float(np.exp(x)), 4)) for x in np.cumsum(rng.normal(0, 0.2, 100))]
    m = multipliers(pol, {"A": calm, "B": wild}, reference_vol="0.5", min_mult="1", max_mult="2.5", method="ewma")
    assert m == {"A": Decimal("1"), "B": Decimal("2.5")}


# --- commands ----------------------------------------------------------------------------------------


def _files(tmp_path: Path) -> dict:
    case = base()
    out = {}
    for name, doc in (("policy", case["policy"]), ("market", case["market"]), ("account", case["account"]),
                      ("history", {"format": "zkmargin.history/1", "prices": history()}), ("vols", {"A": 0.6}),
                      ("model", {"seed": 9, "n": 120, "vols": {"A": "0.7"}}), ("stress", STRESS)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        out[name] = str(path)
    return out


def test_generate_scenarios_command_writes_checks_and_draws(tmp_path):
    f = _files(tmp_path)
    out = str(tmp_path / "hist.json")
    pic = str(tmp_path / "losses.svg")
    r = CliRunner().invoke(cli, ["generate-scenarios", f["policy"], "-m", f["market"], "-o", out, "--history",
                                 f["history"], "--window", "30", "--vols", f["vols"], "--stress", f["stress"],
                                 "--measure", "es:3", "--plot", pic, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["scenarios"] == 32 and doc["cut_offs"]["long 1 A"]["k"] == 3
    assert Path(pic).read_text().lstrip().startswith("<?xml")
    r = CliRunner().invoke(cli, ["generate-scenarios", out, "-m", f["market"], "--history", f["history"],
                                 "--stress", f["stress"], "--check"])
    assert r.exit_code == 0 and "regenerates exactly" in r.stdout
    # twin: the check fails (exit 1) with another stress file
    other = tmp_path / "stress2.json"
    s2 = copy.deepcopy(STRESS)
    s2["scenarios"][0]["spot"]["A"] = "-0.5"
    other.write_text(json.dumps(s2))
    r = CliRunner().invoke(cli, ["generate-scenarios", out, "-m", f["market"], "--history", f["history"],
                                 "--stress", str(other), "--check"])
    assert r.exit_code == 1 and "DIFFERS" in r.stdout
    r = CliRunner().invoke(cli, ["generate-scenarios", f["policy"], "-m", f["market"], "-o", str(tmp_path / "mc.json"),
                                 "--monte-carlo", f["model"], "--vols", f["vols"], "--measure", "var:2"])
    assert r.exit_code == 0, r.output
    assert load_policy(str(tmp_path / "mc.json")).scenarios.source.params["model"]["seed"] == "9"
    r = CliRunner().invoke(cli, ["generate-scenarios", f["policy"], "-m", f["market"], "-o", str(tmp_path / "x.json"),
                                 "--measure", "es"])
    assert r.exit_code == 2


def test_dynamic_margin_ewma_command(tmp_path):
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps(S.base_policy("cross")))
    rng = np.random.default_rng(5)
    hist = tmp_path / "h.json"
    hist.write_text(json.dumps({"format": "zkmargin.history/1",
                                "prices": {"A": [str(round(100 * float(np.exp(x)), 4)) for x in np.cumsum(rng.normal(0, 0.06, 50))]}}))
    out = tmp_path / "dyn.json"
    r = CliRunner().invoke(cli, ["dynamic-margin", str(pol), "--history", str(hist), "--reference-vol", "0.5",
                                 "-o", str(out), "--method", "ewma", "--lambda", "0.94", "--max-mult", "2", "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)["instruments"][0]
    assert row["method"] == "ewma" and Decimal(row["multiplier"]) <= 2
    r = CliRunner().invoke(cli, ["dynamic-margin", str(pol), "--history", str(hist), "--reference-vol", "0.5",
                                 "-o", str(out), "--method", "ewma", "--lambda", "1.5", "--force"])
    assert r.exit_code == 2 and "between 0 and 1" in r.stderr
