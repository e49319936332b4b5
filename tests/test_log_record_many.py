"""``VerificationLog.record_many`` — several outcomes in ONE append transaction (what the service's
micro-batches write) — on both stores, SQLite and a real PostgreSQL server: the same entries,
signed heads and receipts as one ``record`` per outcome; a challenge accepted earlier in the same
call is a replay for a later one; all or nothing when the transaction fails part-way; and the
service's batch function fails every request of a batch whose append failed. Each has its twin."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from zkmargin.errors import LogError, ReplayError, StatementMismatchError
from zkmargin.verifier.audit import audit
from zkmargin.verifier.log import VerificationLog, check_receipt

sys.path.insert(0, str(Path(__file__).resolve().parent))
import log_helpers as H  # noqa: E402
from log_helpers import MARKET, POLICY  # noqa: E402

N = 4
NOW = "2026-01-02T03:04:05.000000Z"


proofs = H.proofs_fixture(N)  # N real proofs of the small venue, each for its own challenge
key = H.key_fixture()


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "venue.log")
    return request.getfixturevalue("pg").new_database()


def outcomes(proofs):
    """(bundle, challenge, outcome, subject): accepted proofs and one rejection (a wrong challenge)."""
    out = [(b, ch, res, f"acct-{i}") for i, (b, ch, res) in enumerate(proofs)]
    b, _ch, _res = proofs[1]
    out[1] = (b, b"\x99" * 32, StatementMismatchError("the proof answers another challenge"), None)
    return out


def rows(log: VerificationLog) -> list[dict]:
    return [{**e.fields(), "leaf_hash": e.leaf_hash} for e in log.entries(bodies=True)]


def test_one_transaction_writes_what_one_record_per_outcome_writes(target, tmp_path, proofs, key):
    items = outcomes(proofs)
    with VerificationLog(target, signing_key=key) as log:
        made = log.record_many(POLICY, MARKET, 0, items, now=NOW)
        got = rows(log)
        heads = [h.tree_size for _row, h in log.heads()]
    with VerificationLog(tmp_path / "one-by-one.log", signing_key=key) as log:
        one = [log.record(b, POLICY, MARKET, 0, ch, res, subject=s, now=NOW) for b, ch, res, s in items]
        want = rows(log)
    assert got == want  # same fields, same leaf hashes: the same tree
    assert heads == list(range(1, N + 1))  # one signed head per entry, as one by one
    assert [a.seq for a in made] == [a.seq for a in one] == list(range(1, N + 1))
    assert [a.result for a in made] == ["accepted", "rejected", "accepted", "accepted"]
    for a in made:
        check_receipt(a.receipt.to_json_dict(), H.pub(key))
    r = audit(target, venue_key=H.pub(key))
    assert r.clean and r.entries == r.heads == N and (r.accepted, r.rejected) == (N - 1, 1), r.problems()
    # the twin: a row of the batch edited by hand is named, as in a log written one by one
    edit(target, "UPDATE entries SET time = '2020-01-01T00:00:00.000000Z' WHERE id = 3")
    r = audit(target, venue_key=H.pub(key))
    assert not r.clean and r.edited == [3]


def edit(target: str, statement: str) -> None:
    """An insider's hand edit of the store's rows, outside the log's code."""
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(statement)
    else:
        import sqlite3

        with sqlite3.connect(target) as db:
            db.execute(statement)


def test_a_challenge_accepted_earlier_in_the_same_call_is_a_replay(target, proofs, key):
    b, ch, res = proofs[0]
    b2, ch2, res2 = proofs[2]
    with VerificationLog(target, signing_key=key) as log:
        made = log.record_many(POLICY, MARKET, 0, [(b, ch, res, None), (b, ch, res, None), (b2, ch2, res2, None)])
        assert [a.result for a in made] == ["accepted", "rejected", "accepted"]
        assert made[0].replay is None and isinstance(made[1].replay, ReplayError) and made[2].replay is None
        # across calls alike: the same challenge once more is a replay of entry 1
        again = log.record_many(POLICY, MARKET, 0, [(b, ch, res, None)])
        assert again[0].result == "rejected" and "entry 1" in again[0].replay.one_line()
    assert audit(target, venue_key=H.pub(key)).clean


def test_a_transaction_that_fails_part_way_writes_nothing(target, proofs, key):
    items = outcomes(proofs)
    with VerificationLog(target, signing_key=key) as log:
        log.record_many(POLICY, MARKET, 0, items[:1])  # one entry before
        real = log.store.append_many

        def fails_on_the_third(prepares):
            def boom(state, accepted_seq):
                raise LogError("the disk is full", source="test")
            return real([*prepares[:2], boom, *prepares[2:]])

        log.store.append_many = fails_on_the_third
        with pytest.raises(LogError, match="disk is full"):
            log.record_many(POLICY, MARKET, 0, items[1:])
        assert len(log) == 1 and [h.tree_size for _r, h in log.heads()] == [1]
        # the twin: the same call without the failure writes all three after the first
        log.store.append_many = real
        made = log.record_many(POLICY, MARKET, 0, items[1:])
        assert [a.seq for a in made] == [2, 3, 4] and len(log) == 4
    assert audit(target, venue_key=H.pub(key)).clean


def test_the_service_batch_fails_every_request_when_its_append_fails(tmp_path, proofs, key):
    from zkmargin.api import _Verifier
    from zkmargin.verifier.log.record_many import verify_each_and_log

    v = _Verifier(MARKET, POLICY, 0, None)
    jobs = [(b, ch, None) for b, ch, _res in proofs[:3]]
    with VerificationLog(tmp_path / "venue.log", signing_key=key) as log:
        real = log.store.append_many

        def unavailable(prepares):
            raise LogError("the database went away", source="test")

        log.store.append_many = unavailable
        out = verify_each_and_log(v, jobs, log=log)
        assert all(isinstance(o, LogError) for o in out) and len(log) == 0
        # the twin: with the log working, all three are accepted and logged, in arrival order
        log.store.append_many = real
        out = verify_each_and_log(v, jobs, log=log)
        assert [o.extra["log"]["id"] for o in out] == [1, 2, 3] and all(o.valid for o in out)


def test_verify_batch_and_log_writes_the_whole_batch_or_nothing(tmp_path, proofs, key):
    from zkmargin.verifier.log import verify_batch_and_log

    bundles = [b for b, _ch, _res in proofs]
    chs = [ch for _b, ch, _res in proofs]
    path = tmp_path / "venue.log"
    with VerificationLog(path, signing_key=key) as log:
        real = log.store.append_many
        calls = []

        def fails_on_the_last(prepares):
            calls.append(len(prepares))

            def boom(state, accepted_seq):
                raise LogError("the disk is full", source="test")
            return real([*prepares[:-1], boom])

        log.store.append_many = fails_on_the_last
        with pytest.raises(LogError, match="disk is full"):
            verify_batch_and_log(bundles, MARKET, POLICY, 0, chs, log=log)
        assert calls == [N] and len(log) == 0  # one transaction for the batch, rolled back whole
        log.store.append_many = real  # the twin: every bundle logged, in order
        r = verify_batch_and_log(bundles, MARKET, POLICY, 0, chs, log=log)
        assert r.valid and [e["id"] for e in r.extra["log"]] == list(range(1, N + 1))
