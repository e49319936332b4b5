"""The venue's verification log: an append-only, hash-chained SQLite file.

Every verification outcome (accepted or rejected, with its reason) is one entry::

    entries(id, seq, time, software, policy_digest, market_digest, circuit_digest, threshold,
            challenge, bundle_hash, bundle, result, code, reason, attestations_hash, attestations,
            prev_hash, entry_hash)

    entry_hash = SHA-256(b"zkmargin.log-entry/1\\0" || prev_hash || canonical JSON of the hashed
                         fields: seq, time, software, policy_digest, market_digest,
                         circuit_digest, threshold, challenge, bundle_hash, result, code, reason,
                         attestations_hash)

``prev_hash`` is the previous entry's ``entry_hash`` (32 zero bytes for the first), ``seq`` the
entry's position (1, 2, …; equal to ``id``) and ``bundle_hash`` the SHA-256 of the stored bundle
(its canonical JSON). Editing a field breaks that entry's hash, deleting one breaks the next link,
moving one puts a ``seq`` in the wrong row. The ``head`` row (count and tip hash) is updated in the
same transaction as every append, so removing entries at the tail shows as well — unless whoever
truncates also rewrites the head; against that, an auditor keeps the tip hash of the previous
audit and passes it again (``audit --expect-tip``): a tip once seen must stay in the chain.

Policies and market snapshots are stored once, content-addressed by their digest
(``policies(digest, body)``, ``markets(digest, body)``, bodies in canonical JSON).

Crash safety: WAL journal with ``synchronous=FULL``; each append is one transaction
(``BEGIN IMMEDIATE``; read the head; insert; update the head; ``COMMIT``), so a writer killed at
any moment leaves either the whole entry or none of it. Several processes may append to one log
(the write lock serializes them; ``busy_timeout`` waits for it).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator, Optional, Sequence

from zkmargin.errors import InputError, LogError, ZkMarginError

LOG_FORMAT = "zkmargin.log/1"
ENTRY_DOMAIN = b"zkmargin.log-entry/1\0"
GENESIS = "00" * 32
HASHED_FIELDS = (
    "seq", "time", "software", "policy_digest", "market_digest", "circuit_digest", "threshold",
    "challenge", "bundle_hash", "result", "code", "reason", "attestations_hash",
)
ENTRY_COLUMNS = ("id",) + HASHED_FIELDS + ("bundle", "attestations", "prev_hash", "entry_hash")
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policies (digest TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS markets (digest TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    time TEXT NOT NULL,
    software TEXT NOT NULL,
    policy_digest TEXT NOT NULL,
    market_digest TEXT NOT NULL,
    circuit_digest TEXT,
    threshold TEXT NOT NULL,
    challenge TEXT,
    bundle_hash TEXT NOT NULL,
    bundle BLOB NOT NULL,
    result TEXT NOT NULL,
    code TEXT,
    reason TEXT,
    attestations_hash TEXT,
    attestations BLOB,
    prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    count INTEGER NOT NULL,
    tip TEXT NOT NULL
);
"""


def entry_hash(prev_hash: str, fields: dict) -> str:
    """``SHA-256(domain || prev_hash || canonical JSON of the hashed fields)``, hex. Raises
    ``ValueError`` when ``prev_hash`` is not 32 bytes of hex."""
    prev = bytes.fromhex(prev_hash)
    if len(prev) != 32:
        raise ValueError("prev_hash must be 32 bytes")
    body = json.dumps({k: fields[k] for k in HASHED_FIELDS}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode()
    return hashlib.sha256(ENTRY_DOMAIN + prev + body).hexdigest()


def bundle_bytes(bundle) -> bytes:
    """What the log stores for a bundle: canonical JSON of a parsed bundle, or the raw bytes a
    client sent when they did not parse."""
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
    id: int
    seq: int
    time: str
    software: str
    policy_digest: str
    market_digest: str
    circuit_digest: Optional[str]
    threshold: str
    challenge: Optional[str]
    bundle_hash: str
    bundle: bytes
    result: str
    code: Optional[str]
    reason: Optional[str]
    attestations_hash: Optional[str]
    attestations: Optional[bytes]
    prev_hash: str
    entry_hash: str

    def fields(self) -> dict:
        return {k: getattr(self, k) for k in HASHED_FIELDS}

    def to_json_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("id",) + HASHED_FIELDS + ("prev_hash", "entry_hash")}
        return out


