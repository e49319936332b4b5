"""SPAN and Deribit PME add-ons: gates, prove and verify time per feature, against W2's scan-only
portfolio circuit.

    python benchmarks/bench_span.py            # the table (Markdown)
    python benchmarks/bench_span.py --json     # one JSON document

Workloads (deterministic; blindings fresh):

* ``W2`` — :func:`zkmargin.workflows.bench.portfolio_workload`: 4 perpetuals and 16 options, the 16 SPAN
  scenarios, worst loss over the whole portfolio (no venue add-on).
* ``W2+scan/cc`` — the same with a ``span`` section: one combined commodity per underlying, no
  spreads, no SOM (the scan per commodity instead of over the portfolio).
* ``W2+SPAN`` — plus tiers (perpetual 1, options 2), one intra spread per commodity (ratio 1), two
  inter-commodity spreads (BTC–ETH 1:10, SOL–BNB 4:1) and a short option minimum.
* ``W2+PME`` — W2 with a ``deribit_pme`` section: worst case rounded half-even to 4 decimals, two
  roll groups per underlying, a delta shock, option and futures contingencies.
* ``CME inter``, ``Deribit example`` — the published examples of tests/test_span.py and
  tests/test_deribit_pme.py.

Every time is also given as a multiple of one native 4,096-point MSM measured in the same run
(:func:`zkmargin.workflows.bench.msm_reference_seconds`, before and after); the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import span_cases as C  # noqa: E402

from zkmargin.crypto.backends import get_backend  # noqa: E402
from zkmargin.rules.scenarios import year_fraction  # noqa: E402
from zkmargin.workflows.bench import (  # noqa: E402
    _UNDERLYINGS,
    AS_OF,
    measure,
    msm_reference_seconds,
    portfolio_workload,
)


def _delta(spot: float, strike: float, t: float, vol: float, right: str) -> str:
    """Black–Scholes delta, two decimals (the policy's rate scale is 4; two keep it readable)."""
    d1 = (math.log(spot / strike) + 0.5 * vol * vol * t) / (vol * math.sqrt(t))
    n = 0.5 * (1 + math.erf(d1 / math.sqrt(2)))
    return f"{(n if right == 'call' else n - 1):.2f}"


def _w2_parts():
    policy, market, account = portfolio_workload()
    t = year_fraction(AS_OF, "2024-12-27T08:00:00Z")
    by_under: dict[str, list[dict]] = {}
    for ins in policy["instruments"]:
        under = ins["symbol"] if ins["kind"] != "option" else ins["underlying"]
        by_under.setdefault(under, []).append(ins)
    vols = {sym: vol for sym, _spot, vol in _UNDERLYINGS}
    deltas = {}
    for under, members in by_under.items():
        spot = float(market["prices"][under])
        for ins in members:
            deltas[ins["symbol"]] = ("1" if ins["kind"] != "option" else
                                     _delta(spot, float(ins["strike"]), t, vols[under], ins["right"]))
    return policy, market, account, by_under, deltas


def span_workload(*, spreads: bool) -> tuple[dict, dict, dict]:
    policy, market, account, by_under, deltas = _w2_parts()
    ccs = []
    for under, members in by_under.items():
        cc = {"name": under[:-4], "instruments": {
            i["symbol"]: {"delta": deltas[i["symbol"]], "tier": 1 if i["kind"] != "option" else 2}
            for i in members}}
        if spreads:
            spot = float(market["prices"][under])
            cc["price_scan_range"] = f"{0.15 * spot:.4f}"
            cc["short_option_minimum"] = f"{0.01 * spot:.4f}"
            cc["intra_spreads"] = [{"tier_a": 1, "tier_b": 2, "charge": f"{0.005 * spot:.4f}"}]
        ccs.append(cc)
    policy["span"] = {"version": 1, "combined_commodities": ccs, "inter_spreads": [
        {"cc_a": "BTC", "cc_b": "ETH", "ratio_a": "1", "ratio_b": "10", "credit_rate": "0.5"},
        {"cc_a": "SOL", "cc_b": "BNB", "ratio_a": "4", "ratio_b": "1", "credit_rate": "0.35"},
    ] if spreads else []}
    return policy, market, account


def pme_workload() -> tuple[dict, dict, dict]:
    policy, market, account, by_under, deltas = _w2_parts()
    roll, strikes = [], []
    for under, members in by_under.items():
        roll.append({"name": f"{under}-perp", "rate": "0.01", "instruments": [under]})
        roll.append({"name": f"{under}-dec", "rate": "0.0025",
                     "instruments": [i["symbol"] for i in members if i["kind"] == "option"]})
        by_strike: dict[str, list[str]] = {}
        for i in members:
            if i["kind"] == "option":
                by_strike.setdefault(i["strike"], []).append(i["symbol"])
        strikes += list(by_strike.values())
    policy["deribit_pme"] = {
        "version": 1, "worst_case_rounding": {"mode": "half_even", "decimals": 4},
        "deltas": {s: d for s, d in deltas.items() if s not in by_under},
        "roll_shock": roll, "delta_shock": {"threshold": "10", "slope": "0.001", "cap": "0.1"},
        "option_contingency": {"rate": "1", "strikes": strikes},
        "futures_contingency": {"rate": "0.01", "instruments": {
            u: market["prices"][u] for u in by_under}}}
    return policy, market, account


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    be = get_backend(None)
    load = os.getloadavg()
    msm0 = msm_reference_seconds(be)
    w = [("W2", portfolio_workload()),
         ("W2+scan/cc", span_workload(spreads=False)),
         ("W2+SPAN", span_workload(spreads=True)),
         ("W2+PME", pme_workload()),
         ("CME inter", (C.cme_inter_policy(), C.market(C.INTER_PRICES),
                        C.account({"ZC": 2, "ZS": -1}, C.INTER_PRICES, "2700"))),
         ("Deribit example", (C.deribit_policy(), C.market(C.DERIBIT_PRICES, C.DERIBIT_AS_OF),
                              C.account(C.DERIBIT_SIZES, C.DERIBIT_PRICES, "0.050274504784", "BTC")))]
    rows = []
    for name, docs in w:
        print(f"bench: {name} ...", file=sys.stderr)
        rows.append(measure(name, *docs, backend=be))
    msm = (msm0 + msm_reference_seconds(be)) / 2
    load_after = os.getloadavg()
    if args.json:
        print(json.dumps({"msm4096_seconds": msm, "load_before": load, "load_after": load_after,
                          "rows": [dict(r.to_json_dict(), prove_msm4096=r.prove_seconds / msm,
                                        verify_msm4096=r.verify_seconds / msm) for r in rows]},
                         indent=2))
        return 0
    print("| workload | instr. | scen. | gates | padded | prove s | prove ×MSM | verify s | verify ×MSM | bundle B |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r.workload} | {r.instruments} | {r.scenarios} | {r.gates} | {r.padded_gates} | "
              f"{r.prove_seconds:.2f} | {r.prove_seconds / msm:.0f} | {r.verify_seconds:.3f} | "
              f"{r.verify_seconds / msm:.1f} | {r.bundle_bytes} |")
    print(f"MSM 4096 = {msm * 1000:.1f} ms (mean of before/after); load average "
          f"{load[0]:.2f} before, {load_after[0]:.2f} after, {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
