"""The transparency log over real SQLite files and real Ed25519 keys: tree heads and receipts, what
the audit names when rows are edited, deleted, reordered or truncated — by someone without the
venue key and by an insider who re-signs everything (caught by an older signed head or a
receipt) — single-use challenges, failed requests stored by digest, the log's key, crash safety
under SIGKILL and concurrent writers. Every attack has its untouched twin."""

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
from pathlib import Path

import pytest

import zkmargin
from zkmargin.errors import LogError, ReplayError, StatementMismatchError, VerificationError
from zkmargin.verifier import log as L
from zkmargin.verifier.audit import audit
from zkmargin.verifier.log import (
    VerificationLog,
    check_receipt,
    verify_and_log,
    verify_batch_and_log,
)
from zkmargin.verifier.log.entry import entry_leaf_hash
from zkmargin.verifier.log.merkle import MerkleTree, verify_consistency, verify_inclusion

sys.path.insert(0, str(Path(__file__).resolve().parent))
import log_helpers as H  # noqa: E402
from log_helpers import MARKET, POLICY  # noqa: E402

N = 12
REJECTED_AT = 6


proofs = H.proofs_fixture(N)  # N real proofs of the small venue, each for its own challenge
key = H.key_fixture()


def build(path, proofs, key, n=N, rejected_at=(REJECTED_AT,)):
    """n entries: accepted proofs, each with its own challenge, and rejections (a wrong
    challenge) at the given ids. Returns the receipts."""
    receipts = []
    with VerificationLog(path, signing_key=key) as log:
        for i in range(1, n + 1):
            b, ch, res = proofs[i - 1]
            if i in rejected_at:
                out = StatementMismatchError("the proof answers another challenge (challenge differs)")
                receipts.append(log.record(b, POLICY, MARKET, 0, b"\x99" * 32, out).receipt)
            else:
                receipts.append(log.record(b, POLICY, MARKET, 0, ch, res).receipt)
    return receipts


@pytest.fixture
def built(tmp_path, proofs, key):
    path = tmp_path / "venue.log"
    receipts = build(path, proofs, key)
    return path, receipts


def findings(r):
    return {"edited": r.edited, "deleted": r.deleted, "reordered": r.reordered, "truncated": r.truncated,
            "failed": [f["id"] for f in r.failed_proofs]}


NONE = {"edited": [], "deleted": [], "reordered": [], "truncated": [], "failed": []}


# --- the tree, its heads, the receipts -------------------------------------------------------------


def test_untouched_log_audits_clean(built, key):
    path, receipts = built
    r = audit(path, venue_key=H.pub(key), receipts=receipts[:3])
    assert r.clean and r.log_intact, r.problems()
    assert findings(r) == NONE
    assert r.entries == r.tree_size == r.signed_size == r.heads == N
    assert (r.accepted, r.rejected, r.checked) == (N - 1, 1, N - 1)
    assert r.key_source == "the venue key given" and r.log_id == H.pub(key)
    assert all(ev.ok and ev.consistency_proof is not None for ev in r.evidence)


def test_tree_heads_receipts_and_stored_rows(built, key):
    path, receipts = built
    with VerificationLog(path, read_only=True) as log:
        rows = list(log.entries(bodies=True))
        heads = list(log.heads())
        latest = log.latest_head()
        assert log.log_id == H.pub(key)
        tree = MerkleTree(bytes.fromhex(e.leaf_hash) for e in rows)
        # the venue can hand out inclusion and consistency proofs for older receipts and heads
        assert log.inclusion_proof(3) == tree.inclusion_proof(2)
        assert verify_consistency(4, N, tree.root(4), tree.root(), log.consistency_proof(4))
    assert [e.id for e in rows] == [e.seq for e in rows] == list(range(1, N + 1))
    for e in rows:
        assert entry_leaf_hash(e.fields()).hex() == e.leaf_hash
    assert [sth.tree_size for _row, sth in heads] == list(range(1, N + 1))
    for _row, sth in heads:  # one signed head per append, each over the tree of that size
        assert sth.signature_valid(H.pub(key)) and sth.root_hash == tree.root(sth.tree_size)
    assert [s.timestamp for _r, s in heads] == sorted(s.timestamp for _r, s in heads)
    assert latest.tree_size == N and latest.root_hash == tree.root()
    # every receipt: the entry, its leaf, the head right after its append and the path to it
    for i, rc in enumerate(receipts):
        assert rc.index == i and rc.sth.tree_size == i + 1 and rc.entry["seq"] == i + 1
        assert verify_inclusion(rc.leaf_hash, i, i + 1, rc.inclusion_proof, rc.sth.root_hash)
        check_receipt(rc.to_json_dict(), H.pub(key))
    # failed requests by digest and reason: no body kept; accepted ones keep the bundle
    rej = rows[REJECTED_AT - 1]
    assert rej.result == "rejected" and rej.code == "StatementMismatchError" and rej.bundle is None
    assert "another challenge" in rej.reason and len(rej.bundle_hash) == 64
    assert rows[0].bundle is not None and L.sha256_hex(rows[0].bundle) == rows[0].bundle_hash
    assert rows[0].software.startswith("zkmargin ")
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT COUNT(*) FROM policies").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM markets").fetchone()[0] == 1
    assert db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()[0] == "zkmargin.log/2"
    db.close()


