"""The venue's verification log as an object: :class:`VerificationLog` opens or creates a log in a
store, appends one entry per verification outcome and signs the new tree head, and reads entries,
heads, documents and Merkle proofs back.

Rules the log enforces in the append transaction:

* the log's id is the venue's public key, stored at creation; the private key is never stored,
  and a different key is refused;
* a challenge that an accepted entry answered is never accepted again: the append turns such an
  acceptance into a rejected ``ReplayError`` entry (a unique index makes this atomic even for
  racing writers);
* policies and market snapshots are stored once, content-addressed by their digest.

Storage is behind :class:`~.store.LogStore` (a path opens :class:`~.sqlite.SQLiteLogStore`; any
other store object is used as given). Crash safety: each append — entry, signed head, tree state,
documents — is one transaction with one fsync; :meth:`VerificationLog.record_many` puts several
appends (a micro-batch) in one.

May import the API (the verifier's own inputs), :mod:`zkmargin.crypto.ed25519` and the modules of
the log beside it. Used by verify-and-record (:mod:`.record`), the audit, the service and the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from zkmargin.crypto.ed25519 import load_private_key, public_key_hex
from zkmargin.errors import InputError, LogError, ReplayError, ZkMarginError

from .entry import (
    HASHED_FIELDS,
    MAX_REASON,
    LogEntry,
    bundle_bytes,
    entry_leaf_hash,
    replay_error,
    sha256_hex,
    software_id,
)
from .merkle import CompactRange, MerkleTree
from .pg_connection import is_database_url
from .receipt import Receipt
from .sqlite import SQLiteLogStore
from .sth import SignedTreeHead, now_ms, sign_tree_head
from .store import LOG_FORMAT, OLD_FORMATS, AppendRows, LogStore, TreeState


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Appended:
    """What :meth:`VerificationLog.record` returns: the new entry and its receipt. ``replay`` is
    the :class:`ReplayError` when the log turned an acceptance into a rejection because the
    challenge had been accepted before."""

    seq: int
    leaf_hash: str
    result: str
    receipt: Receipt
    replay: ReplayError | None = None

    @property
    def id(self) -> int:
        return self.seq

    def summary(self) -> dict:
        """The short form (``result.extra["log"]``)."""
        sth = self.receipt.sth
        return {"id": self.seq, "result": self.result, "leaf_hash": self.leaf_hash,
                "tree_size": sth.tree_size, "root_hash": sth.root_hash.hex()}

    def to_json_dict(self) -> dict:
        return {**self.summary(), "receipt": self.receipt.to_json_dict()}


class VerificationLog:
    """The verification log (created on first use when ``signing_key`` is given).

    ``signing_key`` is the venue's Ed25519 private key (object, PEM or hex seed, or a key file): it
    signs a tree head after every append and is never stored; without it the log can be read but
    not appended to. ``read_only`` opens the file read-only (auditors). One object may be shared
    by threads; several processes may append to one file."""

    def __init__(self, path, *, signing_key=None, create: bool = True, read_only: bool = False,
                 durable: bool = True):
        self._key = None
        if signing_key is not None:
            self._key = load_private_key(signing_key, "venue log key", InputError)
        if isinstance(path, LogStore):
            store = path
        elif is_database_url(path):  # several workers or hosts: PostgreSQL (zkmargin[postgres])
            from .postgres import PostgresLogStore

            store = PostgresLogStore(path, read_only=read_only, create=create and self._key is not None)
        else:
            if not os.path.exists(os.fspath(path)):
                if not create or read_only:
                    raise LogError("no such verification log", source=os.fspath(path))
                if self._key is None:
                    raise LogError("a new log needs the venue's signing key (--log-key; "
                                   "'zkmargin venue-keygen' makes one)", source=os.fspath(path))
            store = SQLiteLogStore(path, read_only=read_only, durable=durable)
        self.store = store
        self.path = store.name
        self._known: set[tuple[str, str]] = set()
        try:
            if not store.exists():
                if not create or self._key is None or read_only:
                    raise LogError("not a zkmargin verification log (empty)", source=self.path)
                store.create({"format": LOG_FORMAT, "log_id": public_key_hex(self._key), "created": _utc_now()})
            meta = store.meta()
            fmt = meta.get("format")
            if fmt != LOG_FORMAT:
                if fmt in OLD_FORMATS:
                    raise LogError(f"not a {LOG_FORMAT} log: {OLD_FORMATS[fmt]}", source=self.path)
                raise LogError(f"not a zkmargin verification log (format must be {LOG_FORMAT!r})", source=self.path)
            log_id = meta.get("log_id", "")
            if len(log_id) != 64 or any(c not in "0123456789abcdef" for c in log_id):
                raise LogError("the log's id (the venue's public key) is missing or malformed", source=self.path)
            self.log_id = log_id
            if self._key is not None and public_key_hex(self._key) != log_id:
                raise LogError(f"the log was created with another venue key (log id {log_id[:16]}…); refusing to "
                               f"sign its heads with key {public_key_hex(self._key)[:16]}…", source=self.path)
        except BaseException:
            store.close()
            raise

    @property
    def can_append(self) -> bool:
        return self._key is not None and not getattr(self.store, "read_only", False)

    def require_signing_key(self) -> None:
        if self._key is None:
            raise LogError("appending to the log needs the venue's signing key (--log-key)", source=self.path)

    # --- writing ---------------------------------------------------------------------------------

    def record(self, bundle, policy, market, threshold=0, challenge: bytes | None = None, outcome=None, *,
               circuit_digest: str | None = None, subject: str | None = None,
               now: str | None = None) -> Appended:
        """Append one verification outcome and sign the new tree head. ``outcome`` is the
        :class:`VerificationResult` of an accepted proof or the :class:`ZkMarginError` a rejected
        one raised. ``policy`` and ``market`` are the verifier's own (models, paths or dicts);
        their canonical bodies are stored once. ``subject`` is the account id the venue knows the
        trader by (or None). Returns the entry and its receipt; when the challenge had been
        accepted before, the entry is recorded as a rejected replay (``Appended.replay``)."""
        return self.record_many(policy, market, threshold, [(bundle, challenge, outcome, subject)],
                                circuit_digest=circuit_digest, now=now)[0]

    def record_many(self, policy, market, threshold, outcomes: Sequence[tuple[Any, bytes | None, Any, str | None]],
                    *, circuit_digest: str | None = None, now: str | None = None) -> list[Appended]:
        """Append several outcomes under one policy, market and threshold — ``(bundle, challenge,
        outcome, subject)`` each, as :meth:`record` takes them — in ONE transaction: the same
        entries, signed heads (one per entry) and receipts as that many :meth:`record` calls in
        this order, committed together or not at all (one fsync for all; what the service's
        micro-batches use). A challenge accepted earlier in the same call is a replay for a later
        one, as it would be across calls."""
        from zkmargin.api import _market, _policy, _threshold
        from zkmargin.rules.decimals import canonical
        from zkmargin.rules.digests import canonical_bytes, market_digest, policy_digest

        self.require_signing_key()
        pol = _policy(policy)
        mkt = _market(market, pol)
        pd, md = policy_digest(pol), market_digest(mkt)
        common = {"software": software_id(), "policy_digest": pd, "market_digest": md,
                  "threshold": canonical(_threshold(threshold, pol))}
        documents = [(t, d, body()) for t, d, body in (("policies", pd, lambda: canonical_bytes(pol)),
                                                         ("markets", md, lambda: canonical_bytes(mkt)))
                     if (t, d) not in self._known]
        made: list[dict] = [{} for _ in outcomes]
        prepares = [self._preparer(common, bundle, challenge, outcome, subject, circuit_digest, now,
                                   documents if i == 0 else [], made[i])
                    for i, (bundle, challenge, outcome, subject) in enumerate(outcomes)]
        if not prepares:
            return []
        self.store.append_many(prepares)
        self._known.update((t, d) for t, d, _ in documents)
        out = []
        for m in made:
            f = m["fields"]
            receipt = Receipt(index=f["seq"] - 1, entry={k: f[k] for k in HASHED_FIELDS}, leaf_hash=m["leaf"],
                              sth=m["sth"], inclusion_proof=m["proof"])
            out.append(Appended(f["seq"], m["leaf"].hex(), f["result"], receipt, m["replay"]))
        return out

    def _preparer(self, common: dict, bundle, challenge, outcome, subject, circuit_digest, now, documents,
                  made: dict):
        """The ``prepare`` of one entry for the store's append transaction (it fills ``made``
        with the fields, leaf, inclusion proof, signed head and replay it computed)."""
        from zkmargin.api import VerificationResult

        if isinstance(outcome, VerificationResult):
            result, code, reason = "accepted", None, None
            circuit_digest = circuit_digest or outcome.statement.get("circuit_digest")
        elif isinstance(outcome, ZkMarginError):
            result, code, reason = "rejected", type(outcome).__name__, outcome.one_line()[:MAX_REASON]
        else:
            raise InputError("the outcome to log is a VerificationResult or a zkmargin error")
        if subject is not None and not isinstance(subject, str):
            raise InputError("the subject is the account id, a string", field="subject")
        data = bundle_bytes(bundle)
        att_blob = None  # attestations travel inside the bundle (zkmargin.proof/2) since issue 9
        ch_hex = bytes(challenge).hex() if challenge is not None else None
        fields: dict[str, Any] = {
            "time": now or _utc_now(),
            "software": common["software"],
            "policy_digest": common["policy_digest"],
            "market_digest": common["market_digest"],
            "circuit_digest": circuit_digest,
            "threshold": common["threshold"],
            "challenge": ch_hex,
            "subject": subject,
            "bundle_hash": sha256_hex(data),
            "result": result,
            "code": code,
            "reason": reason,
            "attestations_hash": sha256_hex(att_blob) if att_blob is not None else None,
        }
        key = self._key

        def prepare(state: TreeState, accepted_seq) -> AppendRows:
            f = dict(fields)
            replay = None
            if f["result"] == "accepted" and ch_hex is not None:
                prior = accepted_seq(ch_hex)
                if prior is not None:
                    replay = replay_error(challenge, prior)
                    f.update(result="rejected", code=ReplayError.__name__, reason=replay.one_line()[:MAX_REASON])
            seq = state.size + 1
            f["seq"] = seq
            leaf = entry_leaf_hash(f)
            tree = CompactRange.from_bytes(state.size, state.peaks)
            proof = tree.append(leaf)
            ts = max(now_ms(), state.timestamp)
            sth = sign_tree_head(key, tree.size, tree.root(), ts)
            accepted = f["result"] == "accepted"
            made.update(fields=f, leaf=leaf, proof=proof, sth=sth, replay=replay)
            entry = {**f, "bundle": data if accepted else None, "attestations": att_blob if accepted else None,
                     "leaf_hash": leaf.hex()}
            head = {"tree_size": sth.tree_size, "timestamp": sth.timestamp, "root_hash": sth.root_hash.hex(),
                    "signature": sth.signature.hex()}
            return AppendRows(entry=entry, head=head, state=TreeState(tree.size, tree.to_bytes(), ts),
                              documents=documents)

        return prepare

    # --- reading ---------------------------------------------------------------------------------

    def entry_by_challenge(self, challenge: bytes) -> LogEntry | None:
        """The entry that answered this challenge (the accepted one if any, else the latest),
        without its bodies: how a client whose connection dropped looks its outcome up."""
        row = self.store.entry_by_challenge(bytes(challenge).hex())
        return None if row is None else LogEntry(**row)

    def accepted_seq(self, challenge: bytes | None) -> int | None:
        """The entry that accepted this challenge, or None (the replay pre-check)."""
        if challenge is None:
            return None
        return self.store.accepted_seq(bytes(challenge).hex())

    def __len__(self) -> int:
        return self.store.count()

    def entries(self, *, bodies: bool = False, start: int = 1, stop: int | None = None) -> Iterator[LogEntry]:
        """Stored rows in id order, as stored. Without ``bodies`` the bundle and attestations are
        ``b""`` where one is stored and None where none is."""
        for row in self.store.entries(bodies=bodies, start=start, stop=stop):
            yield LogEntry(**row)

    def entries_by_id(self, ids: Sequence[int]) -> list[LogEntry]:
        return [LogEntry(**row) for row in self.store.entries_by_id(ids)]

    def _head(self, row: dict) -> SignedTreeHead:
        try:
            return SignedTreeHead(bytes.fromhex(self.log_id), int(row["tree_size"]), int(row["timestamp"]),
                                  bytes.fromhex(row["root_hash"]), bytes.fromhex(row["signature"]))
        except (TypeError, ValueError):
            raise LogError(f"the signed head at tree size {row.get('tree_size')!r} is malformed",
                           source=self.path) from None

    def heads(self) -> Iterator[tuple[dict, SignedTreeHead | None]]:
        """Every stored signed head as (row, parsed head or None when the row is malformed)."""
        for row in self.store.heads():
            try:
                yield row, self._head(row)
            except LogError:
                yield row, None

    def latest_head(self) -> SignedTreeHead:
        """The newest signed tree head (what an auditor keeps for next time)."""
        row = self.store.latest_head()
        if row is None:
            raise LogError("the log has no signed tree head yet (no entries)", source=self.path)
        return self._head(row)

    def tree(self) -> MerkleTree:
        """The Merkle tree over the stored leaf hashes (as stored: the audit recomputes them)."""
        t = MerkleTree()
        for e in self.store.entries(bodies=False):
            try:
                t.append(bytes.fromhex(e["leaf_hash"]))
            except (TypeError, ValueError):
                raise LogError(f"entry {e['id']}'s leaf hash is malformed", source=self.path) from None
        return t

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> list[bytes]:
        """PATH(seq-1, D[0:tree_size]) for a trader holding an older receipt."""
        try:
            return self.tree().inclusion_proof(seq - 1, tree_size)
        except ValueError as exc:
            raise InputError(str(exc)) from None

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) for an auditor holding an older signed head."""
        try:
            return self.tree().consistency_proof(old_size, new_size)
        except ValueError as exc:
            raise InputError(str(exc)) from None

    def document(self, table: str, digest: str) -> bytes | None:
        return self.store.document(table, digest)

    def documents(self, table: str) -> list[tuple[str, bytes]]:
        return self.store.documents(table)

    def close(self) -> None:
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
