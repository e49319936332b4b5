"""The prepared verifier on disk: a cold ``zkmargin verify`` that neither parses the documents
nor builds the circuit.

Each ``zkmargin verify`` is a new process, so the in-process cache of :mod:`zkmargin.prepared`
never helps it: every run parsed the policy and market through pydantic, built the circuit,
digested and compiled it. This module keeps what a verification needs of one (policy, market,
threshold) in the user's cache directory, beside the generator chunks
(:func:`zkmargin.crypto.generators.cache_dir`: ``$ZKMARGIN_CACHE_DIR``, else
``$XDG_CACHE_HOME/zkmargin`` or ``~/.cache/zkmargin``; ``ZKMARGIN_CACHE_DIR=""`` turns it off),
in ``prepared-v1/``:

* **content-addressed**: an entry's name is SHA-256 over the policy file's bytes, the market
  file's bytes (each by its own SHA-256), the threshold as given and :func:`code_fingerprint`
  (SHA-256 of the source of everything that parses the documents and builds, digests or compiles
  a circuit): another document, threshold or code version is another entry;
* **what it holds** — all public: the statement every proof must carry (its challenge aside), the
  policy's trust rule, the market's time, and the circuit in compiled form
  (:class:`~zkmargin.verifier.compiled.CompiledCircuit`: gates, committed values, constraint count,
  digest, compiled weights). Never a value, a blinding or a key of a trader or custodian;
* **checked on load**: every entry ends with HMAC-SHA256 under a 32-byte key that this cache
  created (``prepared-v1/key``, mode 0600, refused when another user owns it or others can read
  it). An entry whose MAC, format, key fields or structure is wrong is refused, counted
  (:func:`stats`), and built again from the documents; so is one written under another key (another
  machine's or user's cache). The MAC is what makes a tampered circuit harmless: a verifier that
  trusted a rewritten entry would check proofs against the writer's circuit;
* **bounded**: at most :data:`MAX_ENTRIES` entries and :data:`MAX_BYTES` in all; the least
  recently used go first (a hit refreshes the file's time).

:func:`verify_cached` is what ``zkmargin verify`` calls (:func:`verify_batch_cached`,
``zkmargin verify-batch``): :func:`zkmargin.verify`'s decisions and messages, with the prepared
verifier from disk when an entry is there. A two-phase circuit (the
K-slot layout) has no compiled form and a zone proof has its own circuit: both are verified by
:func:`zkmargin.verify` itself, as are documents that are not files.

May import the API and the layers below it; the API and the models only when an entry is built.
Used by the CLI (``verify``, ``verify-batch``).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .crypto.backends import get_backend
from .documents.bundle import load_bundle
from .prepared_entry import (  # an entry's bytes and their checks
    FORMAT,
    Entry,
    EntryError,
    decode_entry,
    encode_entry,
)
from .verification import (
    PreparedView,
    VerificationResult,
    batch_inputs,
    verify_batch_prepared,
    verify_prepared,
)
from .verifier.compiled import CompiledCircuit

SUBDIR = "prepared-v1"
KEY_FILE = "key"
KEY_BYTES = 32
#: Entries kept (least recently used out first) and their total size.
MAX_ENTRIES = 64
MAX_BYTES = 256 << 20
#: An entry larger than this is not stored (nor read).
MAX_ENTRY_BYTES = 64 << 20

_stats = {"hits": 0, "builds": 0, "refused": 0, "stored": 0}


def stats() -> dict[str, int]:
    """Counters of this process: entries used, built, refused (tampered, foreign, malformed) and
    written."""
    return dict(_stats)


# --- where, and under which key ---------------------------------------------------------------


def store_dir() -> Path | None:
    """``<cache>/prepared-v1``, or None when the cache is turned off."""
    from .crypto.generators import cache_dir

    base = cache_dir()
    return None if base is None else base / SUBDIR


def _source_files() -> list[tuple[str, Path]]:
    """(name, path) of every source file whose change could change a prepared verifier."""
    import importlib.util

    here = Path(__file__).resolve().parent
    trees = {"zkmargin/rules": here / "rules", "zkmargin/crypto": here / "crypto",
             "zkmargin/documents": here / "documents"}
    for pkg in ("circuits", "verifier"):
        spec = importlib.util.find_spec(f"zkmargin.{pkg}")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"zkmargin.{pkg} not found")
        trees[f"zkmargin/{pkg}"] = Path(list(spec.submodule_search_locations)[0])
    files = [(f"zkmargin/{name}", here / name)
             for name in ("api.py", "prepared.py", "prepared_store.py", "verification.py")]
    for name, root in trees.items():
        for path in root.rglob("*.py"):
            rel = path.relative_to(root)
            if name == "zkmargin/verifier" and rel.parts[0] in ("log", "audit"):
                continue  # the log and the audit build nothing a verification uses
            files.append((f"{name}/{rel.as_posix()}", path))
    return sorted(files)


_fingerprint: list[str] = []


def code_fingerprint() -> str:
    """SHA-256 over the names and contents of :func:`_source_files` (once per process)."""
    if not _fingerprint:
        h = hashlib.sha256(b"zkmargin.prepared-code/1\x00")
        for name, path in _source_files():
            data = path.read_bytes()
            h.update(len(name).to_bytes(4, "big") + name.encode() + len(data).to_bytes(8, "big") + data)
        _fingerprint.append(h.hexdigest())
    return _fingerprint[0]


def entry_key(policy_bytes: bytes, market_bytes: bytes, threshold: str) -> dict[str, str]:
    """The fields an entry is addressed by (and repeats inside, checked on load)."""
    return {"policy_sha256": hashlib.sha256(policy_bytes).hexdigest(),
            "market_sha256": hashlib.sha256(market_bytes).hexdigest(),
            "threshold": threshold, "code": code_fingerprint()}


def entry_name(key: dict[str, str]) -> str:
    blob = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(FORMAT + blob).hexdigest() + ".bin"


def _private(st: os.stat_result) -> bool:
    """Owned by this user and unreadable by anyone else (POSIX; elsewhere the folder's ACLs)."""
    if not hasattr(os, "getuid"):
        return True
    return st.st_uid == os.getuid() and not st.st_mode & 0o077


def mac_key(directory: Path, *, create: bool) -> bytes | None:
    """This cache's MAC key (created with ``create``); None when there is none, or when it is
    not private to this user (then nothing is read from or written to the cache)."""
    path = directory / KEY_FILE
    try:
        st = path.stat()
    except FileNotFoundError:
        if not create:
            return None
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".key.")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(KEY_BYTES))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # atomic, and never over a key another process just made
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
        st = path.stat()
    if not stat.S_ISREG(st.st_mode) or not _private(st) or st.st_size != KEY_BYTES:
        return None
    key = path.read_bytes()
    return key if len(key) == KEY_BYTES else None


