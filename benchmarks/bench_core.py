"""Proof-core benchmark (not part of the tests).

For circuits of 256 … 16384 multiplication gates (64-bit range checks on committed values) on the
chosen backend: prove and verify time, proof size, the share of prover time spent inside native
MSM calls, and batch verification time per proof (batch of 100 at 2048 gates). Also the
reference backend verifying a 256-gate proof.

    python benchmarks/bench_core.py [--sizes 256,2048] [--batch 100] [--json] [--no-reference]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time

from zkmargin.circuits import gadgets
from zkmargin.circuits.cs import ConstraintSystem
from zkmargin.crypto.backends import get_backend
from zkmargin.crypto.field import R
from zkmargin.crypto.generators import get_generators
from zkmargin.crypto.proof import R1CSProof
from zkmargin.prover.r1cs import prove
from zkmargin.verifier.r1cs import verify, verify_batch

PUBLIC = [(b"bench", b"zkmargin core benchmark")]


def range_circuit(cs: ConstraintSystem, gates: int) -> None:
    """gates/64 committed values, each range-checked to 64 bits (64 gates each)."""
    for k in range(cs.m):
        gadgets.range_check(cs, cs.inputs[k], 64, f"value {k}")


def make(gates: int, backend):
    m = max(1, gates // 64)
    values = [secrets.randbits(63) for _ in range(m)]
    cs = ConstraintSystem.for_prover(values)
    range_circuit(cs, gates)
    gammas = [secrets.randbelow(R) for _ in range(m)]
    be = get_backend(backend)
    msm0 = getattr(be, "msm_seconds", 0.0)
    t0 = time.perf_counter()
    proof, V = prove(cs, gammas, PUBLIC, be)
    prove_s = time.perf_counter() - t0
    msm_s = getattr(be, "msm_seconds", 0.0) - msm0
    vcs = ConstraintSystem.for_verifier(m)
    range_circuit(vcs, gates)
    return vcs, proof, V, prove_s, msm_s


def timed(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024,2048,4096,8192,16384")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--backend", default="arkworks")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-reference", action="store_true")
    args = ap.parse_args()
    be = get_backend(args.backend)
    gens = get_generators(be)
    rows = []
    for gates in [int(s) for s in args.sizes.split(",")]:
        gens.ensure(gates)  # generator derivation/cache load is not prover time
        make(min(gates, 256), be)  # warm up
        vcs, proof, V, prove_s, msm_s = make(gates, be)
        data = proof.to_bytes()
        p2 = R1CSProof.from_bytes(data, be)
        verify_s = timed(lambda: verify(vcs, p2, V, PUBLIC, be))  # noqa: B023 (timed calls it at once)
        rows.append({"workload": f"range {gates}", "gates": vcs.n, "padded": vcs.padded_n(), "prove_s": prove_s,
                     "verify_s": verify_s, "proof_bytes": len(data), "msm_share": msm_s / prove_s})
    batch = None
    if args.batch:
        items = []
        shared = None  # a venue verifies many proofs of one circuit: build it once
        for _ in range(args.batch):
            vcs, proof, V, *_ = make(2048, be)
            shared = shared or vcs
            items.append((shared, proof, V, PUBLIC))
        t0 = time.perf_counter()
        verify_batch(items, be)
        total = time.perf_counter() - t0
        batch = {"proofs": args.batch, "gates": 2048, "total_s": total, "per_proof_ms": total / args.batch * 1000}
    reference = None
    if not args.no_reference:
        ref = get_backend("py_ecc")
        get_generators(ref).ensure(256)
        vcs, proof, V, *_ = make(256, be)
        data = proof.to_bytes()
        Vr = [ref.decode(be.encode(v)) for v in V]
        t0 = time.perf_counter()
        verify(vcs, R1CSProof.from_bytes(data, ref), Vr, PUBLIC, ref)
        reference = {"backend": "py_ecc", "gates": vcs.n, "verify_s": time.perf_counter() - t0}
    if args.json:
        print(json.dumps({"rows": rows, "batch": batch, "reference": reference}, indent=2))
        return
    print(f"{'workload':<14}{'gates':>7}{'padded':>8}{'prove s':>9}{'verify ms':>11}{'size B':>8}{'MSM share':>11}")
    for r in rows:
        print(f"{r['workload']:<14}{r['gates']:>7}{r['padded']:>8}{r['prove_s']:>9.3f}{r['verify_s']*1000:>11.1f}{r['proof_bytes']:>8}{r['msm_share']:>10.0%}")
    if batch:
        print(f"batch verify: {batch['proofs']} proofs × {batch['gates']} gates in {batch['total_s']:.3f} s "
              f"({batch['per_proof_ms']:.1f} ms per proof)")
    if reference:
        print(f"reference backend (py_ecc): verify {reference['gates']}-gate proof in {reference['verify_s']:.2f} s")


if __name__ == "__main__":
    main()