def test_the_private_key_is_never_stored_and_another_key_is_refused(built, key, tmp_path):
    path, _ = built
    from cryptography.hazmat.primitives import serialization

    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    stored = b"".join(Path(str(path) + s).read_bytes() for s in ("", "-wal") if Path(str(path) + s).exists())
    assert seed not in stored and seed.hex().encode() not in stored
    assert bytes.fromhex(H.pub(key)) in stored or H.pub(key).encode() in stored  # the public key is
    with pytest.raises(LogError, match="another venue key"):
        VerificationLog(path, signing_key=H.new_key())
    with VerificationLog(path) as log:  # without a key: readable, not appendable
        assert len(log) == N and not log.can_append
        with pytest.raises(LogError, match="signing key"):
            log.record(b"{}", POLICY, MARKET, 0, None, StatementMismatchError("x"))
    with pytest.raises(LogError, match="signing key"):
        VerificationLog(tmp_path / "new.log")
    assert not (tmp_path / "new.log").exists()
    with VerificationLog(path, read_only=True) as log:
        assert log.latest_head().tree_size == N


def test_a_log_of_the_old_format_gets_a_clear_message(tmp_path):
    old = tmp_path / "old.log"
    H.sql(old, "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
          "INSERT INTO meta VALUES ('format', 'zkmargin.log/1')")
    with pytest.raises(LogError, match="zkmargin.log/1.*older zkmargin"):
        VerificationLog(old, signing_key=H.new_key())
    with pytest.raises(LogError, match="older zkmargin"):
        audit(old)


# --- tampering without the key ----------------------------------------------------------------------


def test_edit_a_field_is_named(built):
    path, _ = built
    H.sql(path, "UPDATE entries SET time = '2020-01-01T00:00:00.000000Z' WHERE id = 5")
    r = audit(path)
    assert findings(r) == {**NONE, "edited": [5]}
    assert r.mismatched_heads == list(range(5, N + 1)) and not r.clean


def test_edit_a_rejection_into_an_acceptance(built):
    path, _ = built
    H.sql(path, f"UPDATE entries SET result = 'accepted', code = NULL, reason = NULL WHERE id = {REJECTED_AT}")
    r = audit(path)
    # the leaf no longer matches, and the 'accepted' entry has no bundle to re-verify
    assert r.edited == [REJECTED_AT] and REJECTED_AT in [f["id"] for f in r.failed_proofs]


def test_edit_the_stored_bundle(built):
    path, _ = built
    with VerificationLog(path) as log:
        row = log.entries_by_id([3])[0]
    doc = json.loads(row.bundle)
    doc["proof"] = doc["proof"][:-2] + ("00" if doc["proof"][-2:] != "00" else "01")
    H.sql(path, ("UPDATE entries SET bundle = ? WHERE id = 3",
                 (json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(),)))
    r = audit(path)
    assert r.edited == [3] and 3 in [f["id"] for f in r.failed_proofs] and not r.mismatched_heads


