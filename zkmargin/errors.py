"""The one error hierarchy of zkmargin.

Every failure the library reports is a subclass of :class:`ZkMarginError`. The command line maps
them to exit codes: :class:`Rejected` subclasses (a proof that does not verify, an account below the
requirement) exit with 1; every other ``ZkMarginError`` (bad input, usage) exits with 2.

Messages are one line, name the file and field where there is one, and never contain a private
value (balances, sizes, entry prices, blinding factors, witnesses).

Imports nothing of zkmargin's. Used by every module.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ZkMarginError",
    "InputError",
    "FormatError",
    "InputLimitError",
    "PrecisionError",
    "UnknownSymbolError",
    "MissingPriceError",
    "PolicyError",
    "DecodeError",
    "BackendError",
    "CircuitError",
    "OverflowRiskError",
    "LogError",
    "DatabaseUnavailableError",
    "NotFoundError",
    "AuditIncompleteError",
    "AttestationError",
    "MissingExtraError",
    "ExchangeDataError",
    "RequestTooLargeError",
    "ServiceBusyError",
    "RateLimitedError",
    "AuthenticationError",
    "RequestTimeoutError",
    "Rejected",
    "UnsatisfiedError",
    "BelowRequirementError",
    "VerificationError",
    "MalformedProofError",
    "StatementMismatchError",
    "AttestationRejectedError",
    "ZoneRejectedError",
    "UnchallengedProofError",
    "ReplayError",
    "OpeningRejectedError",
    "LogTamperedError",
    "ReceiptRejectedError",
    "RoundTripMismatchError",
]


class ZkMarginError(Exception):
    """Base class of every error zkmargin raises on purpose."""

    exit_code = 2
    #: Set by the verification log (:mod:`zkmargin.verifier.log`) on a rejection it recorded: the
    #: entry's summary (one bundle) or summaries (a batch), and the receipt(s). None otherwise.
    log_entry: dict[str, Any] | None = None
    log_entries: list[dict[str, Any]] | None = None
    receipt: dict[str, Any] | list[dict[str, Any]] | None = None

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.message = message
        self.source = source
        self.field = field
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = []
        if self.source:
            where.append(shorten(str(self.source), MAX_NAME_CHARS))
        if self.field:
            where.append(f"field {shorten(str(self.field), MAX_NAME_CHARS)!r}")
        prefix = ": ".join(where)
        text = f"{prefix}: {self.message}" if prefix else self.message
        return shorten(" ".join(text.split()), MAX_LINE_CHARS)


#: Longest file or field name an error message shows, and longest message (issue 11: a key of
#: 400 KB once made a 400 KB stderr line). Longer ones are cut in the middle with an ellipsis.
MAX_NAME_CHARS = 200
MAX_LINE_CHARS = 1000


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, keeping its start and end."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep - keep // 3] + "…" + text[len(text) - keep // 3:]


# --- input and encoding errors (exit 2) --------------------------------------------------------


class InputError(ZkMarginError):
    """A file, argument or value is malformed or inconsistent."""


class FormatError(InputError):
    """A document has the wrong format tag, is not valid JSON, or misses a required field."""


class InputLimitError(FormatError):
    """An input is over one of the input layer's limits (:mod:`zkmargin.files.inputs`): a file
    larger than the cap for its kind, JSON nested too deeply, a number with too many digits.
    ``limit`` is the limit that was exceeded; the message names the file, the field and the limit."""

    def __init__(self, message: str, *, limit: int | None = None, **kw):
        self.limit = limit
        super().__init__(message, **kw)


class PrecisionError(InputError):
    """A decimal has more digits after the point than the policy's scale for that kind allows."""


class UnknownSymbolError(InputError):
    """A symbol or asset is referenced that the policy does not list."""


class MissingPriceError(InputError):
    """The market snapshot has no price for an instrument or collateral asset the policy needs."""


class PolicyError(InputError):
    """A policy is internally inconsistent (bracket gaps, non-monotone rates, duplicates...)."""


class DecodeError(InputError):
    """Bytes do not decode strictly: wrong length, off-curve, not in the subgroup, identity,
    non-canonical scalar, unknown version."""


class BackendError(InputError):
    """An unknown or unavailable group backend was requested."""


class CircuitError(ZkMarginError):
    """A circuit is malformed: a range check on an unbounded combination, a bound that could wrap
    modulo the group order, a width out of range."""


