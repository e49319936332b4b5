"""Gates and prove/verify time per feature of issue 15 (B): unified accounts with borrows (flat
weights, Drift's size-scaled weights, the weight on profit) and the requirement rules
(whole-position tiers, bracket multiplier + fee to close, leverage, open-interest-scaled IMF), each
added to the same two-perpetual, three-asset account. Run: ``python benchmarks/bench_unified.py``.
Ratios are to one native 4,096-point MSM measured in the same run."""

from __future__ import annotations

import copy
import os
import secrets
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from test_unified import ACCOUNT, MARKET, unified_policy  # noqa: E402

from zkmargin import check, prove, verify  # noqa: E402
from zkmargin.workflows.bench import msm_reference_seconds  # noqa: E402


def variants():
    base = unified_policy("maintenance")
    cross = copy.deepcopy(base)
    cross["mode"] = "cross"
    cross.pop("unified")
    for c in cross["collateral"]:
        for k in ("liability_weight", "loan_rate", "imf"):
            c.pop(k, None)
    for ins in cross["instruments"]:
        ins["maintenance"] = {"rate": "0.01"}
    acct_cross = copy.deepcopy(ACCOUNT)
    acct_cross["balances"] = {"USD": "5000", "SOL": "200", "BTC": "1.5"}
    yield "cross, flat rates (baseline)", cross, acct_cross
    u = copy.deepcopy(cross)
    u["mode"] = "unified"
    for c in u["collateral"]:
        c["liability_weight"] = "1.1"
    u["collateral"][0]["loan_rate"] = "0.1"
    yield "unified, flat weights + loan margin", u, ACCOUNT
    d = copy.deepcopy(u)
    d["collateral"][1]["imf"] = "0.05"
    yield "unified + Drift size weights (SOL)", d, ACCOUNT
    w = copy.deepcopy(d)
    w["unified"] = {"upnl_weight": "0.5"}
    yield "unified + Drift + profit weight", w, ACCOUNT
    for name, rule in [
        ("whole-position tiers", base["instruments"][1]["maintenance"]),
        ("bracket multiplier + fee to close", base["instruments"][0]["maintenance"]),
        ("OKX tiers by contracts", {"brackets": [{"floor": "0", "cap": "5", "rate": "0.01"},
                                                  {"floor": "5", "cap": None, "rate": "0.02"}],
                                     "whole_position": True, "basis": "size"}),
        ("leverage (Hyperliquid)", {"leverage": "3"}),
        ("open-interest IMF (dYdX)", {"rate": "0.2", "open_interest": {"lower_cap": "1000000", "upper_cap": "2000000"}}),
    ]:
        r = copy.deepcopy(cross)
        r["instruments"][0]["maintenance"] = rule
        r["instruments"][1]["maintenance"] = rule
        yield f"cross + {name}", r, acct_cross


def main() -> None:
    msm = msm_reference_seconds()
    print(f"MSM4096 {msm * 1000:.1f} ms; load {os.getloadavg()[0]:.2f}")
    print("| workload | gates | prove s | verify s | size B | prove/MSM | verify/MSM |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, pol, acct in variants():
        t = check(acct, MARKET, pol).excess
        ch = secrets.token_bytes(32)
        t0 = time.perf_counter()
        b = prove(acct, MARKET, pol, t, ch)
        t1 = time.perf_counter()
        verify(b.to_json(), MARKET, pol, t, ch)
        t2 = time.perf_counter()
        size = len(b.to_json())
        print(f"| {name} | {b.statement['gates']} | {t1 - t0:.2f} | {t2 - t1:.2f} | {size} | "
              f"{(t1 - t0) / msm:.1f} | {(t2 - t1) / msm:.1f} |")


if __name__ == "__main__":
    main()
