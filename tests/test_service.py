"""The verification service over a real socket on 127.0.0.1 (uvicorn in a thread, httpx client):
challenge -> prove -> verify, replays, body limits (with and without Content-Length), clear JSON
errors, OpenAPI, and a bounded load test whose every request lands in the log."""

from __future__ import annotations

import concurrent.futures as cf
import json
import socket
import sys
import threading
import time

import pytest

fastapi = pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi) is not installed")
uvicorn = pytest.importorskip("uvicorn", reason="the 'serve' extra (uvicorn) is not installed")
httpx = pytest.importorskip("httpx", reason="httpx (the test client) is not installed")

import zkmargin  # noqa: E402
from zkmargin.errors import MissingExtraError, ReplayError, ServiceBusyError  # noqa: E402
from zkmargin.service import ChallengeStore, create_app  # noqa: E402
from zkmargin.verifier.audit import audit  # noqa: E402
from zkmargin.verifier.log import VerificationLog  # noqa: E402

# A small venue (one perpetual, one collateral asset): ~0.15 s per proof, so the load test can
# use a fresh proof for every one of its requests.
POLICY = {
    "format": "zkmargin.policy/1", "venue": "service-test-venue", "quote": "USDT",
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
MAX_BODY = 256 * 1024
LOAD_REQUESTS = 200
LOAD_CONCURRENCY = 4


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, app):
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    log = tmp_path_factory.mktemp("service") / "venue.log"
    app = create_app(POLICY, MARKET, 0, log=log, max_body=MAX_BODY)
    with Server(app) as srv:
        srv.log = log
        with httpx.Client(base_url=srv.url, timeout=60) as client:
            srv.client = client
            yield srv


def challenge(client) -> str:
    r = client.post("/v1/challenge")
    assert r.status_code == 200, r.text
    return r.json()["challenge"]


def prove_for(ch_hex: str):
    return zkmargin.prove(ACCOUNT, MARKET, POLICY, 0, bytes.fromhex(ch_hex))


def entries(log) -> int:
    with VerificationLog(log) as lg:
        return len(lg)


# --- the round trip ------------------------------------------------------------------------------


def test_health_and_openapi(service):
    h = service.client.get("/v1/health").json()
    assert h["status"] == "ok"
    assert h["policy_digest"] == zkmargin.policy_digest(zkmargin.load_policy(POLICY))
    spec = service.client.get("/openapi.json").json()
    for path in ("/v1/challenge", "/v1/verify", "/v1/health"):
        assert path in spec["paths"]
    assert "413" in spec["paths"]["/v1/verify"]["post"]["responses"]
    # the documents to prove against are served as well
    assert service.client.get("/v1/policy").json()["venue"] == "service-test-venue"
    assert service.client.get("/v1/market").json()["prices"]["BTCUSDT"] == "67250.4"


