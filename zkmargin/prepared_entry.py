"""The bytes of one prepared-verifier entry on disk (:mod:`zkmargin.prepared_store`): what it
holds (all public: statement, trust rule, compiled circuit), its encoding and the checks on load
(HMAC-SHA256 under the cache's key, format, the key it answers, structure).

May import :mod:`zkmargin.documents.trust` and :mod:`zkmargin.verifier.compiled`. Used by
:mod:`zkmargin.prepared_store`, which re-exports its names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from array import array
from dataclasses import dataclass

from .documents.trust import TrustRule
from .verifier.compiled import KINDS, CompiledCircuit, CompiledWeights, KindWeights

FORMAT = b"zkmargin.prepared/1\x00"
MAC_BYTES = 32


@dataclass
class Entry:
    """A prepared verifier as stored: the key it answers, the statement (challenge aside), the
    trust rule and the compiled circuit."""

    key: dict[str, str]
    base_statement: dict
    trust_rule: TrustRule
    circuit: CompiledCircuit


def _u32(values: list[int]) -> bytes:
    a = array("I", values)
    if a.itemsize != 4:  # pragma: no cover - every platform we run on has a 4-byte unsigned int
        a = array("L", values)
    if sys.byteorder == "big":  # pragma: no cover
        a.byteswap()
    return a.tobytes()


def _from_u32(data: bytes) -> list[int]:
    a = array("I")
    a.frombytes(data)
    if sys.byteorder == "big":  # pragma: no cover
        a.byteswap()
    return a.tolist()


def encode_entry(entry: Entry, mac_key_bytes: bytes) -> bytes:
    """The entry's bytes: format tag, header length, canonical JSON header, the weights' arrays
    (u32 little-endian; coefficients 32 bytes each), HMAC-SHA256 over all of it."""
    w = entry.circuit.weights
    rule = entry.trust_rule
    header = {
        "key": entry.key,
        "statement": entry.base_statement,
        "trust_rule": {"venue": rule.venue, "policy_digest": rule.policy_digest, "mode": rule.mode,
                       "custodians": [[k, v] for k, v in rule.custodians.items()], "kinds": list(rule.kinds),
                       "max_age": rule.max_age, "self_declared": rule.self_declared,
                       "unchallenged": rule.unchallenged, "attestation_challenge": rule.attestation_challenge},
        "circuit": {"n": w.n_gates, "m": w.m, "q": w.q, "digest": entry.circuit.digest().hex(),
                    "nonzeros": [w.kinds[k].nonzeros for k in KINDS], "general": len(w.gen_q)},
    }
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    parts = [FORMAT, len(head).to_bytes(8, "big"), head]
    for kind in KINDS:
        kw = w.kinds[kind]
        parts += [_u32(kw.sources), _u32(kw.starts), _u32(kw.ends)]
    parts.append(_u32(w.gen_q))
    parts.append(b"".join(c.to_bytes(32, "little") for c in w.coefs))
    body = b"".join(parts)
    return body + hmac.new(mac_key_bytes, body, hashlib.sha256).digest()


class EntryError(ValueError):
    """An entry that is not to be used (tampered, foreign, malformed, for another key)."""


def decode_entry(data: bytes, mac_key_bytes: bytes, key: dict[str, str]) -> Entry:
    """The entry in ``data``, after its MAC, format, key and structure checks (EntryError)."""
    if len(data) < len(FORMAT) + 8 + MAC_BYTES or not data.startswith(FORMAT):
        raise EntryError("not a prepared-verifier entry")
    body, mac = data[:-MAC_BYTES], data[-MAC_BYTES:]
    if not hmac.compare_digest(mac, hmac.new(mac_key_bytes, body, hashlib.sha256).digest()):
        raise EntryError("the entry's MAC does not verify")
    pos = len(FORMAT)
    head_len = int.from_bytes(body[pos : pos + 8], "big")
    pos += 8
    try:
        header = json.loads(body[pos : pos + head_len])
        pos += head_len
        if header["key"] != key:
            raise EntryError("the entry answers another policy, market, threshold or code version")
        c = header["circuit"]
        n, m, q, general = int(c["n"]), int(c["m"]), int(c["q"]), int(c["general"])
        sizes = dict(zip(KINDS, (n, n, n, m, 1)))
        kinds = {}
        for kind, nz in zip(KINDS, c["nonzeros"]):
            lens = (int(nz), sizes[kind], sizes[kind])
            arrays = []
            for length in lens:
                arrays.append(_from_u32(body[pos : pos + 4 * length]))
                if len(arrays[-1]) != length:
                    raise EntryError("the entry is truncated")
                pos += 4 * length
            kinds[kind] = KindWeights(sizes[kind], *arrays)
        gen_q = _from_u32(body[pos : pos + 4 * general])
        pos += 4 * general
        raw = body[pos : pos + 32 * general]
        pos += 32 * general
        if len(gen_q) != general or len(raw) != 32 * general or pos != len(body):
            raise EntryError("the entry's arrays do not match its header")
        coefs = [int.from_bytes(raw[i : i + 32], "little") for i in range(0, len(raw), 32)]
        weights = CompiledWeights(q=q, q_offset=0, n_gates=n, m=m, kinds=kinds, gen_q=gen_q, coefs=coefs)
        weights.check()
        t = header["trust_rule"]
        rule = TrustRule(venue=t["venue"], policy_digest=t["policy_digest"], mode=t["mode"],
                         custodians={k: v for k, v in t["custodians"]}, kinds=tuple(t["kinds"]),
                         max_age=t["max_age"], self_declared=t["self_declared"], unchallenged=t["unchallenged"],
                         attestation_challenge=t["attestation_challenge"])
        circuit = CompiledCircuit(weights, bytes.fromhex(c["digest"]))
        statement = header["statement"]
        if statement.get("circuit_digest") != c["digest"] or statement.get("gates") != n:
            raise EntryError("the entry's statement and circuit disagree")
        if len(statement.get("slots") or []) != m:
            raise EntryError("the entry's slots and committed values disagree")
    except EntryError:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise EntryError(f"malformed entry ({type(exc).__name__})") from None
    return Entry(key=key, base_statement=statement, trust_rule=rule, circuit=circuit)
