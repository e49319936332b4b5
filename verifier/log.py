"""The venue's verification log: an append-only Merkle log (RFC 9162) with signed tree heads.

Every verification outcome (accepted or rejected, with its reason) is one entry, and every entry
is one leaf of a Merkle tree (:mod:`zkmargin.verifier.merkle`; leaf data in
:mod:`zkmargin.verifier.receipt`). After each append the venue signs the new tree head with its
Ed25519 key (:mod:`zkmargin.verifier.sth`) and returns a receipt — the entry, its leaf hash, the
signed head and the inclusion proof — that the trader keeps and checks offline. Whoever holds an
older signed head or a receipt can later demand a consistency proof: a venue (or an insider with
its database) that edits, deletes or reorders an entry it once signed cannot produce one, even
with the signing key (``audit --sth/--receipt``).

Rules the log enforces in the append transaction:

* the log's id is the venue's public key, stored at creation; the private key is never stored,
  and a different key is refused;
* a challenge that an accepted entry answered is never accepted again: the append turns such an
  acceptance into a rejected ``ReplayError`` entry (a unique index makes this atomic even for
  racing writers), and :func:`verify_and_log` checks the log before any verification work;
* a rejected entry keeps the bundle's hash and the reason (at most :data:`MAX_REASON`
  characters), never the body; accepted entries keep the bundle so an auditor can re-verify it.

Policies and market snapshots are stored once, content-addressed by their digest. Storage is
behind :class:`~zkmargin.verifier.log_store.LogStore` (SQLite now). Crash safety: each append —
entry, signed head, tree state, documents — is one transaction with one fsync.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator, Optional, Sequence

from zkmargin.errors import InputError, LogError, ReplayError, ZkMarginError

from .log_store import LOG_FORMAT, OLD_FORMATS, AppendRows, LogStore, SQLiteLogStore, TreeState
from .merkle import CompactRange, MerkleTree
from .receipt import HASHED_FIELDS, Receipt, entry_leaf_hash
from .sth import SignedTreeHead, now_ms, sign_tree_head

MAX_REASON = 1000

__all__ = [
    "LOG_FORMAT", "HASHED_FIELDS", "MAX_REASON", "Appended", "LogEntry", "VerificationLog", "bundle_bytes",
    "verify_and_log", "verify_batch_and_log", "verify_prepared",
]


def bundle_bytes(bundle) -> bytes:
    """What the log hashes (and, for accepted entries, stores) for a bundle: canonical JSON of a
    parsed bundle, or the raw bytes a client sent when they did not parse."""
    from zkmargin.bundle import ProofBundle

    if isinstance(bundle, ProofBundle):
        return json.dumps(bundle.to_json_dict(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True).encode()
    if isinstance(bundle, dict):
        return json.dumps(bundle, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          default=str).encode()
    if isinstance(bundle, str):
        return bundle.encode()
    if isinstance(bundle, (bytes, bytearray)):
        return bytes(bundle)
    return repr(bundle).encode()


def as_bytes(value) -> bytes:
    """A stored BLOB as bytes (a tampered row may hold TEXT or a number instead)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8", "surrogateescape")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def software_id() -> str:
    """Which zkmargin wrote an entry (an auditor re-verifies with the same circuit builder)."""
    from zkmargin import __version__
    from zkmargin.crypto.r1cs_transcript import PROTOCOL

    return f"zkmargin {__version__} ({PROTOCOL.decode()})"


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class LogEntry:
    """One stored row, as stored (the audit decides what to trust)."""

    id: int
    seq: Any
    time: Any
    software: Any
    policy_digest: Any
    market_digest: Any
    circuit_digest: Any
    threshold: Any
    challenge: Any
    subject: Any
    bundle_hash: Any
    result: Any
    code: Any
    reason: Any
    attestations_hash: Any
    bundle: Optional[bytes]
    attestations: Optional[bytes]
    leaf_hash: Any

    def fields(self) -> dict:
        return {k: getattr(self, k) for k in HASHED_FIELDS}

    def to_json_dict(self) -> dict:
        return {"id": self.id, **self.fields(), "leaf_hash": self.leaf_hash}


@dataclass
class Appended:
    """What :meth:`VerificationLog.record` returns: the new entry and its receipt. ``replay`` is
    the :class:`ReplayError` when the log turned an acceptance into a rejection because the
    challenge had been accepted before."""

    seq: int
    leaf_hash: str
    result: str
    receipt: Receipt
    replay: Optional[ReplayError] = None

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


