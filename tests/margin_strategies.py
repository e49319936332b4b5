"""Hypothesis strategies for the margin-proof tests: small random policies, market snapshots and
accounts, as the plain dicts the loaders accept (decimals written as canonical strings).

The test modules run with ``--import-mode=importlib`` and no conftest, so they put ``tests/`` on
``sys.path`` themselves and ``import margin_strategies as S``.

Universes are kept small (1–3 instruments, 1–2 collateral assets, 8–16-bit sizes and prices,
16–24-bit amounts, 0–4 decimals) so that a circuit builds in milliseconds and a proof takes well
under a second. The draws lean on the places where engine and circuit could disagree:

* sizes 0, ±1 and ±(2^bits − 1); entry prices 0 and 2^bits − 1; balances 0 and 2^bits − 1;
* bracket caps placed exactly on a held position's notional, one grid step below it (the position
  is one unit above the cap) or one above, and a capped last bracket (positions above it are
  refused by the engine and unsatisfiable in the circuit);
* tier bounds placed on a held balance's quote value, or one unit either side;
* zero marks (options, portfolio mode) and zero collateral prices, all three rounding modes,
  buffers, thresholds;
* thresholds and isolated margins placed on the tightest passing value or one unit past it, so
  that the excess (or a position's own margin) is zero or one unit negative.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

from hypothesis import strategies as st

from zkmargin.errors import InputError
from zkmargin.rules.decimals import EXACT, canonical
from zkmargin.rules.engine import apply_rounding, check, position_requirement, unrealized_pnl
from zkmargin.rules.models import load_account, load_market, load_policy

MODES = ("cross", "isolated", "portfolio")
RULES = ("flat", "linear", "brackets")
QUOTE = "USD"
AS_OF = "2024-06-03T08:00:00Z"


# --- small helpers -------------------------------------------------------------------------------


def dec(n: int, scale: int) -> str:
    """The integer ``n`` at ``scale`` decimals as a canonical decimal string."""
    with localcontext(EXACT):
        return canonical(Decimal(int(n)).scaleb(-scale))


def ulp(scale: int) -> Decimal:
    """One unit at ``scale`` decimals."""
    return Decimal(1).scaleb(-scale)


def to_grid(d: Decimal, scale: int, up: bool = False) -> Decimal:
    """``d`` rounded down (or up) to ``scale`` decimals."""
    with localcontext() as ctx:
        ctx.prec = 200
        return d.quantize(ulp(scale), rounding=ROUND_CEILING if up else ROUND_FLOOR)


def biased_int(draw, lo: int, hi: int, specials=()) -> int:
    """An integer in [lo, hi], often one of ``specials`` (those outside the range are dropped)."""
    sp = sorted({v for v in specials if lo <= v <= hi})
    if sp and draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(sp))
    return draw(st.integers(lo, hi))


def load(case: dict):
    """(policy, market, account, threshold) as validated models and a Decimal."""
    p = load_policy(case["policy"])
    m = load_market(case["market"], p)
    a = load_account(case["account"], p)
    return p, m, a, Decimal(case["threshold"])


def engine_report(case: dict, threshold=None):
    """The engine's report, or None when the engine refuses the account (a notional above the
    last bracket's cap raises InputError: no requirement exists, nothing can be proved)."""
    try:
        return check(case["account"], case["market"], case["policy"],
                     case["threshold"] if threshold is None else threshold)
    except InputError:
        return None


# --- pieces of a policy --------------------------------------------------------------------------


def _grid_hints(values, grid: Decimal) -> list[int]:
    """Multiples of ``grid`` on, just below and just above each value (positive only)."""
    out = set()
    for v in values:
        with localcontext() as ctx:
            ctx.prec = 200
            k = v / grid
        f = int(k.to_integral_value(rounding=ROUND_FLOOR))
        for c in (f - 1, f, f + 1):
            if c > 0:
                out.add(c)
    return sorted(out)


