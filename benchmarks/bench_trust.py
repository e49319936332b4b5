"""The trust chain's costs (issue 9): W1 and W2 gates, prove and verify with the cost-basis bound,
and what the venue's trust rule adds to a verification (a W1 proof over one custodian's attested
commitments, against the same proof's bare cryptographic check). Every time is also given as a
ratio to one native 4,096-point MSM measured in the same run.

    python benchmarks/bench_trust.py [--rounds 5] [--json]

The log's costs (append, receipt size, audit of 10,000 entries) are measured by
``benchmarks/bench_audit.py``; the service's by the load tests in ``tests/test_service.py``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime


def _median(f, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import zkmargin
    from zkmargin.api import _verify_bare
    from zkmargin.workflows import custodian as A
    from zkmargin.workflows.bench import cross_workload, msm_reference_seconds, portfolio_workload

    msm = msm_reference_seconds(repeats=args.rounds)
    rows = []
    for name, (pol, mkt, acct) in (("W1", cross_workload(20)), ("W2", portfolio_workload())):
        ch = secrets.token_bytes(32)
        bundle = zkmargin.prove(acct, mkt, pol, 0, ch)
        prove_s = _median(lambda a=acct, m=mkt, p=pol: zkmargin.prove(a, m, p, 0, secrets.token_bytes(32)),
                          args.rounds)
        verify_s = _median(lambda b=bundle, m=mkt, p=pol, c=ch: zkmargin.verify(b, m, p, 0, c), args.rounds)
        rows.append({"workload": name, "gates": bundle.statement["gates"], "prove_s": prove_s,
                     "verify_s": verify_s, "proof_bytes": len(bundle.proof), "binary_bytes": bundle.size})

    # the trust rule: W1 with one custodian listed, attestation carried in the bundle
    pol, mkt, acct = cross_workload(20)
    key = A.generate_private_key()
    now = datetime.now(UTC).replace(microsecond=0)
    mkt = {**mkt, "as_of": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    pol = {**pol, "trust": {"custodians": [{"name": "bench-custody", "key": A.public_key_hex(key)}],
                            "max_age_seconds": 600}}
    ch = secrets.token_bytes(32)
    att, op = A.attest(acct, mkt, pol, key, subject="bench-account", challenge=ch)
    attested = A.prove_attested(acct, mkt, pol, 0, ch, attestations=[att], openings=[op])
    full = _median(lambda: zkmargin.verify(attested, mkt, pol, 0, ch, subject="bench-account"), args.rounds)
    bare = _median(lambda: _verify_bare(attested, mkt, pol, 0, ch), args.rounds)
    trust = {"verify_with_trust_rule_s": full, "bare_verify_s": bare, "trust_overhead_s": full - bare,
             "bundle_json_bytes": len(attested.to_json().encode()), "attestation_json_bytes": len(att.to_json().encode())}

    if args.json:
        print(json.dumps({"msm4096_s": msm, "workloads": rows, "trust": trust}, indent=2))
        return 0
    print(f"{'workload':<9}{'gates':>7}{'prove s':>9}{'×MSM':>7}{'verify s':>10}{'×MSM':>7}{'proof B':>9}{'+commit. B':>12}")
    for r in rows:
        print(f"{r['workload']:<9}{r['gates']:>7}{r['prove_s']:>9.3f}{r['prove_s'] / msm:>7.1f}{r['verify_s']:>10.3f}"
              f"{r['verify_s'] / msm:>7.2f}{r['proof_bytes']:>9}{r['binary_bytes']:>12}")
    print(f"W1 with one custodian: verify {full * 1000:.1f} ms ({full / msm:.2f}×MSM), of which the trust rule "
          f"{(full - bare) * 1000:.2f} ms; bundle {trust['bundle_json_bytes']} B JSON "
          f"(attestation {trust['attestation_json_bytes']} B)")
    print(f"×MSM: over one native 4,096-point MSM in the same run ({msm * 1000:.1f} ms, median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
