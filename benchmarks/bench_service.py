"""The verification service over loopback (issue 12): ``zkmargin serve`` with W1-like proofs.

Two set-ups, each a real ``zkmargin serve`` subprocess of this checkout on 127.0.0.1:

* ``sqlite``: ``--log FILE``, 1 worker (challenges and rates in memory);
* ``postgres``: ``--db postgresql://…``, 2 workers (uvicorn's supervisor) sharing the log, the
  challenges and the rates in a PostgreSQL server started in a temporary folder the way
  ``tests/pg_server.py`` does (it is that module's ``PgServer``; Debian's ``postgresql`` binaries).

For each concurrency level (default 1, 8, 32) the benchmark first asks the service for
``--requests`` fresh challenges (single use: a proof cannot be reused across levels, so every
level has proofs of its own), proves one distinct W1 proof per challenge
(``zkmargin.workflows.bench.cross_workload(20)``, the ``zkmargin bench`` W1 venue) in a pool of
``--provers`` processes while the service sits idle, and only then sends them all, ``concurrency``
requests in flight at a time, each on a keep-alive connection of its own thread. The clock runs
from the first request to the last answer: verifications/s is accepted answers over that time;
p50/p99 are per-request latencies (with 60 requests p99 is about the slowest). The service runs
with ``--challenge-ttl 3600`` so no challenge expires while the proofs are made. The client (the
sending threads) runs on the same 2-core machine as the service, so the figures are the service's
throughput *with* its client's load.

After each level: the log's entry count must equal the requests accepted so far, and an audit
(``zkmargin.verifier.audit.audit`` with the venue key, every proof re-verified) must call it
clean; both are columns of the table. One native 4,096-point MSM measured in the same run and the
machine's load are printed with it (the machine is shared: quote ratios).

Default: 60 requests per level (3 levels x 2 stores = 360 distinct proofs, most of the run is the
proving), about 6 minutes on the 2-core machine; the full run is ``--requests 200``.

    PYTHONPATH=$PWD python benchmarks/bench_service.py [--requests 60] [--concurrency 1,8,32]
                                                      [--stores sqlite,postgres] [--provers 2]
                                                      [--instruments 20] [--json]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's zkmargin, for this process and the service
sys.path.insert(0, str(ROOT / "tests"))
from serve_process import ServeProcess  # noqa: E402  (the service in a subprocess, shared with the tests)

_PROVER: dict = {}


def _prover_init(account: dict, market: dict, policy: dict) -> None:
    import zkmargin

    pol = zkmargin.load_policy(policy)
    _PROVER.update(account=account, policy=pol, market=zkmargin.load_market(market, pol))


def _prove(challenge_hex: str) -> bytes:
    import zkmargin

    b = zkmargin.prove(_PROVER["account"], _PROVER["market"], _PROVER["policy"], 0, bytes.fromhex(challenge_hex))
    return json.dumps({"bundle": b.to_json_dict(), "challenge": challenge_hex}, separators=(",", ":")).encode()


class Service(ServeProcess):
    """``zkmargin serve`` in a subprocess (its own session, stopped with SIGTERM), with limits
    no benchmark reaches and a challenge TTL longer than the proving."""

    def __init__(self, root: Path, store: str, target: str, workers: int, clients: Path, key_file: Path):
        store_args = ["--db", target] if store == "postgres" else ["--log", target]
        super().__init__(root / "policy.json", root / "market.json", clients, key_file, workers=workers,
                         err=root / f"serve-{store}.err",
                         args=[*store_args, "--challenge-ttl", "3600", "--client-challenges", "1000000/minute",
                               "--client-verifies", "1000000/minute", "--client-outstanding", "100000",
                               "--global-challenges", "1000000/minute", "--global-verifies", "1000000/minute"])


def challenges(url: str, auth: dict, n: int) -> list[str]:
    import httpx

    out = []
    with httpx.Client(timeout=30, headers=auth) as c:
        while len(out) < n:
            r = c.post(url + "/v1/challenge")
            if r.status_code != 200:
                raise RuntimeError(f"POST /v1/challenge answered {r.status_code}: {r.text[:300]}")
            out.append(r.json()["challenge"])
    return out


def send_all(url: str, auth: dict, bodies: list[bytes], concurrency: int) -> tuple[float, list[float], int, int]:
    """Every body POSTed to /v1/verify, ``concurrency`` in flight. (wall seconds, latencies,
    accepted, other answers).

    The client is kept as light as it can be, because it shares the 2-core machine with the
    service it measures: each sending thread holds one keep-alive connection (a plain socket) and
    writes requests built before the clock starts, reads the status line, the headers and exactly
    ``Content-Length`` bytes, and parses the answer's JSON to check ``"valid": true``. (An httpx
    client spent about 17 ms of CPU per request here, as much as the service's own verification.)"""
    import socket
    from itertools import count
    from urllib.parse import urlsplit

    where = urlsplit(url)
    host, port = where.hostname or "127.0.0.1", where.port or 80
    head = "".join(f"{k}: {v}\r\n" for k, v in auth.items())
    requests = [(f"POST /v1/verify HTTP/1.1\r\nHost: {host}:{port}\r\n{head}Content-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n").encode() + body for body in bodies]
    refused: list[str] = []
    lat = [0.0] * len(requests)
    ok = [False] * len(requests)
    next_index = count()
    ready = threading.Barrier(concurrency + 1)

    def answer(f) -> tuple[int, bytes]:
        status = int(f.readline().split()[1])
        length = 0
        while (line := f.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, f.read(length)

    def connect() -> tuple[socket.socket, Any]:
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, sock.makefile("rb")

    def sender() -> None:
        sock, f = connect()
        ready.wait()
        while (i := next(next_index)) < len(requests):
            t0 = time.perf_counter()
            try:
                sock.sendall(requests[i])
                status, body = answer(f)
                good = status == 200 and json.loads(body).get("valid") is True
                if not good:
                    refused.append(f"{status} {body[:300]!r}")
            except (OSError, ValueError, IndexError) as exc:  # a dropped connection: a new one
                refused.append(f"{type(exc).__name__}: {exc}")
                good = False
                f.close()
                sock.close()
                sock, f = connect()
            lat[i], ok[i] = time.perf_counter() - t0, good
        f.close()
        sock.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    ready.wait()  # every thread has its connection before the clock starts
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    acc = sum(ok)
    if refused:
        print(f"  {len(refused)} requests not accepted; the first: {refused[0]}", file=sys.stderr)
    return wall, lat, acc, len(requests) - acc


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def run_store(store: str, workers: int, args, docs, work: Path, pool, pg) -> list[dict]:
    from zkmargin.verifier.audit import audit
    from zkmargin.workflows import custodian as A
    from zkmargin.workflows.service import add_client

    root = work / store
    root.mkdir()
    policy, market, _account = docs
    (root / "policy.json").write_text(json.dumps(policy))
    (root / "market.json").write_text(json.dumps(market))
    key = A.generate_private_key()
    key_file = root / "venue.pem"
    A.write_private(key_file, A.private_key_pem(key))
    clients = root / "clients.json"
    _c, api_key = add_client(clients, "bench", "acct-bench", challenges="1000000/minute",
                             verifies="1000000/minute", outstanding=100000)
    auth = {"Authorization": f"Bearer {api_key}"}
    target = pg.new_database() if store == "postgres" else str(root / "v.log")
    svc = Service(root, store, target, workers, clients, key_file)
    rows = []
    accepted_total = 0
    try:
        for conc in args.concurrency:
            chs = challenges(svc.url, auth, args.requests)
            t0 = time.perf_counter()
            bodies = list(pool.map(_prove, chs))
            prove_s = time.perf_counter() - t0
            wall, lat, acc, bad = send_all(svc.url, auth, bodies, conc)
            accepted_total += acc
            r = audit(target, venue_key=A.public_key_hex(key))
            rows.append({"store": store, "workers": workers, "concurrency": conc, "requests": len(bodies),
                         "accepted": acc, "other": bad, "verifications_per_s": round(acc / wall, 2),
                         "p50_ms": round(1000 * statistics.median(lat), 1), "p99_ms": round(1000 * pct(lat, 0.99), 1),
                         "wall_s": round(wall, 3), "prove_s_total": round(prove_s, 1),
                         "log_entries": r.entries, "accepted_so_far": accepted_total,
                         "log_matches": r.entries == accepted_total and r.accepted == accepted_total,
                         "audit_clean": r.clean, "audit_problems": r.problems()[:3]})
            print(f"  {store}, {workers} worker(s), concurrency {conc}: {acc}/{len(bodies)} accepted, "
                  f"{acc / wall:.1f}/s (proving took {prove_s:.0f} s, not timed)", file=sys.stderr)
    finally:
        svc.stop()
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=60, help="requests (distinct proofs) per concurrency level")
    ap.add_argument("--concurrency", default="1,8,32", help="requests in flight, comma-separated levels")
    ap.add_argument("--stores", default="sqlite,postgres", help="sqlite (1 worker), postgres (2 workers)")
    ap.add_argument("--provers", type=int, default=2, help="processes proving the pool up front")
    ap.add_argument("--instruments", type=int, default=20, help="instruments of the W1-like venue")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        args.concurrency = [int(x) for x in args.concurrency.split(",")]
    except ValueError:
        ap.error("--concurrency takes integers separated by commas")
    stores = args.stores.split(",")
    if args.requests < 1 or any(c < 1 for c in args.concurrency) or not set(stores) <= {"sqlite", "postgres"}:
        ap.error("--requests and every concurrency must be >= 1; --stores is sqlite and/or postgres")

    from zkmargin.workflows.bench import cross_workload, msm_reference_seconds

    docs = cross_workload(args.instruments)
    policy, market, account = docs
    msm = msm_reference_seconds()
    work = Path(tempfile.mkdtemp(prefix="zkmargin-bench-svc-"))
    pg = None
    rows: list[dict] = []
    ctx = multiprocessing.get_context("fork")
    with cf.ProcessPoolExecutor(args.provers, mp_context=ctx, initializer=_prover_init,
                                initargs=(account, market, policy)) as pool:
        try:
            for store in stores:
                if store == "postgres":
                    sys.path.insert(0, str(ROOT / "tests"))
                    from pg_server import PgServer

                    pg = PgServer()
                rows += run_store(store, 2 if store == "postgres" else 1, args, docs, work, pool, pg)
        finally:
            if pg is not None:
                pg.close()
    msm_after = msm_reference_seconds()
    one, five, fifteen = os.getloadavg()
    load = f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"
    out = {"instruments": args.instruments, "msm_4096_s": round(msm, 4), "msm_4096_s_after": round(msm_after, 4),
           "load": load, "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
           "rows": rows}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"zkmargin serve over loopback, W1-like proofs ({args.instruments} instruments), "
              f"{args.requests} distinct proofs per level proved up front; one native 4,096-point MSM = "
              f"{1000 * msm:.1f} ms before, {1000 * msm_after:.1f} ms after; {out['uptime']}")
        head = (f"{'store':<9} {'workers':>7} {'conc':>5} {'requests':>8} {'accepted':>8} {'verif/s':>8} "
                f"{'p50 ms':>8} {'p99 ms':>8} {'p50/MSM':>8} {'log = accepted':>15} {'audit':>6}")
        print(head)
        print("-" * len(head))
        for r in rows:
            print(f"{r['store']:<9} {r['workers']:>7} {r['concurrency']:>5} {r['requests']:>8} {r['accepted']:>8} "
                  f"{r['verifications_per_s']:>8.2f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
                  f"{r['p50_ms'] / 1000 / msm:>8.2f} "
                  f"{('yes ' if r['log_matches'] else 'NO ') + str(r['log_entries']) + '/' + str(r['accepted_so_far']):>15} "
                  f"{'clean' if r['audit_clean'] else 'NOT':>6}")
    ok = all(r["log_matches"] and r["audit_clean"] and r["other"] == 0 for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
