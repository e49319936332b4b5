"""The transparency log: append cost, receipt size, signed-head check time, and the audit of a
10,000-entry log.

How the big log is built (a fast path, not 10,000 proofs): one small valid proof (the
one-instrument venue of the tests, made without a challenge so the single-use rule does not apply
to it) is logged as accepted ``--entries`` times through ``VerificationLog.record`` — the real
append path (leaf, compact range, Ed25519-signed head per entry, receipt) — on a log opened with
``durable=False`` (no fsync per commit). The fsync'd append cost is measured separately on a fresh
log (``--fsync-appends`` appends).

``--dask-workers 1,2`` audits the same log re-verifying every proof three ways: in this process,
and on a Dask LocalCluster of 1 and of 2 worker processes (``audit(..., dask_client=)``; the
cluster is started before the clock starts, its start-up time printed apart), and prints
entries/s for each, with one native 4,096-point MSM measured in the same run and the machine's
load (the machine is shared: quote ratios). Every way must find the log clean.

    python benchmarks/bench_audit.py [--entries 10000] [--sample 100] [--fsync-appends 200]
                                     [--full] [--dask-workers 1,2] [--dir DIR] [--json]
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
    # the fast path logs one proof made without a challenge: this venue must accept such proofs
    # (since the trust rule's default became "challenged proofs only")
    "trust": {"unchallenged": True},
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
    ap.add_argument("--dask-workers", default=None, metavar="N,M",
                    help="also audit re-verifying every proof in this process and on Dask LocalClusters of "
                         "these worker counts (e.g. 1,2); entries/s for each")
    ap.add_argument("--dir", default=None, help="work folder (default: a temp folder)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        dask_counts = [int(x) for x in args.dask_workers.split(",")] if args.dask_workers else []
    except ValueError:
        ap.error("--dask-workers takes worker counts separated by commas, e.g. 1,2")
    if any(n < 1 for n in dask_counts):
        ap.error("--dask-workers: every count must be >= 1")

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
    full = audit(big, venue_key=pub) if args.full or dask_counts else None
    if full is not None:
        assert full.clean and full.checked == args.entries, full.problems()
    dask_rows = _dask_audits(big, pub, full, dask_counts) if dask_counts else None
    out = {
        "entries": args.entries, "gates": bundle.statement["gates"],
        "append_ms_fsync": round(append_fsync_ms, 3), "append_ms_no_fsync": round(append_nofsync_ms, 3),
        "receipt_bytes_compact": len(receipt_json), "receipt_path_hashes": len(last.inclusion_proof),
        "sth_check_us": round(sth_check_us, 1), "inclusion_check_us": round(inclusion_us, 1),
        "audit_structure": summary(structure), "audit_sample": summary(sampled),
        "audit_full": summary(full) if full else None,
        "dask": dask_rows,
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
    if dask_rows:
        _print_dask(dask_rows)
    return 0


def _dask_audits(big: Path, pub: str, single, counts: list[int]) -> dict:
    """The full audit of ``big`` in this process (``single``, already run) and on a LocalCluster of
    each count in ``counts``: entries/s, the same findings required of every run."""
    from zkmargin.verifier.audit import audit
    from zkmargin.verifier.audit.cluster import dask_client
    from zkmargin.workflows.bench import msm_reference_seconds

    msm = msm_reference_seconds()

    def row(mode: str, workers: int | None, r, startup: float | None) -> dict:
        total = r.timings["total"]
        return {"mode": mode, "workers": workers, "entries": r.entries, "checked": r.checked, "clean": r.clean,
                "startup_s": None if startup is None else round(startup, 2), "audit_s": round(total, 3),
                "entries_per_s": round(r.entries / total, 1), "audit_over_msm": round(total / msm, 1)}

    rows = [row("single process", None, single, None)]
    for n in counts:
        t0 = time.perf_counter()
        with dask_client(workers=n) as client:
            client.wait_for_workers(n, timeout=120)
            startup = time.perf_counter() - t0
            r = audit(big, venue_key=pub, dask_client=client)
        assert r.clean and r.checked == single.checked and r.failed_proofs == single.failed_proofs, r.problems()
        rows.append(row("Dask LocalCluster", n, r, startup))
    return {"msm_4096_s": round(msm, 4), "load": _load(), "rows": rows}


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def _print_dask(d: dict) -> None:
    print(f"\nfull audit (every proof re-verified), single process vs Dask; one native 4,096-point MSM = "
          f"{1000 * d['msm_4096_s']:.1f} ms in this run; {d['load']}")
    head = f"{'mode':<18} {'workers':>7} {'entries':>8} {'checked':>8} {'start s':>8} {'audit s':>8} " \
           f"{'entries/s':>10} {'audit/MSM':>10} {'clean':>6}"
    print(head)
    print("-" * len(head))
    for r in d["rows"]:
        start = "-" if r["startup_s"] is None else f"{r['startup_s']:.2f}"
        print(f"{r['mode']:<18} {r['workers'] or '-':>7} {r['entries']:>8} {r['checked']:>8} {start:>8} "
              f"{r['audit_s']:>8.3f} {r['entries_per_s']:>10.1f} {r['audit_over_msm']:>10.1f} "
              f"{'yes' if r['clean'] else 'NO':>6}")


if __name__ == "__main__":
    sys.exit(main())
