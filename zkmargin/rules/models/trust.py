"""The policy's ``trust`` section: the custodians a venue accepts and its trust rule's settings
(``docs/notes/trust.md``), and their validation. Enforced by :mod:`zkmargin.documents.trust`.

May import :mod:`.fields`. Used by :mod:`.policy` and :mod:`.policy_checks`.
"""

from __future__ import annotations

from typing import Literal

from ...errors import (
    PolicyError,
)
from .fields import _M, SLOT_KINDS, Bool, Int, KeyHex, Str


class Custodian(_M):
    """A custodian whose attestations the venue accepts: a name for reports, its Ed25519 key."""

    name: Str
    key: KeyHex


class Trust(_M):
    """The venue's trust rule (``docs/notes/trust.md``): which custodians may vouch for the
    committed values, which slot kinds they must cover, how fresh an attestation must be, and
    whether self-declared values or proofs without a challenge are acceptable at all."""

    custodians: list[Custodian] = []
    attest: list[Literal["size", "cost", "entry", "isolated", "balance", "position"]] | None = None
    max_age_seconds: Int | None = None
    self_declared: Bool | None = None
    unchallenged: Bool = False
    attestation_challenge: Bool = False


def _validate_trust(t: Trust | None, source: str | None) -> Trust | None:
    """Check the trust section and normalize it: ``None`` when it says what the default says
    (so an empty section and no section have one digest); otherwise every field filled in, the
    attested kinds in canonical order."""
    if t is None:
        return None
    names: dict[str, int] = {}
    keys: dict[str, int] = {}
    for k, c in enumerate(t.custodians):
        if c.name in names:
            raise PolicyError(f"custodian name {c.name!r} is listed twice", source=source,
                              field=f"trust.custodians[{k}].name")
        if c.key in keys:
            raise PolicyError(f"this key is listed twice (trust.custodians[{keys[c.key]}] has it)",
                              source=source, field=f"trust.custodians[{k}].key")
        names[c.name], keys[c.key] = k, k
    listed = bool(t.custodians)
    if t.attest is not None:
        if not t.attest:
            raise PolicyError("name at least one slot kind (or leave 'attest' out: all kinds)",
                              source=source, field="trust.attest")
        if len(set(t.attest)) != len(t.attest):
            raise PolicyError("a slot kind is listed twice", source=source, field="trust.attest")
    if t.max_age_seconds is not None and t.max_age_seconds <= 0:
        raise PolicyError("must be a positive number of seconds", source=source,
                          field="trust.max_age_seconds")
    if listed:
        if t.max_age_seconds is None:
            raise PolicyError("required when custodians are listed: how old an attestation may be, "
                              "in seconds", source=source, field="trust.max_age_seconds")
        if t.self_declared:
            raise PolicyError("must be false when custodians are listed: their attestations are "
                              "what this venue accepts", source=source, field="trust.self_declared")
    else:
        for name in ("attest", "max_age_seconds"):
            if getattr(t, name) is not None:
                raise PolicyError("only used when custodians are listed", source=source,
                                  field=f"trust.{name}")
        if t.attestation_challenge:
            raise PolicyError("only used when custodians are listed", source=source,
                              field="trust.attestation_challenge")
        if t.self_declared is False:
            raise PolicyError("with no custodians listed, refusing self-declared values would refuse "
                              "every proof", source=source, field="trust.self_declared")
    if t.attestation_challenge and t.unchallenged:
        raise PolicyError("attestations bound to the venue's challenge need proofs with a challenge "
                          "(unchallenged must be false)", source=source,
                          field="trust.attestation_challenge")
    if not listed and not t.unchallenged:
        return None  # the default rule
    kinds = [k for k in SLOT_KINDS if t.attest is None or k in t.attest] if listed else None
    return t.model_copy(update={"attest": kinds, "self_declared": not listed})
