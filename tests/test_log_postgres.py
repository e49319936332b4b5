"""The transparency log on a real PostgreSQL server (started by the test suite in a temporary
directory, :mod:`pg_server`): the same log, heads, receipts and audit as the SQLite file; edits
named by the audit; one challenge accepted once even by racing writers and by two worker
processes verifying concurrently; the schema's versions (an older database refused with the
command that migrates it, then migrated with every entry kept; a newer one refused; tables without
a version refused); a server restart (appends fail with DatabaseUnavailableError and resume,
nothing half-written). Every attack has its untouched twin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zkmargin.errors import DatabaseUnavailableError, LogError, ReplayError, StatementMismatchError
from zkmargin.verifier.audit import audit
from zkmargin.verifier.log import PostgresLogStore, VerificationLog, check_receipt, verify_and_log
from zkmargin.verifier.log.migrations import SCHEMA_VERSION, migrate, schema_version
from zkmargin.verifier.log.pg_connection import PgConnection, redact

sys.path.insert(0, str(Path(__file__).resolve().parent))
import log_helpers as H  # noqa: E402
from log_helpers import MARKET, POLICY  # noqa: E402

N = 6
ROOT = Path(__file__).resolve().parents[1]


proofs = H.proofs_fixture(N)  # N real proofs of the small venue, each for its own challenge
key = H.key_fixture()


def sql(dsn: str, *statements) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in statements:
            conn.execute(*s) if isinstance(s, tuple) else conn.execute(s)


def build(dsn, proofs, key, rejected_at=(3,)):
    receipts = []
    with VerificationLog(dsn, signing_key=key) as log:
        for i, (b, ch, res) in enumerate(proofs, start=1):
            if i in rejected_at:
                receipts.append(log.record(b, POLICY, MARKET, 0, b"\x99" * 32,
                                           StatementMismatchError("the proof answers another challenge")).receipt)
            else:
                receipts.append(log.record(b, POLICY, MARKET, 0, ch, res).receipt)
    return receipts


def test_a_postgres_log_audits_clean_and_an_edit_is_named(pg, proofs, key):
    dsn = pg.new_database()
    receipts = build(dsn, proofs, key)
    r = audit(dsn, venue_key=H.pub(key), receipts=[rc.to_json_dict() for rc in receipts[:2]])
    assert r.clean, r.problems()
    assert r.entries == r.heads == r.signed_size == N and (r.accepted, r.rejected, r.checked) == (N - 1, 1, N - 1)
    for rc in receipts:
        check_receipt(rc.to_json_dict(), H.pub(key))
    with VerificationLog(dsn) as log:
        assert [e.id for e in log.entries()] == list(range(1, N + 1))
        assert log.entry_by_challenge(proofs[1][1]).result == "accepted"
        assert log.entry_by_challenge(b"\x99" * 32).result == "rejected"
        assert log.entry_by_challenge(b"\x01" * 32) is None
    # the twin: an edited field is named by the audit, and the heads pinpoint it
    sql(dsn, "UPDATE entries SET time = '2020-01-01T00:00:00.000000Z' WHERE id = 4")
    r = audit(dsn, venue_key=H.pub(key))
    assert r.edited == [4] and r.mismatched_heads == list(range(4, N + 1)) and not r.clean
    # a deleted entry is named too
    sql(dsn, "DELETE FROM entries WHERE id = 2")
    assert audit(dsn, venue_key=H.pub(key)).deleted == [2]


def test_a_challenge_is_accepted_once_even_by_racing_writers(pg, proofs, key):
    dsn = pg.new_database()
    b, ch, res = proofs[0]
    one, two = VerificationLog(dsn, signing_key=key), VerificationLog(dsn, signing_key=key)
    first, second = one.record(b, POLICY, MARKET, 0, ch, res), two.record(b, POLICY, MARKET, 0, ch, res)
    assert first.result == "accepted" and second.result == "rejected" and isinstance(second.replay, ReplayError)
    b2, ch2, res2 = proofs[1]
    assert two.record(b2, POLICY, MARKET, 0, ch2, res2).result == "accepted"  # the twin
    one.close()
    two.close()
    import psycopg

    with pytest.raises(psycopg.errors.UniqueViolation):  # the unique index is the backstop
        sql(dsn, "UPDATE entries SET result = 'accepted' WHERE id = 2")
    with pytest.raises(ReplayError):
        verify_and_log(b, MARKET, POLICY, 0, ch, log=dsn, log_key=key)
    assert audit(dsn, venue_key=H.pub(key)).clean


WORKER = textwrap.dedent("""
    import json, sys
    from zkmargin.documents.bundle import ProofBundle
    from zkmargin.errors import ZkMarginError
    from zkmargin.verifier.log import verify_and_log
    dsn, key, jobs = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
    policy, market = json.loads(sys.argv[4]), json.loads(sys.argv[5])
    out = []
    for bundle_file, challenge in jobs:
        try:
            res = verify_and_log(ProofBundle.load(bundle_file), market, policy, 0, bytes.fromhex(challenge),
                                 log=dsn, log_key=key)
            out.append(["accepted", res.extra["log"]["id"]])
        except ZkMarginError as exc:
            out.append([type(exc).__name__, exc.log_entry["id"] if exc.log_entry else None])
    print(json.dumps(out))
