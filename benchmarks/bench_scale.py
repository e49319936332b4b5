"""Venue-scale benchmark (issue 12, part A): verification, batches, prover, universe sizes.

Every figure is printed with its ratio to one native 4,096-point MSM measured in the same run
(``zkmargin.workflows.bench.msm_reference_seconds``, the median of the yardstick measured before and after
each section), and the machine's load (``os.getloadavg``) is printed with it: this machine is
shared and absolute times drift by several times between runs.

    python benchmarks/bench_scale.py [--rounds 5] [--batch 100[,256]] [--universes 20,100,500,1000,2000]
                                     [--sections verify,batch,prove,universes,fixed]

* verify: W1 (``zkmargin bench`` cross workload, 20 instruments) — cold (the in-process cache of
  prepared verifiers cleared before each call: plan, circuit, digest, compiled weights rebuilt)
  and prepared (the cache warm, what ``serve``, the log and the audit get) — medians.
* batch: ``verify_batch`` over N *distinct* W1 proofs (fresh challenges), one process and two
  forked workers, with the columns' fixed-base tables and without, per-proof milliseconds.
* prove: W1 with ``FOLD_SPAN`` 16 and 32 in alternating rounds, with the share of prover time
  inside native MSM calls and the number of small (< 64-point) MSMs.
* fixed: the generator columns' MSM alone on one thread, the fixed-base tables at three window
  widths against the binding's variable-base MSM (not in the default sections).
* universes: cross universes (per-instrument layout), each in its own process: gates, padded,
  prove, verify, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} (1/5 min) on {os.cpu_count()} cores"


def msm_ref() -> float:
    from zkmargin.workflows.bench import msm_reference_seconds

    return msm_reference_seconds(repeats=5)


def w1():
    from zkmargin import load_account, load_market, load_policy
    from zkmargin.workflows.bench import cross_workload

    policy, market, account = cross_workload(20)
    pol = load_policy(policy)
    return pol, load_market(market, pol), load_account(account, pol)


def section_verify(rounds: int) -> None:
    """Each round times one yardstick MSM before each verification (the same points and random
    scalars as :func:`msm_reference_seconds`), so every path is compared with the machine as it
    was in the same second: ``× MSM4096`` is the median over rounds of the path's time divided by
    the yardstick just before it. The medians of the times themselves are printed too."""
    import zkmargin.prepared as prepared
    from zkmargin import prove, verify
    from zkmargin.api import _Verifier
    from zkmargin.crypto.backends import get_backend
    from zkmargin.crypto.generators import get_generators
    from zkmargin.verification import verify_prepared
    from zkmargin.workflows.bench import MSM_REFERENCE_POINTS

    pol, mkt, acct = w1()
    chs = [secrets.token_bytes(32) for _ in range(rounds * 2)]
    bundles = [prove(acct, mkt, pol, 0, ch) for ch in chs]  # distinct proofs: nothing cached per proof
    verify(bundles[0], mkt, pol, 0, chs[0])  # generators, imports
    held = _Verifier(mkt, pol, 0, None)  # what serve and the audit hold: documents digested once
    be = get_backend()
    points = get_generators(be).G(MSM_REFERENCE_POINTS)
    scalars = [secrets.randbelow(1 << 255) for _ in points]

    def yardstick() -> float:
        t0 = time.perf_counter()
        be.msm(points, scalars)
        return time.perf_counter() - t0

    paths = {
        "`verify()`, cold (circuit rebuilt)": lambda k: (prepared.clear(), verify(bundles[2 * k], mkt, pol, 0, chs[2 * k])),
        "`verify()`, prepared (cached by the documents' digests)": lambda k: verify(bundles[2 * k + 1], mkt, pol, 0, chs[2 * k + 1]),
        "a held prepared verifier (serve, audit)": lambda k: verify_prepared(held, bundles[2 * k], chs[2 * k]),
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    ratios: dict[str, list[float]] = {name: [] for name in paths}
    refs: list[float] = []
    # the cold path in rounds of its own first, so that what rebuilding a circuit leaves behind
    # (garbage, cold caches) does not fall into the prepared paths' rounds
    for group in (list(paths)[:1], list(paths)[1:]):
        for k in range(rounds):
            for name in group:
                ref = yardstick()
                t0 = time.perf_counter()
                paths[name](k)
                took = time.perf_counter() - t0
                refs.append(ref)
                times[name].append(took)
                ratios[name].append(took / ref)
    print(f"\n## W1 verify ({rounds} rounds, a yardstick MSM before each verification; {load()})")
    print("| path | seconds (median) | × MSM4096 (median of per-round ratios) |\n|---|---:|---:|")
    for name in paths:
        print(f"| {name} | {statistics.median(times[name]):.4f} | {statistics.median(ratios[name]):.2f} |")
    print(f"MSM4096 = {statistics.median(refs) * 1000:.1f} ms (median of {len(refs)}; "
          f"quartiles {statistics.quantiles(refs)[0] * 1000:.1f}–{statistics.quantiles(refs)[2] * 1000:.1f} ms)")


def section_batch(count: int, rounds: int) -> None:
    from zkmargin import prove, verify_batch

    pol, mkt, acct = w1()
    chs = [secrets.token_bytes(32) for _ in range(count)]
    t0 = time.perf_counter()
    bundles = [prove(acct, mkt, pol, 0, c) for c in chs]
    print(f"\n(proved {count} distinct W1 proofs in {time.perf_counter() - t0:.1f} s)")
    from zkmargin.crypto import fixed_base

    for _ in range(fixed_base.BUILD_AFTER_USES):  # the columns' fixed-base tables, built here
        verify_batch(bundles[:2], mkt, pol, 0, chs[:2], workers=1)
    ref0 = msm_ref()
    # with the tables and without (ZKMARGIN_FIXED_BASE=0, read at each MSM), in alternating rounds
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):
        for tables in ("1", "0"):
            os.environ[fixed_base.ENV] = tables
            for workers in (1, 2):
                t0 = time.perf_counter()
                verify_batch(bundles, mkt, pol, 0, chs, workers=workers)
                times.setdefault((tables, workers), []).append(time.perf_counter() - t0)
    os.environ.pop(fixed_base.ENV)
    ref = statistics.median([ref0, msm_ref()])
    print(f"\n## Batch of {count} distinct W1 proofs ({rounds} rounds, medians; {load()})")
    print("| columns | workers | total s | ms per proof | per proof × MSM4096 |\n|---|---:|---:|---:|---:|")
    for (tables, workers), ts in sorted(times.items(), reverse=True):
        m = statistics.median(ts)
        kind = "fixed-base tables" if tables == "1" else "variable-base"
        print(f"| {kind} | {workers} | {m:.3f} | {m / count * 1000:.2f} | {m / count / ref:.3f} |")
    print(f"MSM4096 = {ref * 1000:.1f} ms")


def section_prove(rounds: int) -> None:
    import zkmargin.prover.ipa as ipa
    from zkmargin import prove
    from zkmargin.crypto.backends import get_backend

    be = get_backend()
    pol, mkt, acct = w1()
    small = {"count": 0}
    real_msm = be.msm

    def counting(points, scalars):
        if len(points) < 64:
            small["count"] += 1
        return real_msm(points, scalars)

    be.msm = counting  # type: ignore[method-assign]
    real_many = be.msm_many

    def counting_many(jobs):
        small["count"] += sum(1 for p, _ in jobs if len(p) < 64)
        return real_many(jobs)

    be.msm_many = counting_many  # type: ignore[method-assign]
    prove(acct, mkt, pol, 0, secrets.token_bytes(32))
    ref0 = msm_ref()
    original = ipa.FOLD_SPAN
    results: dict[int, list[tuple[float, float, int]]] = {16: [], 32: []}
    for _ in range(rounds):
        for span in (16, 32):
            ipa.FOLD_SPAN = span
            small["count"] = 0
            m0 = be.msm_seconds
            t0 = time.perf_counter()
            prove(acct, mkt, pol, 0, secrets.token_bytes(32))
            total = time.perf_counter() - t0
            results[span].append((total, be.msm_seconds - m0, small["count"]))
    ipa.FOLD_SPAN = original
    be.msm, be.msm_many = real_msm, real_many  # type: ignore[method-assign]
    ref = statistics.median([ref0, msm_ref()])
    print(f"\n## W1 prove by FOLD_SPAN ({rounds} alternating rounds, medians; {load()})")
    print("| FOLD_SPAN | prove s | × MSM4096 | in native MSM | MSMs < 64 points |\n|---|---:|---:|---:|---:|")
    for span, rs in results.items():
        t = statistics.median(r[0] for r in rs)
        share = statistics.median(r[1] / r[0] for r in rs)
        print(f"| {span} | {t:.3f} | {t / ref:.1f} | {share:.0%} | {rs[0][2]} |")
    print(f"MSM4096 = {ref * 1000:.1f} ms")


UNIVERSE_CHILD = r"""
import json, resource, secrets, sys, time
from zkmargin import load_account, load_market, load_policy, prove, verify
from zkmargin.workflows.bench import cross_workload, msm_reference_seconds
n = int(sys.argv[1])
policy, market, account = cross_workload(n)
pol = load_policy(policy); mkt = load_market(market, pol); acct = load_account(account, pol)
ch = secrets.token_bytes(32)
t0 = time.perf_counter(); b = prove(acct, mkt, pol, 0, ch); tp = time.perf_counter() - t0
t0 = time.perf_counter(); verify(b, mkt, pol, 0, ch); tv_cold = time.perf_counter() - t0
t0 = time.perf_counter(); verify(b, mkt, pol, 0, ch); tv = time.perf_counter() - t0
ref = msm_reference_seconds(repeats=3)
print(json.dumps({"n": n, "gates": b.statement["gates"], "padded": 1 << b.proof[5], "prove": tp,
                  "verify_cold": tv_cold, "verify": tv, "msm": ref, "bytes": len(b.proof),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def section_universes(sizes: list[int]) -> None:
    print(f"\n## Cross universes, per-instrument layout (one process each; {load()} at start)")
    print("| instruments | gates | padded | prove s | × MSM | verify cold s | verify prepared s | × MSM | proof B | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        out = subprocess.run([sys.executable, "-c", UNIVERSE_CHILD, str(n)], capture_output=True, text=True,
                             env=os.environ.copy())
        if out.returncode != 0:
            print(f"| {n} | failed: {out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode} |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {n} | {r['gates']} | {r['padded']} | {r['prove']:.2f} | {r['prove'] / r['msm']:.1f} | "
              f"{r['verify_cold']:.3f} | {r['verify']:.3f} | {r['verify'] / r['msm']:.2f} | {r['bytes']} | "
              f"{r['peak_mb']:.0f} |", flush=True)
    print(f"({load()} at the end)")


def section_fixed(rounds: int) -> None:
    """The generator columns' MSM alone, one thread, 2,048 points: the fixed-base table
    (``zkmargin.crypto._g1fixed``) at three window widths against the binding's variable-base MSM
    of the same points, in alternating rounds, and each against the yardstick just before it
    (docs/notes/verification-at-scale.md, "Fixed-base generator columns")."""
    from py_arkworks_bls12381 import G1Point, Scalar

    from zkmargin.crypto import _g1fixed
    from zkmargin.crypto.backends import get_backend
    from zkmargin.crypto.field import R
    from zkmargin.crypto.generators import get_generators
    from zkmargin.workflows.bench import MSM_REFERENCE_POINTS

    be = get_backend()
    gens = get_generators(be)
    points = gens.H(2048)
    ref_points = gens.G(MSM_REFERENCE_POINTS)
    ref_scalars = [secrets.randbelow(1 << 255) for _ in ref_points]
    raw = be.dump_affine(points)
    shapes = [(12, 22), (13, 20), (14, 19)]
    tables = {}
    for c, w in shapes:
        t0 = time.perf_counter()
        tables[c] = _g1fixed.build_table(raw, c, w)
        tables[c, "build"] = time.perf_counter() - t0
    paths: dict[str, list[float]] = {f"fixed-base, c = {c}": [] for c, _ in shapes}
    paths["binding MSM (variable-base)"] = []
    ratios: dict[str, list[float]] = {name: [] for name in paths}
    refs = []
    for _ in range(rounds):
        scalars = [secrets.randbelow(R) for _ in points]
        packed = b"".join(k.to_bytes(32, "little") for k in scalars)
        native = [Scalar.from_le_bytes(k.to_bytes(32, "little")) for k in scalars]
        expect = None
        for name in paths:
            t0 = time.perf_counter()
            be.msm(ref_points, ref_scalars)
            ref = time.perf_counter() - t0
            refs.append(ref)
            t0 = time.perf_counter()
            if name.startswith("fixed"):
                c = int(name.rsplit(" ", 1)[1])
                got = G1Point.from_xy_bytes_unchecked_le(_g1fixed.msm(tables[c], c, dict(shapes)[c], 0, packed))
            else:
                got = G1Point.multiexp_unchecked(points, native)
            took = time.perf_counter() - t0
            expect = got if expect is None else expect
            if got != expect:
                raise SystemExit(f"{name}: a different point")
            paths[name].append(took)
            ratios[name].append(took / ref)
    print(f"\n## Generator columns' MSM alone, one thread, 2,048 points ({rounds} rounds; {load()})")
    print(f"field product: {'MULX/ADX assembly' if _g1fixed.use_assembly(True) else 'portable C'}")
    print("| path | table MB | build s | ms (median) | × MSM4096 (median of per-round ratios) |\n|---|---:|---:|---:|---:|")
    for name in paths:
        c = int(name.rsplit(" ", 1)[1]) if name.startswith("fixed") else None
        size = f"{len(tables[c]) / 1e6:.1f}" if c else "–"
        build = f"{tables[c, 'build']:.2f}" if c else "–"
        print(f"| {name} | {size} | {build} | {statistics.median(paths[name]) * 1000:.1f} | "
              f"{statistics.median(ratios[name]):.2f} |")
    print(f"MSM4096 = {statistics.median(refs) * 1000:.1f} ms (median of {len(refs)})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", default="100", help="batch sizes, comma-separated (distinct proofs each)")
    ap.add_argument("--universes", default="20,100,500,1000,2000")
    ap.add_argument("--sections", default="verify,batch,prove,universes")
    args = ap.parse_args()
    sections = args.sections.split(",")
    print(f"# bench_scale ({load()})")
    if "verify" in sections:
        section_verify(args.rounds)
    if "fixed" in sections:
        section_fixed(args.rounds)
    if "batch" in sections:
        for count in (int(c) for c in args.batch.split(",")):
            section_batch(count, max(1, args.rounds // 2))
    if "prove" in sections:
        section_prove(args.rounds)
    if "universes" in sections:
        section_universes([int(s) for s in args.universes.split(",") if s])


if __name__ == "__main__":
    main()
