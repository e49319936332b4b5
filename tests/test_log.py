"""The verification log over real SQLite files: the hash chain, what the audit names when rows are
edited, deleted, reordered or truncated (and the untouched twins), content-addressed documents,
crash safety under SIGKILL, concurrent writers."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from importlib import resources

import pytest

import zkmargin
from zkmargin.errors import LogError, StatementMismatchError, VerificationError
from zkmargin.verifier.audit import audit
from zkmargin.verifier.log import GENESIS, VerificationLog, entry_hash, verify_and_log, verify_batch_and_log

DATA = resources.files("zkmargin.data")
POLICY = json.loads((DATA / "example_policy_cross.json").read_text())
MARKET = json.loads((DATA / "example_market_cross.json").read_text())
ACCOUNT = json.loads((DATA / "example_account_cross.json").read_text())
N_PROOFS = 3


@pytest.fixture(scope="module")
def proofs():
    """A few real proofs, each with its own challenge (about 1 s each)."""
    out = []
    for i in range(N_PROOFS):
        ch = bytes([i + 1]) * 32
        out.append((zkmargin.prove(ACCOUNT, MARKET, POLICY, 0, ch), ch))
    return out


@pytest.fixture(scope="module")
def result(proofs):
    b, ch = proofs[0]
    return zkmargin.verify(b, MARKET, POLICY, 0, ch)


def build(path, proofs, result, n=12, rejected_at=(6,)):
    """n entries: accepted real proofs, with a rejection (wrong challenge) at the given ids."""
    log = VerificationLog(path)
    for i in range(1, n + 1):
        b, ch = proofs[i % len(proofs)]
        if i in rejected_at:
            log.record(b, POLICY, MARKET, 0, b"\x99" * 32,
                       StatementMismatchError("the proof answers another challenge (challenge differs)"))
        else:
            log.record(b, POLICY, MARKET, 0, ch, result)
    log.close()
    return path


@pytest.fixture
def log_path(tmp_path, proofs, result):
    return build(tmp_path / "venue.log", proofs, result)


def sql(path, *statements):
    db = sqlite3.connect(path)
    for s in statements:
        db.execute(*s) if isinstance(s, tuple) else db.execute(s)
    db.commit()
    db.close()


def findings(report):
    return {"edited": report.edited, "deleted": report.deleted, "reordered": report.reordered,
            "truncated": report.truncated, "failed": [f["id"] for f in report.failed_proofs]}


NONE = {"edited": [], "deleted": [], "reordered": [], "truncated": [], "failed": []}


# --- the chain -----------------------------------------------------------------------------------


def test_untouched_log_audits_clean(log_path):
    r = audit(log_path)
    assert r.clean and r.chain_intact, r.problems()
    assert findings(r) == NONE
    assert r.entries == r.head_count == 12
    assert (r.accepted, r.rejected, r.checked) == (11, 1, 11)


def test_chain_links_and_settings(log_path):
    with VerificationLog(log_path) as log:
        rows = list(log.entries())
        count, tip = log.head()
    assert [e.id for e in rows] == [e.seq for e in rows] == list(range(1, 13))
    assert rows[0].prev_hash == GENESIS
    for a, b in zip(rows, rows[1:]):
        assert b.prev_hash == a.entry_hash
    for e in rows:
        assert entry_hash(e.prev_hash, e.fields()) == e.entry_hash
    assert (count, tip) == (12, rows[-1].entry_hash)
    assert rows[5].result == "rejected" and rows[5].code == "StatementMismatchError"
    assert rows[0].software.startswith("zkmargin ")
    assert "another challenge" in rows[5].reason
    db = sqlite3.connect(log_path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # policies and snapshots are stored once, content-addressed
    assert db.execute("SELECT COUNT(*) FROM policies").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM markets").fetchone()[0] == 1
    (digest,) = db.execute("SELECT digest FROM policies").fetchone()
    assert digest == rows[0].policy_digest == zkmargin.policy_digest(zkmargin.load_policy(POLICY))
    db.close()


def test_edit_a_field_is_named(log_path):
    sql(log_path, "UPDATE entries SET time = '2020-01-01T00:00:00.000000Z' WHERE id = 5")
    r = audit(log_path)
    assert findings(r) == {**NONE, "edited": [5]}
    assert not r.clean


def test_edit_a_rejection_into_an_acceptance(log_path):
    sql(log_path, "UPDATE entries SET result = 'accepted', code = NULL, reason = NULL WHERE id = 6")
    r = audit(log_path)
    # the edit breaks the hash, and the proof it points at does not answer the logged challenge
    assert findings(r) == {**NONE, "edited": [6], "failed": [6]}


def test_edit_the_stored_bundle(log_path):
    with VerificationLog(log_path) as log:
        row = [e for e in log.entries() if e.id == 3][0]
    doc = json.loads(row.bundle)
    doc["proof"] = doc["proof"][:-2] + ("00" if doc["proof"][-2:] != "00" else "01")
    sql(log_path, ("UPDATE entries SET bundle = ? WHERE id = 3",
                   (json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(),)))
    r = audit(log_path)
    assert r.edited == [3] and 3 in [f["id"] for f in r.failed_proofs]
    assert (r.deleted, r.reordered, r.truncated) == ([], [], [])


def test_edit_with_recomputed_hash_is_named(log_path):
    """A forger who edits an entry and recomputes its own hash breaks the next entry's link."""
    with VerificationLog(log_path) as log:
        row = [e for e in log.entries() if e.id == 4][0]
    fields = row.fields()
    fields["time"] = "2020-01-01T00:00:00.000000Z"
    h = entry_hash(row.prev_hash, fields)
    sql(log_path, ("UPDATE entries SET time = ?, entry_hash = ? WHERE id = 4", (fields["time"], h)))
    assert findings(audit(log_path)) == {**NONE, "edited": [4]}