def bracket_rule(draw, *, dr: int, da: int, notionals: list[Decimal], capped: bool | None = None,
                 min_brackets: int = 1) -> dict:
    """A notional-bracket table whose recursion amounts fit the amount scale: floors and caps are
    multiples of 10^(dr−da), so floor·Δrate has at most ``da`` decimals."""
    grid = Decimal(1).scaleb(dr - da)
    nb = draw(st.integers(min_brackets, 3))
    if capped is None:
        capped = draw(st.integers(0, 3)) == 0
    n_caps = nb if capped else nb - 1
    hints = _grid_hints([n for n in notionals if n > 0], grid)
    top = max([4] + [h + 2 for h in hints])
    caps: set[int] = set()
    for _ in range(n_caps):
        if hints and draw(st.booleans()):
            caps.add(draw(st.sampled_from(hints)))
        else:
            caps.add(draw(st.integers(1, top)))
    need = min_brackets if capped else min_brackets - 1
    while len(caps) < need:
        caps.add(max(caps, default=0) + 1)
    caps_sorted = sorted(caps)
    if capped and not caps_sorted:
        caps_sorted = [top]
    nb = len(caps_sorted) + (0 if capped else 1)
    unit_rate = 10**dr
    rates = []
    r = draw(st.integers(0, max(1, unit_rate // 10)))
    for _ in range(nb):
        rates.append(r)
        r += draw(st.integers(0, max(1, unit_rate // 10)))
    brackets = []
    floor = 0
    for k in range(nb):
        cap = caps_sorted[k] if k < len(caps_sorted) else None
        brackets.append({
            "floor": canonical(floor * grid),
            "cap": None if cap is None else canonical(cap * grid),
            "rate": dec(rates[k], dr),
        })
        floor = cap if cap is not None else floor
    return {"brackets": brackets}


def rule_dict(draw, kind: str, *, dr: int, da: int, notionals: list[Decimal], min_brackets: int = 1,
              venue_rules: bool = False) -> dict:
    rule = _plain_rule(draw, kind, dr=dr, da=da, notionals=notionals, min_brackets=min_brackets)
    if venue_rules:
        _venue_rules(draw, rule, dr)
    return rule


def _plain_rule(draw, kind: str, *, dr: int, da: int, notionals: list[Decimal], min_brackets: int) -> dict:
    if kind == "flat":
        return {"rate": dec(biased_int(draw, 0, 10**dr, (0, 1, 10**dr // 2, 10**dr)), dr)}
    if kind == "linear":
        return {
            "rate": dec(draw(st.integers(0, max(1, 10**dr // 5))), dr),
            "per_size": dec(biased_int(draw, 0, max(1, 10**dr // 10), (0, 1)), dr),
        }
    return bracket_rule(draw, dr=dr, da=da, notionals=notionals, min_brackets=min_brackets)


def _venue_rules(draw, rule: dict, dr: int) -> None:
    """Issue 15's requirement rules on a drawn rule (tests/test_tier_rules.py): a whole-position
    table or an integer bracket multiplier on brackets, a leverage in place of a flat rate, a fee
    to close on any."""
    if "brackets" in rule:
        choice = draw(st.integers(0, 2))
        if choice == 1:
            rule["whole_position"] = True
        elif choice == 2:
            rule["notional_coef"] = str(draw(st.integers(2, 3)))
    elif "per_size" not in rule and draw(st.integers(0, 3)) == 0:
        rule.clear()
        rule["leverage"] = str(draw(st.sampled_from([1, 2, 3, 7, 20])))
    if draw(st.integers(0, 2)) == 0:
        rule["fee_to_close"] = dec(draw(st.integers(0, max(1, 10**dr // 100))), dr)


def collateral_dict(draw, asset: str, *, dr: int, da: int, values: list[Decimal], force_tiers: bool = False) -> dict:
    """A flat haircut or 1–3 value tiers (haircuts non-decreasing, the last tier unbounded), with
    tier bounds near the quote values in ``values``."""
    h_hi = 10**dr
    if not force_tiers and draw(st.booleans()):
        return {"asset": asset, "haircut": dec(biased_int(draw, 0, h_hi, (0, 1, h_hi)), dr)}
    nt = draw(st.integers(2 if force_tiers else 1, 3))
    grid = ulp(da)
    hints = _grid_hints([v for v in values if v > 0], grid)
    top = max([10] + [h + 2 for h in hints])
    ups: set[int] = set()
    for _ in range(nt - 1):
        if hints and draw(st.booleans()):
            ups.add(draw(st.sampled_from(hints)))
        else:
            ups.add(draw(st.integers(1, top)))
    if force_tiers and not ups:
        ups.add(top)
    ups_sorted = sorted(ups)
    hs = []
    h = draw(st.integers(0, h_hi))
    for _ in range(len(ups_sorted) + 1):
        hs.append(h)
        h = min(h_hi, h + draw(st.integers(0, max(1, h_hi // 4))))
    tiers = [{"up_to": canonical(u * grid), "haircut": dec(hk, dr)} for u, hk in zip(ups_sorted, hs)]
    tiers.append({"up_to": None, "haircut": dec(hs[-1], dr)})
    return {"asset": asset, "tiers": tiers}


# --- the whole case ------------------------------------------------------------------------------


@st.composite
def margin_cases(draw, mode: str, rule: str | None = None, *, tight: bool = True, pieces: bool = False,
                 other_rule_any: bool = False, venue_rules: bool = False) -> dict:
    """``{"policy", "market", "account", "threshold"}`` for ``mode``; ``rule`` forces every
    instrument's rule for the checked requirement (cross and isolated), else each is drawn.

    With ``tight`` the threshold (and in isolated mode one isolated margin) is often placed on the
    tightest passing value or one unit past it. With ``pieces`` every collateral asset has two or
    more tiers and every bracket table two or more brackets (piece selection everywhere). The rule
    of the requirement not checked is flat unless ``other_rule_any`` (see
    test_initial_requirement_with_capped_maintenance_brackets: the engine still evaluates the
    maintenance rule in cross mode, for liquidation prices, and refuses notionals above its cap).
    With ``venue_rules`` the checked requirement's rule may carry issue 15's venue rules
    (whole-position tiers, a bracket multiplier, a leverage, a fee to close)."""
    ds = draw(st.integers(0, 2))
    dp = draw(st.integers(0, 2))
    dr = draw(st.integers(1, 3))
    da = draw(st.integers(0, 4))
    sb = draw(st.sampled_from([8, 12, 16]))
    pb = draw(st.sampled_from([8, 12, 16]))
    ab = draw(st.sampled_from([16, 20, 24]))
    smax, pmax, amax = (1 << sb) - 1, (1 << pb) - 1, (1 << ab) - 1

    n_ins = draw(st.integers(1, 3))
    symbols = [f"I{k}" for k in range(n_ins)]
    kinds = {}
    marks = {}
    for s in symbols:
        kinds[s] = draw(st.sampled_from(["perpetual", "future", "option"] if mode == "portfolio" else ["perpetual", "future"]))
        lo = 0 if kinds[s] == "option" else 1
        marks[s] = biased_int(draw, lo, 10 ** (dp + 4), (lo, 1, 10**dp, 10 ** (dp + 4)))

    held = draw(st.lists(st.sampled_from(symbols), unique=True, max_size=n_ins))
    sizes = {s: biased_int(draw, -smax, smax, (0, 1, -1, smax, -smax)) for s in held}
    entries = {s: biased_int(draw, 0, pmax, (0, pmax, marks[s])) for s in held}
    notionals = [abs(Decimal(sizes[s]).scaleb(-ds)) * Decimal(marks[s]).scaleb(-dp) for s in held]

    assets = draw(st.lists(st.sampled_from([QUOTE, "C1", "C2"]), unique=True, min_size=1, max_size=2))
    prices = {a: biased_int(draw, 0, 10 ** (dp + 4), (0, 1, 10**dp)) for a in assets if a != QUOTE}
    funded = draw(st.lists(st.sampled_from(assets), unique=True, max_size=len(assets)))
    balances = {a: biased_int(draw, 0, amax, (0, 1, amax)) for a in funded}

    requirement = draw(st.sampled_from(["maintenance", "initial"]))
    other = "initial" if requirement == "maintenance" else "maintenance"
    instruments = []
    for s in symbols:
        ins: dict = {"symbol": s, "kind": kinds[s]}
        if kinds[s] == "option":
            ins.update(underlying="I0", strike=dec(draw(st.integers(1, 10 ** (dp + 4))), dp),
                       expiry="2024-12-27T08:00:00Z", right=draw(st.sampled_from(["call", "put"])))
        if mode != "portfolio":
            kind = rule or draw(st.sampled_from(RULES))
            held_n = [abs(Decimal(sizes[s]).scaleb(-ds)) * Decimal(marks[s]).scaleb(-dp)] if s in held else notionals
            ins[requirement] = rule_dict(draw, kind, dr=dr, da=da, notionals=held_n, min_brackets=2 if pieces else 1,
                                         venue_rules=venue_rules)
            if other_rule_any:
                ins[other] = rule_dict(draw, draw(st.sampled_from(RULES)), dr=dr, da=da, notionals=held_n)
            else:
                ins[other] = {"rate": dec(draw(st.integers(0, 10**dr)), dr)}
        instruments.append(ins)

    collateral = []
    for a in assets:
        price = Decimal(1) if a == QUOTE else Decimal(prices[a]).scaleb(-dp)
        vals = [Decimal(balances[a]).scaleb(-da) * price] if a in balances else []
        collateral.append(collateral_dict(draw, a, dr=dr, da=da, values=vals, force_tiers=pieces))

    policy: dict = {
        "format": "zkmargin.policy/1",
        "venue": f"hypothesis-{mode}",
        "quote": QUOTE,
        "decimals": {"size": ds, "price": dp, "rate": dr, "amount": da},
        "bits": {"size": sb, "price": pb, "amount": ab},
        "requirement": requirement,
        "mode": mode,
        "buffer": dec(biased_int(draw, 0, 10**dr, (0, 0, 1)), dr),
        "collateral": collateral,
        "instruments": instruments,
    }
    if draw(st.integers(0, 2)) > 0:
        policy["rounding"] = {"mode": draw(st.sampled_from(["up", "down", "half_even"])),
                              "decimals": draw(st.integers(0, da))}
    if mode == "portfolio":
        ns = draw(st.integers(1, 3))
        span = 10 ** (dp + 3)
        pnl = {s: [dec(biased_int(draw, -span, span, (0, 1, -1)), dp) for _ in range(ns)] for s in symbols}
        scen = {"factor": dec(biased_int(draw, 0, 3 * 10**dr, (0, 10**dr)), dr),
                "names": [f"S{k}" for k in range(ns)], "pnl": pnl}
        if draw(st.booleans()):
            scen["initial_factor"] = dec(draw(st.integers(0, 3 * 10**dr)), dr)
        policy["scenarios"] = scen

    market_prices = {s: dec(marks[s], dp) for s in symbols}
    market_prices.update({a: dec(p, dp) for a, p in prices.items()})
    if draw(st.booleans()):
        market_prices[QUOTE] = "1"
    market = {"format": "zkmargin.market/1", "as_of": AS_OF, "prices": market_prices}

    account: dict = {
        "format": "zkmargin.account/1",
        "balances": {a: dec(v, da) for a, v in balances.items()},
        "positions": [{"symbol": s, "size": dec(sizes[s], ds), "entry_price": dec(entries[s], dp)} for s in held],
    }
    if mode == "isolated":
        iso = {}
        for s in held:
            if sizes[s] != 0 or draw(st.booleans()):
                iso[s] = dec(biased_int(draw, 0, amax, (0, 1, amax)), da)
        account["isolated_margin"] = iso

    case = {"policy": policy, "market": market, "account": account, "threshold": "0"}
    if mode == "isolated" and tight and held:
        _tighten_isolated(draw, case, held, amax)
    case["threshold"] = _threshold(draw, case, tight)
    return case


def _tighten_isolated(draw, case: dict, held: list[str], amax: int) -> None:
    """Often put one position's isolated margin on its tightest value (its own inequality holds
    with equality when representable) or one unit below."""
    if draw(st.integers(0, 2)) == 0:
        return
    try:
        p = load_policy(case["policy"])
        m = load_market(case["market"], p)
    except InputError:
        return
    s = draw(st.sampled_from(held))
    pos = next(x for x in case["account"]["positions"] if x["symbol"] == s)
    da = p.decimals.amount
    try:
        raw = position_requirement(p.instrument(s).rule(p.requirement), Decimal(pos["size"]), m.prices[s])
    except InputError:
        return
    with localcontext(EXACT):
        need = (1 + p.buffer) * apply_rounding(raw, p.rounding) - unrealized_pnl(Decimal(pos["size"]), m.prices[s], Decimal(pos["entry_price"]))
    iso = to_grid(need, da, up=True) + draw(st.sampled_from([0, 0, -1, 1])) * ulp(da)
    iso_int = int(iso.scaleb(da))
    if 0 <= iso_int <= amax:
        case["account"]["isolated_margin"][s] = dec(iso_int, da)


def _threshold(draw, case: dict, tight: bool) -> str:
    da = case["policy"]["decimals"]["amount"]
    choice = draw(st.integers(0, 5)) if tight else 0
    if choice in (0, 1):
        return "0" if choice == 0 else dec(draw(st.integers(0, 10 ** (da + 3))), da)
    try:
        rep = check(case["account"], case["market"], case["policy"], 0)
    except InputError:
        return "0"
    if rep.excess < 0:
        return "0"
    t = to_grid(rep.excess, da)  # the largest threshold that still passes
    if choice == 3:
        t += ulp(da)  # the smallest that fails
    return canonical(t)


def with_threshold(case: dict, threshold) -> dict:
    out = dict(case)
    out["threshold"] = canonical(Decimal(threshold))
    return out


# --- hand-made cases (boundaries, binding, batches) ----------------------------------------------

CROSS_INSTRUMENTS = [
    {"symbol": "A", "kind": "perpetual",
     "maintenance": {"brackets": [
         {"floor": "0", "cap": "1000", "rate": "0.01"},
         {"floor": "1000", "cap": "5000", "rate": "0.025"},
         {"floor": "5000", "cap": None, "rate": "0.05"}]},
     "initial": {"rate": "0.1"}},
    {"symbol": "B", "kind": "future", "maintenance": {"rate": "0.005", "per_size": "0.001"},
     "initial": {"rate": "0.05"}},
    {"symbol": "C", "kind": "perpetual", "maintenance": {"rate": "0.02"}, "initial": {"rate": "0.04"}},
]

COLLATERAL = [
    {"asset": "USD", "haircut": "0"},
    {"asset": "BTC", "tiers": [{"up_to": "1000", "haircut": "0.05"}, {"up_to": "5000", "haircut": "0.1"},
                               {"up_to": None, "haircut": "0.25"}]},
]


def base_policy(mode: str) -> dict:
    """A small policy of every feature for ``mode``: brackets (three, uncapped), size-scaled and
    flat rules, a flat and a tiered haircut, a buffer, rounding; in portfolio mode a perpetual,
    two options and three scenarios. Every amount the engine computes has at most 4 decimals (the
    amount scale), so thresholds can put the excess exactly on zero."""
    import copy

    p = {
        "format": "zkmargin.policy/1",
        "venue": f"test-{mode}",
        "quote": QUOTE,
        "decimals": {"size": 1, "price": 2, "rate": 3, "amount": 4},
        "bits": {"size": 16, "price": 24, "amount": 32},
        "requirement": "maintenance",
        "mode": mode,
        "buffer": "0.05" if mode != "isolated" else "0.1",
        "collateral": copy.deepcopy(COLLATERAL),
        "instruments": copy.deepcopy(CROSS_INSTRUMENTS),
        "rounding": {"mode": "up", "decimals": 2},
    }
    if mode == "portfolio":
        p["requirement"] = "initial"
        p["buffer"] = "0.1"
        p["rounding"] = {"mode": "half_even", "decimals": 2}
        p["instruments"] = [
            {"symbol": "A", "kind": "perpetual"},
            {"symbol": "O", "kind": "option", "underlying": "A", "strike": "250", "expiry": "2024-12-27T08:00:00Z",
             "right": "call"},
            {"symbol": "P", "kind": "option", "underlying": "A", "strike": "200", "expiry": "2024-12-27T08:00:00Z",
             "right": "put"},
        ]
        p["scenarios"] = {
            "factor": "1", "initial_factor": "1.5", "names": ["up", "down", "flat"],
            "pnl": {"A": ["25", "-25", "0"], "O": ["15.5", "-8.25", "-1"], "P": ["-7.5", "20", "-0.5"]},
        }
    return p


def base_market(mode: str) -> dict:
    prices = {"A": "250", "B": "40.5", "C": "12.34", "BTC": "600"}
    if mode == "portfolio":
        prices = {"A": "250", "O": "12.5", "P": "0", "BTC": "600"}  # P: a zero mark
    return {"format": "zkmargin.market/1", "as_of": AS_OF, "prices": prices}


def base_account(mode: str) -> dict:
    a = {
        "format": "zkmargin.account/1",
        "balances": {"USD": "2000", "BTC": "3"},
        "positions": [
            {"symbol": "A", "size": "8", "entry_price": "240"},
            {"symbol": "B", "size": "-12.5", "entry_price": "41"},
            {"symbol": "C", "size": "30", "entry_price": "12"},
        ],
    }
    if mode == "isolated":
        a["isolated_margin"] = {"A": "100", "B": "20", "C": "15"}
    if mode == "portfolio":
        a["positions"] = [
            {"symbol": "A", "size": "-4", "entry_price": "240"},
            {"symbol": "O", "size": "6", "entry_price": "11.25"},
            {"symbol": "P", "size": "-2.5", "entry_price": "1.5"},
        ]
    return a


def base_case(mode: str, threshold="5") -> dict:
    return {"policy": base_policy(mode), "market": base_market(mode), "account": base_account(mode),
            "threshold": canonical(Decimal(threshold))}
