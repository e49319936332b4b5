"""Scalars of the BLS12-381 G1 group: integers modulo the prime group order ``r``.

Scalars are plain Python ints in ``[0, r)`` everywhere above the group backends; backends convert to
their native form only at the multi-scalar-multiplication boundary.

Imports :mod:`zkmargin.errors` only. Used by everything that touches scalars: the backends, the
transcript, the proof encoding, the circuits, the prover, the verifier and the API.
"""

from __future__ import annotations

from ..errors import DecodeError

#: Order of the prime-order subgroup of BLS12-381 G1 (and of its scalar field).
R = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
SCALAR_BYTES = 32
#: The cofactor h of G1: #E(F_p) = h·r, gcd(h, r) = 1, so [h] kills every point's component outside
#: G1 and is one-to-one on G1 (h < r, so it is also a valid scalar).
G1_COFACTOR = 0x396C8C005555E1568C00AAAB0000AAAB


def inv(a: int) -> int:
    """Multiplicative inverse modulo r; ``a`` must be non-zero mod r."""
    a %= R
    if a == 0:
        raise ZeroDivisionError("zero has no inverse modulo r")
    return pow(a, -1, R)


def batch_inv(values: list[int]) -> list[int]:
    """Montgomery's trick: the inverses of many non-zero scalars with one modular inversion."""
    prefix = []
    acc = 1
    for v in values:
        prefix.append(acc)
        acc = acc * v % R
    acc_inv = inv(acc)
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i] = acc_inv * prefix[i] % R
        acc_inv = acc_inv * values[i] % R
    return out


def powers(base: int, count: int, start: int = 1) -> list[int]:
    """``[start, start*base, start*base^2, ...]`` with ``count`` entries, mod r."""
    out = []
    acc = start % R
    for _ in range(count):
        out.append(acc)
        acc = acc * base % R
    return out


def signed(a: int) -> int:
    """The representative of ``a`` mod r in ``(-r/2, r/2]`` (for readable bounds and messages)."""
    a %= R
    return a - R if a > R // 2 else a


def scalar_to_bytes(a: int) -> bytes:
    """Canonical 32-byte big-endian encoding of a scalar in [0, r)."""
    if not 0 <= a < R:
        raise ValueError("scalar out of range")
    return a.to_bytes(SCALAR_BYTES, "big")


def scalar_from_bytes(data: bytes, what: str = "scalar") -> int:
    """Strict decoding: exactly 32 bytes, big-endian, value < r (non-canonical encodings refused)."""
    if len(data) != SCALAR_BYTES:
        raise DecodeError(f"{what}: expected {SCALAR_BYTES} bytes, got {len(data)}")
    value = int.from_bytes(data, "big")
    if value >= R:
        raise DecodeError(f"{what}: non-canonical scalar (not below the group order)")
    return value
