"""The prepared verifier's disk cache (zkmargin/prepared_store.py, issue 12): what a cold
``zkmargin verify`` reads instead of parsing the documents and building the circuit.

* an intact entry is used (the builds counter stays put) and decides exactly as the full verifier:
  a valid proof accepted, a forced proof of an account one unit short rejected, a proof for
  another threshold refused — twin of each other;
* a tampered entry (a byte of its circuit, its statement, or a whole entry re-signed under another
  key) is refused and built again, and verification is still right; its twin is the intact entry
  above;
* the key is checked: an entry for other documents, another threshold or another code fingerprint
  is another entry; a MAC key that others can read turns the disk cache off;
* the cache is bounded (least recently used out first); an entry holds the public statement, the
  trust rule and the compiled circuit, nothing else;
* a two-phase circuit (K slots) is not stored and verifies through ``zkmargin.verify``;
* the command line uses it: ``zkmargin verify`` twice builds once, and rejects the forced proof
  from the cache;
* a batch (``verify_batch_cached``, ``zkmargin verify-batch``) is verified from the entry, in one
  process and in forked workers, and decides as ``zkmargin.verify_batch``; its twin, a batch with
  one wrong bundle, is rejected naming it.
"""

from __future__ import annotations

import json
import os
import secrets
from decimal import Decimal
from pathlib import Path

import pytest

import zkmargin.prepared as prepared
import zkmargin.prepared_store as store
from zkmargin import check, load_account, load_market, load_policy, prove, verify
from zkmargin.errors import StatementMismatchError, VerificationError
from zkmargin.workflows.bench import cross_workload

