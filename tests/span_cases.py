"""Policies, markets and accounts for the SPAN and Deribit PME tests: the published examples
(CME's spread-calculation page, McMillan's S&P 500 risk arrays, Deribit's ``private/pme/simulate``
example) and hypothesis strategies for small random SPAN and PME policies.

The test modules run with ``--import-mode=importlib`` and no conftest; they put ``tests/`` on
``sys.path`` themselves and ``import span_cases as C``.
"""

from __future__ import annotations

import copy
from decimal import Decimal

from hypothesis import strategies as st

from zkmargin.circuits.margin import build, plan_margin, witness_values
from zkmargin.errors import UnsatisfiedError
from zkmargin.rules.models import dump_document, load_account, load_market, load_policy
from zkmargin.rules.scenarios import policy_with_scenarios

AS_OF = "2024-06-03T08:00:00Z"
SPAN_NAMES = [f"s{i:02d}" for i in range(1, 17)]
SMALL_BITS = {"size": 10, "price": 24, "amount": 24}


def market(prices: dict, as_of: str = AS_OF) -> dict:
    return {"format": "zkmargin.market/1", "as_of": as_of, "prices": dict(prices)}


def account(sizes: dict, prices: dict, balance: str, asset: str = "USD") -> dict:
    """An account holding ``sizes`` bought at the marks (no unrealised P&L) and ``balance``."""
    return {"format": "zkmargin.account/1", "balances": {asset: balance},
            "positions": [{"symbol": s, "size": str(q), "entry_price": prices[s]}
                          for s, q in sizes.items()]}


def base_policy(instruments: list[dict], *, decimals=None, bits=None, quote="USD", venue="span-test") -> dict:
    return {
        "format": "zkmargin.policy/1", "venue": venue, "quote": quote,
        "decimals": decimals or {"size": 0, "price": 2, "rate": 2, "amount": 2},
        "bits": bits or SMALL_BITS,
        "requirement": "maintenance", "mode": "portfolio",
        "collateral": [{"asset": quote, "haircut": "0"}],
        "instruments": instruments,
    }


def futures(*symbols: str) -> list[dict]:
    return [{"symbol": s, "kind": "future"} for s in symbols]


def with_span_table(policy: dict, prices: dict, shocks: dict, *, extreme_move=2.0,
                    extreme_cover=0.35) -> dict:
    """``policy`` with CME's 16-scenario risk arrays from the builder (futures: ``price·shock``
    per unit is the price scan range), as a dict."""
    p = policy_with_scenarios(load_policy(policy, allow_missing_scenarios=True), market(prices),
                              grid="span", spot_shocks=shocks, extreme_move=extreme_move,
                              extreme_cover=extreme_cover)
    return dump_document(p)


# --- CME's published examples (https://cmegroup.com/clearing/margins/spread-calc.html) ----------

#: Corn and soybean futures priced per contract: with a 10 % scan range the outright rates are
#: CME's $1,750 and $2,500.
INTER_PRICES = {"ZC": "17500", "ZS": "25000"}


def cme_inter_policy(*, spreads: bool = True) -> dict:
    """Corn vs soybeans 2:1 at a 55 % inter-commodity rate (CME's example)."""
    pol = with_span_table(base_policy(futures("ZC", "ZS")), INTER_PRICES, {"ZC": 0.1, "ZS": 0.1})
    pol["span"] = {"version": 1, "combined_commodities": [
        {"name": "CORN", "instruments": {"ZC": {}}, "price_scan_range": "1750"},
        {"name": "SOY", "instruments": {"ZS": {}}, "price_scan_range": "2500"}],
        "inter_spreads": ([{"cc_a": "CORN", "cc_b": "SOY", "ratio_a": "2", "ratio_b": "1",
                            "credit_rate": "0.55"}] if spreads else [])}
    return pol


#: Product X, months 2, 3 and 4, outright rates $500, $500 and $750 (10 % of the price).
INTRA_PRICES = {"X2": "5000", "X3": "5000", "X4": "7500"}