def test_delete_an_entry_is_named(log_path):
    sql(log_path, "DELETE FROM entries WHERE id = 7")
    r = audit(log_path)
    assert findings(r) == {**NONE, "deleted": [7]}
    sql(log_path, "DELETE FROM entries WHERE id IN (2, 3)")
    assert findings(audit(log_path)) == {**NONE, "deleted": [2, 3, 7]}


def test_reorder_two_entries_is_named(log_path):
    cols = [c for c in ("seq", "time", "software", "policy_digest", "market_digest", "circuit_digest", "threshold",
                        "challenge", "bundle_hash", "bundle", "result", "code", "reason",
                        "attestations_hash", "attestations", "prev_hash", "entry_hash")]
    db = sqlite3.connect(log_path)
    a = db.execute(f"SELECT {', '.join(cols)} FROM entries WHERE id = 4").fetchone()
    b = db.execute(f"SELECT {', '.join(cols)} FROM entries WHERE id = 9").fetchone()
    setter = ", ".join(f"{c} = ?" for c in cols)
    db.execute(f"UPDATE entries SET {setter} WHERE id = 4", b)
    db.execute(f"UPDATE entries SET {setter} WHERE id = 9", a)
    db.commit()
    db.close()
    r = audit(log_path)
    assert findings(r) == {**NONE, "reordered": [4, 9]}


def test_truncate_the_tail_is_named(log_path):
    sql(log_path, "DELETE FROM entries WHERE id > 9")
    r = audit(log_path)
    assert findings(r) == {**NONE, "truncated": [10, 11, 12]}
    assert "truncated" in r.to_text()


def test_truncation_that_rewrites_the_head_needs_the_last_tip(log_path):
    tip = audit(log_path).head_tip
    with VerificationLog(log_path) as log:
        row9 = [e for e in log.entries() if e.id == 9][0]
    sql(log_path, "DELETE FROM entries WHERE id > 9",
        ("UPDATE head SET count = 9, tip = ? WHERE one = 1", (row9.entry_hash,)))
    assert audit(log_path).clean  # the log alone cannot tell ...
    r = audit(log_path, expect_tip=tip)  # ... the tip of the previous audit can
    assert r.expect_tip_found is False and not r.clean and not r.chain_intact
    # the twin: the tip is found in an untouched (and grown) log
    assert audit(log_path, expect_tip=row9.entry_hash).clean


def test_tail_entry_rewritten_is_named(log_path):
    """The last entry has no successor to break: the head's tip catches it."""
    with VerificationLog(log_path) as log:
        last = list(log.entries())[-1]
    fields = last.fields()
    fields["reason"] = "forged"
    sql(log_path, ("UPDATE entries SET reason = 'forged', entry_hash = ? WHERE id = 12",
                   (entry_hash(last.prev_hash, fields),)))
    assert findings(audit(log_path)) == {**NONE, "edited": [12]}


def test_entry_from_another_circuit_build_is_explained(tmp_path, proofs, result):
    """An auditor running a zkmargin whose circuit builder differs from the venue's is told so."""
    path = tmp_path / "old.log"
    b, ch = proofs[0]
    with VerificationLog(path) as log:
        log.record(b, POLICY, MARKET, 0, ch, result)
        log.record(b, POLICY, MARKET, 0, ch, result, circuit_digest="ab" * 32)
    r = audit(path)
    assert r.chain_intact and [f["id"] for f in r.failed_proofs] == [2]
    assert "another circuit build" in r.failed_proofs[0]["reason"] and "zkmargin" in r.failed_proofs[0]["reason"]


def test_stored_policy_edited(log_path):
    sql(log_path, "UPDATE policies SET body = replace(body, '0.05', '0.01')")
    r = audit(log_path)
    assert r.store_errors and not r.clean
    assert r.chain_intact
    assert len(r.failed_proofs) == 11


