"""The auditor's side: ``zkmargin audit`` (exit codes, JSON, seeded samples, groups of policies
re-verified in batches, proofs that no longer verify, --venue-key, --sth with ``log-head``) and ``zkmargin open`` (a
trader opens chosen commitments; the auditor checks them and recomputes the clear-text margin)."""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import stat
import sys
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

import zkmargin
from zkmargin.cli.main import cli
from zkmargin.verifier.audit import audit
from zkmargin.verifier.log import VerificationLog
from zkmargin.workflows import custodian as A

DATA = resources.files("zkmargin.data")


def doc(name):
    return json.loads((DATA / name).read_text())


POLICY = doc("example_policy_cross.json")
MARKET = doc("example_market_cross.json")
ACCOUNT = doc("example_account_cross.json")
# a second, small venue policy: the log holds proofs of two policies, audited in two groups
SMALL_POLICY = {
    "format": "zkmargin.policy/1", "venue": "small-venue", "quote": "USDT",
    "decimals": {"size": 3, "price": 2, "rate": 4, "amount": 2},
    "bits": {"size": 32, "price": 32, "amount": 40},
    "requirement": "maintenance", "mode": "cross", "buffer": "0.1",
    "collateral": [{"asset": "USDT", "haircut": "0"}],
    "instruments": [{"symbol": "BTCUSDT", "kind": "perpetual", "maintenance": {"rate": "0.005"},
                     "initial": {"rate": "0.01"}}],
}
SMALL_MARKET = {"format": "zkmargin.market/1", "as_of": "2024-06-03T08:00:00Z", "prices": {"BTCUSDT": "67250.40"}}
SMALL_ACCOUNT = {"format": "zkmargin.account/1", "balances": {"USDT": "10000"},
                 "positions": [{"symbol": "BTCUSDT", "size": "1.5", "entry_price": "66000"}]}

runner = CliRunner()


def run(*args):
    return runner.invoke(cli, [str(a) for a in args])


VENUE_KEY = A.generate_private_key()
VENUE_PUB = A.public_key_hex(VENUE_KEY)


@pytest.fixture(scope="module")
def small_proofs():
    """Nine proofs of the small venue, each for its own challenge (about 0.1-0.4 s each)."""
    out = []
    for i in range(9):
        ch = bytes([20 + i]) * 32
        b = zkmargin.prove(SMALL_ACCOUNT, SMALL_MARKET, SMALL_POLICY, 0, ch)
        out.append((b, ch, zkmargin.verify(b, SMALL_MARKET, SMALL_POLICY, 0, ch)))
    return out


@pytest.fixture(scope="module")
def log_file(tmp_path_factory, small_proofs):
    """12 entries over two policies (cross example: entries 1 and 7; the small one: the others),
    one rejection (12). Entry 11 is an 'accepted' proof whose bytes were corrupted before logging
    (what a buggy or dishonest venue would write): its hashes are consistent, but it does not
    verify."""
    path = tmp_path_factory.mktemp("audit") / "venue.log"
    cross = []
    for i in range(2):
        ch = bytes([10 + i]) * 32
        b = zkmargin.prove(ACCOUNT, MARKET, POLICY, 0, ch)
        cross.append((b, ch, zkmargin.verify(b, MARKET, POLICY, 0, ch)))
    with VerificationLog(path, signing_key=VENUE_KEY) as log:
        small = iter(small_proofs[:8])
        for i in range(1, 11):
            if i in (1, 7):
                b, ch, res = cross[0 if i == 1 else 1]
                log.record(b, POLICY, MARKET, 0, ch, res)
            else:
                b, ch, res = next(small)
                log.record(b, SMALL_POLICY, SMALL_MARKET, 0, ch, res)
        b, ch, res = small_proofs[8]
        bad = copy.deepcopy(b)
        bad.proof = bad.proof[:-1] + bytes([bad.proof[-1] ^ 1])
        log.record(bad, SMALL_POLICY, SMALL_MARKET, 0, ch, res)
        log.record(b, SMALL_POLICY, SMALL_MARKET, 0, b"\x00" * 32,
                   zkmargin.StatementMismatchError("the proof answers another challenge"))
    return path