def cme_intra_policy(*, spreads: bool = True) -> dict:
    """CME's intra-commodity example: charges 2 vs 3 $200, 2 vs 4 $50, 3 vs 4 $0; each month its
    own tier."""
    pol = with_span_table(base_policy(futures("X2", "X3", "X4")), INTRA_PRICES,
                          {s: 0.1 for s in INTRA_PRICES})
    intra = [{"tier_a": 2, "tier_b": 3, "charge": "200"},
             {"tier_a": 2, "tier_b": 4, "charge": "50"},
             {"tier_a": 3, "tier_b": 4, "charge": "0"}]
    pol["span"] = {"version": 1, "combined_commodities": [
        {"name": "X", "instruments": {"X2": {"tier": 2}, "X3": {"tier": 3}, "X4": {"tier": 4}},
         "intra_spreads": intra if spreads else []}]}
    return pol


# --- McMillan, Options as a Strategic Investment, ch. 34 (pp. 668-670) ---------------------------

#: The S&P 500 future at 400.00 with a 20-point scan range (5 %); one contract is 500 units
#: ($500 a point), so the range is McMillan's $10,000 and the extreme move (2 ranges, 35 %) 14
#: points, his $7,000.
MCMILLAN_PRICES = {"SP": "400"}
MCMILLAN_FUTURE_ROW = [0, 0, 3330, 3330, -3330, -3330, 6670, 6670, -6670, -6670,
                       10000, 10000, -10000, -10000, 7000, -7000]
#: McMillan's risk array of one long Dec 410 call (p. 669), dollars per contract.
MCMILLAN_CALL_ROW = [460, -610, 2640, 1730, -1270, -2340, 5210, 4540, -2540, -3430,
                     8060, 7640, -3380, -3990, 3130, -1500]


def mcmillan_policy(*, extreme_move=2.0, extreme_cover=0.35, call: bool = False, som: str = "0") -> dict:
    instruments = futures("SP")
    if call:
        instruments.append({"symbol": "SPC410", "kind": "option", "underlying": "SP", "strike": "410",
                            "expiry": "2024-12-20T21:00:00Z", "right": "call"})
    pol = base_policy(instruments)
    if call:  # the call's row is McMillan's, per unit (a contract is 500 units)
        table = with_span_table(base_policy(futures("SP")), MCMILLAN_PRICES, {"SP": 0.05},
                                extreme_move=extreme_move, extreme_cover=extreme_cover)["scenarios"]
        table["pnl"]["SPC410"] = [str(Decimal(v) / 500) for v in MCMILLAN_CALL_ROW]
        pol["scenarios"] = table
    else:
        pol = with_span_table(pol, MCMILLAN_PRICES, {"SP": 0.05}, extreme_move=extreme_move,
                              extreme_cover=extreme_cover)
    members = {"SP": {}}
    if call:
        members["SPC410"] = {"delta": "0.45"}
    pol["span"] = {"version": 1, "combined_commodities": [
        {"name": "SP", "instruments": members, "short_option_minimum": som}]}
    return pol


# --- Deribit's private/pme/simulate example (docs.deribit.com, API reference) -------------------

DERIBIT_AS_OF = "2024-06-17T10:22:20.501Z"  # the example's model_params timestamp 1718619740501
DERIBIT_PRICES = {"BTC-PERPETUAL": "65910.57", "BTC-28JUN24": "67371.75"}
DERIBIT_SIZES = {"BTC-PERPETUAL": "0.314538364", "BTC-28JUN24": "-0.001187534"}


def deribit_policy(*, rounding: bool = True, factor: str = "0.8") -> dict:
    """BTC inverse perpetual and 28 Jun 2024 future, sized in BTC; the 27-row standard risk matrix
    (9 buckets over ±16 %, volatility up/unchanged/down); roll shock 1 % per expiry (both below
    Deribit's min_annualised_move); mm_factor 0.8."""
    base = base_policy(
        [{"symbol": "BTC-PERPETUAL", "kind": "perpetual"},
         {"symbol": "BTC-28JUN24", "kind": "future", "expiry": "2024-06-28T08:00:00Z"}],
        decimals={"size": 9, "price": 18, "rate": 2, "amount": 12},
        bits={"size": 32, "price": 80, "amount": 40}, quote="BTC", venue="deribit-pme-example")
    pme: dict = {"version": 1, "roll_shock": [
        {"name": "PERPETUAL", "rate": "0.01", "instruments": ["BTC-PERPETUAL"]},
        {"name": "28JUN24", "rate": "0.01", "instruments": ["BTC-28JUN24"]}]}
    if rounding:
        pme["worst_case_rounding"] = {"mode": "half_even", "decimals": 9}
    base["deribit_pme"] = pme
    p = policy_with_scenarios(load_policy(base, allow_missing_scenarios=True),
                              market(DERIBIT_PRICES, DERIBIT_AS_OF), grid="deribit", levels=9,
                              vol_scenarios=3, spot_shocks=0.16, inverse=True, factor=factor)
    return dump_document(p)


