"""Issue 15 (A): gates, prove and verify time per coverage feature (hedge legs, inverse contracts,
option standard margin, open orders), each beside the same account without the feature where one
exists, with the ratio to one native 4,096-point MSM measured in the same run.

Run: ``python benchmarks/bench_coverage.py`` (prints a table; quote it with ``uptime``).
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from test_coverage import CASES  # noqa: E402

from zkmargin import prove, verify  # noqa: E402
from zkmargin.workflows.bench import msm_reference_seconds  # noqa: E402


def run(name: str, case: dict, reps: int = 3) -> list[str]:
    best_p = best_v = float("inf")
    size = gates = 0
    for _ in range(reps):
        ch = secrets.token_bytes(32)
        t0 = time.perf_counter()
        b = prove(case["account"], case["market"], case["policy"], "0", ch)
        t1 = time.perf_counter()
        res = verify(b.to_json(), case["market"], case["policy"], "0", ch)
        t2 = time.perf_counter()
        best_p, best_v = min(best_p, t1 - t0), min(best_v, t2 - t1)
        size, gates = len(b.proof), res.gates
    return [name, str(gates), f"{best_p:.3f}", f"{best_v:.3f}", str(size)]


def main() -> None:
    msm = msm_reference_seconds()
    rows = []
    for name in sorted(CASES):
        case = CASES[name]()
        rows.append(run(name, case))
        if name == "hedge":  # the same instruments in one-way mode, one position per symbol
            one = json.loads(json.dumps(case))
            one["policy"].pop("position_mode")
            one["account"]["positions"] = [{k: v for k, v in one["account"]["positions"][0].items() if k != "side"}]
            rows.append(run("one-way (same policy)", one))
        if name == "orders":
            no = json.loads(json.dumps(case))
            no["policy"].pop("open_orders")
            no["account"].pop("orders")
            rows.append(run("no orders (same policy)", no))
    print(f"MSM 4096 reference: {msm * 1000:.1f} ms")
    print(f"{'workload':26} {'gates':>6} {'prove s':>8} {'verify s':>9} {'bytes':>6} {'prove/MSM':>10} {'verify/MSM':>10}")
    for r in rows:
        print(f"{r[0]:26} {r[1]:>6} {r[2]:>8} {r[3]:>9} {r[4]:>6} {float(r[2]) / msm:>10.1f} {float(r[3]) / msm:>10.1f}")


if __name__ == "__main__":
    main()