# --- reading, building, writing ---------------------------------------------------------------


def _read_entry(directory: Path, key: dict[str, str]) -> Entry | None:
    path = directory / entry_name(key)
    try:
        st = path.stat()
    except OSError:
        return None
    mk = mac_key(directory, create=False)
    try:
        if mk is None or not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY_BYTES:
            raise EntryError("no usable key, or not a regular file of a sane size")
        entry = decode_entry(path.read_bytes(), mk, key)
    except (EntryError, OSError):
        _stats["refused"] += 1
        return None
    try:
        os.utime(path)  # most recently used
    except OSError:
        pass
    _stats["hits"] += 1
    return entry


def build_entry(policy_bytes: bytes, policy_source: str, market_bytes: bytes, market_source: str,
                threshold: str | int, key: dict[str, str]) -> Entry | None:
    """Parse the documents (from the very bytes the key was computed over), prepare the verifier
    (:func:`zkmargin.prepared.prepare`, which the in-process cache shares) and take its compiled
    form; None for a circuit without one (two phases)."""
    from .api import _threshold
    from .prepared import prepare
    from .rules.models import load_market, load_policy

    pol = load_policy(policy_bytes, source=policy_source)
    mkt = load_market(market_bytes, pol, source=market_source)
    prepared = prepare(pol, mkt, _threshold(threshold, pol))
    _stats["builds"] += 1
    if prepared.cs.randomized:
        return None
    return Entry(key=key, base_statement=dict(prepared.base_statement), trust_rule=prepared.trust_rule,
                 circuit=CompiledCircuit.of_system(prepared.cs))


def _write_entry(directory: Path, entry: Entry) -> None:
    mk = mac_key(directory, create=True)
    if mk is None:
        return
    data = encode_entry(entry, mk)
    if len(data) > MAX_ENTRY_BYTES:
        return
    path = directory / entry_name(entry.key)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".entry.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return
    _stats["stored"] += 1
    _evict(directory, keep=path)


