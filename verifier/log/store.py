"""Where the verification log keeps its rows: the storage interface every backend implements.

:class:`~zkmargin.verifier.log.VerificationLog` does the Merkle tree, the signing and the receipts;
a store only has to keep rows and run one exclusive transaction per append. What a backend
implements (:class:`LogStore`):

* ``create(meta)`` / ``meta()`` — the log's identity, written once: format, log id (the venue's
  public key), creation time;
* ``append_many(prepares)`` — one transaction, exclusive among all writers: read the tree state
  (size, peaks, last head's timestamp); for each ``prepare`` in order, call
  ``prepare(state, accepted_seq)`` which computes the rows, then insert the entry with the next
  sequence number, insert its signed head, store the new tree state and any new policy or
  snapshot; commit — all or nothing. ``append(prepare)`` is the one-entry case. Accepted challenges are
  unique (an index), so a challenge can never be accepted twice even by racing writers;
* reads: entries by range or by id (with or without their bodies), the signed heads, documents by
  digest, and ``accepted_seq(challenge)`` (the cheap replay pre-check).

Backends: :class:`~zkmargin.verifier.log.sqlite.SQLiteLogStore` (one file, embedded; the schema
is documented there) and :class:`~zkmargin.verifier.log.postgres.PostgresLogStore` (several
workers or hosts: a ``SELECT … FOR UPDATE`` on the tree-state row, a partial unique index on
accepted challenges, one transaction per append, the schema versioned by
:mod:`~zkmargin.verifier.log.migrations`); :class:`LogStore` is the one interface both implement.

May import the entry's hashed fields (:mod:`.entry`) only. Used by the log
(:mod:`.verification_log`) and its backends.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from .entry import HASHED_FIELDS

LOG_FORMAT = "zkmargin.log/2"
OLD_FORMATS = {
    "zkmargin.log/1": "it is a zkmargin.log/1 log (a bare hash chain, written by an older zkmargin) with no "
                      "signed tree heads: audit it with the zkmargin that wrote it, and start a new log",
}
ENTRY_COLUMNS = ("id",) + HASHED_FIELDS + ("bundle", "attestations", "leaf_hash")
HEAD_COLUMNS = ("tree_size", "timestamp", "root_hash", "signature")
DOCUMENT_TABLES = ("policies", "markets")


@dataclass
class TreeState:
    """The tree after the last append: its size, its peaks (concatenated 32-byte hashes, see
    :class:`~zkmargin.verifier.log.merkle.CompactRange`) and the last signed head's timestamp."""

    size: int = 0
    peaks: bytes = b""
    timestamp: int = 0


@dataclass
class AppendRows:
    """What one append writes: computed by the log inside the store's transaction."""

    entry: dict
    head: dict
    state: TreeState
    documents: list = field(default_factory=list)  # (table, digest, body)


Prepare = Callable[[TreeState, Callable[[str], "int | None"]], AppendRows]
"""What a store calls inside its append transaction: (tree state, replay lookup) -> the rows."""


class LogStore(ABC):
    """The storage interface of the verification log (one subclass per backend)."""

    name: str  # where the log is, for messages (a path; never a password)

    @abstractmethod
    def exists(self) -> bool:
        """Whether the store holds a log already (any format)."""

    @abstractmethod
    def create(self, meta: dict) -> None:
        """Create an empty log with this identity (once)."""

    @abstractmethod
    def meta(self) -> dict:
        """The identity written at creation (``format``, ``log_id``, ``created``)."""

    def append(self, prepare: Prepare) -> AppendRows:
        """Run one exclusive append transaction (see the module docstring); returns the rows."""
        return self.append_many([prepare])[0]

    @abstractmethod
    def append_many(self, prepares: Sequence[Prepare]) -> list[AppendRows]:
        """The appends of ``prepares``, in order, in ONE exclusive transaction: each ``prepare``
        gets the tree state the one before it left, and its ``accepted_seq`` sees the entries
        inserted before it; all are committed together, or none (the service's micro-batches:
        one commit and one fsync for a batch)."""

    @abstractmethod
    def accepted_seq(self, challenge: str) -> int | None:
        """The seq of the entry that accepted this challenge (hex), or None."""

    @abstractmethod
    def entry_by_challenge(self, challenge: str) -> dict | None:
        """The entry row (without bodies) that answered this challenge (hex): the accepted one
        if any, else the latest; None when no entry names it."""

    @abstractmethod
    def count(self) -> int:
        """How many entries are stored."""

    @abstractmethod
    def entries(self, *, bodies: bool = True, start: int = 1, stop: int | None = None) -> Iterator[dict]:
        """Stored entry rows with ``start <= id < stop``, in id order, as stored (``bodies=False``
        leaves ``bundle`` and ``attestations`` out: None, and a marker whether one was stored)."""

    @abstractmethod
    def entries_by_id(self, ids: Sequence[int]) -> list[dict]:
        """The full rows with these ids, in id order."""

    @abstractmethod
    def heads(self) -> Iterator[dict]:
        """Every stored signed head, by tree size."""

    @abstractmethod
    def latest_head(self) -> dict | None:
        """The signed head with the largest tree size, or None."""

    @abstractmethod
    def tree_state(self) -> TreeState | None:
        """The stored tree state (None when missing)."""

    @abstractmethod
    def documents(self, table: str) -> list[tuple[str, bytes]]:
        """Every stored (digest, body) of ``policies`` or ``markets``."""

    @abstractmethod
    def document(self, table: str, digest: str) -> bytes | None:
        """One stored body by digest, or None."""

    @abstractmethod
    def close(self) -> None:
        ...