""")


def test_two_worker_processes_verifying_concurrently_keep_one_consistent_log(pg, proofs, key, tmp_path):
    """Two processes verify and log the same six proofs (each also answers a wrong challenge once)
    on one PostgreSQL log at the same time: every challenge is accepted exactly once, every other
    attempt is a logged replay or rejection, ids are 1..n without a gap, and the audit is clean."""
    from zkmargin.workflows import custodian as A

    dsn = pg.new_database()
    key_file = tmp_path / "venue.pem"
    A.write_private(key_file, A.private_key_pem(key))
    jobs = []
    for i, (b, ch, _res) in enumerate(proofs):
        f = tmp_path / f"p{i}.json"
        b.save(f)
        jobs.append([str(f), ch.hex()])
    wrong = [[jobs[0][0], "77" * 32]]  # proof 0 against a challenge it does not answer: rejected
    job_files = []
    for w, order in enumerate((jobs + wrong, list(reversed(jobs)) + wrong)):
        jf = tmp_path / f"jobs{w}.json"
        jf.write_text(json.dumps(order))
        job_files.append(jf)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, str(script), dsn, str(key_file), str(jf), json.dumps(POLICY),
                               json.dumps(MARKET)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
             for jf in job_files]
    outs = []
    for p in procs:
        o, e = p.communicate(timeout=300)
        assert p.returncode == 0, e
        outs.append(json.loads(o))
    results = [r for out in outs for r in out]
    assert len(results) == 2 * (N + 1)
    assert sum(1 for r, _ in results if r == "accepted") == N  # each challenge once
    assert sorted(r for r, _ in results if r != "accepted") == ["ReplayError"] * N + ["StatementMismatchError"] * 2
    ids = sorted(i for _, i in results)
    assert ids == list(range(1, 2 * (N + 1) + 1))  # one sequence, no gap, no duplicate
    r = audit(dsn, venue_key=H.pub(key))
    assert r.clean and r.entries == 2 * (N + 1) and r.accepted == N and not r.reused_challenges, r.problems()


def test_schema_versions_older_refused_then_migrated_newer_refused(pg, proofs, key):
    dsn = pg.new_database()
    db = PgConnection(dsn)
    assert migrate(db, upto=1) == (None, 1, [1])  # the database an older zkmargin (log only) wrote
    db.close()
    with pytest.raises(LogError, match=f"version 1; this zkmargin needs version {SCHEMA_VERSION}.*db-migrate"):
        VerificationLog(dsn, signing_key=key)
    db = PgConnection(dsn)
    assert schema_version(db) == 1
    before, after, applied = migrate(db)
    assert (before, after, applied) == (1, SCHEMA_VERSION, list(range(2, SCHEMA_VERSION + 1)))
    assert migrate(db) == (SCHEMA_VERSION, SCHEMA_VERSION, [])  # applied once
    db.close()
    build(dsn, proofs[:2], key, rejected_at=())
    assert audit(dsn, venue_key=H.pub(key)).clean  # the twin: migrated, it is a working log
    sql(dsn, ("INSERT INTO schema_version(version, description) VALUES (%s, 'from the future')",
              (SCHEMA_VERSION + 1,)))
    with pytest.raises(LogError, match="newer zkmargin"):
        VerificationLog(dsn)
    with pytest.raises(LogError, match="newer"):
        migrate(PgConnection(dsn))
    other = pg.new_database()
    sql(other, "CREATE TABLE entries (id BIGINT)")
    with pytest.raises(LogError, match="no schema_version table"):
        VerificationLog(other, signing_key=key)


def test_a_server_restart_fails_appends_cleanly_and_they_resume(pg, proofs, key):
    dsn = pg.new_database()
    log = VerificationLog(dsn, signing_key=key)
    b, ch, res = proofs[0]
    assert log.record(b, POLICY, MARKET, 0, ch, res).seq == 1
    pg.stop("fast")
    try:
        with pytest.raises(DatabaseUnavailableError, match="database"):  # the connection is lost
            log.record(proofs[1][0], POLICY, MARKET, 0, proofs[1][1], proofs[1][2])
        with pytest.raises(DatabaseUnavailableError, match="cannot reach"):  # and cannot be reopened
            log.record(proofs[1][0], POLICY, MARKET, 0, proofs[1][1], proofs[1][2])
    finally:
        pg.start()
    assert log.record(proofs[1][0], POLICY, MARKET, 0, proofs[1][1], proofs[1][2]).seq == 2  # resumes
    log.close()
    r = audit(dsn, venue_key=H.pub(key))
    assert r.clean and r.entries == 2


def test_a_url_password_never_reaches_a_message(pg):
    assert redact("postgresql://venue:s3cret@db.example:5432/log?sslmode=require") == \
        "postgresql://venue@db.example:5432/log"
    bad = f"postgresql://nobody:s3cret@127.0.0.1:{pg.port}/no_such_db"
    with pytest.raises(LogError) as info:
        VerificationLog(bad, signing_key=H.new_key())
    assert "s3cret" not in info.value.one_line()
    assert isinstance(PostgresLogStore, type)
