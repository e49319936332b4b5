"""Audit of a 1,000-entry verification log: total time and the share spent in batch verification.

The log is built from real proofs of the example cross-margin account (zkmargin/data): P distinct
proofs, each with its own challenge, each logged R times (default 50 x 20 = 1,000 entries; proving
costs about 1 s each, so making 1,000 distinct proofs would only slow the setup down — the audit
re-verifies every entry either way). Proofs are cached in the work folder between runs.

    python benchmarks/bench_audit.py [--proofs 50] [--repeat 20] [--sample 100] [--dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proofs", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--sample", type=int, default=100, help="also time an audit of a seeded sample of this size")
    ap.add_argument("--dir", default=None, help="work folder (proof cache and the log); default: a temp folder")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import zkmargin
    from zkmargin.bundle import ProofBundle
    from zkmargin.verifier.audit import audit
    from zkmargin.verifier.log import VerificationLog

    data = resources.files("zkmargin.data")
    policy = zkmargin.load_policy(json.loads((data / "example_policy_cross.json").read_text()))
    market = zkmargin.load_market(json.loads((data / "example_market_cross.json").read_text()), policy)
    account = zkmargin.load_account(json.loads((data / "example_account_cross.json").read_text()), policy)

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="zkmargin-bench-audit-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "proofs"
    cache.mkdir(exist_ok=True)

    t0 = time.perf_counter()
    proofs = []
    made = 0
    for i in range(args.proofs):
        ch = i.to_bytes(4, "big") * 8
        f = cache / f"proof-{i:04d}.json"
        b = None
        if f.exists():
            b = ProofBundle.load(f)
            try:
                zkmargin.verify(b, market, policy, 0, ch)
            except zkmargin.ZkMarginError:  # cached with another circuit build
                b = None
        if b is None:
            b = zkmargin.prove(account, market, policy, 0, ch)
            b.save(f)
            made += 1
        proofs.append((b, ch))
    t_prove = time.perf_counter() - t0

    log_path = work / "venue.log"
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(str(log_path) + suffix)
        except FileNotFoundError:
            pass
    t0 = time.perf_counter()
    results = [zkmargin.verify(b, market, policy, 0, ch) for b, ch in proofs]
    t_verify_single = (time.perf_counter() - t0) / len(proofs)
    t0 = time.perf_counter()
    with VerificationLog(log_path) as log:
        for _r in range(args.repeat):
            for (b, ch), res in zip(proofs, results):
                log.record(b, policy, market, 0, ch, res)
    t_log = time.perf_counter() - t0
    n = args.proofs * args.repeat

    full = audit(log_path)
    assert full.clean, full.problems()
    sampled = audit(log_path, sample=args.sample, seed=1) if args.sample else None

    def summary(r):
        t = r.timings
        return {
            "entries": r.entries, "checked": r.checked, "total_s": round(t["total"], 3),
            "chain_s": round(t["chain"], 3), "documents_s": round(t["documents"], 3),
            "decode_s": round(t.get("decode", 0.0), 3), "batch_verify_s": round(t.get("batch_verify", 0.0), 3),
            "batch_verify_share": round(t.get("batch_verify", 0.0) / t["total"], 3) if t["total"] else None,
            "per_proof_ms": round(1000 * t["total"] / r.checked, 2) if r.checked else None,
        }

    out = {
        "log": str(log_path), "entries": n, "distinct_proofs": args.proofs, "repeat": args.repeat,
        "gates": proofs[0][0].statement["gates"], "proofs_made": made, "prove_s": round(t_prove, 2),
        "append_ms_per_entry": round(1000 * t_log / n, 3), "single_verify_ms": round(1000 * t_verify_single, 1),
        "audit_full": summary(full), "audit_sample": summary(sampled) if sampled else None,
        "log_bytes": sum(os.path.getsize(str(log_path) + s) for s in ("", "-wal") if os.path.exists(str(log_path) + s)),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    f = out["audit_full"]
    print(f"log: {n} entries ({args.proofs} distinct proofs x {args.repeat}), {out['gates']} gates each, "
          f"{out['log_bytes'] / 1e6:.1f} MB; append {out['append_ms_per_entry']} ms/entry (fsync per commit)")
    print(f"audit (all): {f['total_s']} s total = {f['per_proof_ms']} ms/proof; chain {f['chain_s']} s, documents "
          f"{f['documents_s']} s, decode+statement {f['decode_s']} s, batch verification {f['batch_verify_s']} s "
          f"({100 * f['batch_verify_share']:.0f}% of the total)")
    if sampled:
        s = out["audit_sample"]
        print(f"audit (sample {args.sample}): {s['total_s']} s total, batch verification {s['batch_verify_s']} s "
              f"({100 * s['batch_verify_share']:.0f}%)")
    print(f"for comparison: one proof verified alone {out['single_verify_ms']} ms -> "
          f"{out['single_verify_ms'] * n / 1000:.1f} s for {n} one by one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