# --- the circuit against the engine ------------------------------------------------------------


def witness_ok(policy: dict, mkt: dict, acct: dict, threshold="0") -> bool:
    """Whether the prover's witness satisfies the margin circuit (and prover and verifier build
    the same circuit)."""
    p = load_policy(policy)
    m = load_market(mkt, p)
    a = load_account(acct, p)
    plan = plan_margin(p, m, Decimal(threshold))
    cs = build(plan, witness_values(plan, a))
    assert cs.digest() == build(plan_margin(p, m, Decimal(threshold))).digest()
    try:
        cs.check_witness()
        return True
    except UnsatisfiedError:
        return False


# --- hypothesis: small random SPAN and PME policies ---------------------------------------------


def _dec(n: int, scale: int) -> str:
    return str(Decimal(n).scaleb(-scale))


@st.composite
def span_cases(draw) -> tuple[dict, dict, dict]:
    """(policy, market, sizes): 1–2 combined commodities of 1–3 instruments (futures and options),
    two tiers, random spreads (ratios 1, 2 or 1.5), charges, credits, SOM; random risk arrays."""
    n_cc = draw(st.sampled_from([1, 2, 2]))
    instruments, span_ccs, prices = [], [], {}
    n_s = draw(st.integers(1, 4))
    pnl = {}
    for c in range(n_cc):
        members = {}
        fut = f"F{c}"
        instruments.append({"symbol": fut, "kind": "future"})
        prices[fut] = "100"
        members[fut] = {"delta": "1", "tier": 1}
        for k in range(draw(st.integers(0, 2))):
            sym = f"O{c}{k}"
            instruments.append({"symbol": sym, "kind": "option", "underlying": fut, "strike": "100",
                                "expiry": "2024-12-27T08:00:00Z",
                                "right": draw(st.sampled_from(["call", "put"]))})
            prices[sym] = "5"
            members[sym] = {"delta": _dec(draw(st.one_of(st.sampled_from([-100, -50, 50, 100]),
                                                           st.integers(-100, 100))), 2),
                            "tier": 2 if k == 0 else draw(st.integers(1, 2))}
        tiers = sorted({m["tier"] for m in members.values()})
        intra = []
        if len(tiers) == 2 and draw(st.integers(0, 3)):
            for _ in range(draw(st.integers(1, 2))):  # a second spread takes what the first left
                a, b = draw(st.sampled_from([(1, 2), (2, 1)]))
                intra.append({"tier_a": a, "tier_b": b,
                              "ratio_a": draw(st.sampled_from(["1", "2", "1.5"])),
                              "ratio_b": draw(st.sampled_from(["1", "0.5"])),
                              "charge": _dec(draw(st.integers(0, 500)), 2)})
        span_ccs.append({"name": f"C{c}", "instruments": members,
                         "price_scan_range": _dec(draw(st.integers(0, 2000)), 2),  # 0 to 20.00
                         "short_option_minimum": _dec(draw(st.sampled_from([0, 0, 150, 1000])), 2),
                         "intra_spreads": intra})
        for sym in members:
            pnl[sym] = [_dec(draw(st.integers(-2000, 2000)), 2) for _ in range(n_s)]
    inter = []
    if n_cc == 2 and draw(st.integers(0, 3)):
        for _ in range(draw(st.integers(1, 2))):
            inter.append({"cc_a": "C0", "cc_b": "C1", "ratio_a": draw(st.sampled_from(["1", "2"])),
                          "ratio_b": draw(st.sampled_from(["1", "1.5"])),
                          "credit_rate": _dec(draw(st.integers(0, 100)), 2)})
    pol = base_policy(instruments, decimals={"size": 1, "price": 2, "rate": 2, "amount": 4},
                      bits={"size": 10, "price": 16, "amount": 40})
    pol["scenarios"] = {"factor": draw(st.sampled_from(["1", "1.25"])),
                        "names": [f"s{i}" for i in range(n_s)], "pnl": pnl}
    if draw(st.booleans()):
        pol["rounding"] = {"mode": draw(st.sampled_from(["up", "down", "half_even"])), "decimals": 2}
    pol["span"] = {"version": 1, "combined_commodities": span_ccs, "inter_spreads": inter}
    # futures of the two commodities often on opposite sides (inter spreads form), options often
    # against their future (intra spreads form)
    side = draw(st.sampled_from([1, -1]))
    sizes = {}
    for ins in instruments:
        sym = ins["symbol"]
        lean = side if sym == "F0" else -side if sym == "F1" else draw(st.sampled_from([1, -1]))
        sizes[sym] = _dec(lean * draw(st.one_of(st.integers(0, 60), st.integers(-60, 60))), 1)
    return pol, market(prices), sizes


