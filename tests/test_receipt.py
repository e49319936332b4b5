"""Receipts and the log's command line, in process (click's CliRunner) over real files and keys:
``venue-keygen``, ``verify --log --log-key --json/--receipt-out``, ``receipt`` (checked offline
with the venue's public key only; a wrong key, an altered entry or path, another bundle or a forged
head is refused with exit 1; a malformed receipt or key is exit 2 naming the file and field), a
replayed challenge refused by ``verify --log`` and flagged by ``audit`` in a hand-edited log."""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from zkmargin.cli.main import cli
from zkmargin.verifier.log.receipt import Receipt, check_receipt

sys.path.insert(0, str(Path(__file__).resolve().parent))
import log_helpers as H  # noqa: E402

runner = CliRunner()


def run(*args):
    return runner.invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A venue key, the small venue's files, three proofs (own challenges), and a log with two
    entries verified through the command line: proof 0 accepted, proof 1 for a wrong challenge."""
    d = tmp_path_factory.mktemp("receipts")
    res = run("venue-keygen", "-o", d / "venue.pem")
    assert res.exit_code == 0, res.output
    pub = res.stdout.strip()
    files = {"dir": d, "key": d / "venue.pem", "pub": pub, "log": d / "venue.log"}
    for name, body in (("policy", H.POLICY), ("market", H.MARKET)):
        files[name] = d / f"{name}.json"
        files[name].write_text(json.dumps(body))
    files["proofs"] = []
    for i in range(3):
        b, ch, _ = H.prove(200 + i)
        f = d / f"proof-{i}.json"
        b.save(f)
        files["proofs"].append((f, ch.hex()))
    return files


def verify(world, i, challenge=None, *extra):
    f, ch = world["proofs"][i]
    return run("verify", f, "-m", world["market"], "-p", world["policy"], "-c", challenge or ch,
               "--log", world["log"], "--log-key", world["key"], *extra)


@pytest.fixture(scope="module")
def receipts(world):
    d = world["dir"]
    res = verify(world, 0, None, "--json", "--receipt-out", d / "r0.json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["valid"] and doc["receipt"] == json.loads((d / "r0.json").read_text())
    res = verify(world, 1, world["proofs"][2][1], "--json", "--receipt-out", d / "r1.json")
    assert res.exit_code == 1 and "another challenge" in res.stderr
    rejected = json.loads(res.stdout)
    assert rejected["valid"] is False and rejected["receipt"]["entry"]["result"] == "rejected"
    print(f"\nreceipt: {len((d / 'r0.json').read_bytes())} bytes (indented JSON), "
          f"{len(json.dumps(doc['receipt'], separators=(',', ':')))} bytes compact, "
          f"{len(doc['receipt']['inclusion_proof'])} path hashes at tree size {doc['receipt']['sth']['tree_size']}")
    return d / "r0.json", d / "r1.json"


def test_venue_keygen(world, tmp_path):
    assert len(world["pub"]) == 64
    assert stat.S_IMODE(os.stat(world["key"]).st_mode) == 0o600
    res = run("venue-keygen", "-o", world["key"])
    assert res.exit_code == 2 and "exists" in res.stderr  # no silent overwrite


def test_receipts_check_offline_with_the_venue_key_only(world, receipts):
    r0, r1 = receipts
    res = run("receipt", r0, "--venue-key", world["pub"], "--bundle", world["proofs"][0][0])
    assert res.exit_code == 0, res.output
    assert "valid: entry 1 of the venue's log, accepted" in res.stdout and "hash matches" in res.stdout
    res = run("receipt", r1, "--venue-key", world["pub"], "--bundle", world["proofs"][1][0], "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["result"] == "rejected" and doc["code"] == "StatementMismatchError" and doc["bundle_checked"]
    assert doc["tree_size"] == 2 and doc["index"] == 1
    pub_file = world["dir"] / "venue.pub"
    pub_file.write_text(world["pub"] + "\n")
    assert run("receipt", r1, "--venue-key", pub_file).exit_code == 0  # the key from a file


def test_a_wrong_key_altered_entry_altered_path_or_other_bundle_is_refused(world, receipts, tmp_path):
    r0, r1 = receipts
    good = json.loads(r1.read_text())
    assert good["inclusion_proof"]  # entry 2 of 2: a one-hash path

    def check(doc, *extra):
        f = tmp_path / "r.json"
        f.write_text(json.dumps(doc))
        return run("receipt", f, "--venue-key", world["pub"], *extra)

    assert check(good).exit_code == 0  # the twin
    res = run("receipt", r1, "--venue-key", H.pub(H.new_key()))
    assert res.exit_code == 1 and "another log" in res.stderr
    bad = copy.deepcopy(good)
    bad["entry"]["result"], bad["entry"]["code"], bad["entry"]["reason"] = "accepted", None, None
    res = check(bad)
    assert res.exit_code == 1 and "entry was altered" in res.stderr
    bad = copy.deepcopy(good)
    p = bad["inclusion_proof"][0]
    bad["inclusion_proof"][0] = ("0" if p[0] != "0" else "1") + p[1:]
    res = check(bad)
    assert res.exit_code == 1 and "inclusion proof does not lead to the signed root" in res.stderr
    bad = copy.deepcopy(good)
    bad["sth"]["tree_size"] = 3
    res = check(bad)
    assert res.exit_code == 1 and "signature does not verify" in res.stderr
    bad = copy.deepcopy(good)
    bad["index"] = 0
    assert check(bad).exit_code == 1
    res = check(good, "--bundle", world["proofs"][0][0])
    assert res.exit_code == 1 and "another bundle" in res.stderr
    # the library raises the same rejection
    with pytest.raises(Exception, match="another bundle"):
        check_receipt(good, world["pub"], bundle=world["proofs"][2][0])


def test_malformed_receipts_and_keys_are_input_errors(world, receipts, tmp_path):
    r0, _ = receipts
    good = json.loads(r0.read_text())
    f = tmp_path / "bad.json"

    def one_line(res, *words):
        assert res.exit_code == 2, res.output
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
        for w in words:
            assert w in res.stderr, res.stderr

    f.write_text("{not json")
    one_line(run("receipt", f, "--venue-key", world["pub"]), str(f), "not valid JSON")
    for mutate, field in ((lambda d: d.pop("sth"), "sth"), (lambda d: d.update(leaf_hash="zz"), "leaf_hash"),
                          (lambda d: d["sth"].update(signature="ab"), "sth.signature"),
                          (lambda d: d["entry"].update(seq="1"), "entry.seq"),
                          (lambda d: d["entry"].pop("challenge"), "entry.challenge"),
                          (lambda d: d.update(format="zkmargin.receipt/0"), "format"),
                          (lambda d: d["inclusion_proof"].append("00"), "inclusion_proof[0]")):
        doc = copy.deepcopy(good)
        mutate(doc)
        f.write_text(json.dumps(doc))
        one_line(run("receipt", f, "--venue-key", world["pub"]), str(f), f"field '{field}'")
    one_line(run("receipt", r0, "--venue-key", "zz"), "venue public key")
    one_line(run("receipt", r0, "--venue-key", tmp_path / "missing.pub"), "missing.pub")
    one_line(run("receipt", tmp_path / "missing.json", "--venue-key", world["pub"]), "missing.json")
    with pytest.raises(Exception, match="leaf_hash"):
        Receipt.from_json_dict({**good, "leaf_hash": 5})


def test_verify_log_refuses_a_replayed_challenge_and_audit_flags_a_hand_edited_one(world, receipts, tmp_path):
    res = verify(world, 0, None, "--json")  # proof 0 with its own challenge, accepted before
    assert res.exit_code == 1 and "accepted already" in res.stderr
    doc = json.loads(res.stdout)
    assert doc["error_type"] == "ReplayError" and doc["receipt"]["entry"]["code"] == "ReplayError"
    res = verify(world, 2)  # the twin: a fresh challenge is accepted
    assert res.exit_code == 0, res.output
    assert "entry 4 in the signed tree of size 4" in res.stdout
    res = run("audit", world["log"], "--venue-key", world["pub"], "--receipt", receipts[0], "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["replays_refused"] == 1 and report["reused_challenges"] == []
    # an insider turns the refused replay into an acceptance and re-signs the whole log
    edited = tmp_path / "edited.log"
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(world["log"]) + suffix)
        if src.exists():
            Path(str(edited) + suffix).write_bytes(src.read_bytes())
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(world["key"].read_bytes(), None)
    H.insider_rewrite(edited, key, "DROP INDEX entries_accepted_challenge",
                      "UPDATE entries SET result = 'accepted', code = NULL, reason = NULL, "
                      "bundle = (SELECT bundle FROM entries WHERE id = 1) WHERE id = 3")
    res = run("audit", edited, "--venue-key", world["pub"], "--json")
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert report["log_intact"] and [r["ids"] for r in report["reused_challenges"]] == [[1, 3]]
    assert "accepted more than once" in res.stderr


def test_log_options_are_checked(world, tmp_path):
    f, ch = world["proofs"][0]
    base = ["verify", f, "-m", world["market"], "-p", world["policy"], "-c", ch]
    res = run(*base, "--log", tmp_path / "x.log")
    assert res.exit_code == 2 and "--log-key" in res.stderr and not (tmp_path / "x.log").exists()
    assert run(*base, "--receipt-out", tmp_path / "r.json").exit_code == 2
    other = tmp_path / "other.pem"
    assert run("venue-keygen", "-o", other).exit_code == 0
    res = run(*base, "--log", world["log"], "--log-key", other)
    assert res.exit_code == 2 and "another venue key" in res.stderr
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    res = run(*base, "--log", tmp_path / "y.log", "--log-key", bad)
    assert res.exit_code == 2 and "venue log key" in res.stderr


def test_verify_batch_logs_one_receipt_per_bundle(world, tmp_path):
    b0, b1 = [H.prove(300 + i) for i in range(2)]
    files = []
    for i, (b, _ch, _) in enumerate((b0, b1)):
        files.append(tmp_path / f"p{i}.json")
        b.save(files[-1])
    key = tmp_path / "k.pem"
    made = run("venue-keygen", "-o", key)
    assert made.exit_code == 0
    res = run("verify-batch", *files, "-m", world["market"], "-p", world["policy"], "-c", b0[1].hex(),
              "-c", b1[1].hex(), "--log", tmp_path / "b.log", "--log-key", key, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [r["index"] for r in doc["receipt"]] == [0, 1] and [e["id"] for e in doc["log"]] == [1, 2]
    for rc, f in zip(doc["receipt"], files):
        assert check_receipt(rc, made.stdout.strip(), bundle=f).entry["result"] == "accepted"