class OverflowRiskError(CircuitError):
    """A range-checked combination could reach the field modulus, so the check would be unsound."""


class LogError(ZkMarginError):
    """The verification log is unreadable, or is not a zkmargin log."""


class AttestationError(InputError):
    """An attestation is malformed, or its openings do not match its commitments."""


class MissingExtraError(InputError):
    """An optional feature needs an extra that is not installed (e.g. ``zkmargin[serve]``)."""


class ExchangeDataError(InputError):
    """Data from an exchange (ccxt structures saved as JSON, or fetched live) is missing a field,
    carries a binary float where the exchange sends a decimal string, or would need a guess (a
    tier table with a gap, a maintenance amount off the recursion, an unknown contract size)."""


class RequestTooLargeError(InputError):
    """A request to the verification service is over its size limit (HTTP 413)."""


class ServiceBusyError(ZkMarginError):
    """The verification service as a whole is at a cap (outstanding challenges, global request
    rate): HTTP 503. ``retry_after`` is the number of seconds after which a retry can succeed."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        self.retry_after = retry_after
        super().__init__(message, **kw)


class RateLimitedError(ServiceBusyError):
    """One client is over its own quota (request rate or outstanding challenges): HTTP 429 with
    ``Retry-After``. Other clients are not affected."""


class DatabaseUnavailableError(ServiceBusyError, LogError):
    """The database behind the log, the challenges or the rates cannot be reached right now (a
    restarted server, a dropped connection): nothing was written. The service answers 503 with
    ``Retry-After``; the next request reconnects."""


class AuthenticationError(ZkMarginError):
    """A request to the verification service carries no API key or one the venue does not know
    (HTTP 401). The message is the same whatever the reason, so it says nothing about clients."""


class AuditIncompleteError(ZkMarginError):
    """A distributed audit or bulk verification did not finish (a task failed, the cluster went
    away, a result is missing): there is no report, so nothing is called clean."""


class NotFoundError(InputError):
    """What a request asks for does not exist, or is not the asker's to see (HTTP 404)."""


class RequestTimeoutError(InputError):
    """A request body did not arrive in time (HTTP 408)."""


# --- rejections (exit 1) -----------------------------------------------------------------------


class Rejected(ZkMarginError):
    """Base of the outcomes that are answers, not faults: the proof or the account is rejected."""

    exit_code = 1


class UnsatisfiedError(Rejected):
    """The prover's witness does not satisfy the circuit, so no proof is produced."""


class BelowRequirementError(UnsatisfiedError):
    """The account does not meet the requirement (with buffer and threshold); nothing is proved."""


class VerificationError(Rejected):
    """A proof does not verify."""


class MalformedProofError(VerificationError):
    """A bundle's proof or commitments do not decode (truncated, off-curve, identity, ...)."""


class StatementMismatchError(VerificationError):
    """A bundle's public statement (policy or market digest, threshold, challenge, circuit,
    version) differs from the verifier's own."""


class ZoneRejectedError(VerificationError):
    """A valid zone proof shows a worse margin-call zone than the venue asked for (``min_zone``)."""


class AttestationRejectedError(VerificationError):
    """The venue's trust rule refuses the bundle's attestations: a signature does not verify, an
    attestation is stale, for another venue, account, policy or challenge, from a custodian the
    policy does not list, a required slot is not attested, the proof is about other commitments,
    or the values are self-declared where the policy requires custodians."""


class UnchallengedProofError(VerificationError):
    """A proof answers no challenge and the venue's policy does not accept unchallenged proofs
    (an old proof could be replayed)."""


class ReplayError(VerificationError):
    """A challenge was used already: the service hands each one out once, and the verification
    log never accepts one twice."""


class OpeningRejectedError(Rejected):
    """An opening handed to an auditor does not open the bundle's commitment for its slot."""


class LogTamperedError(Rejected):
    """The verification log does not check out: an entry was edited, removed or reordered, a
    signed tree head does not verify or does not match the tree, the log is not an extension of
    an older signed head or receipt, or a challenge was accepted twice."""


class ReceiptRejectedError(Rejected):
    """A log receipt does not check out: another log's key, a bad signature, an entry that does not
    hash to its leaf, an inclusion proof that does not lead to the signed root, or another bundle."""


class RoundTripMismatchError(Rejected):
    """An imported account's maintenance margin differs from the exchange's own figure by more than
    the exchange's rounding, for at least one position."""
