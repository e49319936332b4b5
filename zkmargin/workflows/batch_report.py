"""``verify-batch --json``: one result per bundle (issue 11).

:func:`verify_batch_report` verifies the bundles together first (one multi-scalar multiplication,
:func:`zkmargin.verify_batch`); when the batch is rejected it verifies each bundle on its own
(the venue's prepared verifier is cached per policy, market and threshold, so this costs one MSM
per bundle) to say which ones fail and why. A file that cannot be read or parsed is an input error
for the whole command (exit 2), as before; the report is about proofs.

May import the API and everything below it. Used by the CLI (``verify-batch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Rejected


@dataclass
class BundleOutcome:
    """One bundle's result: valid, or the rejection's one line and class."""

    file: str
    valid: bool
    error: str | None = None
    error_type: str | None = None
    trust: Any = None

    def to_json_dict(self) -> dict:
        doc: dict[str, Any] = {"file": self.file, "valid": self.valid}
        if self.valid:
            doc["trust"] = self.trust
        else:
            doc["error"], doc["error_type"] = self.error, self.error_type
        return doc


@dataclass
class BatchReport:
    """The batch's result (:class:`zkmargin.VerificationResult` when every bundle is valid) and
    one :class:`BundleOutcome` per bundle, in order."""

    bundles: list[BundleOutcome]
    result: Any = None
    rejection: Rejected | None = None
    extra: dict = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.rejection is None

    def to_json_dict(self) -> dict:
        if self.result is not None:
            doc = self.result.to_json_dict()
        else:
            assert self.rejection is not None
            doc = {"valid": False, "proofs": len(self.bundles), "error": self.rejection.one_line(),
                   "error_type": type(self.rejection).__name__}
        doc["bundles"] = [b.to_json_dict() for b in self.bundles]
        return doc

    def raise_if_rejected(self) -> None:
        if self.rejection is not None:
            raise self.rejection


def _each(values: Any, n: int) -> list:
    if values is None or isinstance(values, (bytes, bytearray, str)):
        return [values] * n
    return list(values)


def verify_batch_report(files: Sequence[Any], market: Any, policy: Any, threshold: Any = 0,
                        challenge: Any = None, *, subject: Any = None, max_age: float | None = None,
                        backend: Any = None, names: Sequence[str] | None = None) -> BatchReport:
    """Verify ``files`` (paths or bundles) as :func:`zkmargin.verify_batch` does (with the prepared
    verifier from the disk cache, :mod:`zkmargin.prepared_store`), and say which
    ones fail when the batch is rejected. ``names`` label the bundles (default: the paths)."""
    from zkmargin.documents.bundle import load_bundle
    from zkmargin.prepared_store import verify_batch_cached, verify_cached  # the CLI's disk cache

    labels = list(names) if names is not None else [str(f) for f in files]
    bundles = [load_bundle(f) for f in files]  # unreadable or malformed: an input error (exit 2)
    try:
        result = verify_batch_cached(bundles, market, policy, threshold, challenge, subject=subject,
                                     max_age=max_age, backend=backend)
    except Rejected as batch_error:
        outcomes = []
        challenges, subjects = _each(challenge, len(bundles)), _each(subject, len(bundles))
        for label, b, c, s in zip(labels, bundles, challenges, subjects):
            try:
                one = verify_cached(b, market, policy, threshold, c, subject=s, max_age=max_age,
                                    backend=backend)
                outcomes.append(BundleOutcome(label, True, trust=one.extra.get("trust")))
            except Rejected as exc:
                outcomes.append(BundleOutcome(label, False, exc.one_line(), type(exc).__name__))
        return BatchReport(outcomes, rejection=batch_error)
    trust = result.extra.get("trust") or [None] * len(bundles)
    return BatchReport([BundleOutcome(label, True, trust=t) for label, t in zip(labels, trust)],
                       result=result)


def outcomes_from_log(files: Sequence[str], summaries: Sequence[dict] | None) -> list[BundleOutcome]:
    """Per-bundle outcomes of ``verify-batch --log`` from the log entries it appended."""
    out = []
    for i, f in enumerate(files):
        entry = summaries[i] if summaries is not None and i < len(summaries) else None
        accepted = entry is not None and entry.get("result") == "accepted"
        out.append(BundleOutcome(str(f), accepted, None if accepted else "rejected (see the log entry)",
                                 None if accepted else "Rejected"))
    return out