def test_not_a_log(tmp_path):
    with pytest.raises(LogError):
        VerificationLog(tmp_path / "missing.db", create=False)
    other = tmp_path / "other.db"
    sql(other, "CREATE TABLE t (x)")
    with pytest.raises(LogError):
        VerificationLog(other)
    text = tmp_path / "text.db"
    text.write_text("not sqlite at all " * 100)
    with pytest.raises(LogError):
        audit(text)


# --- verify and record -----------------------------------------------------------------------------


def test_verify_and_log_records_both_outcomes(tmp_path, proofs):
    path = tmp_path / "v.log"
    b, ch = proofs[0]
    res = verify_and_log(b, MARKET, POLICY, 0, ch, log=path)
    assert res.extra["log"]["id"] == 1 and res.extra["log"]["result"] == "accepted"
    with pytest.raises(VerificationError) as info:
        verify_and_log(b, MARKET, POLICY, 0, proofs[1][1], log=path)
    assert info.value.log_entry["result"] == "rejected"
    with pytest.raises(zkmargin.FormatError):
        verify_and_log(b'{"format": "nope"}', MARKET, POLICY, 0, ch, log=path)
    with VerificationLog(path) as log:
        rows = list(log.entries())
    assert [e.result for e in rows] == ["accepted", "rejected", "rejected"]
    assert rows[2].bundle == b'{"format": "nope"}' and rows[2].code == "FormatError"
    assert rows[0].circuit_digest == rows[1].circuit_digest == b.statement["circuit_digest"]
    assert audit(path).clean


def test_verify_batch_and_log(tmp_path, proofs):
    path = tmp_path / "b.log"
    bundles = [b for b, _ in proofs]
    chals = [c for _, c in proofs]
    res = verify_batch_and_log(bundles, MARKET, POLICY, 0, chals, log=path)
    assert res.proofs == N_PROOFS and [e["id"] for e in res.extra["log"]] == [1, 2, 3]
    with pytest.raises(VerificationError) as info:
        verify_batch_and_log(bundles, MARKET, POLICY, 0, [chals[0], chals[2], chals[1]], log=path)
    assert "[1, 2]" in str(info.value)
    with VerificationLog(path) as log:
        assert [e.result for e in log.entries()] == ["accepted"] * 4 + ["rejected"] * 2
    assert audit(path).clean


def test_concurrent_writers(tmp_path, proofs, result):
    """Threads sharing one log object and a second connection to the same file: nothing lost."""
    path = tmp_path / "c.log"
    shared = VerificationLog(path)
    other = VerificationLog(path)
    b, ch = proofs[0]

    def work(log):
        for _ in range(8):
            log.record(b, POLICY, MARKET, 0, ch, result)

    threads = [threading.Thread(target=work, args=(lg,)) for lg in (shared, shared, other, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.close()
    other.close()
    r = audit(path, sample=4, seed=1)
    assert r.clean and r.entries == 32 and r.checked == 4


# --- crash safety ----------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import json, sys
    import zkmargin
    from zkmargin.bundle import ProofBundle
    from zkmargin.verifier.log import VerificationLog
    path, bundle_file, ch, pol, mkt = sys.argv[1:6]
    policy, market = json.load(open(pol)), json.load(open(mkt))
    b = ProofBundle.load(bundle_file)
    ch = bytes.fromhex(ch)
    result = zkmargin.verify(b, market, policy, 0, ch)
    log = VerificationLog(path)
    print("ready", flush=True)
    while True:
        log.record(b, policy, market, 0, ch, result)
""")


# the writer imports the code under test (this checkout), not whichever zkmargin is installed
WRITER_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [os.path.dirname(os.path.dirname(os.path.abspath(zkmargin.__file__)))]
    + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}


def test_killed_writer_leaves_a_valid_log(tmp_path, proofs):
    b, ch = proofs[0]
    bundle_file = tmp_path / "p.json"
    b.save(bundle_file)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    pol, mkt = tmp_path / "pol.json", tmp_path / "mkt.json"
    pol.write_text(json.dumps(POLICY))
    mkt.write_text(json.dumps(MARKET))
    path = tmp_path / "crash.log"
    rng = random.Random(20240603)
    counts = []
    for _round in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(bundle_file), ch.hex(), str(pol),
                                 str(mkt)], stdout=subprocess.PIPE, env=WRITER_ENV)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.2, 0.8))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        r = audit(path, sample=5, seed=_round)
        assert r.clean, r.problems()
        assert r.entries == r.head_count
        counts.append(r.entries)
    assert counts[0] > 0 and counts[0] < counts[1] < counts[2]  # appending resumes after each crash
    print(f"\nentries after each SIGKILL: {counts}")