@pytest.fixture
def clean_log(tmp_path, small_proofs):
    """A small clean log: 6 accepted entries."""
    path = tmp_path / "clean.log"
    with VerificationLog(path, signing_key=VENUE_KEY) as log:
        for b, ch, res in small_proofs[:6]:
            log.record(b, SMALL_POLICY, SMALL_MARKET, 0, ch, res)
    return path


def test_audit_names_the_proof_that_no_longer_verifies(log_file):
    r = audit(log_file, venue_key=VENUE_PUB)
    assert r.log_intact and not r.clean
    assert [f["id"] for f in r.failed_proofs] == [11]
    assert (r.accepted, r.rejected, r.checked) == (11, 1, 11)
    assert r.timings["batch_verify"] > 0


def test_cli_audit_exit_codes_and_json(log_file, clean_log, tmp_path):
    res = run("audit", clean_log, "--venue-key", VENUE_PUB)
    assert res.exit_code == 0, res.output
    assert "log: intact" in res.stdout and "result: clean" in res.stdout and "batch verification" in res.stdout
    res = run("audit", clean_log, "--json")
    assert res.exit_code == 0
    report = json.loads(res.stdout)
    assert report["clean"] and report["entries"] == 6 and report["signed_head"]["tree_size"] == 6
    assert "unauthenticated" in report["key"]["source"] and "no --venue-key" in res.stderr
    res = run("audit", log_file, "--venue-key", VENUE_PUB, "--json")
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert report["log_intact"] and [f["id"] for f in report["proofs"]["failed"]] == [11]
    assert "entry 11 no longer verifies" in res.stderr
    # usage and input errors: exit 2, one line naming the file and field
    assert run("audit", tmp_path / "missing.log").exit_code == 2
    assert run("audit", clean_log, "--sample", "-1").exit_code == 2
    res = run("audit", clean_log, "--venue-key", "xyz")
    assert res.exit_code == 2 and "venue public key" in res.stderr
    bad = tmp_path / "bad-sth.json"
    bad.write_text(json.dumps({"format": "zkmargin.sth/1", "log_id": "zz"}))
    res = run("audit", clean_log, "--sth", bad)
    assert res.exit_code == 2 and str(bad) in res.stderr and "log_id" in res.stderr
    notalog = tmp_path / "x.db"
    notalog.write_bytes(b"hello" * 100)
    assert run("audit", notalog).exit_code == 2


def test_cli_audit_names_tampered_entries(clean_log):
    db = sqlite3.connect(clean_log)
    db.execute("UPDATE entries SET threshold = '1' WHERE id = 2")
    db.execute("DELETE FROM entries WHERE id = 4")
    db.execute("DELETE FROM entries WHERE id = 6")
    db.commit()
    db.close()
    res = run("audit", clean_log, "--json")
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert (report["edited"], report["deleted"], report["reordered"], report["truncated"]) == ([2], [4], [], [6])
    assert report["mismatched_heads"] == [2, 3, 4]  # heads 5 and 6 are larger than the log now
    # the edited threshold no longer matches what the proof was made for
    assert [f["id"] for f in report["proofs"]["failed"]] == [2]