def test_edit_with_recomputed_leaf_hash_is_pinpointed_by_the_signed_heads(built):
    with VerificationLog(built[0]) as log:
        row = log.entries_by_id([4])[0]
    fields = row.fields()
    fields["time"] = "2020-01-01T00:00:00.000000Z"
    H.sql(built[0], ("UPDATE entries SET time = ?, leaf_hash = ? WHERE id = 4",
                     (fields["time"], entry_leaf_hash(fields).hex())))
    r = audit(built[0])
    assert findings(r) == {**NONE, "edited": [4]} and r.mismatched_heads == list(range(4, N + 1))


def test_delete_reorder_truncate(built, proofs, key, tmp_path):
    path, _ = built
    H.sql(path, "DELETE FROM entries WHERE id = 7")
    r = audit(path)
    assert r.deleted == [7] and r.mismatched_heads == list(range(7, N)) and r.truncated == []
    p2 = tmp_path / "reorder.log"
    build(p2, proofs, key)
    cols = ["seq"] + [c for c in L.HASHED_FIELDS if c != "seq"] + ["bundle", "attestations", "leaf_hash"]
    db = sqlite3.connect(p2)
    a = db.execute(f"SELECT {', '.join(cols)} FROM entries WHERE id = 4").fetchone()
    b = db.execute(f"SELECT {', '.join(cols)} FROM entries WHERE id = 9").fetchone()
    setter = ", ".join(f"{c} = ?" for c in cols)
    db.execute("DROP INDEX entries_accepted_challenge")
    db.execute(f"UPDATE entries SET {setter} WHERE id = 4", b)
    db.execute(f"UPDATE entries SET {setter} WHERE id = 9", a)
    db.commit()
    db.close()
    r = audit(p2)
    assert r.reordered == [4, 9] and r.mismatched_heads == list(range(4, N + 1)) and not r.clean
    p3 = tmp_path / "truncated.log"
    build(p3, proofs, key)
    H.sql(p3, "DELETE FROM entries WHERE id > 9")
    r = audit(p3)
    assert findings(r) == {**NONE, "truncated": [10, 11, 12]} and "signed but are gone" in r.to_text()


# --- an insider with the venue key: caught by an older signed head or a receipt ------------------


def test_insider_rewrite_is_caught_by_an_older_head_or_a_receipt(built, proofs, key):
    path, receipts = built
    with VerificationLog(path) as log:
        old_head = log.latest_head().to_json_dict()
    # the honest twin first: the log grows, the old head and receipts still check out
    with VerificationLog(path, signing_key=key) as log:
        b, ch, res = H.prove(100)
        log.record(b, POLICY, MARKET, 0, ch, res)
    r = audit(path, venue_key=H.pub(key), sths=[old_head], receipts=[receipts[3]])
    assert r.clean, r.problems()
    assert r.evidence[0].ok and r.evidence[0].tree_size == N
    # the insider turns accepted entry 4 into a rejection and re-signs everything with the venue key
    H.insider_rewrite(path, key, "UPDATE entries SET result = 'rejected', code = 'VerificationError', "
                                 "reason = 'the proof does not verify', bundle = NULL WHERE id = 4")
    alone = audit(path, venue_key=H.pub(key))
    assert alone.log_intact  # self-consistent: the file alone cannot tell ...
    r = audit(path, venue_key=H.pub(key), sths=[old_head])  # ... an older signed head can
    assert not r.clean and not r.evidence[0].ok and "rewritten" in r.evidence[0].problem
    r = audit(path, venue_key=H.pub(key), receipts=[receipts[3]])  # ... and so can the trader's receipt
    assert not r.clean and "changed after the receipt" in r.evidence[0].problem
    # a receipt for a later, untouched entry: the tree it was signed in covered entry 4
    r = audit(path, venue_key=H.pub(key), receipts=[receipts[5], receipts[1]])
    assert not r.evidence[0].ok and "rewritten" in r.evidence[0].problem
    assert r.evidence[1].ok  # an earlier one still checks out: entries 1-2 are as signed