def test_challenge_prove_verify_round_trip(service):
    c = service.client.post("/v1/challenge").json()
    assert len(bytes.fromhex(c["challenge"])) == 32 and c["expires_in"] > 0
    assert c["circuit_digest"] and c["threshold"] == "0"
    before = entries(service.log)
    bundle = prove_for(c["challenge"])
    r = service.client.post("/v1/verify", json={"bundle": bundle.to_json_dict(), "challenge": c["challenge"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["valid"] and body["entry"]["result"] == "accepted"
    assert body["statement"]["challenge"] == c["challenge"]
    assert entries(service.log) == before + 1
    head = service.client.get("/v1/log/head").json()
    assert head["tip"] == body["entry"]["entry_hash"]
    # the same challenge a second time: refused before any verification, 409
    r = service.client.post("/v1/verify", json={"bundle": bundle.to_json_dict(), "challenge": c["challenge"]})
    assert r.status_code == 409
    assert r.json() == {"error": "the challenge was used already; ask for a fresh one", "code": "ReplayError"}
    # a challenge this service never issued
    r = service.client.post("/v1/verify", json={"bundle": bundle.to_json_dict(), "challenge": "ab" * 32})
    assert r.status_code == 409 and "not issued" in r.json()["error"]
    assert entries(service.log) == before + 1  # replays do not reach the log


def test_a_bad_proof_gets_a_clear_4xx(service):
    ch = challenge(service.client)
    good = prove_for(challenge(service.client))  # a valid proof for another challenge
    forged = good.to_json_dict()
    forged["statement"]["challenge"] = ch  # claims to answer ch: the transcript says otherwise
    r = service.client.post("/v1/verify", json={"bundle": forged, "challenge": ch})
    assert r.status_code == 422
    assert r.json() == {"error": "the proof does not verify", "code": "VerificationError"}
    ch = challenge(service.client)
    r = service.client.post("/v1/verify", json={"bundle": good.to_json_dict(), "challenge": ch})
    assert r.status_code == 422 and r.json()["code"] == "StatementMismatchError"
    assert "another challenge" in r.json()["error"]
    ch = challenge(service.client)
    r = service.client.post("/v1/verify", json={"bundle": {"format": "zkmargin.proof/1"}, "challenge": ch})
    assert "older zkmargin" in r.json()["error"]
    assert r.status_code == 400 and r.json()["code"] == "FormatError"
    with VerificationLog(service.log) as log:
        tail = list(log.entries())[-3:]
    assert [e.result for e in tail] == ["rejected"] * 3
    assert [e.code for e in tail] == ["VerificationError", "StatementMismatchError", "FormatError"]


def test_a_service_whose_policy_lists_a_custodian(tmp_path):
    """The policy's trust rule in the service: the subject (the caller's account) is needed before
    a challenge is spent; the custodian's attestation for that account passes and says who
    vouched; the same attestation for another account, or a self-declared proof, is refused."""
    from datetime import datetime, timezone

    from zkmargin import attest as A
    from zkmargin.errors import AttestationRejectedError, InputError

    key = A.generate_private_key()
    policy = {**POLICY, "trust": {"custodians": [{"name": "test-custody", "key": A.public_key_hex(key)}],
                                  "max_age_seconds": 600}}
    market = {**MARKET, "as_of": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    app = create_app(policy, market, 0, log=tmp_path / "att.log")
    svc = app.service
    with Server(app) as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
        ch = challenge(client)
        att, op = A.attest(ACCOUNT, None, policy, key, subject="acct-1", challenge=bytes.fromhex(ch))
        bundle = A.prove_attested(ACCOUNT, market, policy, 0, bytes.fromhex(ch), attestations=[att], openings=[op])
        # no authenticated account yet on this route: an input error, and the challenge is not spent
        r = client.post("/v1/verify", json={"bundle": bundle.to_json_dict(), "challenge": ch})
        assert r.status_code == 400 and "subject" in r.json()["error"]
        with pytest.raises(InputError, match="subject"):
            svc.verify(bundle.to_json_dict(), ch)
        with pytest.raises(AttestationRejectedError, match="another account"):
            svc.verify(bundle.to_json_dict(), ch, subject="acct-2")
        ch2 = challenge(client)  # the honest twin (the first challenge was spent by the refusal above)
        att2, op2 = A.attest(ACCOUNT, None, policy, key, subject="acct-1", challenge=bytes.fromhex(ch2))
        bundle2 = A.prove_attested(ACCOUNT, market, policy, 0, bytes.fromhex(ch2), attestations=[att2],
                                   openings=[op2])
        out = svc.verify(bundle2.to_json_dict(), ch2, subject="acct-1")
        assert out["valid"] and out["trust"]["custodians"][0]["name"] == "test-custody"
        assert out["trust"]["subject"] == "acct-1" and out["trust"]["self_declared"] is False
        ch3 = challenge(client)  # self-declared values under a policy with custodians
        with pytest.raises(AttestationRejectedError, match="self-declared"):
            svc.verify(prove_for_policy(policy, market, ch3).to_json_dict(), ch3, subject="acct-1")
    assert audit(tmp_path / "att.log").clean


def prove_for_policy(policy, market, ch_hex: str):
    return zkmargin.prove(ACCOUNT, market, policy, 0, bytes.fromhex(ch_hex))


def test_malformed_requests_get_400(service):
    c = service.client
    r = c.post("/v1/verify", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json() == {"error": "the request body is not valid JSON", "code": "InputError"}
    r = c.post("/v1/verify", json={"challenge": "00"})
    assert r.status_code == 400 and "bundle" in r.json()["error"]
    r = c.post("/v1/verify", json={"bundle": {}, "challenge": "zz"})
    assert r.status_code == 400 and r.json()["code"] == "InputError"
    r = c.get("/v1/nowhere")
    assert r.status_code == 404 and set(r.json()) == {"error", "code"}


def test_oversized_bodies_get_413_before_parsing(service):
    c = service.client
    big = b'{"bundle": {}, "challenge": "' + b"0" * (MAX_BODY + 10) + b'"}'
    r = c.post("/v1/verify", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "RequestTooLargeError"

    def chunks():  # no Content-Length: chunked transfer encoding, counted as it streams in
        for _ in range(40):
            yield b" " * 10_000

    r = c.post("/v1/verify", content=chunks(), headers={"content-type": "application/json"})
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.status_code == 413
    # a raw socket that lies about nothing but never stops sending: answered once over the limit
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as s:
        s.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (16384, b"[" * 16384)
        sent = 0
        while sent <= MAX_BODY + 16384:
            s.sendall(chunk)
            sent += 16384
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 413")
    # the service is still fine afterwards
    assert c.get("/v1/health").status_code == 200


def test_challenge_store_single_use_and_expiry():
    store = ChallengeStore(ttl=0.2, max_outstanding=3)
    a, _ = store.issue()
    store.consume(a)
    with pytest.raises(ReplayError, match="used already"):
        store.consume(a)
    b, _ = store.issue()
    time.sleep(0.25)
    with pytest.raises(ReplayError, match="expired"):
        store.consume(b)
    for _ in range(3):
        store.issue()
    with pytest.raises(ServiceBusyError, match="too many"):
        store.issue()
    time.sleep(0.25)
    store.issue()  # expired ones are purged


def test_missing_extra_is_one_clear_line(monkeypatch):
    from click.testing import CliRunner

    from zkmargin.cli.main import cli

    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'zkmargin\[serve\]'"):
        create_app(POLICY, MARKET)
    res = CliRunner().invoke(cli, ["serve", "-m", "m.json", "-p", "p.json"])
    assert res.exit_code == 2
    assert "zkmargin[serve]" in res.stderr


# --- load ----------------------------------------------------------------------------------------


def test_bounded_load_nothing_lost(tmp_path):
    """200 verify requests, each with its own challenge and proof, 4 at a time: every one is
    accepted, the log holds exactly 200 entries and audits clean."""
    log = tmp_path / "load.log"
    app = create_app(POLICY, MARKET, 0, log=log)
    with Server(app) as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
        chals = [challenge(client) for _ in range(LOAD_REQUESTS)]
        t0 = time.perf_counter()
        # sequential: a 2-process pool measured no faster on this 2-core machine
        pol = zkmargin.load_policy(POLICY)
        mkt = zkmargin.load_market(MARKET, pol)
        acct = zkmargin.load_account(ACCOUNT, pol)
        bundles = [zkmargin.prove(acct, mkt, pol, 0, bytes.fromhex(c)) for c in chals]
        t_prove = time.perf_counter() - t0
        bodies = [json.dumps({"bundle": b.to_json_dict(), "challenge": c}).encode() for b, c in zip(bundles, chals)]
        local = threading.local()

        def post(body):
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=srv.url, timeout=60)
            r = local.client.post("/v1/verify", content=body, headers={"content-type": "application/json"})
            return r.status_code, r.json()

        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(LOAD_CONCURRENCY) as ex:
            answers = list(ex.map(post, bodies))
        elapsed = time.perf_counter() - t0
    statuses = [s for s, _ in answers]
    assert statuses == [200] * LOAD_REQUESTS, [a for a in answers if a[0] != 200][:3]
    assert elapsed < 120, f"load test took {elapsed:.1f} s"
    ids = sorted(body["entry"]["id"] for _, body in answers)
    assert ids == list(range(1, LOAD_REQUESTS + 1))
    r = audit(log)
    assert r.clean and r.entries == r.head_count == LOAD_REQUESTS and r.accepted == LOAD_REQUESTS
    print(f"\nload: {LOAD_REQUESTS} proofs made in {t_prove:.1f} s; {LOAD_REQUESTS} verify "
          f"requests at concurrency {LOAD_CONCURRENCY} in {elapsed:.2f} s = {LOAD_REQUESTS / elapsed:.1f} req/s; "
          f"log {r.entries} entries, chain intact, audit {r.timings['total']:.2f} s")