@st.composite
def pme_cases(draw) -> tuple[dict, dict, dict]:
    """(policy, market, sizes): 2–3 futures and 0–2 options with random Deribit add-ons."""
    instruments, prices, pnl = [], {}, {}
    n_s = draw(st.integers(1, 4))
    n_f = draw(st.integers(2, 3))
    for k in range(n_f):
        instruments.append({"symbol": f"F{k}", "kind": "future"})
    n_o = draw(st.sampled_from([0, 1, 2, 2]))
    for k in range(n_o):
        instruments.append({"symbol": f"O{k}", "kind": "option", "underlying": "F0", "strike": "100",
                            "expiry": "2024-12-27T08:00:00Z", "right": ["call", "put"][k % 2]})
    for ins in instruments:
        prices[ins["symbol"]] = "10"
        pnl[ins["symbol"]] = [_dec(draw(st.integers(-300, 300)), 3) for _ in range(n_s)]
    syms = [i["symbol"] for i in instruments]
    pme: dict = {"version": 1,
                 "deltas": {f"O{k}": _dec(draw(st.integers(-100, 100)), 2) for k in range(n_o)}}
    if draw(st.booleans()):
        pme["worst_case_rounding"] = {"mode": draw(st.sampled_from(["up", "down", "half_even"])),
                                      "decimals": draw(st.integers(0, 3))}
    if draw(st.booleans()):
        cut = draw(st.integers(1, len(syms)))
        pme["roll_shock"] = [{"name": "a", "rate": _dec(draw(st.integers(0, 5)), 2), "instruments": syms[:cut]}]
        if cut < len(syms):
            pme["roll_shock"].append({"name": "b", "rate": _dec(draw(st.integers(0, 5)), 2),
                                      "instruments": syms[cut:]})
    if draw(st.booleans()):
        pme["delta_shock"] = {"threshold": _dec(draw(st.integers(0, 30)), 1),
                              "slope": _dec(draw(st.integers(0, 8)), 2),
                              "cap": _dec(draw(st.sampled_from([0, 3, 10, 60])), 2)}
    if n_o and draw(st.integers(0, 3)):
        pme["option_contingency"] = {"rate": _dec(draw(st.integers(0, 50)), 3),
                                     "strikes": [[f"O{k}" for k in range(n_o)]]}
    if draw(st.booleans()):
        pme["futures_contingency"] = {"rate": _dec(draw(st.integers(0, 5)), 2),
                                      "instruments": {f"F{k}": _dec(draw(st.integers(1, 3)), 3) for k in range(n_f)}}
    pol = base_policy(instruments, decimals={"size": 1, "price": 3, "rate": 2, "amount": 5},
                      bits={"size": 10, "price": 16, "amount": 40})
    pol["scenarios"] = {"factor": draw(st.sampled_from(["1", "0.8"])),
                        "names": [f"s{i}" for i in range(n_s)], "pnl": pnl}
    pol["deribit_pme"] = pme
    sizes = {s: _dec(draw(st.integers(-99, 99)), 1) for s in syms}
    return pol, market(prices), sizes


def copy_of(d: dict) -> dict:
    return copy.deepcopy(d)