def test_insider_deletes_and_rewrites_the_heads(built, key):
    path, receipts = built
    with VerificationLog(path) as log:
        old_head = log.latest_head().to_json_dict()
    H.insider_rewrite(path, key, "DELETE FROM entries WHERE id > 9")
    assert audit(path, venue_key=H.pub(key)).log_intact  # the file alone looks fine
    r = audit(path, venue_key=H.pub(key), sths=[old_head])
    assert not r.clean and "were removed" in r.evidence[0].problem and "10-12" in r.evidence[0].problem
    r = audit(path, venue_key=H.pub(key), receipts=[receipts[10]])
    assert not r.clean and not r.evidence[0].ok
    # a middle entry deleted and the rest renumbered to hide the gap
    H.insider_rewrite(path, key, "DELETE FROM entries WHERE id = 5", renumber=True)
    r = audit(path, venue_key=H.pub(key), receipts=[receipts[4], receipts[2]])
    assert not r.clean and "entry 5 was changed after the receipt" in r.evidence[0].problem
    assert r.evidence[1].ok  # entries 1-3 are still what the venue signed


def test_insider_with_another_key(built, key):
    path, receipts = built
    H.insider_rewrite(path, H.new_key(), "UPDATE entries SET threshold = '1' WHERE id = 2")
    r = audit(path)  # without the venue key the log vouches for itself, and says so
    assert r.log_intact and "unauthenticated" in r.key_source
    r = audit(path, venue_key=H.pub(key))
    assert not r.clean and r.bad_signatures == list(range(1, N + 1))
    assert any("another key" in n for n in r.notes)


# --- single-use challenges -------------------------------------------------------------------------


def test_a_replayed_challenge_is_refused_before_verifying_and_logged(tmp_path, proofs, key, monkeypatch):
    path = tmp_path / "r.log"
    b, ch, _ = proofs[0]
    res = verify_and_log(b, MARKET, POLICY, 0, ch, log=path, log_key=key)
    assert res.extra["log"]["result"] == "accepted" and res.extra["receipt"]["entry"]["challenge"] == ch.hex()
    calls = []
    real = L.record.verify_prepared  # looked up where verify_and_log calls it
    monkeypatch.setattr(L.record, "verify_prepared", lambda *a, **k: calls.append(1) or real(*a, **k))
    with pytest.raises(ReplayError, match="accepted already") as info:
        verify_and_log(b, MARKET, POLICY, 0, ch, log=path, log_key=key)
    assert calls == []  # refused by the log's pre-check, before any verification work
    assert info.value.receipt["entry"]["code"] == "ReplayError" and info.value.log_entry["id"] == 2
    # the twin: a fresh challenge is accepted
    b2, ch2, _ = proofs[1]
    assert verify_and_log(b2, MARKET, POLICY, 0, ch2, log=path, log_key=key).extra["log"]["id"] == 3
    assert calls == [1]
    r = audit(path, venue_key=H.pub(key))
    assert r.clean and r.replays_refused == 1 and not r.reused_challenges


def test_racing_writers_cannot_both_accept_a_challenge(tmp_path, proofs, key):
    """Two writers that both verified the same proof: the append transaction lets one accept."""
    path = tmp_path / "race.log"
    b, ch, res = proofs[0]
    one, two = VerificationLog(path, signing_key=key), VerificationLog(path, signing_key=key)
    first = one.record(b, POLICY, MARKET, 0, ch, res)
    second = two.record(b, POLICY, MARKET, 0, ch, res)
    assert first.result == "accepted" and first.replay is None
    assert second.result == "rejected" and isinstance(second.replay, ReplayError)
    b2, ch2, res2 = proofs[1]
    assert two.record(b2, POLICY, MARKET, 0, ch2, res2).result == "accepted"  # the twin
    one.close()
    two.close()
    db = sqlite3.connect(path)  # the unique index is the backstop
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE entries SET result = 'accepted' WHERE id = 2")
    db.close()


def test_audit_flags_a_challenge_accepted_twice_in_a_hand_edited_log(tmp_path, proofs, key):
    path = tmp_path / "edited.log"
    b, ch, res = proofs[0]
    with VerificationLog(path, signing_key=key) as log:
        log.record(b, POLICY, MARKET, 0, ch, res)
        log.record(b, POLICY, MARKET, 0, ch, res)  # refused as a replay
        b2, ch2, res2 = proofs[1]
        log.record(b2, POLICY, MARKET, 0, ch2, res2)
    twin = audit(path, venue_key=H.pub(key))
    assert twin.clean and twin.reused_challenges == [] and twin.replays_refused == 1
    data = L.bundle_bytes(b)
    H.insider_rewrite(path, key, "DROP INDEX entries_accepted_challenge",
                      ("UPDATE entries SET result = 'accepted', code = NULL, reason = NULL, bundle = ? WHERE id = 2",
                       (data,)))
    r = audit(path, venue_key=H.pub(key))
    assert r.log_intact  # re-signed with the venue key: consistent ...
    assert r.reused_challenges == [{"challenge": ch.hex(), "ids": [1, 2]}] and not r.clean  # ... but a replay
    assert "accepted more than once" in r.to_text()


