"""Shared pieces of the transparency-log tests: a one-instrument venue whose proofs take about
0.1 s, and an insider who rewrites a log file and makes it self-consistent again (leaf hashes,
tree state, and every signed head re-signed with whatever key the insider holds)."""

from __future__ import annotations

import sqlite3

import pytest

import zkmargin
from zkmargin.verifier.log.entry import HASHED_FIELDS, entry_leaf_hash
from zkmargin.verifier.log.merkle import CompactRange
from zkmargin.verifier.log.sth import sign_tree_head
from zkmargin.workflows import custodian as A

POLICY = {
    "format": "zkmargin.policy/1", "venue": "small-venue", "quote": "USDT",
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


def challenge(i: int) -> bytes:
    return i.to_bytes(4, "big") * 8


def prove(i: int):
    """(bundle, challenge, result): a real proof for challenge(i), verified."""
    pol = zkmargin.load_policy(POLICY)
    mkt = zkmargin.load_market(MARKET, pol)
    ch = challenge(i)
    b = zkmargin.prove(ACCOUNT, mkt, pol, 0, ch)
    return b, ch, zkmargin.verify(b, mkt, pol, 0, ch)


def new_key():
    return A.generate_private_key()


def proofs_fixture(n: int):
    """A module-scoped fixture of ``n`` real proofs, ``prove(1)`` … ``prove(n)`` (about 0.1 s each):
    ``proofs = H.proofs_fixture(N)`` in a test module."""

    @pytest.fixture(scope="module")
    def proofs():
        return [prove(i) for i in range(1, n + 1)]

    return proofs


def key_fixture():
    """A module-scoped fixture of a venue log key: ``key = H.key_fixture()`` in a test module."""

    @pytest.fixture(scope="module")
    def key():
        return new_key()

    return key


def pub(key) -> str:
    return A.public_key_hex(key)


def insider_rewrite(path, key, *statements, renumber: bool = False) -> None:
    """Run SQL edits on the log file, then recompute every leaf hash (renumbering ``id``/``seq``
    to close gaps when ``renumber``), re-sign a head for every tree size with ``key`` (keeping the
    old timestamps) and store the new tree state and ``key``'s public key as the log id: the
    log is then self-consistent, as a venue with its own key could make it."""
    db = sqlite3.connect(path)
    for s in statements:
        db.execute(*s) if isinstance(s, tuple) else db.execute(s)
    if renumber:
        ids = [r[0] for r in db.execute("SELECT id FROM entries ORDER BY id")]
        for pos, i in enumerate(ids, start=1):
            db.execute("UPDATE entries SET id = ?, seq = ? WHERE id = ?", (pos, pos, i))
    cols = ", ".join(HASHED_FIELDS)
    rows = db.execute(f"SELECT id, {cols} FROM entries ORDER BY id").fetchall()
    timestamps = dict(db.execute("SELECT tree_size, timestamp FROM heads").fetchall())
    db.execute("DELETE FROM heads")
    tree = CompactRange()
    last = 0
    for row in rows:
        fields = dict(zip(HASHED_FIELDS, row[1:]))
        leaf = entry_leaf_hash(fields)
        db.execute("UPDATE entries SET leaf_hash = ? WHERE id = ?", (leaf.hex(), row[0]))
        tree.append(leaf)
        last = max(last, timestamps.get(tree.size, last))
        sth = sign_tree_head(key, tree.size, tree.root(), last)
        db.execute("INSERT INTO heads(tree_size, timestamp, root_hash, signature) VALUES (?, ?, ?, ?)",
                   (sth.tree_size, sth.timestamp, sth.root_hash.hex(), sth.signature.hex()))
    db.execute("UPDATE tree SET size = ?, peaks = ?, timestamp = ? WHERE one = 1", (tree.size, tree.to_bytes(), last))
    db.execute("UPDATE meta SET value = ? WHERE key = 'log_id'", (pub(key),))
    db.commit()
    db.close()


def sql(path, *statements) -> None:
    db = sqlite3.connect(path)
    for s in statements:
        db.execute(*s) if isinstance(s, tuple) else db.execute(s)
    db.commit()
    db.close()
