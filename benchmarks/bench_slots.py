"""Whole-universe proofs: the K-slot lookup circuit against the per-instrument layout.

    python benchmarks/bench_slots.py                 # W3 and the table (long: the per-instrument
                                                    # layout at 500 instruments proves for minutes
                                                    # on a loaded machine)
    python benchmarks/bench_slots.py --w3            # W3 only
    python benchmarks/bench_slots.py --json out.json

W3: cross margin, 500 perpetuals each with a ten-bracket maintenance table (5 000 rows + the null
row), 10 collateral assets, K = 16 position slots, 16 positions held. The table: universes of 20 to
2 000 instruments (ten brackets each) against K = 4, 16, 64, and the same universes in the
per-instrument layout (one slot per instrument; refused above 2^18 gates, the generator cap).

Every time is also given as a multiple of one native 4 096-point MSM measured in the same run
(best of five), because the machine is shared and absolute times drift; the load average is
printed before and after. "prove" includes building the plan and the circuit; "verify" is the
API's verify (plan, circuit, digests, decoding, phase 2, one MSM); "prepared" is what a venue that
keeps one verifier per policy and market pays per proof (decoding, phase 2, one MSM).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zkmargin  # noqa: E402
from zkmargin.api import ProveTimings, _Verifier  # noqa: E402
from zkmargin.circuits.layouts import build, plan_margin  # noqa: E402
from zkmargin.crypto.backends import get_backend  # noqa: E402
from zkmargin.crypto.generators import get_generators  # noqa: E402
from zkmargin.rules.models import load_account, load_market, load_policy  # noqa: E402
from zkmargin.rules.models.provability import MAX_GATES  # noqa: E402
from zkmargin.verifier.r1cs import verify_batch  # noqa: E402

AS_OF = "2024-06-03T08:00:00Z"
UNIVERSES = (20, 100, 500, 1000, 2000)
SLOTS = (4, 16, 64)
PER_INSTRUMENT_PROVE_MAX = 500  # above this the per-instrument layout is refused or takes minutes


def _mark(i: int) -> Decimal:
    return Decimal(((i * 7919) % 99991) + 137) / 100 + Decimal(5 * (i % 7))


def workload(n: int, *, brackets: int = 10, K: int | None = 16, assets: int = 10, held: int = 16):
    """(policy, market, account) dicts: ``n`` perpetuals with ``brackets``-bracket maintenance
    tables (caps doubling from 50 000), ``assets`` collateral assets, ``held`` positions spread over
    the universe (longs and shorts, sizes putting their notionals in different brackets), and
    ``"slots": K`` (omitted for the per-instrument layout)."""
    instruments, prices, positions = [], {}, []
    step = max(1, n // max(1, held))
    for i in range(n):
        sym = f"P{i:04d}USDT"
        mark = _mark(i)
        prices[sym] = str(mark)
        table, floor = [], Decimal(0)
        for k in range(brackets):
            cap = Decimal(50000) * (2**k) if k < brackets - 1 else None
            table.append({"floor": str(floor), "cap": None if cap is None else str(cap),
                          "rate": str(Decimal(40 + 10 * k) / 10000)})
            floor = cap
        instruments.append({"symbol": sym, "kind": "perpetual", "maintenance": {"brackets": table},
                            "initial": {"rate": "0.02"}})
        if i % step == 0 and len(positions) < held:
            notional = Decimal(20000) * (3 ** (len(positions) % 6))
            size = (notional / mark).quantize(Decimal("0.001"))
            size = size if len(positions) % 2 == 0 else -size
            entry = (mark * Decimal("0.98")).quantize(Decimal("0.01"))
            positions.append({"symbol": sym, "size": str(size), "entry_price": str(entry)})
    collateral = [{"asset": "USDT", "haircut": "0"}]
    balances = {"USDT": "5000000"}
    for a in range(assets - 1):
        collateral.append({"asset": f"C{a}", "haircut": "0.05"})
        prices[f"C{a}"] = str(Decimal(100 + 37 * a) + Decimal("0.5"))
        balances[f"C{a}"] = str(3 + a)
    policy = {
        "format": "zkmargin.policy/1", "venue": f"bench-slots-{n}", "quote": "USDT",
        "decimals": {"size": 3, "price": 2, "rate": 4, "amount": 8},
        "bits": {"size": 64, "price": 48, "amount": 64},
        "requirement": "maintenance", "mode": "cross", "buffer": "0.05",
        "collateral": collateral, "instruments": instruments,
    }
    if K is not None:
        policy["slots"] = K
    market = {"format": "zkmargin.market/1", "as_of": AS_OF, "prices": prices}
    account = {"format": "zkmargin.account/1", "balances": balances, "positions": positions}
    return policy, market, account


def msm4096(be) -> float:
    pts = [be.mul(be.generator(), i + 1) for i in range(4096)]
    sc = [secrets.randbelow(2**255) for _ in range(4096)]
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        be.msm(pts, sc)
        best = min(best, time.perf_counter() - t)
    return best


def measure(n: int, K: int | None, be, *, held: int | None = None, prove: bool = True) -> dict:
    held = held if held is not None else (K or 16)
    p, m, a = workload(n, K=K, held=min(held, n))
    pol = load_policy(p)
    mkt = load_market(m, pol)
    acct = load_account(a, pol)
    plan = plan_margin(pol, mkt, Decimal(0))
    row = {"universe": n, "layout": "slots" if K else "per-instrument", "K": K, "held": len(a["positions"])}
    cs = build(plan)
    row.update(gates=cs.total_gates, padded=cs.padded_n(), phase2_gates=cs.phase2_gates,
               table_rows=len(plan.table) if K else None, commitments=len(plan.slots))
    if cs.padded_n() > MAX_GATES:
        row["refused"] = f"{cs.total_gates} gates: above the {MAX_GATES:,}-gate generator cap"
        return row
    if not prove:
        return row
    ch = secrets.token_bytes(32)
    tm = ProveTimings()
    t = time.perf_counter()
    bundle = zkmargin.prove(acct, mkt, pol, 0, ch, backend=be, timings=tm)
    row["prove_s"] = time.perf_counter() - t
    row["build_s"] = tm.build
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        zkmargin.verify(bundle, mkt, pol, 0, ch, backend=be)
        best = min(best, time.perf_counter() - t)
    row["verify_s"] = best
    v = _Verifier(mkt, pol, 0, be)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        verify_batch([v.item(bundle, ch)], backend=be)
        best = min(best, time.perf_counter() - t)
    row["prepared_verify_s"] = best
    row["proof_bytes"] = len(bundle.proof)
    row["binary_bytes"] = bundle.size
    row["bundle_bytes"] = len(bundle.to_json().encode())
    return row


def ratios(row: dict, unit: float) -> dict:
    for key in ("prove_s", "verify_s", "prepared_verify_s"):
        if key in row:
            row[key.replace("_s", "_x")] = row[key] / unit
    return row


def table_md(rows: list[dict]) -> str:
    head = ("| layout | universe | K | gates | padded | prove s (×MSM) | verify s (×MSM) | prepared s (×MSM) "
            "| proof B | +commit. B | bundle B |")
    out = [head, "|" + "---|" * 11]
    for r in rows:
        if "refused" in r:
            out.append(f"| {r['layout']} | {r['universe']} | {r['K'] or '-'} | {r['gates']} | {r['padded']} "
                       f"| refused: above the generator cap | | | | | |")
            continue
        if "prove_s" not in r:
            out.append(f"| {r['layout']} | {r['universe']} | {r['K'] or '-'} | {r['gates']} | {r['padded']} | (not run) | | | | | |")
            continue
        out.append(
            f"| {r['layout']} | {r['universe']} | {r['K'] or '-'} | {r['gates']} | {r['padded']} "
            f"| {r['prove_s']:.2f} ({r['prove_x']:.1f}) | {r['verify_s']:.3f} ({r['verify_x']:.1f}) "
            f"| {r['prepared_verify_s']:.3f} ({r['prepared_verify_x']:.1f}) | {r['proof_bytes']} "
            f"| {r['binary_bytes']} | {r['bundle_bytes']} |"
        )
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--w3", action="store_true", help="W3 only")
    ap.add_argument("--no-per-instrument", action="store_true", help="skip proving the per-instrument layout")
    ap.add_argument("--json", help="write the raw rows here")
    args = ap.parse_args(argv)
    be = get_backend("arkworks")
    get_generators(be).ensure(1 << 16)
    load_before = os.getloadavg()
    unit = msm4096(be)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average before {load_before[0]:.2f}")
    print(f"one native 4096-point MSM: {unit * 1000:.1f} ms (the unit of the ×MSM columns)")
    rows = [ratios(measure(500, 16, be), unit)]
    w3 = rows[0]
    print(f"\nW3 (500 perpetuals × 10 brackets, 10 assets, K = 16): {w3['gates']} gates ({w3['phase2_gates']} in "
          f"phase 2), padded {w3['padded']}; prove {w3['prove_s']:.2f} s = {w3['prove_x']:.1f}×MSM; verify "
          f"{w3['verify_s']:.3f} s = {w3['verify_x']:.1f}×MSM (prepared {w3['prepared_verify_s']:.3f} s = "
          f"{w3['prepared_verify_x']:.1f}×MSM); proof {w3['proof_bytes']} B, +commitments {w3['binary_bytes']} B, "
          f"JSON bundle {w3['bundle_bytes']} B")
    if not args.w3:
        for n in UNIVERSES:
            for K in SLOTS:
                if n == 500 and K == 16:
                    continue
                rows.append(ratios(measure(n, K, be), unit))
                print(table_md(rows[-1:]).splitlines()[-1], flush=True)
            prove = not args.no_per_instrument and n <= PER_INSTRUMENT_PROVE_MAX
            rows.append(ratios(measure(n, None, be, held=16, prove=prove), unit))
            print(table_md(rows[-1:]).splitlines()[-1], flush=True)
    unit_after = msm4096(be)
    load_after = os.getloadavg()
    print(f"\nMSM unit after: {unit_after * 1000:.1f} ms; load average after {load_after[0]:.2f}")
    print()
    print(table_md(sorted(rows, key=lambda r: (r["layout"] != "slots", r["universe"], r["K"] or 0))))
    if args.json:
        Path(args.json).write_text(json.dumps({"msm4096_s": unit, "msm4096_after_s": unit_after,
                                               "load_before": load_before, "load_after": load_after,
                                               "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