def test_failed_requests_are_stored_by_digest(tmp_path, key):
    path = tmp_path / "junk.log"
    junk = b'{"format": "zkmargin.proof/1", "junk": "' + b"x" * 200_000 + b'"}'
    with pytest.raises(zkmargin.FormatError):
        verify_and_log(junk, MARKET, POLICY, 0, H.challenge(7), log=path, log_key=key)
    with VerificationLog(path) as log:
        row = log.entries_by_id([1])[0]
    assert row.bundle is None and row.bundle_hash == L.sha256_hex(junk) and row.code == "FormatError"
    assert sum(os.path.getsize(str(path) + s) for s in ("", "-wal") if os.path.exists(str(path) + s)) < 100_000
    long = StatementMismatchError("y" * 5000)
    with VerificationLog(path, signing_key=key) as log:
        log.record(junk, POLICY, MARKET, 0, None, long)
        assert len(log.entries_by_id([2])[0].reason) == L.MAX_REASON


# --- verify and record -----------------------------------------------------------------------------


def test_verify_and_log_records_both_outcomes_with_receipts(tmp_path, proofs, key):
    path = tmp_path / "v.log"
    b, ch, _ = proofs[0]
    res = verify_and_log(b, MARKET, POLICY, 0, ch, log=path, log_key=key, subject="acct-7")
    assert res.extra["log"]["id"] == 1 and res.extra["receipt"]["entry"]["subject"] == "acct-7"
    with pytest.raises(VerificationError) as info:
        verify_and_log(b, MARKET, POLICY, 0, proofs[1][1], log=path, log_key=key)
    assert info.value.log_entry["result"] == "rejected" and info.value.receipt["index"] == 1
    for rc in (res.extra["receipt"], info.value.receipt):
        check_receipt(rc, H.pub(key), bundle=b)
    with pytest.raises(zkmargin.FormatError):
        verify_and_log(b'{"format": "nope"}', MARKET, POLICY, 0, ch, log=path, log_key=key)
    with pytest.raises(LogError, match="signing key"):  # a log that cannot sign records nothing
        verify_and_log(b, MARKET, POLICY, 0, proofs[2][1], log=path)
    with VerificationLog(path) as log:
        rows = list(log.entries())
    assert [e.result for e in rows] == ["accepted", "rejected", "rejected"]
    assert rows[2].code == "FormatError" and rows[2].bundle_hash == L.sha256_hex(b'{"format": "nope"}')
    assert audit(path, venue_key=H.pub(key)).clean


def test_verify_batch_and_log(tmp_path, proofs, key):
    path = tmp_path / "b.log"
    bundles = [p[0] for p in proofs[:3]]
    chals = [p[1] for p in proofs[:3]]
    res = verify_batch_and_log(bundles, MARKET, POLICY, 0, chals, log=path, log_key=key)
    assert res.proofs == 3 and [e["id"] for e in res.extra["log"]] == [1, 2, 3]
    assert [rc["index"] for rc in res.extra["receipt"]] == [0, 1, 2]
    more = [p[0] for p in proofs[3:5]]
    with pytest.raises(VerificationError) as info:  # wrong challenges for two, a replay for one
        verify_batch_and_log(more + bundles[:1], MARKET, POLICY, 0, [chals[1], chals[0], chals[0]], log=path,
                             log_key=key)
    assert "[0, 1, 2]" in str(info.value) and len(info.value.receipt) == 3
    with pytest.raises(ReplayError, match="bundle 0: .*accepted already"):
        verify_batch_and_log(bundles[:1], MARKET, POLICY, 0, chals[:1], log=path, log_key=key)
    with VerificationLog(path) as log:
        assert [e.result for e in log.entries()] == ["accepted"] * 3 + ["rejected"] * 4
    assert audit(path, venue_key=H.pub(key)).clean


