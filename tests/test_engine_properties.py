"""Property-based checks of the engine (hypothesis): monotonicity, continuity and convexity of
bracket requirements, concavity of tiered collateral, cross/isolated agreement, liquidation price."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from zkmargin.rules.decimals import EXACT, canonical, from_fixed, quantize
from zkmargin.rules.engine import (
    bracket_for,
    bracket_pieces,
    check,
    collateral_pieces,
    collateral_value,
    liquidation_price,
    position_requirement,
    unrealized_pnl,
)
from zkmargin.rules.models import Bracket, Collateral, Rounding, Rule, Tier, bracket_amounts

D = Decimal
FAST = settings(max_examples=60, deadline=None)


@st.composite
def bracket_rules(draw, open_ended=None):
    n = draw(st.integers(1, 6))
    widths = draw(st.lists(st.integers(1, 10 ** 7), min_size=n, max_size=n))
    steps = draw(st.lists(st.integers(0, 500), min_size=n, max_size=n))
    first = draw(st.integers(0, 200))
    last_open = draw(st.booleans()) if open_ended is None else open_ended
    out, floor, rate = [], 0, first
    for k in range(n):
        if k:
            rate += steps[k]
        cap = floor + widths[k]
        out.append(Bracket(floor=D(floor), cap=None if (k == n - 1 and last_open) else D(cap),
                           rate=from_fixed(rate, 4)))
        floor = cap
    cums = bracket_amounts(out)
    return Rule(brackets=[b.model_copy(update={"amount": c}) for b, c in zip(out, cums)])


def top(rule):
    cap = rule.brackets[-1].cap
    return cap if cap is not None else rule.brackets[-1].floor * 2 + 10 ** 6


notionals = st.integers(0, 10 ** 12).map(lambda n: from_fixed(n, 4))


@FAST
@given(rule=bracket_rules())
def test_brackets_are_continuous_at_every_boundary(rule):
    bs = rule.brackets
    for k in range(len(bs) - 1):
        n = bs[k].cap
        with_k = n * bs[k].rate - bs[k].amount
        with_next = n * bs[k + 1].rate - bs[k + 1].amount
        assert with_k == with_next
        assert position_requirement(rule, D(1), n) == with_k


@FAST
@given(rule=bracket_rules(), data=st.data())
def test_bracket_requirement_is_the_max_of_its_pieces(rule, data):
    n = data.draw(st.integers(0, int(top(rule) * 10 ** 4)).map(lambda x: from_fixed(x, 4)))
    req = position_requirement(rule, D(1), n) if n > 0 else D(0)
    with_max = max(n * r - a for r, a in bracket_pieces(rule.brackets))
    assert req == with_max
    assert req >= 0


@FAST
@given(rule=bracket_rules(), data=st.data())
def test_bracket_requirement_is_convex(rule, data):
    hi = int(top(rule) * 10 ** 4)
    a = from_fixed(data.draw(st.integers(0, hi)), 4)
    b = from_fixed(data.draw(st.integers(0, hi)), 4)
    with __import__("decimal").localcontext(EXACT):
        mid = (a + b) / 2
        lhs = position_requirement(rule, D(1), mid)
        rhs = (position_requirement(rule, D(1), a) + position_requirement(rule, D(1), b)) / 2
    assert lhs <= rhs


rules = st.one_of(
    bracket_rules(open_ended=True),
    st.integers(0, 10 ** 4).map(lambda r: Rule(rate=from_fixed(r, 4))),
    st.tuples(st.integers(0, 10 ** 4), st.integers(0, 1000)).map(
        lambda t: Rule(rate=from_fixed(t[0], 4), per_size=from_fixed(t[1], 6))),
)


@FAST
@given(rule=rules, q=st.integers(-10 ** 7, 10 ** 7), grow=st.integers(0, 10 ** 6),
       mark=st.integers(1, 10 ** 8))
def test_growing_a_position_never_lowers_its_requirement(rule, q, grow, mark):
    size = from_fixed(q, 3)
    bigger = size + from_fixed(grow, 3) if q >= 0 else size - from_fixed(grow, 3)
    m = from_fixed(mark, 2)
    assert position_requirement(rule, bigger, m) >= position_requirement(rule, size, m) >= 0
    # direction does not matter
    assert position_requirement(rule, -size, m) == position_requirement(rule, size, m)


@st.composite
def tiered(draw):
    n = draw(st.integers(1, 5))
    ups = sorted(set(draw(st.lists(st.integers(1, 10 ** 7), min_size=n - 1, max_size=n - 1))))
    hs = sorted(draw(st.lists(st.integers(0, 10 ** 4), min_size=len(ups) + 1,
                              max_size=len(ups) + 1)))
    tiers = [Tier(up_to=D(u), haircut=from_fixed(h, 4)) for u, h in zip(ups, hs)]
    tiers.append(Tier(up_to=None, haircut=from_fixed(hs[-1], 4)))
    return Collateral(asset="X", tiers=tiers)


@FAST
@given(c=tiered(), a=st.integers(0, 10 ** 10), b=st.integers(0, 10 ** 10))
def test_tiered_collateral_is_the_min_of_its_pieces_monotone_and_concave(c, a, b):
    va, vb = from_fixed(a, 2), from_fixed(b, 2)
    vala = collateral_value(c, va, D(1))
    valb = collateral_value(c, vb, D(1))
    assert vala == min(s * va + i for s, i in collateral_pieces(c))
    if va <= vb:
        assert vala <= valb
    with __import__("decimal").localcontext(EXACT):
        mid = collateral_value(c, (va + vb) / 2, D(1))
        assert mid >= (vala + valb) / 2
    assert 0 <= vala <= va


def base_policy(mode, buffer="0.1"):
    return {
        "format": "zkmargin.policy/1", "venue": "p", "quote": "USDT",
        "decimals": {"size": 3, "price": 2, "rate": 4, "amount": 8},
        "requirement": "maintenance", "mode": mode, "buffer": buffer,
        "collateral": [{"asset": "USDT", "haircut": "0"}, {"asset": "BTC", "haircut": "0.05"},
                       {"asset": "ETH", "tiers": [{"up_to": "10000", "haircut": "0.05"},
                                                  {"up_to": None, "haircut": "0.3"}]}],
        "instruments": [
            {"symbol": "BTCUSDT", "kind": "perpetual",
             "maintenance": {"brackets": [
                 {"floor": "0", "cap": "50000", "rate": "0.004"},
                 {"floor": "50000", "cap": "250000", "rate": "0.005"},
                 {"floor": "250000", "cap": None, "rate": "0.01"}]},
             "initial": {"rate": "0.02"}},
            {"symbol": "ETHUSDT", "kind": "perpetual",
             "maintenance": {"rate": "0.01", "per_size": "0.0001"}, "initial": {"rate": "0.02"}},
        ],
    }


MARKET = {"format": "zkmargin.market/1", "as_of": "2030-01-01T00:00:00Z",
          "prices": {"BTCUSDT": "60000", "ETHUSDT": "3000", "BTC": "60010", "ETH": "2999.5"}}

amounts = st.integers(0, 10 ** 13).map(lambda n: canonical(from_fixed(n, 8)))
sizes = st.integers(-10 ** 6, 10 ** 6).map(lambda n: canonical(from_fixed(n, 3)))
prices = st.integers(1, 10 ** 9).map(lambda n: canonical(from_fixed(n, 2)))


@FAST
@given(bal=st.fixed_dictionaries({"USDT": amounts, "BTC": amounts, "ETH": amounts}),
       asset=st.sampled_from(["USDT", "BTC", "ETH"]), extra=amounts, q1=sizes, q2=sizes,
       e1=prices, e2=prices)
def test_adding_collateral_never_lowers_equity(bal, asset, extra, q1, q2, e1, e2):
    acct = {"format": "zkmargin.account/1", "balances": dict(bal),
            "positions": [{"symbol": "BTCUSDT", "size": q1, "entry_price": e1},
                          {"symbol": "ETHUSDT", "size": q2, "entry_price": e2}]}
    before = check(acct, MARKET, base_policy("cross"))
    acct["balances"][asset] = canonical(D(acct["balances"][asset]) + D(extra))
    after = check(acct, MARKET, base_policy("cross"))
    assert after.equity >= before.equity
    assert after.requirement == before.requirement
    assert after.meets or not before.meets


@FAST
@given(margin=amounts, q=sizes, entry=prices, mark=prices, sym=st.sampled_from(["BTCUSDT",
                                                                                "ETHUSDT"]),
       threshold=st.integers(0, 10 ** 9).map(lambda n: canonical(from_fixed(n, 2))),
       buffer=st.sampled_from(["0", "0.1", "0.25"]))
def test_isolated_and_cross_agree_on_one_position(margin, q, entry, mark, sym, threshold, buffer):
    market = {**MARKET, "prices": {**MARKET["prices"], sym: mark}}
    pos = [{"symbol": sym, "size": q, "entry_price": entry}]
    cross = check({"format": "zkmargin.account/1", "balances": {"USDT": margin},
                   "positions": pos}, market, base_policy("cross", buffer), threshold)
    iso = check({"format": "zkmargin.account/1", "positions": pos,
                 "isolated_margin": {sym: margin}}, market, base_policy("isolated", buffer),
                threshold)
    assert cross.meets == iso.meets
    assert cross.equity == iso.equity
    assert cross.requirement == iso.requirement
    assert cross.required == iso.required


@FAST
@given(q=st.integers(1, 10 ** 6), long=st.booleans(), entry=st.integers(100, 10 ** 7),
       wallet=st.integers(0, 10 ** 10))
def test_at_the_liquidation_price_equity_equals_maintenance(q, long, entry, wallet):
    rule = Rule(brackets=[Bracket(floor=D(0), cap=D(50000), rate=D("0.004"), amount=D(0)),
                          Bracket(floor=D(50000), cap=D(250000), rate=D("0.005"), amount=D(50)),
                          Bracket(floor=D(250000), cap=None, rate=D("0.01"), amount=D(1300))])
    size = from_fixed(q, 3) * (1 if long else -1)
    ep, wb = from_fixed(entry, 2), from_fixed(wallet, 2)
    lp = liquidation_price(rule, size, ep, wb)
    if lp is None:
        # no positive price: the long survives every price (or the short needs none)
        assert long
        return
    assert lp > 0
    bracket_for(abs(size) * lp, rule.brackets)
    import decimal
    with decimal.localcontext(decimal.Context(prec=200)):
        eq = wb + unrealized_pnl(size, lp, ep)
        mm = position_requirement(rule, size, lp)
        # lp carries 60 significant digits: the residue is at that relative precision
        assert abs(eq - mm) <= (abs(size) * lp + wb + abs(size) * ep) * D("1e-55")


@FAST
@given(n=st.integers(-10 ** 15, 10 ** 15), dec=st.integers(0, 8))
def test_rounding_brackets_the_value(n, dec):
    v = from_fixed(n, 10)
    up = quantize(v, dec, "up")
    down = quantize(v, dec, "down")
    he = quantize(v, dec, "half_even")
    assert down <= v <= up
    assert up - down in (0, D(1).scaleb(-dec))
    assert abs(he - v) <= D(1).scaleb(-dec) / 2
    assert Rounding(mode="up", decimals=dec)