N_INSTRUMENTS = 3


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Policy and market files, the threshold the account meets exactly and one unit (1e-8)
    more, a valid proof for the first and a forced one for the second (one challenge)."""
    d = tmp_path_factory.mktemp("docs")
    policy, market, account = cross_workload(N_INSTRUMENTS)
    for name, doc in (("policy", policy), ("market", market)):
        (d / f"{name}.json").write_text(json.dumps(doc), encoding="utf-8")
    pol = load_policy(policy)
    mkt, acct = load_market(market, pol), load_account(account, pol)
    excess = check(acct, mkt, pol).excess
    met, short = str(excess), str(excess + Decimal("0.00000001"))
    assert check(acct, mkt, pol, met).meets and not check(acct, mkt, pol, short).meets
    ch = secrets.token_bytes(32)
    return {"policy": str(d / "policy.json"), "market": str(d / "market.json"), "met": met, "short": short,
            "ch": ch, "good": prove(acct, mkt, pol, met, ch),
            "forced": prove(acct, mkt, pol, short, ch, _check_witness=False), "docs": (pol, mkt, acct)}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZKMARGIN_CACHE_DIR", str(tmp_path / "cache"))
    prepared.clear()
    return tmp_path / "cache" / store.SUBDIR


def _delta(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in after}


def _verify(case, threshold: str, bundle=None):
    prepared.clear()  # a new process: nothing prepared in memory
    return store.verify_cached(bundle if bundle is not None else case["good"], case["market"], case["policy"],
                               threshold, case["ch"])


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.bin"))


def test_an_intact_entry_is_used_and_decides_as_the_full_verifier(case, cache):
    s0 = store.stats()
    first = _verify(case, case["met"])
    assert _delta(s0, store.stats()) == {"hits": 0, "builds": 1, "refused": 0, "stored": 1}
    assert len(_entries(cache)) == 1
    s1 = store.stats()
    again = _verify(case, case["met"])
    assert _delta(s1, store.stats()) == {"hits": 1, "builds": 0, "refused": 0, "stored": 0}
    pol, mkt, _ = case["docs"]
    full = verify(case["good"], mkt, pol, case["met"], case["ch"])
    assert first.valid and again.valid
    assert again.statement == full.statement and again.gates == full.gates
    assert again.extra["trust"] == full.extra["trust"]
    # twins through stored entries: one unit short, and the proof presented for another threshold
    with pytest.raises(StatementMismatchError, match="another threshold"):
        _verify(case, case["short"])
    with pytest.raises(VerificationError, match="does not verify"):
        _verify(case, case["short"], case["forced"])  # built for 'short' above: read from disk now
    with pytest.raises(VerificationError, match="does not verify"):
        verify(case["forced"], mkt, pol, case["short"], case["ch"])  # the full verifier agrees
    assert store.stats()["hits"] >= s1["hits"] + 2


@pytest.mark.parametrize("where", ["circuit", "statement", "mac"])
def test_a_tampered_entry_is_refused_and_built_again(case, cache, where):
    _verify(case, case["met"])
    (path,) = _entries(cache)
    data = bytearray(path.read_bytes())
    if where == "circuit":  # a byte of the compiled weights' arrays
        data[-200] ^= 1
    elif where == "statement":  # the threshold the entry claims
        i = data.rfind(json.dumps(case["met"]).encode())  # the statement's (after the key's)
        assert i > 0
        data[i + 1] = ord("9") if data[i + 1] != ord("9") else ord("8")
    else:
        data[-1] ^= 0x80
    path.write_bytes(bytes(data))
    s0 = store.stats()
    assert _verify(case, case["met"]).valid
    assert _delta(s0, store.stats()) == {"hits": 0, "builds": 1, "refused": 1, "stored": 1}
    # rebuilt and rewritten: the next run uses it (twin)
    s1 = store.stats()
    assert _verify(case, case["met"]).valid
    assert _delta(s1, store.stats())["hits"] == 1


def test_an_entry_signed_under_another_key_is_refused(case, cache):
    """A consistent entry made elsewhere (another machine's or user's cache, or a forger who
    cannot read this cache's key): right format, MAC under a different key."""
    _verify(case, case["met"])
    (path,) = _entries(cache)
    key = store.mac_key(cache, create=False)
    assert key is not None
    other = bytes(b ^ 0xFF for b in key)
    entry = store.decode_entry(path.read_bytes(), key, _key_of(case, case["met"]))
    path.write_bytes(store.encode_entry(entry, other))
    s0 = store.stats()
    assert _verify(case, case["met"]).valid
    assert _delta(s0, store.stats())["refused"] == 1 and _delta(s0, store.stats())["builds"] == 1
    # twin: re-signed under this cache's key, the same entry is used
    path.write_bytes(store.encode_entry(entry, key))
    s1 = store.stats()
    assert _verify(case, case["met"]).valid
    assert _delta(s1, store.stats()) == {"hits": 1, "builds": 0, "refused": 0, "stored": 0}
    with pytest.raises(store.EntryError, match="MAC"):
        store.decode_entry(store.encode_entry(entry, other), key, entry.key)
    with pytest.raises(store.EntryError, match="another policy"):
        store.decode_entry(store.encode_entry(entry, key), key, {**entry.key, "threshold": "1"})


def _key_of(case, threshold: str) -> dict:
    return store.entry_key(Path(case["policy"]).read_bytes(), Path(case["market"]).read_bytes(), threshold)


def test_the_key_covers_documents_threshold_and_code(case, cache, monkeypatch, tmp_path):
    base = _key_of(case, case["met"])
    assert store.entry_name(base) == store.entry_name(_key_of(case, case["met"]))
    # the same policy, one byte of whitespace more: another entry (the raw bytes are the key)
    spaced = tmp_path / "policy-spaced.json"
    spaced.write_bytes(Path(case["policy"]).read_bytes() + b"\n")
    _verify(case, case["met"])
    s0 = store.stats()
    prepared.clear()
    assert store.verify_cached(case["good"], case["market"], str(spaced), case["met"], case["ch"]).valid
    assert _delta(s0, store.stats())["builds"] == 1
    # another code fingerprint: another entry
    monkeypatch.setattr(store, "_fingerprint", ["0" * 64])
    s1 = store.stats()
    assert _verify(case, case["met"]).valid
    assert _delta(s1, store.stats())["builds"] == 1
    assert store.entry_name(store.entry_key(b"p", b"m", "0")) != store.entry_name(base)
    assert len(_entries(cache)) == 3


def test_a_key_others_can_read_turns_the_disk_cache_off(case, cache):
    _verify(case, case["met"])
    key = cache / store.KEY_FILE
    os.chmod(key, 0o644)
    s0 = store.stats()
    assert _verify(case, case["met"]).valid and _verify(case, case["met"]).valid
    assert _delta(s0, store.stats()) == {"hits": 0, "builds": 2, "refused": 2, "stored": 0}
    os.chmod(key, 0o600)  # twin: private again, the entry is used
    s1 = store.stats()
    assert _verify(case, case["met"]).valid
    assert _delta(s1, store.stats())["hits"] == 1


def test_the_cache_is_bounded_and_holds_public_data_only(case, cache, monkeypatch):
    monkeypatch.setattr(store, "MAX_ENTRIES", 2)
    for t in ("0", "1", "2"):
        prepared.clear()
        assert store.load_or_build(case["policy"], case["market"], t) is not None
    names = {p.name for p in _entries(cache)}
    assert names == {store.entry_name(_key_of(case, t)) for t in ("1", "2")}
    # what an entry holds: the statement (no challenge), the trust rule, the compiled circuit
    path = cache / store.entry_name(_key_of(case, "2"))
    entry = store.decode_entry(path.read_bytes(), store.mac_key(cache, create=False), _key_of(case, "2"))
    pol, mkt, _ = case["docs"]
    from zkmargin.api import _Verifier

    v = _Verifier(mkt, pol, "2", None)
    assert entry.base_statement == v._base and entry.base_statement["challenge"] is None
    assert entry.trust_rule == v.trust_rule
    assert entry.circuit.digest() == v.cs.digest() and entry.circuit.m == v.cs.m
    raw = path.read_bytes()
    start = len(store.FORMAT) + 8
    head = json.loads(raw[start : start + int.from_bytes(raw[len(store.FORMAT) : start], "big")])
    assert sorted(head) == ["circuit", "key", "statement", "trust_rule"]


def test_a_two_phase_circuit_is_verified_without_an_entry(case, cache, tmp_path):
    pol_doc = json.loads(Path(case["policy"]).read_text(encoding="utf-8"))
    pol_doc["slots"] = N_INSTRUMENTS
    path = tmp_path / "policy-slots.json"
    path.write_text(json.dumps(pol_doc), encoding="utf-8")
    _, mkt, _ = case["docs"]
    pol = load_policy(path)
    acct = load_account(cross_workload(N_INSTRUMENTS)[2], pol)
    ch = case["ch"]
    good = prove(acct, mkt, pol, "0", ch)
    s0 = store.stats()
    prepared.clear()
    assert store.verify_cached(good, case["market"], str(path), "0", ch).valid
    assert _delta(s0, store.stats())["stored"] == 0 and _entries(cache) == []
    with pytest.raises(StatementMismatchError):  # twin: the same path still decides
        store.verify_cached(good, case["market"], str(path), "1", ch)


def test_zkmargin_verify_on_the_command_line_builds_once(case, cache, tmp_path):
    from click.testing import CliRunner

    from zkmargin.cli.main import cli

    good, forced = tmp_path / "good.json", tmp_path / "forced.json"
    good.write_text(case["good"].to_json(), encoding="utf-8")
    forced.write_text(case["forced"].to_json(), encoding="utf-8")
    runner = CliRunner()

    def run(proof: Path, threshold: str):
        prepared.clear()
        return runner.invoke(cli, ["verify", str(proof), "-m", case["market"], "-p", case["policy"],
                                   "-t", threshold, "-c", case["ch"].hex(), "--json"])

    s0 = store.stats()
    for _ in range(2):
        res = run(good, case["met"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["valid"] is True
    assert _delta(s0, store.stats())["builds"] == 1 and _delta(s0, store.stats())["hits"] == 1
    run(good, case["short"])  # builds the entry for 'short' (exit 1: another threshold)
    res = run(forced, case["short"])
    assert res.exit_code == 1 and json.loads(res.stdout)["valid"] is False
    assert "does not verify" in res.stderr


@pytest.mark.parametrize("command", ["verify", "verify-batch"])
def test_a_cached_cold_verify_loads_no_document_models(case, tmp_path, command):
    """A fresh process verifying from a stored entry imports neither pydantic nor the document
    models nor the circuits' margin modules; its twin, the first run (no entry yet), does."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    proof = tmp_path / "good.json"
    proof.write_text(case["good"].to_json(), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(root), "ZKMARGIN_CACHE_DIR": str(tmp_path / "cache")}
    script = (
        "import json, sys\n"
        "from zkmargin.cli.main import main\n"
        "try:\n"
        f"    main([{command!r}, {str(proof)!r}, '-m', {case['market']!r}, '-p', {case['policy']!r},"
        f" '-t', {case['met']!r}, '-c', {case['ch'].hex()!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('pydantic', 'zkmargin.rules.models',"
        " 'zkmargin.circuits.margin', 'zkmargin.api')))))\n")

    def loaded() -> list[str]:
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = loaded()
    assert "pydantic" in first and "zkmargin.api" in first  # twin: building the entry parses
    assert loaded() == []


def _swapped(bundle):
    """The bundle with its first two commitments exchanged: well-formed, and wrong."""
    import dataclasses

    c = list(bundle.commitments)
    assert len(c) >= 2 and c[0] != c[1]
    c[0], c[1] = c[1], c[0]
    return dataclasses.replace(bundle, commitments=c)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_batch_verifies_from_the_entry_and_names_the_bad_bundle(case, cache, workers):
    """``verify_batch_cached`` (``zkmargin verify-batch``): a stored entry is used for a batch
    (one MSM, or forked workers for PARALLEL_MIN bundles or more) and decides as the full
    ``verify_batch``; its twin, a batch with one wrong bundle, is rejected naming that bundle."""
    from zkmargin import verify_batch
    from zkmargin.verifier.parallel import PARALLEL_MIN

    n = 3 if workers == 1 else PARALLEL_MIN
    good = [case["good"]] * n

    def batch(bundles, threshold):
        prepared.clear()
        return store.verify_batch_cached(bundles, case["market"], case["policy"], threshold, case["ch"],
                                         workers=workers)

    s0 = store.stats()
    assert batch(good, case["met"]).proofs == n
    s1 = store.stats()
    res = batch(good, case["met"])
    assert _delta(s0, s1)["builds"] == 1 and _delta(s1, store.stats()) == {
        "hits": 1, "builds": 0, "refused": 0, "stored": 0}
    pol, mkt, _ = case["docs"]
    full = verify_batch(good, mkt, pol, case["met"], case["ch"], workers=workers)
    assert res.valid and res.statement == full.statement and res.extra["trust"] == full.extra["trust"]
    bad = list(good)
    bad[1] = _swapped(case["good"])
    with pytest.raises(VerificationError, match=r"invalid bundle\(s\) \[1\]"):
        batch(bad, case["met"])
    with pytest.raises(VerificationError, match=r"invalid bundle\(s\) \[1\]"):
        verify_batch(bad, mkt, pol, case["met"], case["ch"], workers=workers)  # the full verifier agrees
    with pytest.raises(StatementMismatchError, match="bundle 0: the proof is for another threshold"):
        batch(good, case["short"])
    with pytest.raises(VerificationError, match=r"invalid bundle\(s\) \[0, 1\]"):
        batch([case["forced"]] * 2, case["short"])  # one unit short, forced: from the stored entry


def test_zkmargin_verify_batch_on_the_command_line_builds_once(case, cache, tmp_path):
    from click.testing import CliRunner

    from zkmargin.cli.main import cli

    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(case["good"].to_json(), encoding="utf-8")
    bad.write_text(_swapped(case["good"]).to_json(), encoding="utf-8")
    runner = CliRunner()

    def run(*proofs: Path):
        prepared.clear()
        return runner.invoke(cli, ["verify-batch", *map(str, proofs), "-m", case["market"], "-p", case["policy"],
                                   "-t", case["met"], "-c", case["ch"].hex(), "--json"])

    s0 = store.stats()
    for _ in range(2):
        res = run(good, good)
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["valid"] is True and json.loads(res.stdout)["proofs"] == 2
    assert _delta(s0, store.stats())["builds"] == 1 and _delta(s0, store.stats())["hits"] == 1
    res = run(good, bad)  # twin: from the stored entry, the wrong bundle is named
    assert res.exit_code == 1 and json.loads(res.stdout)["valid"] is False
    assert "invalid bundle(s) [1]" in res.stderr
    assert _delta(s0, store.stats())["builds"] == 1
