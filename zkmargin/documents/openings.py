"""The openings of commitments (``zkmargin.openings/1``): value and blinding per slot. PRIVATE — the
trader's only, written with mode 0600, never published::

    {"format": "zkmargin.openings/1", "policy_digest": "...", "custodian": "<hex>" | null,
     "nonce": "<hex>" | null, "slots": [...], "values": ["<integer>", ...],
     "blindings": ["<32-byte scalar, hex>", ...]}

``values`` are the committed fixed-point integers (sizes at the size scale, the cost basis at
size+price scale, entry prices at the price scale, amounts at the amount scale), as strings. A
custodian's attestation comes with the openings of its commitments (``custodian`` and ``nonce``
pair them); a trader without a custodian draws its own (``custodian`` null); a subset of them is
what a trader hands an auditor.

May import :mod:`zkmargin.errors`, :mod:`zkmargin.files`, :mod:`zkmargin.crypto`, the Pedersen
``commit`` of :mod:`zkmargin.prover.r1cs` and the bundle's hex fields. Used by the custodian
workflow and the CLI (``attest``, ``commit``, ``open``, ``prove --openings``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..crypto.backends import GroupBackend, get_backend
from ..crypto.field import R
from ..errors import FormatError, InputError
from ..files.atomic import write_private
from .attestation import DocumentSource, JSONDict, load_json_document
from .bundle import hex_field

OPENINGS_FORMAT = "zkmargin.openings/1"

_OPENINGS_KEYS = ("format", "policy_digest", "custodian", "nonce", "slots", "values", "blindings")
_INT = re.compile(r"^-?[0-9]+$")


def _hexfield(value: object, what: str, source: str | None, size: int | None = None) -> bytes:
    return hex_field(value, what, source, size, lowercase=True)


def _strlist(value: object, what: str, source: str | None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise FormatError(f"{what} must be a list of strings", source=source)
    if len(set(value)) != len(value):
        raise FormatError(f"{what} lists a slot twice", source=source)
    return list(value)



@dataclass
class Openings:
    """The private side: value and blinding per slot (the trader's, never published)."""

    policy_digest: str
    slots: list[str]
    values: list[int]
    blindings: list[int]
    custodian: str | None = None
    nonce: str | None = None

    def to_json_dict(self) -> JSONDict:
        return {
            "format": OPENINGS_FORMAT,
            "policy_digest": self.policy_digest,
            "custodian": self.custodian,
            "nonce": self.nonce,
            "slots": list(self.slots),
            "values": [str(int(v)) for v in self.values],
            "blindings": [(g % R).to_bytes(32, "big").hex() for g in self.blindings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically with mode 0600 (the openings reveal the account)."""
        write_private(path, self.to_json().encode())

    def subset(self, slots: Iterable[str]) -> Openings:
        """The openings of the chosen slots only (to hand an auditor)."""
        want = list(slots)
        index = {s: i for i, s in enumerate(self.slots)}
        missing = [s for s in want if s not in index]
        if missing:
            raise InputError(f"the openings have no slot(s) {missing}", field="slots")
        if len(set(want)) != len(want):
            raise InputError("a slot is named twice", field="slots")
        ids = sorted(index[s] for s in want)
        return Openings(self.policy_digest, [self.slots[i] for i in ids], [self.values[i] for i in ids],
                        [self.blindings[i] for i in ids], self.custodian, self.nonce)

    def commitments(self, backend: str | GroupBackend | None = None) -> list[bytes]:
        from ..crypto.generators import get_generators
        from ..prover.r1cs import commit

        be = get_backend(backend)
        gens = get_generators(be)
        return [be.encode(commit(be, gens, v, g)) for v, g in zip(self.values, self.blindings)]

    @classmethod
    def from_json_dict(cls, data: object, source: str | None = None) -> Openings:
        if not isinstance(data, dict) or data.get("format") != OPENINGS_FORMAT:
            raise FormatError(f"not openings (format must be {OPENINGS_FORMAT!r})", source=source)
        if set(data) != set(_OPENINGS_KEYS):
            raise FormatError(f"openings have exactly the keys {list(_OPENINGS_KEYS)}", source=source)
        _hexfield(data["policy_digest"], "policy_digest", source, 32)
        if data["custodian"] is not None:
            _hexfield(data["custodian"], "custodian", source, 32)
        if data["nonce"] is not None:
            _hexfield(data["nonce"], "nonce", source)
        slots = _strlist(data["slots"], "slots", source)
        vals, blinds = data["values"], data["blindings"]
        if not isinstance(vals, list) or not isinstance(blinds, list) or not len(vals) == len(blinds) == len(slots):
            raise FormatError("one value and one blinding per slot are needed", source=source)
        values = []
        for i, v in enumerate(vals):
            if not isinstance(v, str) or not _INT.match(v) or len(v) > 80:
                raise FormatError(f"values[{i}] must be an integer as a string", source=source)
            values.append(int(v))
        blindings = []
        for i, b in enumerate(blinds):
            g = int.from_bytes(_hexfield(b, f"blindings[{i}]", source, 32), "big")
            if not 0 < g < R:
                raise FormatError(f"blindings[{i}] is not a non-zero canonical scalar", source=source)
            blindings.append(g)
        return cls(data["policy_digest"], slots, values, blindings, data["custodian"], data["nonce"])

    @classmethod
    def load(cls, src: Openings | DocumentSource) -> Openings:
        if isinstance(src, Openings):
            return src
        data, source = load_json_document(src, OPENINGS_FORMAT, "openings")
        return cls.from_json_dict(data, source)
