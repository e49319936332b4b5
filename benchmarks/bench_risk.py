"""Risk measures in the proof: expected shortfall, VaR and the worst loss over large scenario
tables, and a margin-call zone proof.

    python benchmarks/bench_risk.py                  # 20 instruments x 256 and 1 000 scenarios
    python benchmarks/bench_risk.py --scenarios 256  # one size
    python benchmarks/bench_risk.py --json out.json

Workload: portfolio margin over 20 instruments (4 perpetuals and 16 options on them, the
benchmark's W2 universe), default widths (64-bit sizes, 48-bit prices, 64-bit amounts), a
Monte-Carlo table of N scenarios (seeded, correlated log-normal, volatility shocks;
:mod:`zkmargin.rules.scenario_sources`), the account of W2. ES and VaR at k = ⌈N/40⌉ (97.5 %).

Every time is also a multiple of one native 4 096-point MSM measured in the same run
(``zkmargin.workflows.bench.msm_reference_seconds``); the load average is printed before and after. "build"
is the plan and the prover's circuit; "prove" the Bulletproofs prover after it; "verify" the
API's verify (plan, circuit, one MSM).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zkmargin  # noqa: E402
from zkmargin.api import ProveTimings  # noqa: E402
from zkmargin.errors import CircuitError  # noqa: E402
from zkmargin.rules.models import dump_document, load_account, load_market  # noqa: E402
from zkmargin.rules.scenario_sources import generate, underlyings  # noqa: E402
from zkmargin.workflows.bench import msm_reference_seconds, portfolio_workload  # noqa: E402

ZONES = [{"name": "healthy", "requirement": "initial", "ratio": "1.2"},
         {"name": "margin_call", "requirement": "maintenance", "ratio": "1"},
         {"name": "liquidation"}]


def workload(n: int, measure: dict | None, zones: bool = False):
    policy, market, account = portfolio_workload()
    base = dict(policy)
    base.pop("scenarios")
    if zones:
        base["zones"] = ZONES
    under = underlyings(zkmargin.load_policy({**base, "scenarios": policy["scenarios"]}))
    vols = {u: 0.6 for u in under}
    corr = [[1.0 if i == j else 0.5 for j in range(len(under))] for i in range(len(under))]
    model = {"seed": 2024, "n": n, "vols": vols, "correlation": corr, "vol_of_vol": {u: 1.5 for u in under}}
    pol = generate(base, market, method="monte_carlo", model=model, vols=vols, measure=measure, initial_factor="1.25")
    return dump_document(pol), market, account


def run(n: int, kind: str, zone: bool, unit: float) -> dict:
    k = max(1, math.ceil(n / 40))
    measure = None if kind == "worst" else {"kind": kind, "k": k}
    policy, market, account = workload(n, measure, zones=zone)
    pol = zkmargin.load_policy(policy)
    mkt = load_market(market, pol)
    acct = load_account(account, pol)
    ch = os.urandom(32)
    t = ProveTimings()
    t0 = time.perf_counter()
    bundle = zkmargin.prove(acct, mkt, pol, 0, ch, timings=t, zone="exact" if zone else None)
    total = time.perf_counter() - t0
    t0 = time.perf_counter()
    zkmargin.verify(bundle, mkt, pol, 0, ch)
    ver = time.perf_counter() - t0
    return {"workload": f"{'zone, ' if zone else ''}{kind}" + (f" k={k}" if measure else ""), "instruments": len(pol.instruments),
            "scenarios": n, "gates": bundle.statement["gates"], "padded": 1 << bundle.proof[5],
            "build_s": round(t.build, 3), "prove_s": round(t.prove, 3), "total_s": round(total, 3),
            "verify_s": round(ver, 3), "prove_x_msm": round(t.prove / unit, 1), "total_x_msm": round(total / unit, 1),
            "verify_x_msm": round(ver / unit, 1), "proof_bytes": len(bundle.proof)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", type=int, nargs="*", default=[256, 1000])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    unit = msm_reference_seconds()
    print(f"one native 4096-point MSM: {unit * 1000:.1f} ms")
    print("| workload | instr. | scen. | gates | padded | build s | prove s (×MSM) | verify s (×MSM) | proof B |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    rows = []
    for n in args.scenarios:
        for kind, zone in (("worst", False), ("expected_shortfall", False), ("var", False), ("expected_shortfall", True)):
            try:
                rows.append(run(n, kind, zone, unit))
            except CircuitError as exc:  # above the generator cap
                print(f"| {'zone, ' if zone else ''}{kind} | 20 | {n} | refused: {exc.message} |", flush=True)
                continue
            r = rows[-1]
            print(f"| {r['workload']} | {r['instruments']} | {r['scenarios']} | {r['gates']} | {r['padded']} | "
                  f"{r['build_s']} | {r['prove_s']} ({r['prove_x_msm']}) | {r['verify_s']} ({r['verify_x_msm']}) | "
                  f"{r['proof_bytes']} |", flush=True)
    unit2 = msm_reference_seconds()
    print(f"one native 4096-point MSM after: {unit2 * 1000:.1f} ms; load average after: {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"msm_reference_seconds": [unit, unit2], "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
