"""The service at venue scale, with real components only: micro-batching (requests arriving
together verified with one MSM, a forged proof among them named and refused while the honest ones
are accepted); two worker processes (``zkmargin serve --db postgresql://… --workers 2``, uvicorn's
supervisor) sharing the challenges, the rates and the log in a real PostgreSQL server started by
the test suite; the outcome lookup by challenge; and faults under load: the database restarted
mid-run (503 with Retry-After, then service resumes; nothing answered as accepted is missing from
the log) and a worker killed mid-request (its clients get an error or the answer; the lookup tells
them which; the supervisor starts a new worker). Every loop is bounded; every server stops."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx", reason="httpx (the test client) is not installed")
pytest.importorskip("fastapi", reason="the 'serve' extra is not installed")

import zkmargin  # noqa: E402
from zkmargin.errors import VerificationError  # noqa: E402
from zkmargin.verifier.audit import audit  # noqa: E402
from zkmargin.verifier.log import VerificationLog, check_receipt  # noqa: E402
from zkmargin.workflows import custodian as A  # noqa: E402
from zkmargin.workflows.service import Service, ServiceLimits, add_client, parse_rate  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from log_helpers import ACCOUNT, MARKET, POLICY  # noqa: E402
from serve_process import ServeProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GENEROUS = ServiceLimits(client_challenges=parse_rate("100000/minute"), client_verifies=parse_rate("100000/minute"),
                         client_outstanding=10_000, global_challenges=None, global_verifies=None)
_POL = zkmargin.load_policy(POLICY)
_MKT = zkmargin.load_market(MARKET, _POL)


def prove(ch: bytes) -> dict:
    return zkmargin.prove(ACCOUNT, _MKT, _POL, 0, ch).to_json_dict()


def forged(good: dict, ch: bytes) -> dict:
    """A real proof for another challenge that claims to answer ``ch``: the statement matches, the
    transcript does not, so only the multi-scalar multiplication refuses it."""
    doc = json.loads(json.dumps(good))
    doc["statement"]["challenge"] = ch.hex()
    return doc


# --- micro-batching ------------------------------------------------------------------------------


def test_micro_batching_verifies_arrivals_together_and_names_the_forged_proof(tmp_path):
    key = A.generate_private_key()
    _c, api_key = add_client(tmp_path / "clients.json", "t1", "acct-1")
    svc = Service(POLICY, MARKET, 0, clients=tmp_path / "clients.json", log=tmp_path / "v.log", log_key=key,
                  limits=GENEROUS, batch_window=0.2, max_batch=16)
    try:
        client = svc.authenticate(f"Bearer {api_key}")
        chs = [bytes.fromhex(svc.issue(client)["challenge"]) for _ in range(7)]
        bundles = [prove(ch) for ch in chs[:6]] + [forged(prove(b"\x42" * 32), chs[6])]
        with cf.ThreadPoolExecutor(7) as pool:
            futs = [pool.submit(svc.verify, client, b, ch.hex()) for b, ch in zip(bundles, chs)]
            outs = []
            for f in futs:
                try:
                    outs.append(f.result(timeout=120))
                except VerificationError as exc:
                    outs.append(exc)
        assert [isinstance(o, dict) and o["valid"] for o in outs[:6]] == [True] * 6
        bad = outs[6]
        assert isinstance(bad, VerificationError) and "does not verify" in bad.message
        assert bad.log_entry["result"] == "rejected"
        assert svc.batcher.jobs == 7 and svc.batcher.batches < 7  # arrivals were verified together
        # the twin: each alone, one by one — the forged proof is refused and an honest one accepted
        ch = bytes.fromhex(svc.issue(client)["challenge"])
        with pytest.raises(VerificationError):
            svc.verify(client, forged(prove(b"\x43" * 32), ch), ch.hex())
        ch = bytes.fromhex(svc.issue(client)["challenge"])
        assert svc.verify(client, prove(ch), ch.hex())["valid"]
    finally:
        svc.close()
    r = audit(tmp_path / "v.log", venue_key=A.public_key_hex(key))
    assert r.clean and (r.accepted, r.rejected) == (7, 2), r.problems()


# --- two workers on PostgreSQL -------------------------------------------------------------------


class Workers(ServeProcess):
    """``zkmargin serve --db URL --workers 2`` in a subprocess (this checkout's code)."""

    def __init__(self, dsn: str, root: Path, clients: Path, key_file: Path):
        (root / "policy.json").write_text(json.dumps(POLICY))
        (root / "market.json").write_text(json.dumps(MARKET))
        super().__init__(root / "policy.json", root / "market.json", clients, key_file, workers=2, timeout=90,
                         err=root / "serve.err",
                         args=["--db", dsn, "--client-challenges", "1000/minute", "--client-verifies",
                               "1000/minute", "--client-outstanding", "1000", "--global-challenges",
                               "100000/minute", "--global-verifies", "100000/minute"])


@pytest.fixture(scope="module")
def two_workers(pg, tmp_path_factory):
    root = tmp_path_factory.mktemp("workers")
    key = A.generate_private_key()
    key_file = root / "venue.pem"
    A.write_private(key_file, A.private_key_pem(key))
    clients = root / "clients.json"
    _a, key_a = add_client(clients, "alice", "acct-a")
    _b, key_b = add_client(clients, "bob", "acct-b", challenges="8/minute")
    dsn = pg.new_database()
    w = Workers(dsn, root, clients, key_file)
    yield {"w": w, "dsn": dsn, "key": key, "alice": {"Authorization": f"Bearer {key_a}"},
           "bob": {"Authorization": f"Bearer {key_b}"}}
    w.stop()


def fresh_challenge(url: str, auth: dict) -> bytes:
    for _ in range(100):
        r = httpx.post(url + "/v1/challenge", headers=auth, timeout=30)
        if r.status_code == 200:
            return bytes.fromhex(r.json()["challenge"])
        assert r.status_code in (429, 503), r.text
        time.sleep(min(float(r.headers.get("Retry-After", "1")), 2.0))
    raise AssertionError("no challenge")


def post_verify(url: str, auth: dict, bundle: dict, ch: bytes):
    try:
        with httpx.Client(timeout=120) as c:  # a connection of its own: the kernel spreads them
            return c.post(url + "/v1/verify", headers=auth, json={"bundle": bundle, "challenge": ch.hex()})
    except httpx.HTTPError as exc:
        return exc


def test_two_workers_share_challenges_rates_and_one_log(two_workers):
    w, auth, other = two_workers["w"], two_workers["alice"], two_workers["bob"]
    # one rate over both workers: bob may ask 8 challenges a minute, then 429 whichever worker answers
    codes = [httpx.post(w.url + "/v1/challenge", headers=other, timeout=30) for _ in range(9)]
    assert [r.status_code for r in codes] == [200] * 8 + [429] and "Retry-After" in codes[-1].headers
    chs = [fresh_challenge(w.url, auth) for _ in range(8)]
    bundles = [prove(ch) for ch in chs]
    with cf.ThreadPoolExecutor(4) as pool:
        res = list(pool.map(lambda bc: post_verify(w.url, auth, *bc), zip(bundles, chs)))
    assert [r.status_code for r in res] == [200] * 8, [getattr(r, "text", r) for r in res]
    ids = sorted(r.json()["entry"]["id"] for r in res)
    assert ids == list(range(1, 9))  # one sequence over both workers
    # a challenge is single-use across workers (the twin of the 200s above)
    again = [post_verify(w.url, auth, b, ch).status_code for b, ch in zip(bundles[:3], chs[:3])]
    assert again == [409] * 3
    # the outcome lookup: the owner gets the entry and a receipt; another client gets 404
    look = httpx.get(f"{w.url}/v1/verification/{chs[0].hex()}", headers=auth, timeout=30)
    assert look.status_code == 200 and look.json()["entry"]["result"] == "accepted"
    check_receipt(look.json()["receipt"], A.public_key_hex(two_workers["key"]))
    assert httpx.get(f"{w.url}/v1/verification/{chs[0].hex()}", headers=other, timeout=30).status_code == 404
    assert httpx.get(f"{w.url}/v1/verification/{'00' * 32}", headers=auth, timeout=30).status_code == 404
    assert httpx.get(f"{w.url}/v1/verification/{chs[0].hex()}", timeout=30).status_code == 401
    r = audit(two_workers["dsn"], venue_key=A.public_key_hex(two_workers["key"]))
    assert r.clean and r.accepted == 8 and r.entries == 8, r.problems()


def _settle(w, auth, bundles, chs, results) -> tuple[set, set]:
    """(challenges answered 200, challenges the log accepted, looked up by each client)."""
    ok = {ch for ch, r in zip(chs, results) if not isinstance(r, Exception) and r.status_code == 200}
    accepted = set()
    for ch in chs:
        look = httpx.get(f"{w.url}/v1/verification/{ch.hex()}", headers=auth, timeout=30)
        assert look.status_code in (200, 404), look.text
        if look.status_code == 200 and look.json()["entry"]["result"] == "accepted":
            accepted.add(ch)
    return ok, accepted


def test_postgres_restarted_mid_run_fails_cleanly_with_503_and_resumes(two_workers, pg):
    w, auth, dsn = two_workers["w"], two_workers["alice"], two_workers["dsn"]
    chs = [fresh_challenge(w.url, auth) for _ in range(8)]
    bundles = [prove(ch) for ch in chs]
    results: list = [None] * len(chs)
    restarted = threading.Event()

    def restart():
        time.sleep(0.3)
        pg.stop("fast")
        down = post_verify(w.url, auth, bundles[-1], chs[-1])  # while the database is down: 503
        results[-1] = down
        time.sleep(1.0)
        pg.start()
        restarted.set()

    t = threading.Thread(target=restart)
    t.start()
    with cf.ThreadPoolExecutor(2) as pool:
        futs = {pool.submit(post_verify, w.url, auth, b, ch): i for i, (b, ch) in enumerate(zip(bundles[:-1], chs[:-1]))}
        for f in cf.as_completed(futs):
            results[futs[f]] = f.result()
    t.join(timeout=120)
    assert restarted.is_set()
    down = results[-1]
    assert not isinstance(down, Exception) and down.status_code == 503 and "Retry-After" in down.headers
    assert "database is unavailable" in down.json()["error"] and dsn.split("@")[-1] not in down.text
    statuses = {r.status_code for r in results if not isinstance(r, Exception)}
    assert statuses <= {200, 503}, statuses
    # service resumes: the 503'd request's challenge was not spent (nothing was written), so it succeeds now
    for _ in range(50):
        again = post_verify(w.url, auth, bundles[-1], chs[-1])
        if not isinstance(again, Exception) and again.status_code != 503:
            break
        time.sleep(0.5)
    assert again.status_code == 200, again.text
    results[-1] = again
    ok, accepted = _settle(w, auth, bundles, chs, results)
    assert ok <= accepted  # nothing answered as accepted is missing from the log
    r = audit(dsn, venue_key=A.public_key_hex(two_workers["key"]))
    assert r.clean, r.problems()


def test_a_worker_killed_mid_request_loses_nothing_it_answered(two_workers):
    w, auth, dsn = two_workers["w"], two_workers["alice"], two_workers["dsn"]
    chs = [fresh_challenge(w.url, auth) for _ in range(8)]
    bundles = [prove(ch) for ch in chs]
    before = w.worker_pids()
    assert len(before) == 2
    victim = before[0]
    results: list = [None] * len(chs)

    def kill_soon():
        time.sleep(0.15)
        os.kill(victim, signal.SIGKILL)

    killer = threading.Thread(target=kill_soon)
    with cf.ThreadPoolExecutor(8) as pool:
        futs = {pool.submit(post_verify, w.url, auth, b, ch): i for i, (b, ch) in enumerate(zip(bundles, chs))}
        killer.start()
        for f in cf.as_completed(futs):
            results[futs[f]] = f.result()
    killer.join()
    for r in results:  # an error or the answer, never a wrong answer
        assert isinstance(r, httpx.HTTPError) or r.status_code == 200, getattr(r, "text", r)
    ok, accepted = _settle(w, auth, bundles, chs, results)
    assert ok <= accepted
    for ch, r in zip(chs, results):  # a client who got an error looks its outcome up
        if isinstance(r, Exception):
            assert ch in accepted or httpx.get(f"{w.url}/v1/verification/{ch.hex()}", headers=auth,
                                               timeout=30).status_code == 404
    # the supervisor starts a new worker, and the service goes on
    deadline = time.monotonic() + 60
    while not (len(w.worker_pids()) == 2 and victim not in w.worker_pids()):
        assert time.monotonic() < deadline, "no replacement worker"
        time.sleep(0.2)
    ch = fresh_challenge(w.url, auth)
    assert post_verify(w.url, auth, prove(ch), ch).status_code == 200
    r = audit(dsn, venue_key=A.public_key_hex(two_workers["key"]))
    assert r.clean, r.problems()
    with VerificationLog(dsn) as log:
        assert log.accepted_seq(ch) is not None