def test_cli_log_head_and_audit_against_it(clean_log, tmp_path, small_proofs):
    res = run("log-head", clean_log, "--venue-key", VENUE_PUB, "--json")
    assert res.exit_code == 0, res.output
    head = json.loads(res.stdout)
    assert head["format"] == "zkmargin.sth/1" and head["tree_size"] == 6 and head["log_id"] == VENUE_PUB
    old = tmp_path / "head-6.json"
    old.write_text(res.stdout)
    text = run("log-head", clean_log)
    assert text.exit_code == 0 and "tree size 6" in text.stdout and "give --venue-key" in text.stdout
    assert run("log-head", clean_log, "--venue-key", A.public_key_hex(A.generate_private_key())).exit_code == 1
    with VerificationLog(clean_log, signing_key=VENUE_KEY) as log:  # the log grows honestly
        b, ch, r = small_proofs[6]
        log.record(b, SMALL_POLICY, SMALL_MARKET, 0, ch, r)
    res = run("audit", clean_log, "--venue-key", VENUE_PUB, "--sth", old)
    assert res.exit_code == 0, res.output
    assert "the log only grew since" in res.stdout
    # an insider truncates and re-signs every head with the venue key: only the old head tells
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import log_helpers as H

    H.insider_rewrite(clean_log, VENUE_KEY, "DELETE FROM entries WHERE id > 4")
    assert run("audit", clean_log, "--venue-key", VENUE_PUB).exit_code == 0
    res = run("audit", clean_log, "--venue-key", VENUE_PUB, "--sth", old)
    assert res.exit_code == 1 and "were removed" in res.stdout