def replay_error(challenge: bytes, seq: int) -> ReplayError:
    return ReplayError(f"the challenge {challenge.hex()[:16]}… was accepted already (log entry {seq}); "
                       "a challenge answers one proof only: ask for a fresh one")


class VerificationLog:
    """The verification log (created on first use when ``signing_key`` is given).

    ``signing_key`` is the venue's Ed25519 private key (object, PEM or hex seed, or a key file): it
    signs a tree head after every append and is never stored; without it the log can be read but
    not appended to. ``read_only`` opens the file read-only (auditors). One object may be shared
    by threads; several processes may append to one file."""

    def __init__(self, path, *, signing_key=None, create: bool = True, read_only: bool = False,
                 durable: bool = True):
        from zkmargin.attest import load_private_key, public_key_hex

        self._key = None
        if signing_key is not None:
            self._key = load_private_key(signing_key, "venue log key", InputError)
        if isinstance(path, LogStore):
            store = path
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

    def record(self, bundle, policy, market, threshold=0, challenge: Optional[bytes] = None, outcome=None, *,
               circuit_digest: Optional[str] = None, subject: Optional[str] = None,
               now: Optional[str] = None) -> Appended:
        """Append one verification outcome and sign the new tree head. ``outcome`` is the
        :class:`VerificationResult` of an accepted proof or the :class:`ZkMarginError` a rejected
        one raised. ``policy`` and ``market`` are the verifier's own (models, paths or dicts);
        their canonical bodies are stored once. ``subject`` is the account id the venue knows the
        trader by (or None). Returns the entry and its receipt; when the challenge had been
        accepted before, the entry is recorded as a rejected replay (``Appended.replay``)."""
        from zkmargin.api import VerificationResult, _market, _policy, _threshold
        from zkmargin.rules.decimals import canonical
        from zkmargin.rules.digests import canonical_bytes, market_digest, policy_digest

        self.require_signing_key()
        pol = _policy(policy)
        mkt = _market(market, pol)
        pd, md = policy_digest(pol), market_digest(mkt)
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
        fields = {
            "time": now or _utc_now(),
            "software": software_id(),
            "policy_digest": pd,
            "market_digest": md,
            "circuit_digest": circuit_digest,
            "threshold": canonical(_threshold(threshold, pol)),
            "challenge": ch_hex,
            "subject": subject,
            "bundle_hash": sha256_hex(data),
            "result": result,
            "code": code,
            "reason": reason,
            "attestations_hash": sha256_hex(att_blob) if att_blob is not None else None,
        }
        documents = [(t, d, body()) for t, d, body in (("policies", pd, lambda: canonical_bytes(pol)),
                                                         ("markets", md, lambda: canonical_bytes(mkt)))
                     if (t, d) not in self._known]
        key = self._key
        made: dict = {}

        def prepare(state: TreeState, accepted_seq) -> AppendRows:
            f = dict(fields)
            replay = None
            if f["result"] == "accepted" and ch_hex is not None:
                prior = accepted_seq(ch_hex)
                if prior is not None:
                    replay = replay_error(bytes(challenge), prior)
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

        self.store.append(prepare)
        self._known.update((t, d) for t, d, _ in documents)
        f = made["fields"]
        receipt = Receipt(index=f["seq"] - 1, entry={k: f[k] for k in HASHED_FIELDS}, leaf_hash=made["leaf"],
                          sth=made["sth"], inclusion_proof=made["proof"])
        return Appended(f["seq"], made["leaf"].hex(), f["result"], receipt, made["replay"])

    # --- reading ---------------------------------------------------------------------------------

    def accepted_seq(self, challenge: Optional[bytes]) -> Optional[int]:
        """The entry that accepted this challenge, or None (the replay pre-check)."""
        if challenge is None:
            return None
        return self.store.accepted_seq(bytes(challenge).hex())

    def __len__(self) -> int:
        return self.store.count()

    def entries(self, *, bodies: bool = False, start: int = 1, stop: Optional[int] = None) -> Iterator[LogEntry]:
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

    def heads(self) -> Iterator[tuple[dict, Optional[SignedTreeHead]]]:
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

    def inclusion_proof(self, seq: int, tree_size: Optional[int] = None) -> list[bytes]:
        """PATH(seq-1, D[0:tree_size]) for a trader holding an older receipt."""
        try:
            return self.tree().inclusion_proof(seq - 1, tree_size)
        except ValueError as exc:
            raise InputError(str(exc)) from None

    def consistency_proof(self, old_size: int, new_size: Optional[int] = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) for an auditor holding an older signed head."""
        try:
            return self.tree().consistency_proof(old_size, new_size)
        except ValueError as exc:
            raise InputError(str(exc)) from None

    def document(self, table: str, digest: str) -> Optional[bytes]:
        return self.store.document(table, digest)

    def documents(self, table: str) -> list[tuple[str, bytes]]:
        return self.store.documents(table)

    def close(self) -> None:
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _open_for_append(log, log_key) -> tuple[Optional[VerificationLog], bool]:
    """(the log, whether we opened it) for a path or an open log; checks it can sign."""
    if log is None:
        return None, False
    if isinstance(log, VerificationLog):
        log.require_signing_key()
        return log, False
    lg = VerificationLog(log, signing_key=log_key)
    try:
        lg.require_signing_key()
    except BaseException:
        lg.close()
        raise
    return lg, True


def _attach(outcome, entry: Appended) -> None:
    """Put the entry and its receipt on the result (accepted) or the error (rejected)."""
    if isinstance(outcome, ZkMarginError):
        outcome.log_entry = entry.summary()  # type: ignore[attr-defined]
        outcome.receipt = entry.receipt.to_json_dict()  # type: ignore[attr-defined]
    else:
        outcome.extra["log"] = entry.summary()
        outcome.extra["receipt"] = entry.receipt.to_json_dict()


# --- verify and record ---------------------------------------------------------------------------


def verify_prepared(verifier, bundle, challenge: Optional[bytes], *, subject: Optional[str] = None, now=None,
                    max_age=None):
    """Exactly :func:`zkmargin.api.verify` (the policy's trust rule included), with a prepared
    ``api._Verifier`` (plan and circuit built once per policy, market and threshold — what a
    service verifying many proofs wants)."""
    from zkmargin.api import _verify_prepared

    return _verify_prepared(verifier, bundle, challenge, subject=subject, now=now, max_age=max_age)


def verify_and_log(bundle, market, policy, threshold=0, challenge: Optional[bytes] = None, *,
                   log=None, log_key=None, subject: Optional[str] = None, now=None,
                   max_age: Optional[float] = None, backend=None, verifier=None):
    """Verify a bundle under the policy's trust rule (:func:`zkmargin.verify`: ``subject``,
    ``now`` and ``max_age`` as there; the attestations travel in the bundle) and record the
    outcome in ``log`` (a path, with ``log_key`` the venue's signing key, or an open
    :class:`VerificationLog`; None records nothing). A challenge the log accepted before is
    refused with :class:`ReplayError` before any verification work, and that refusal is logged.
    Returns the :class:`VerificationResult` with ``extra["trust"]`` (who vouched),
    ``extra["receipt"]`` and ``extra["log"]`` (id, result, leaf hash, tree size, root), or raises
    the rejection after recording it, with ``exc.receipt`` and ``exc.log_entry``. Errors in the
    verifier's own inputs (policy, market, threshold, challenge, subject, max_age, now, the log and
    its key) are raised without recording: there is no statement to record them under."""
    from zkmargin.api import _bundle, _challenge, _Verifier
    from zkmargin.trust import parse_now, require_subject

    v = verifier or _Verifier(market, policy, threshold, backend)
    ch = _challenge(challenge)  # the verifier's own inputs: an error here is not logged
    require_subject(v.trust_rule.tightened(max_age), subject)
    clock = parse_now(now)
    lg, opened = _open_for_append(log, log_key)
    try:
        prior = lg.accepted_seq(ch) if lg is not None else None
        try:
            b = _bundle(bundle)
        except ZkMarginError as exc:
            b, outcome = bundle, exc
        else:
            if prior is not None:
                outcome = replay_error(ch, prior)  # refused before any verification work
            else:
                try:
                    outcome = verify_prepared(v, b, ch, subject=subject, now=clock, max_age=max_age)
                except ZkMarginError as exc:
                    outcome = exc
        if lg is not None:
            entry = lg.record(b, v.policy, v.market, v.threshold, ch, outcome,
                              circuit_digest=v.cs.digest().hex(), subject=subject)
            if entry.replay is not None:  # another writer accepted the same challenge meanwhile
                outcome = entry.replay
            _attach(outcome, entry)
    finally:
        if opened:
            lg.close()
    if isinstance(outcome, ZkMarginError):
        raise outcome
    return outcome


def verify_batch_and_log(bundles: Sequence[Any], market, policy, threshold=0, challenge=None, *, log=None,
                         log_key=None, subject=None, now=None, max_age: Optional[float] = None, backend=None):
    """Batch-verify (one MSM) under the policy's trust rule and record one entry per bundle.
    ``subject`` is None, one string for all or one per bundle. Challenges the log accepted before
    (or that two bundles of the batch share) are refused as replays. When the batch fails, every
    bundle is checked alone, so each entry carries its own outcome; the error then raised names
    the invalid bundles, as :func:`zkmargin.api.verify_batch` does. ``extra["receipt"]`` (or
    ``exc.receipt``) is the list of receipts, one per bundle, in order; ``extra["trust"]`` the
    trust reports."""
    from zkmargin.api import VerificationResult, _bundle, _challenge, _verified, _Verifier
    from zkmargin.errors import VerificationError
    from zkmargin.trust import check_subjects, parse_now, subjects_for
    from zkmargin.verifier.r1cs import verify_batch as r1cs_verify_batch

    t0 = time.perf_counter()
    if not bundles:
        raise InputError("no proofs to verify")
    if challenge is None or isinstance(challenge, (bytes, bytearray)):
        challenges = [challenge] * len(bundles)
    else:
        challenges = list(challenge)
        if len(challenges) != len(bundles):
            raise InputError(f"{len(bundles)} bundles but {len(challenges)} challenges", field="challenge")
    challenges = [_challenge(c) for c in challenges]
    v = _Verifier(market, policy, threshold, backend)
    rule = v.trust_rule.tightened(max_age)
    subjects = check_subjects(rule, subjects_for(subject, len(bundles)))
    clock = parse_now(now)
    lg, opened = _open_for_append(log, log_key)
    entries: list[Appended] = []
    reports: dict = {}
    try:
        parsed: list = []
        outcomes: list = []
        items: list = []
        for i, (b, c, s) in enumerate(zip(bundles, challenges, subjects)):
            try:
                pb = _bundle(b)
                parsed.append(pb)
                prior = lg.accepted_seq(c) if lg is not None else None
                if prior is not None:
                    outcomes.append(ReplayError(f"bundle {i}: {replay_error(c, prior).message}"))
                    continue
                item, reports[i] = _verified(v, pb, c, rule, s, clock, i)
                items.append((i, item))
                outcomes.append(None)
            except ZkMarginError as exc:
                if len(parsed) <= i:
                    parsed.append(b)
                outcomes.append(exc)
        if items:
            try:
                r1cs_verify_batch([it for _, it in items], backend=v.be)
                ok = [i for i, _ in items]
            except VerificationError:
                ok = []
                for i, it in items:
                    try:
                        r1cs_verify_batch([it], backend=v.be)
                        ok.append(i)
                    except VerificationError as exc:
                        outcomes[i] = VerificationError(f"bundle {i}: {exc.message}")
            for i in ok:
                pb = parsed[i]
                outcomes[i] = VerificationResult(valid=True, statement=pb.statement, gates=v.cs.total_gates,
                                                 proof_bytes=len(pb.proof), seconds=0.0, backend=v.be.name,
                                                 extra={"trust": reports[i]})
        if lg is not None:
            for i, (pb, c, out) in enumerate(zip(parsed, challenges, outcomes)):
                entry = lg.record(pb, v.policy, v.market, v.threshold, c, out, circuit_digest=v.cs.digest().hex(),
                                  subject=subjects[i])
                if entry.replay is not None:
                    outcomes[i] = ReplayError(f"bundle {i}: {entry.replay.message}")
                entries.append(entry)
    finally:
        if opened:
            lg.close()
    summaries = [e.summary() for e in entries]
    receipts = [e.receipt.to_json_dict() for e in entries]
    bad = [i for i, out in enumerate(outcomes) if isinstance(out, ZkMarginError)]
    if bad:
        first = outcomes[bad[0]]
        err = first if len(bad) == 1 else VerificationError(f"the batch does not verify: invalid bundle(s) {bad}")
        err.log_entries = summaries  # type: ignore[attr-defined]
        err.receipt = receipts  # type: ignore[attr-defined]
        raise err
    res = VerificationResult(valid=True, statement=parsed[0].statement, gates=v.cs.total_gates,
                             proof_bytes=sum(len(p.proof) for p in parsed), seconds=time.perf_counter() - t0,
                             backend=v.be.name, proofs=len(parsed))
    res.extra["trust"] = [reports[i] for i in range(len(parsed))]
    res.extra["log"] = summaries
    res.extra["receipt"] = receipts
    return res