@dataclass
class Appended:
    """What :meth:`VerificationLog.record` returns: the new entry's id and hash (the new tip)."""

    id: int
    entry_hash: str
    result: str

    def to_json_dict(self) -> dict:
        return {"id": self.id, "entry_hash": self.entry_hash, "result": self.result}


class VerificationLog:
    """An append-only verification log in one SQLite file (created on first use).

    One object may be shared by threads (appends are serialized by a lock and by SQLite's write
    lock); several processes may append to the same file."""

    def __init__(self, path, *, create: bool = True):
        self.path = os.fspath(path)
        if not create and not os.path.exists(self.path):
            raise LogError("no such verification log", source=self.path)
        self._lock = threading.RLock()
        self._known: set[tuple[str, str]] = set()
        try:
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise LogError(f"cannot switch the log to WAL mode (got {mode})", source=self.path)
            self._db.execute("PRAGMA synchronous=FULL")
            self._init_schema(create)
        except sqlite3.DatabaseError as exc:
            raise LogError(f"not a usable SQLite database ({exc})", source=self.path) from None

    def _init_schema(self, create: bool) -> None:
        db = self._db
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" in tables:
            row = db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if row is None or row[0] != LOG_FORMAT:
                raise LogError(f"not a zkmargin verification log (format must be {LOG_FORMAT!r})", source=self.path)
            return
        if tables or not create:
            raise LogError("not a zkmargin verification log", source=self.path)
        db.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('format', ?)", (LOG_FORMAT,))
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('created', ?)", (_utc_now(),))
            db.execute("INSERT OR IGNORE INTO head(one, count, tip) VALUES (1, 0, ?)", (GENESIS,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # --- writing ---------------------------------------------------------------------------------

    def _store_document(self, table: str, digest: str, body: bytes) -> None:
        if (table, digest) in self._known:
            return
        self._db.execute(f"INSERT OR IGNORE INTO {table}(digest, body) VALUES (?, ?)", (digest, body))

    def record(self, bundle, policy, market, threshold=0, challenge: Optional[bytes] = None, outcome=None, *,
               circuit_digest: Optional[str] = None, attestations: Optional[Sequence] = None,
               custodian_keys: Optional[Sequence] = None, now: Optional[str] = None) -> Appended:
        """Append one verification outcome. ``outcome`` is the :class:`VerificationResult` of an
        accepted proof or the :class:`ZkMarginError` a rejected one raised. ``policy`` and
        ``market`` are the verifier's own (models, paths or dicts); their canonical bodies are
        stored once. Returns the new entry's id and hash."""
        from zkmargin.api import VerificationResult, _market, _policy, _threshold
        from zkmargin.rules.decimals import canonical
        from zkmargin.rules.digests import canonical_bytes, market_digest, policy_digest

        pol = _policy(policy)
        mkt = _market(market, pol)
        pd, md = policy_digest(pol), market_digest(mkt)
        if isinstance(outcome, VerificationResult):
            result, code, reason = "accepted", None, None
            circuit_digest = circuit_digest or outcome.statement.get("circuit_digest")
        elif isinstance(outcome, ZkMarginError):
            result, code, reason = "rejected", type(outcome).__name__, outcome.one_line()
        else:
            raise InputError("the outcome to log is a VerificationResult or a zkmargin error")
        data = bundle_bytes(bundle)
        att_blob = None
        if attestations is not None or custodian_keys is not None:
            from zkmargin.attest import SignedCommitments, key_id

            def as_stored(a):
                try:
                    return SignedCommitments.load(a).to_json_dict()
                except ZkMarginError:  # kept as sent: the outcome records why it was refused
                    return a if isinstance(a, dict) else bundle_bytes(a).decode("utf-8", "replace")

            att_doc = {
                "attestations": [as_stored(a) for a in (attestations or ())],
                "custodian_keys": [key_id(k) for k in (custodian_keys or ())],
            }
            att_blob = json.dumps(att_doc, sort_keys=True, separators=(",", ":")).encode()
        fields = {
            "time": now or _utc_now(),
            "software": software_id(),
            "policy_digest": pd,
            "market_digest": md,
            "circuit_digest": circuit_digest,
            "threshold": canonical(_threshold(threshold, pol)),
            "challenge": bytes(challenge).hex() if challenge is not None else None,
            "bundle_hash": sha256_hex(data),
            "result": result,
            "code": code,
            "reason": reason,
            "attestations_hash": sha256_hex(att_blob) if att_blob is not None else None,
        }
        pol_body, mkt_body = canonical_bytes(pol), canonical_bytes(mkt)
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise LogError(f"cannot lock the log for writing ({exc})", source=self.path) from None
            try:
                row = db.execute("SELECT count, tip FROM head WHERE one = 1").fetchone()
                if row is None:
                    raise LogError("the log has no head row", source=self.path)
                count, tip = row
                seq = count + 1
                fields["seq"] = seq
                h = entry_hash(tip, fields)
                self._store_document("policies", pd, pol_body)
                self._store_document("markets", md, mkt_body)
                db.execute(
                    f"INSERT INTO entries({', '.join(ENTRY_COLUMNS)}) VALUES ({', '.join('?' * len(ENTRY_COLUMNS))})",
                    (seq,) + tuple(fields[k] for k in HASHED_FIELDS) + (data, att_blob, tip, h),
                )
                db.execute("UPDATE head SET count = ?, tip = ? WHERE one = 1", (seq, h))
                db.execute("COMMIT")
            except BaseException:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise
            self._known.update({("policies", pd), ("markets", md)})
        return Appended(seq, h, result)

    # --- reading ---------------------------------------------------------------------------------

    def _query(self, sql: str, args=()):
        try:
            return self._db.execute(sql, args)
        except sqlite3.DatabaseError as exc:
            raise LogError(f"the log is unreadable ({exc})", source=self.path) from None

    def head(self) -> tuple[int, str]:
        row = self._query("SELECT count, tip FROM head WHERE one = 1").fetchone()
        if row is None:
            raise LogError("the log has no head row", source=self.path)
        try:
            return int(row[0]), str(row[1])
        except (TypeError, ValueError):
            raise LogError("the log's head row is malformed", source=self.path) from None

    def __len__(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM entries").fetchone()[0])

    def entries(self) -> Iterator[LogEntry]:
        """Every stored row in id order, as stored (the audit decides what to trust)."""
        cur = self._query(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM entries ORDER BY id")
        for row in cur:
            yield LogEntry(**dict(zip(ENTRY_COLUMNS, row)))

    def entries_by_id(self, ids: Sequence[int]) -> list[LogEntry]:
        """The full rows with these ids (in id order)."""
        out: list[LogEntry] = []
        ids = list(ids)
        for k in range(0, len(ids), 500):
            chunk = ids[k:k + 500]
            cur = self._query(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM entries WHERE id IN "
                              f"({', '.join('?' * len(chunk))}) ORDER BY id", chunk)
            out.extend(LogEntry(**dict(zip(ENTRY_COLUMNS, row))) for row in cur)
        return out

    def document(self, table: str, digest: str) -> Optional[bytes]:
        if table not in ("policies", "markets"):
            raise InputError("unknown document table")
        row = self._query(f"SELECT body FROM {table} WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else as_bytes(row[0])

    def documents(self, table: str) -> list[tuple[str, bytes]]:
        if table not in ("policies", "markets"):
            raise InputError("unknown document table")
        return [(str(d), as_bytes(b)) for d, b in self._query(f"SELECT digest, body FROM {table}")]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- verify and record ---------------------------------------------------------------------------


def verify_prepared(verifier, bundle, challenge: Optional[bytes]):
    """Exactly :func:`zkmargin.api.verify`, with a prepared ``api._Verifier`` (plan and circuit
    built once per policy, market and threshold — what a service verifying many proofs wants)."""
    from zkmargin.api import VerificationResult, _bundle, _challenge
    from zkmargin.verifier.r1cs import verify_batch as r1cs_verify_batch

    t0 = time.perf_counter()
    b = _bundle(bundle)
    item = verifier.item(b, _challenge(challenge))
    r1cs_verify_batch([item], backend=verifier.be)
    return VerificationResult(valid=True, statement=b.statement, gates=verifier.cs.n, proof_bytes=len(b.proof),
                              seconds=time.perf_counter() - t0, backend=verifier.be.name)


def verify_and_log(bundle, market, policy, threshold=0, challenge: Optional[bytes] = None, *,
                   log=None, attestations: Optional[Sequence] = None, custodian_keys: Optional[Sequence] = None,
                   max_age: Optional[float] = None, subject: Optional[str] = None, backend=None, verifier=None):
    """Verify a bundle (and, with ``custodian_keys``, its attestations) and record the outcome in
    ``log`` (a path or a :class:`VerificationLog`; None records nothing). Returns the
    :class:`VerificationResult` (with ``extra["log"]`` = the entry id and hash) or raises the
    rejection after recording it. Errors in the verifier's own inputs (policy, market, threshold)
    are raised without recording: there is no statement to record them under."""
    from zkmargin.api import _bundle, _challenge, _Verifier
    from zkmargin.attest import check_attestations
    from zkmargin.rules.digests import policy_digest

    v = verifier or _Verifier(market, policy, threshold, backend)
    ch = _challenge(challenge)  # the verifier's own input: an error here is not logged
    try:
        b = _bundle(bundle)
    except ZkMarginError as exc:
        b, outcome = bundle, exc
    else:
        try:
            outcome = verify_prepared(v, b, ch)
            if custodian_keys:
                outcome.extra["custodians"] = check_attestations(
                    b, attestations or (), custodian_keys, policy_digest=policy_digest(v.policy),
                    mode=v.policy.mode, max_age=max_age, subject=subject, backend=v.be)
        except ZkMarginError as exc:
            outcome = exc
    if log is not None:
        lg = log if isinstance(log, VerificationLog) else VerificationLog(log)
        try:
            entry = lg.record(b, v.policy, v.market, v.threshold, ch, outcome,
                              circuit_digest=v.cs.digest().hex(),
                              attestations=attestations if custodian_keys else None,
                              custodian_keys=custodian_keys or None)
        finally:
            if lg is not log:
                lg.close()
        if not isinstance(outcome, ZkMarginError):
            outcome.extra["log"] = entry.to_json_dict()
        else:
            outcome.log_entry = entry.to_json_dict()  # type: ignore[attr-defined]
    if isinstance(outcome, ZkMarginError):
        raise outcome
    return outcome


def verify_batch_and_log(bundles: Sequence[Any], market, policy, threshold=0, challenge=None, *, log=None,
                         backend=None):
    """Batch-verify (one MSM) and record one entry per bundle. When the batch fails, every bundle
    is checked alone, so each entry carries its own outcome; the error then raised names the
    invalid bundles, as :func:`zkmargin.api.verify_batch` does."""
    from zkmargin.api import VerificationResult, _bundle, _challenge, _Verifier
    from zkmargin.errors import VerificationError
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
    parsed: list = []
    outcomes: list = []
    items: list = []
    for i, (b, c) in enumerate(zip(bundles, challenges)):
        try:
            pb = _bundle(b)
            parsed.append(pb)
            items.append((i, v.item(pb, c, i)))
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
            outcomes[i] = VerificationResult(valid=True, statement=pb.statement, gates=v.cs.n,
                                             proof_bytes=len(pb.proof), seconds=0.0, backend=v.be.name)
    entries = []
    if log is not None:
        lg = log if isinstance(log, VerificationLog) else VerificationLog(log)
        try:
            for pb, c, out in zip(parsed, challenges, outcomes):
                entries.append(lg.record(pb, v.policy, v.market, v.threshold, c, out,
                                         circuit_digest=v.cs.digest().hex()).to_json_dict())
        finally:
            if lg is not log:
                lg.close()
    bad = [i for i, out in enumerate(outcomes) if isinstance(out, ZkMarginError)]
    if bad:
        first = outcomes[bad[0]]
        if len(bad) == 1:
            raise first
        err = VerificationError(f"the batch does not verify: invalid bundle(s) {bad}")
        err.log_entries = entries  # type: ignore[attr-defined]
        raise err
    res = VerificationResult(valid=True, statement=parsed[0].statement, gates=v.cs.n,
                             proof_bytes=sum(len(p.proof) for p in parsed), seconds=time.perf_counter() - t0,
                             backend=v.be.name, proofs=len(parsed))
    res.extra["log"] = entries
    return res