def test_concurrent_writers(tmp_path, proofs, key):
    """Threads sharing one log object and a second connection to the same file: nothing lost, one
    signed head per entry, every receipt valid."""
    path = tmp_path / "c.log"
    shared = VerificationLog(path, signing_key=key)
    other = VerificationLog(path, signing_key=key)
    b, ch, _ = proofs[0]
    got = []

    def work(log):
        for _ in range(8):
            got.append(log.record(b, POLICY, MARKET, 0, None, StatementMismatchError("x")).receipt)

    threads = [threading.Thread(target=work, args=(lg,)) for lg in (shared, shared, other, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.close()
    other.close()
    assert sorted(rc.index for rc in got) == list(range(32))
    r = audit(path, venue_key=H.pub(key), receipts=[got[0].to_json_dict(), got[-1].to_json_dict()])
    assert r.clean and r.entries == r.heads == 32, r.problems()


def test_entry_from_another_circuit_build_is_explained(tmp_path, proofs, key):
    path = tmp_path / "old.log"
    with VerificationLog(path, signing_key=key) as log:
        b, ch, res = proofs[0]
        log.record(b, POLICY, MARKET, 0, ch, res)
        b, ch, res = proofs[1]
        log.record(b, POLICY, MARKET, 0, ch, res, circuit_digest="ab" * 32)
    r = audit(path)
    assert r.log_intact and [f["id"] for f in r.failed_proofs] == [2]
    assert "another circuit build" in r.failed_proofs[0]["reason"]


def test_stored_policy_edited(built):
    path, _ = built
    H.sql(path, "UPDATE policies SET body = replace(body, '0.005', '0.001')")
    r = audit(path)
    assert r.store_errors and not r.clean and r.log_intact
    assert len(r.failed_proofs) == N - 1


def test_not_a_log(tmp_path):
    with pytest.raises(LogError):
        VerificationLog(tmp_path / "missing.db", create=False)
    other = tmp_path / "other.db"
    H.sql(other, "CREATE TABLE t (x)")
    with pytest.raises(LogError):
        VerificationLog(other, signing_key=H.new_key())
    text = tmp_path / "text.db"
    text.write_text("not sqlite at all " * 100)
    with pytest.raises(LogError):
        audit(text)


# --- crash safety ----------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import json, sys
    from zkmargin.documents.bundle import ProofBundle
    from zkmargin.errors import StatementMismatchError
    from zkmargin.verifier.log import VerificationLog
    import zkmargin.api, zkmargin.rules.models  # what record() uses, loaded before "ready" (import zkmargin is lazy)
    path, bundle_file, pol, mkt, key = sys.argv[1:6]
    policy, market = json.load(open(pol)), json.load(open(mkt))
    b = ProofBundle.load(bundle_file)
    log = VerificationLog(path, signing_key=key)
    print("ready", flush=True)
    while True:
        log.record(b, policy, market, 0, None, StatementMismatchError("the proof answers another challenge"))
""")


def test_killed_writer_leaves_a_valid_log(tmp_path, proofs, key):
    from zkmargin.workflows import custodian as A

    b = proofs[0][0]
    bundle_file = tmp_path / "p.json"
    b.save(bundle_file)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    pol, mkt = tmp_path / "pol.json", tmp_path / "mkt.json"
    pol.write_text(json.dumps(POLICY))
    mkt.write_text(json.dumps(MARKET))
    key_file = tmp_path / "venue.pem"
    A.write_private(key_file, A.private_key_pem(key))
    path = tmp_path / "crash.log"
    rng = random.Random(20240603)
    counts = []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for _round in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(bundle_file), str(pol), str(mkt),
                                 str(key_file)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.2, 0.8))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        r = audit(path, venue_key=H.pub(key), verify_proofs=False)
        assert r.clean, r.problems()
        assert r.entries == r.signed_size == r.heads
        counts.append(r.entries)
    assert counts[0] > 0 and counts[0] < counts[1] < counts[2]  # appending resumes after each crash
    print(f"\nentries after each SIGKILL: {counts}")
