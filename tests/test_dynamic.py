"""Dynamic margin: volatility-scaled rates, rounded up, bracket amounts kept on the recursion."""

import json
import math
from decimal import Decimal
from importlib import resources

import numpy as np
import pytest

from zkmargin.errors import InputError, PolicyError, UnknownSymbolError
from zkmargin.rules.dynamic import (
    dynamic_policy,
    multipliers,
    realized_vol,
    scale_rate,
    scale_rule,
    vol_multiplier,
    write_dynamic_policy,
)
from zkmargin.rules.models import Bracket, Rule, bracket_amounts, load_policy

D = Decimal
DATA = resources.files("zkmargin.data")


def history(daily_vol, n=200, seed=1):
    rng = np.random.default_rng(seed)
    r = rng.normal(0, daily_vol, n)
    return [str(round(100 * math.exp(x), 6)) for x in np.cumsum(r)]


def test_realized_vol():
    # alternating +-1% log returns: sample std ~1%, annualized by sqrt(365)
    p = [100 * math.exp(0.01 * (i % 2)) for i in range(101)]
    v = realized_vol(p)
    r = np.diff(np.log(p))
    assert v == pytest.approx(np.std(r, ddof=1) * math.sqrt(365))
    assert realized_vol(p, periods_per_year=252) < v
    assert realized_vol([D("100"), D("101"), D("100")]) > 0
    with pytest.raises(InputError):
        realized_vol([100, 101])
    with pytest.raises(InputError):
        realized_vol([100, 0, 101])


def test_vol_multiplier_clips_and_rounds_up():
    assert vol_multiplier(0.8, "0.4") == D("2")
    assert vol_multiplier(0.1, "0.4") == D("1")  # clipped at min_mult
    assert vol_multiplier(5.0, "0.4") == D("3")  # clipped at max_mult
    m = vol_multiplier(0.5, "0.3")  # 1.6666... -> 1.6667
    assert m == D("1.6667")
    assert vol_multiplier(0.5, "0.3", digits=2) == D("1.67")
    assert vol_multiplier(0.2, "0.4", min_mult="0.5") == D("0.5")
    with pytest.raises(InputError):
        vol_multiplier(0.5, "0")
    with pytest.raises(InputError):
        vol_multiplier(float("nan"), "0.4")


def test_scale_rate_rounds_up_at_the_rate_scale():
    assert scale_rate(D("0.004"), D("1.6667"), 4) == D("0.0067")  # 0.0066668 -> up
    assert scale_rate(D("0.005"), D("2"), 4) == D("0.01")
    assert scale_rate(D("0"), D("3"), 4) == 0


def test_scale_rule_recomputes_bracket_amounts():
    rule = Rule(brackets=[Bracket(floor=D(0), cap=D(50000), rate=D("0.004"), amount=D(0)),
                          Bracket(floor=D(50000), cap=D(250000), rate=D("0.005"), amount=D(50)),
                          Bracket(floor=D(250000), cap=None, rate=D("0.01"), amount=D(1300))])
    s = scale_rule(rule, D("1.5"), 4)
    assert [b.rate for b in s.brackets] == [D("0.006"), D("0.0075"), D("0.015")]
    assert all(b.amount is None for b in s.brackets)
    assert bracket_amounts(s.brackets) == [0, 75, 1950]
    lin = scale_rule(Rule(rate=D("0.02"), per_size=D("0.00005")), D("1.5"), 6)
    assert (lin.rate, lin.per_size) == (D("0.03"), D("0.000075"))


def test_dynamic_policy_end_to_end(tmp_path):
    src = str(DATA / "example_policy_cross.json")
    base = load_policy(src)
    hist = {"BTCUSDT": history(0.04, seed=2), "SOLUSDT": history(0.01, seed=3)}
    mults = multipliers(base, hist, reference_vol="0.5")
    assert mults["BTCUSDT"] > 1 and mults["SOLUSDT"] == 1
    new = dynamic_policy(src, hist, reference_vol="0.5")
    for sym in ("BTCUSDT", "SOLUSDT", "ETHUSDT"):
        m = mults.get(sym, D(1))
        old_b = base.instrument(sym).maintenance.brackets
        new_b = new.instrument(sym).maintenance.brackets
        for o, n in zip(old_b, new_b):
            assert n.rate >= o.rate * m  # rounded up, never below the exact product
            assert n.rate - o.rate * m < D("0.0001")
        # amounts are the recursion's (the loader rejects anything else)
        assert [b.amount for b in new_b] == bracket_amounts(new_b)
    assert new.instrument("ETHUSDT").maintenance == base.instrument("ETHUSDT").maintenance
    out = tmp_path / "dyn.json"
    out.write_text("stale")
    written = write_dynamic_policy(src, hist, out, reference_vol="0.5", venue="dyn")
    assert load_policy(out).venue == "dyn" == written.venue
    assert [x for x in tmp_path.iterdir() if x.name.startswith(".tmp")] == []
    json.loads(out.read_text())


def test_dynamic_policy_errors():
    src = str(DATA / "example_policy_cross.json")
    with pytest.raises(UnknownSymbolError, match="DOGEUSDT"):
        dynamic_policy(src, {"DOGEUSDT": history(0.02)}, reference_vol="0.5")
    with pytest.raises(PolicyError, match="portfolio"):
        dynamic_policy(str(DATA / "example_policy_portfolio.json"), {}, reference_vol="0.5")
    with pytest.raises(InputError):
        dynamic_policy(src, {"BTCUSDT": [1, 2]}, reference_vol="0.5")
