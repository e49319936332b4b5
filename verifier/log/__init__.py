"""The venue's verification log: an append-only Merkle log (RFC 9162) with signed tree heads.

Every verification outcome (accepted or rejected, with its reason) is one entry, and every entry
is one leaf of a Merkle tree. After each append the venue signs the new tree head with its
Ed25519 key and returns a receipt — the entry, its leaf hash, the signed head and the inclusion
proof — that the trader keeps and checks offline. Whoever holds an older signed head or a receipt
can later demand a consistency proof: a venue (or an insider with its database) that edits,
deletes or reorders an entry it once signed cannot produce one, even with the signing key
(``audit --sth/--receipt``, :mod:`zkmargin.verifier.audit`).

=======================  ======================================================================
``entry``                one entry: its hashed fields, its leaf hash, the row as stored
``merkle``               the RFC 9162 tree: roots, inclusion and consistency proofs, the compact
                         range the log keeps between appends
``sth``                  signed tree heads (``zkmargin.sth/1``)
``receipt``              receipts (``zkmargin.receipt/1``) and their offline check
``store``                :class:`LogStore`, the storage interface every backend implements
``sqlite``               :class:`SQLiteLogStore`, the embedded backend (one file)
``postgres``             :class:`PostgresLogStore`, for several workers or hosts (a ``postgresql://`` URL)
``migrations``           the PostgreSQL schema as versioned migrations (``schema_version``)
``pg_connection``        one reconnecting PostgreSQL connection; URLs without their password
``verification_log``     :class:`VerificationLog`: open or create, append and sign, read back
``record``               :func:`verify_and_log`, :func:`verify_batch_and_log`: verify, then record
=======================  ======================================================================

A storage backend is a module beside ``sqlite.py`` that implements :class:`LogStore`;
:class:`VerificationLog` takes a path (SQLite), a ``postgresql://`` URL or any store object.

May import the API and everything below it. Used by the service, the audit, the CLI and the tests.
"""

from .entry import HASHED_FIELDS, MAX_REASON, LogEntry, as_bytes, bundle_bytes, sha256_hex
from .pg_connection import is_database_url
from .postgres import PostgresLogStore
from .receipt import Receipt, check_receipt
from .record import verify_and_log, verify_batch_and_log, verify_prepared
from .sqlite import SQLiteLogStore
from .sth import SignedTreeHead
from .store import LOG_FORMAT, AppendRows, LogStore, TreeState
from .verification_log import Appended, VerificationLog

__all__ = [
    "AppendRows", "Appended", "HASHED_FIELDS", "LOG_FORMAT", "LogEntry", "LogStore", "MAX_REASON", "PostgresLogStore",
    "Receipt", "SQLiteLogStore", "SignedTreeHead", "TreeState", "VerificationLog", "as_bytes",
    "bundle_bytes", "check_receipt", "is_database_url", "sha256_hex", "verify_and_log", "verify_batch_and_log",
    "verify_prepared",
]