def test_seeded_samples(log_file):
    a = audit(log_file, sample=5, seed=7)
    b = audit(log_file, sample=5, seed=7)
    assert a.sampled_ids == b.sampled_ids and len(a.sampled_ids) == 5 and a.checked == 5
    assert a.seed == 7
    assert audit(log_file, sample=5, seed=8).sampled_ids != a.sampled_ids
    # a sample that happens to contain the bad entry names it; the seed makes it reproducible
    seeds = [s for s in range(40) if 11 in audit(log_file, sample=5, seed=s, verify_proofs=False).sampled_ids]
    assert seeds
    r = audit(log_file, sample=5, seed=seeds[0])
    assert [f["id"] for f in r.failed_proofs] == [11]
    unseeded = audit(log_file, sample=3)
    assert unseeded.seed is not None and len(unseeded.sampled_ids) == 3
    res = run("audit", log_file, "--sample", "0", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["proofs"]["checked"] == 0


# --- open ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def opened(tmp_path_factory):
    """A trader who drew their own openings ('commit') and proved with them."""
    d = tmp_path_factory.mktemp("open")
    files = {}
    for name, body in (("account", ACCOUNT), ("policy", POLICY), ("market", MARKET)):
        files[name] = d / f"{name}.json"
        files[name].write_text(json.dumps(body))
    files["openings"] = d / "openings.json"
    res = run("commit", files["account"], "-p", files["policy"], "-o", files["openings"])
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(os.stat(files["openings"]).st_mode) == 0o600
    ch = b"\x55" * 32
    bundle = A.prove_with_openings(ACCOUNT, MARKET, POLICY, 0, ch, openings=files["openings"])
    files["proof"] = d / "proof.json"
    bundle.save(files["proof"])
    return files, bundle, d


def test_open_chosen_slots_and_check(opened):
    files, bundle, d = opened
    part = d / "part.json"
    res = run("open", files["openings"], "--slots", "size:BTCUSDT,balance:USDT", "-o", part)
    assert res.exit_code == 0, res.output
    assert A.Openings.load(part).slots == ["size:BTCUSDT", "balance:USDT"]
    res = run("open", "--check", part, "--proof", files["proof"])
    assert res.exit_code == 0, res.output
    assert "2 opening(s) open" in res.stdout
    res = run("open", "--check", part, "--proof", files["proof"], "--market", files["market"],
              "--policy", files["policy"], "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["opened"] == {"size:BTCUSDT": "3", "balance:USDT": "20000"}
    assert out["proof_verified"] and not out["complete"] and out["report"] is None
    engine = zkmargin.check(ACCOUNT, MARKET, POLICY).to_json_dict()
    btc = [p for p in engine["positions"] if p["symbol"] == "BTCUSDT"][0]
    assert out["partial"]["size:BTCUSDT"] == {"notional": btc["notional"], "requirement": btc["requirement"]}
    assert out["partial"]["balance:USDT"] == {"value": "20000"}


def test_open_everything_recomputes_the_margin(opened):
    files, bundle, d = opened
    part = d / "all.json"
    assert run("open", files["openings"], "-o", part).exit_code == 0
    res = run("open", "--check", part, "--proof", files["proof"], "-m", files["market"], "-p", files["policy"], "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    engine = zkmargin.check(ACCOUNT, MARKET, POLICY).to_json_dict()
    assert out["complete"]
    for key in ("meets", "equity", "requirement", "required", "excess", "collateral_value"):
        assert out["report"][key] == engine[key], key
    res = run("open", "--check", part, "--proof", files["proof"], "-m", files["market"], "-p", files["policy"])
    assert "clear-text margin: equity" in res.stdout and "-> meets" in res.stdout


def test_open_rejects_openings_that_do_not_open(opened, tmp_path):
    files, bundle, d = opened
    part = A.Openings.load(files["openings"]).subset(["balance:USDT"])
    part.values[0] += 1
    bad = tmp_path / "bad.json"
    part.save(bad)
    res = run("open", "--check", bad, "--proof", files["proof"])
    assert res.exit_code == 1 and "does not open the bundle's commitment" in res.stderr
    # honest openings against another proof of the same account (other blindings)
    other = tmp_path / "other.json"
    zkmargin.prove(ACCOUNT, MARKET, POLICY, 0, b"\x56" * 32).save(other)
    good = tmp_path / "good.json"
    assert run("open", files["openings"], "--slots", "cost", "-o", good).exit_code == 0
    assert run("open", "--check", good, "--proof", other).exit_code == 1
    # usage errors
    assert run("open", "--check", good).exit_code == 2
    assert run("open", files["openings"]).exit_code == 2
    assert run("open", files["openings"], "--slots", "size:NOPE", "-o", good).exit_code == 2
    assert run("open", "--check", good, "--proof", files["proof"], "-m", files["market"]).exit_code == 2


def test_open_sums_the_shares_of_several_custodians(tmp_path):
    share_a = {"format": "zkmargin.account/1", "balances": {"USDT": "6000"},
               "positions": [{"symbol": "BTCUSDT", "size": "1", "entry_price": "66000"}]}
    share_b = {"format": "zkmargin.account/1", "balances": {"USDT": "4000"},
               "positions": [{"symbol": "BTCUSDT", "size": "0.5", "entry_price": "66000"}]}
    ka, kb = A.generate_private_key(), A.generate_private_key()
    att_a, op_a = A.attest(share_a, None, SMALL_POLICY, ka, subject="acct-9")
    att_b, op_b = A.attest(share_b, None, SMALL_POLICY, kb, subject="acct-9")
    ch = b"\x77" * 32
    bundle = A.prove_attested(SMALL_ACCOUNT, SMALL_MARKET, SMALL_POLICY, 0, ch, attestations=[att_a, att_b],
                              openings=[op_a, op_b])
    files = []
    for name, o in (("a", op_a), ("b", op_b)):
        files.append(tmp_path / f"op_{name}.json")
        o.save(files[-1])
    proof = tmp_path / "proof.json"
    bundle.save(proof)
    part = tmp_path / "part.json"
    assert run("open", *files, "--slots", "size:BTCUSDT,balance:USDT", "-o", part).exit_code == 0
    res = run("open", "--check", part, "--proof", proof, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["opened"] == {"size:BTCUSDT": "1500", "balance:USDT": "1000000"}
    # one custodian's share alone does not open the proof's commitment
    one = tmp_path / "one.json"
    assert run("open", files[0], "--slots", "size:BTCUSDT", "-o", one).exit_code == 0
    assert run("open", "--check", one, "--proof", proof).exit_code == 1
