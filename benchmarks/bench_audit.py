"""The transparency log: append cost, receipt size, signed-head check time, and the audit of a
10,000-entry log.

How the big log is built (a fast path, not 10,000 proofs): one small valid proof (the
one-instrument venue of the tests, made without a challenge so the single-use rule does not apply
to it) is logged as accepted ``--entries`` times through ``VerificationLog.record`` — the real
append path (leaf, compact range, Ed25519-signed head per entry, receipt) — on a log opened with
``durable=False`` (no fsync per commit). The fsync'd append cost is measured separately on a fresh
log (``--fsync-appends`` appends).

    python benchmarks/bench_audit.py [--entries 10000] [--sample 100] [--fsync-appends 200]
                                     [--full] [--dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

POLICY = {
    "format": "zkmargin.policy/1", "venue": "small-venue", "quote": "USDT",
    "decimals": {"size": 3, "price": 2, "rate": 4, "amount": 2},
    "bits": {"size": 32, "price": 32, "amount": 40},
    "requirement": "maintenance", "mode": "cross", "buffer": "0.1",
    "collateral": [{"asset": "USDT", "haircut": "0"}],
    "instruments": [{"symbol": "BTCUSDT", "kind": "perpetual", "maintenance": {"rate": "0.005"},
                     "initial": {"rate": "0.01"}}],
}
MARKET = {"format": "zkmargin.market/1", "as_of": "2024-06-03T08:00:00Z", "prices": {"BTCUSDT": "67250.40"}}
ACCOUNT = {"format": "zkmargin.account/1", "balances": {"USDT": "10000"},
           "positions": [{"symbol": "BTCUSDT", "size": "1.5", "entry_price": "66000"}]}


def _fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(str(path) + suffix)
        except FileNotFoundError:
            pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=100, help="audit re-verifying a seeded sample of this size")
    ap.add_argument("--fsync-appends", type=int, default=200, help="appends timed with one fsync each")
    ap.add_argument("--full", action="store_true", help="also audit re-verifying every entry's proof")
    ap.add_argument("--dir", default=None, help="work folder (default: a temp folder)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import zkmargin
    from zkmargin.verifier.audit import audit
    from zkmargin.verifier.log import VerificationLog
    from zkmargin.verifier.log.merkle import verify_inclusion
    from zkmargin.workflows import custodian as attest

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="zkmargin-bench-log-"))
    work.mkdir(parents=True, exist_ok=True)
    pol = zkmargin.load_policy(POLICY)
    mkt = zkmargin.load_market(MARKET, pol)
    key = attest.generate_private_key()
    pub = attest.public_key_hex(key)
    bundle = zkmargin.prove(ACCOUNT, mkt, pol, 0, None)
    result = zkmargin.verify(bundle, mkt, pol, 0, None)

    # appends with one fsync each (what a venue pays per verification)
    durable = work / "durable.log"
    _fresh(durable)
    with VerificationLog(durable, signing_key=key) as log:
        log.record(bundle, pol, mkt, 0, None, result)  # documents stored once, schema warm
        t0 = time.perf_counter()
        for _ in range(args.fsync_appends):
            log.record(bundle, pol, mkt, 0, None, result)
        append_fsync_ms = 1000 * (time.perf_counter() - t0) / args.fsync_appends

    # the big log, fast path (no fsync)
    big = work / "big.log"
    _fresh(big)
    head_at = max(1, args.entries // 2)
    with VerificationLog(big, signing_key=key, durable=False) as log:
        t0 = time.perf_counter()
        for i in range(args.entries):
            appended = log.record(bundle, pol, mkt, 0, None, result)
            if i + 1 == head_at:
                old_head = appended.receipt.sth.to_json_dict()
                old_receipt = appended.receipt.to_json_dict()
        append_nofsync_ms = 1000 * (time.perf_counter() - t0) / args.entries
        last = appended.receipt
    receipt_json = json.dumps(last.to_json_dict(), separators=(",", ":"))
    t0 = time.perf_counter()
    n_check = 1000
    for _ in range(n_check):
        assert last.sth.signature_valid(pub)
    sth_check_us = 1e6 * (time.perf_counter() - t0) / n_check
    t0 = time.perf_counter()
    for _ in range(n_check):
        assert verify_inclusion(last.leaf_hash, last.index, last.sth.tree_size, last.inclusion_proof,
                                last.sth.root_hash)
    inclusion_us = 1e6 * (time.perf_counter() - t0) / n_check

    def summary(r):
        t = r.timings
        return {"entries": r.entries, "heads": r.heads, "checked": r.checked, "clean": r.clean,
                "total_s": round(t["total"], 3), "tree_s": round(t["tree"], 3), "heads_s": round(t["heads"], 3),
                "evidence_s": round(t["evidence"], 3), "documents_s": round(t["documents"], 3),
                "batch_verify_s": round(t.get("batch_verify", 0.0), 3)}

    structure = audit(big, venue_key=pub, sths=[old_head], receipts=[old_receipt], verify_proofs=False)
    assert structure.clean, structure.problems()
    sampled = audit(big, venue_key=pub, sths=[old_head], sample=args.sample, seed=1)
    assert sampled.clean, sampled.problems()
    full = audit(big, venue_key=pub) if args.full else None
    out = {
        "entries": args.entries, "gates": bundle.statement["gates"],
        "append_ms_fsync": round(append_fsync_ms, 3), "append_ms_no_fsync": round(append_nofsync_ms, 3),
        "receipt_bytes_compact": len(receipt_json), "receipt_path_hashes": len(last.inclusion_proof),
        "sth_check_us": round(sth_check_us, 1), "inclusion_check_us": round(inclusion_us, 1),
        "audit_structure": summary(structure), "audit_sample": summary(sampled),
        "audit_full": summary(full) if full else None,
        "log_bytes": sum(os.path.getsize(str(big) + s) for s in ("", "-wal") if os.path.exists(str(big) + s)),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    s, p = out["audit_structure"], out["audit_sample"]
    print(f"append: {out['append_ms_fsync']} ms/entry with fsync, {out['append_ms_no_fsync']} ms without "
          f"(leaf, signed head, receipt included)")
    print(f"receipt at tree size {args.entries}: {out['receipt_bytes_compact']} bytes of compact JSON, "
          f"{out['receipt_path_hashes']} path hashes; signed-head check {out['sth_check_us']} us, "
          f"inclusion check {out['inclusion_check_us']} us")
    print(f"audit of {args.entries} entries ({out['log_bytes'] / 1e6:.1f} MB), without re-verifying proofs: "
          f"{s['total_s']} s (tree {s['tree_s']} s, {s['heads']} signed heads {s['heads_s']} s, old head + "
          f"receipt {s['evidence_s']} s)")
    print(f"audit re-verifying a sample of {args.sample}: {p['total_s']} s (batch verification "
          f"{p['batch_verify_s']} s)")
    if full:
        f = out["audit_full"]
        print(f"audit re-verifying all {args.entries}: {f['total_s']} s (batch verification {f['batch_verify_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
