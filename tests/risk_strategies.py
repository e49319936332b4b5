"""Hypothesis strategies for the risk-measure and zone tests: portfolio cases from
:mod:`margin_strategies` with a longer scenario table (ties on purpose), a risk measure (worst,
expected shortfall, VaR with a random k) and, for zones, a margin-call ladder.

Imported as ``import risk_strategies as RS`` after the test module puts ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

from decimal import Decimal

import margin_strategies as S
from hypothesis import strategies as st

from zkmargin.errors import InputError
from zkmargin.rules.engine import check

MEASURES = ("worst", "expected_shortfall", "var")


def _pnl_table(draw, symbols: list[str], ns: int, dp: int) -> dict:
    span = 10 ** (dp + 3)
    pool = [S.biased_int(draw, -span, span, (0, 1, -1)) for _ in range(4)]
    table = {}
    for sym in symbols:
        row = []
        for _ in range(ns):
            # a value from a small pool now and then: equal losses across scenarios (ties)
            v = draw(st.sampled_from(pool)) if draw(st.integers(0, 3)) == 0 else S.biased_int(draw, -span, span, (0, 1, -1))
            row.append(S.dec(v, dp))
        table[sym] = row
    return table


@st.composite
def risk_cases(draw, kind: str | None = None, *, max_scenarios: int = 8, mode: str = "portfolio") -> dict:
    """A portfolio case whose table has 1..max_scenarios scenarios and a risk measure (``kind``
    or drawn). Expected shortfall gets a rounding the loader accepts (it needs one)."""
    case = draw(S.margin_cases(mode, tight=False))
    pol = case["policy"]
    d = pol["decimals"]
    ns = draw(st.integers(1, max_scenarios))
    symbols = [i["symbol"] for i in pol["instruments"]]
    scen = pol["scenarios"]
    scen["names"] = [f"S{k}" for k in range(ns)]
    scen["pnl"] = _pnl_table(draw, symbols, ns, d["price"])
    kind = kind or draw(st.sampled_from(MEASURES))
    if kind != "worst":
        scen["measure"] = {"kind": kind, "k": draw(st.integers(1, ns))}
    elif draw(st.booleans()):
        scen["measure"] = {"kind": "worst"}
    sr = d["size"] + d["price"] + d["rate"]
    if kind == "expected_shortfall":
        top = min(d["amount"], sr)
        pol["rounding"] = {"mode": draw(st.sampled_from(["up", "down", "half_even"])),
                           "decimals": draw(st.integers(0, top))}
    case["threshold"] = tight_threshold(draw, case)
    return case


def tight_threshold(draw, case: dict) -> str:
    """0, the largest passing threshold, or one unit more (when the excess is representable)."""
    da = case["policy"]["decimals"]["amount"]
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return "0"
    try:
        rep = check(case["account"], case["market"], case["policy"], 0)
    except InputError:
        return "0"
    if rep.excess < 0:
        return "0"
    t = S.to_grid(rep.excess, da)
    if choice == 3:
        t += S.ulp(da)
    return S.canonical(t)


def ladder(draw, case: dict) -> list[dict]:
    """A margin-call ladder of 2..4 zones on both requirement kinds, ratios around 1."""
    dr = case["policy"]["decimals"]["rate"]
    n = draw(st.integers(2, 4))
    rungs = []
    last: dict[str, int] = {}
    for z in range(n - 1):
        kind = draw(st.sampled_from(["maintenance", "initial"]))
        top = last.get(kind, 3 * 10**dr + 1) - 1
        if top < 1:
            break
        ratio = S.biased_int(draw, 1, top, (1, 10**dr, 2 * 10**dr))
        last[kind] = ratio
        rungs.append({"name": f"Z{z}", "requirement": kind, "ratio": S.dec(ratio, dr)})
    rungs.append({"name": f"Z{len(rungs)}"})
    return rungs


@st.composite
def zone_cases(draw, mode: str) -> dict:
    """A cross or portfolio case with a ladder of zones (portfolio: a random risk measure)."""
    if mode == "portfolio":
        case = draw(risk_cases(max_scenarios=4))
    else:
        case = draw(S.margin_cases("cross", tight=False))
        for ins in case["policy"]["instruments"]:
            for kind in ("maintenance", "initial"):
                if kind not in ins:
                    ins[kind] = {"rate": "0"}
    case["policy"]["zones"] = ladder(draw, case)
    case["threshold"] = draw(st.sampled_from(["0", case["threshold"]]))
    return case


def threshold_of(case: dict) -> Decimal:
    return Decimal(case["threshold"])