def _evict(directory: Path, keep: Path) -> None:
    """Drop the least recently used entries beyond :data:`MAX_ENTRIES` or :data:`MAX_BYTES`."""
    found = []
    for p in directory.glob("*.bin"):
        try:
            st = p.stat()
        except OSError:
            continue
        found.append((st.st_mtime_ns, st.st_size, p))
    found.sort(key=lambda e: (e[2] != keep, -e[0]))  # the new entry first, then newest first
    total = 0
    for i, (_t, size, p) in enumerate(found):
        total += size
        if i >= MAX_ENTRIES or total > MAX_BYTES:
            try:
                p.unlink()
            except OSError:
                pass


def load_or_build(policy_path: str, market_path: str, threshold: str | int) -> Entry | None:
    """The stored entry for these files and threshold, or one built now (and stored); None when
    the files cannot be read here (the caller's full path reports it) or the circuit has no
    compiled form."""
    try:
        with open(policy_path, "rb") as fh:
            policy_bytes = fh.read()
        with open(market_path, "rb") as fh:
            market_bytes = fh.read()
    except OSError:
        return None
    key = entry_key(policy_bytes, market_bytes, str(threshold))
    directory = store_dir()
    if directory is not None:
        entry = _read_entry(directory, key)
        if entry is not None:
            return entry
    entry = build_entry(policy_bytes, policy_path, market_bytes, market_path, threshold, key)
    if entry is not None and directory is not None:
        try:
            _write_entry(directory, entry)
        except OSError:
            pass  # no writable cache: this run verifies from memory
    return entry


# --- verifying --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SnapshotTime:
    as_of: str


class StoredVerifier(PreparedView):
    """The verifier's side read from an :class:`Entry` (no documents, no circuit objects)."""

    def __init__(self, entry: Entry, backend: Any = None):
        self.entry = entry
        self.cs = entry.circuit
        self.be = get_backend(backend)
        self._base = entry.base_statement
        self.trust_rule = entry.trust_rule
        self.market = _SnapshotTime(str(entry.base_statement["as_of"]))

    def slot_count(self) -> int:
        return self.cs.m


def verify_cached(proof: Any, market: Any, policy: Any, threshold: Any = 0, challenge: bytes | None = None, *,
                  subject: str | None = None, now: Any = None, max_age: Any = None, backend: Any = None,
                  min_zone: str | None = None) -> VerificationResult:
    """:func:`zkmargin.verify` (same arguments, decisions and errors) with the prepared verifier
    from the disk cache when ``market`` and ``policy`` are files and the threshold is a string or
    an integer."""
    b = load_bundle(proof)
    cacheable = _cacheable(market, policy, threshold) and "zone" not in b.statement and min_zone is None
    entry = load_or_build(os.fspath(policy), os.fspath(market), threshold) if cacheable else None
    if entry is None:
        from .api import verify

        return verify(b, market, policy, threshold, challenge, subject=subject, now=now, max_age=max_age,
                      backend=backend, min_zone=min_zone)
    return verify_prepared(StoredVerifier(entry, backend), b, challenge, subject=subject, now=now,
                           max_age=max_age)


def _cacheable(market: Any, policy: Any, threshold: Any) -> bool:
    return (isinstance(market, (str, os.PathLike)) and isinstance(policy, (str, os.PathLike))
            and isinstance(threshold, (str, int)) and not isinstance(threshold, bool))


def verify_batch_cached(proofs: Any, market: Any, policy: Any, threshold: Any = 0, challenge: Any = None, *,
                        subject: Any = None, now: Any = None, max_age: Any = None, backend: Any = None,
                        workers: int | None = None) -> VerificationResult:
    """:func:`zkmargin.verify_batch` (same arguments, decisions and errors) with the prepared
    verifier from the disk cache, as :func:`verify_cached`."""
    import time

    t0 = time.perf_counter()
    items_in, challenges = batch_inputs(proofs, challenge)
    entry = (load_or_build(os.fspath(policy), os.fspath(market), threshold)
             if _cacheable(market, policy, threshold) else None)
    if entry is None:
        from .api import verify_batch

        return verify_batch(items_in, market, policy, threshold, challenges, subject=subject, now=now,
                            max_age=max_age, backend=backend, workers=workers)
    return verify_batch_prepared(StoredVerifier(entry, backend), items_in, challenges, subject=subject, now=now,
                                 max_age=max_age, workers=workers, started=t0)


__all__ = ["Entry", "EntryError", "MAX_BYTES", "MAX_ENTRIES", "StoredVerifier", "build_entry",
           "code_fingerprint", "decode_entry", "encode_entry", "entry_key", "load_or_build", "stats",
           "store_dir", "verify_batch_cached", "verify_cached"]
