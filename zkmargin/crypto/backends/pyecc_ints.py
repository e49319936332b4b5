"""BLS12-381 G1 arithmetic on plain ints for the reference backend (:mod:`.pyecc`).

Jacobian coordinates ``(X, Y, Z)`` with ``x = X/Z², y = Y/Z³`` (``Z = 0`` is the identity), mixed
Jacobian + affine additions, batch normalisation with one inversion, and the two multi-scalar
multiplications the backend chooses between: Straus' interleaved wNAF for short sums and
Pippenger's bucket method with signed digits for long ones. Inputs are affine points already
checked to lie in G1.

Imports ``py_ecc`` (the field modulus) only. Used by :mod:`.pyecc`.
"""

from __future__ import annotations

from collections.abc import Sequence

from py_ecc.optimized_bls12_381 import field_modulus as P

#: wNAF width used by Straus (tables of 2^(w-2) odd multiples).
WNAF_WIDTH = 5

#: Jacobian coordinates (X, Y, Z) and affine coordinates (x, y), as ints mod p.
Jac = tuple[int, int, int]
Aff = tuple[int, int]

_INF: Jac = (1, 1, 0)  # Jacobian identity (ints)


# --- Jacobian arithmetic on ints ---------------------------------------------------------------
# (X, Y, Z) with x = X/Z², y = Y/Z³; Z == 0 is the identity. Affine points are (x, y) pairs.


def _dbl(X: int, Y: int, Z: int) -> Jac:
    if Z == 0 or Y == 0:
        return _INF
    A = X * X % P
    Bb = Y * Y % P
    C = Bb * Bb % P
    D = 4 * X * Bb % P
    E = 3 * A
    X3 = (E * E - 2 * D) % P
    return X3, (E * (D - X3) - 8 * C) % P, 2 * Y * Z % P


def _madd(X1: int, Y1: int, Z1: int, x2: int, y2: int) -> Jac:
    """Jacobian + affine."""
    if Z1 == 0:
        return x2, y2, 1
    Z1Z1 = Z1 * Z1 % P
    H = (x2 * Z1Z1 - X1) % P
    Rr = (y2 * Z1 * Z1Z1 - Y1) % P
    if H == 0:
        return _dbl(X1, Y1, Z1) if Rr == 0 else _INF
    HH = H * H % P
    HHH = H * HH % P
    V = X1 * HH % P
    X3 = (Rr * Rr - HHH - 2 * V) % P
    return X3, (Rr * (V - X3) - Y1 * HHH) % P, Z1 * H % P


def _jadd(X1: int, Y1: int, Z1: int, X2: int, Y2: int, Z2: int) -> Jac:
    """Jacobian + Jacobian."""
    if Z1 == 0:
        return X2, Y2, Z2
    if Z2 == 0:
        return X1, Y1, Z1
    if Z2 == 1:
        return _madd(X1, Y1, Z1, X2, Y2)
    Z1Z1 = Z1 * Z1 % P
    Z2Z2 = Z2 * Z2 % P
    U1 = X1 * Z2Z2 % P
    S1 = Y1 * Z2 * Z2Z2 % P
    H = (X2 * Z1Z1 - U1) % P
    Rr = (Y2 * Z1 * Z1Z1 - S1) % P
    if H == 0:
        return _dbl(X1, Y1, Z1) if Rr == 0 else _INF
    HH = H * H % P
    HHH = H * HH % P
    V = U1 * HH % P
    X3 = (Rr * Rr - HHH - 2 * V) % P
    return X3, (Rr * (V - X3) - S1 * HHH) % P, Z1 * Z2 * H % P


def _batch_to_affine(jacs: Sequence[Jac]) -> list[Aff | None]:
    """Jacobian points (none the identity) to affine, with one field inversion."""
    prefix = []
    acc = 1
    for j in jacs:
        prefix.append(acc)
        acc = acc * j[2] % P
    inv = pow(acc, -1, P)
    out: list[Aff | None] = [None] * len(jacs)
    for i in range(len(jacs) - 1, -1, -1):
        X, Y, Z = jacs[i]
        zi = inv * prefix[i] % P
        inv = inv * Z % P
        zi2 = zi * zi % P
        out[i] = (X * zi2 % P, Y * zi2 * zi % P)
    return out


def _to_affine(j: Jac) -> Aff | None:
    X, Y, Z = j
    if Z == 0:
        return None
    if Z == 1:
        return X, Y
    zi = pow(Z, -1, P)
    zi2 = zi * zi % P
    return X * zi2 % P, Y * zi2 * zi % P


def _wnaf(k: int, w: int) -> list[int]:
    """Little-endian width-w NAF digits of k > 0 (odd digits in (-2^(w-1), 2^(w-1)))."""
    digits = []
    full = 1 << w
    half = full >> 1
    mask = full - 1
    while k:
        if k & 1:
            d = k & mask
            if d >= half:
                d -= full
            k -= d
        else:
            d = 0
        digits.append(d)
        k >>= 1
    return digits


def _straus(affs: Sequence[Aff], scalars: Sequence[int], w: int = WNAF_WIDTH) -> Jac:
    """Σ k_i·A_i for affine A_i and 0 < k_i, interleaved wNAF. Returns Jacobian ints."""
    size = 1 << (w - 2)  # odd multiples 1, 3, ..., 2^(w-1) - 1
    tables_j: list[list[Jac]] = []
    nafs = []
    for (x, y), k in zip(affs, scalars):
        nafs.append(_wnaf(k, w))
        row: list[Jac] = [(x, y, 1)]
        if size > 1:
            two = _dbl(x, y, 1)
            for _ in range(size - 1):
                row.append(_jadd(*row[-1], *two))
        tables_j.append(row)
    flat = [j for row in tables_j for j in row]
    # A multiple can be the identity only if the point has small order (not for G1 points).
    if any(j[2] == 0 for j in flat):
        flat_aff = [_to_affine(j) for j in flat]
    else:
        flat_aff = _batch_to_affine(flat)
    tables = [flat_aff[i * size : (i + 1) * size] for i in range(len(affs))]
    top = max(len(n) for n in nafs)
    acc = _INF
    for bit in range(top - 1, -1, -1):
        acc = _dbl(*acc)
        for naf, table in zip(nafs, tables):
            if bit < len(naf):
                d = naf[bit]
                if d:
                    if d > 0:
                        a = table[d >> 1]
                        if a is not None:
                            acc = _madd(*acc, a[0], a[1])
                    else:
                        a = table[(-d) >> 1]
                        if a is not None:
                            acc = _madd(*acc, a[0], P - a[1])
    return acc


# Relative costs (in field multiplications) for the Pippenger window model.
_COST_MADD, _COST_ADD, _COST_DBL = 11, 16, 6


def pippenger_window(n: int, bits: int) -> int:
    """The window c minimising the estimated cost of a signed-digit Pippenger MSM."""
    best_c, best = 1, None
    for c in range(1, 17):
        windows = -(-bits // c) + 1
        cost = windows * (n * _COST_MADD + 2 * (1 << (c - 1)) * _COST_ADD) + bits * _COST_DBL
        if best is None or cost < best:
            best_c, best = c, cost
    return best_c


def _pippenger(affs: Sequence[Aff], scalars: Sequence[int]) -> Jac:
    """Σ k_i·A_i for affine A_i and 0 < k_i < r (bucket method, signed digits). Jacobian ints."""
    n = len(affs)
    bits = max(k.bit_length() for k in scalars)
    c = pippenger_window(n, bits)
    full = 1 << c
    half = full >> 1
    mask = full - 1
    nwin = -(-bits // c) + 1
    rows = [[0] * n for _ in range(nwin)]
    for i, k in enumerate(scalars):
        w = 0
        while k:
            d = k & mask
            k >>= c
            if d > half:
                d -= full
                k += 1
            rows[w][i] = d
            w += 1
    negy = [P - y for _, y in affs]
    acc = _INF
    for w in range(nwin - 1, -1, -1):
        if acc[2]:
            for _ in range(c):
                acc = _dbl(*acc)
        row = rows[w]
        buckets: list[Jac | None] = [None] * (half + 1)
        for i in range(n):
            d = row[i]
            if not d:
                continue
            if d > 0:
                x, y = affs[i]
            else:
                d = -d
                x = affs[i][0]
                y = negy[i]
            b = buckets[d]
            buckets[d] = (x, y, 1) if b is None else _madd(b[0], b[1], b[2], x, y)
        running = _INF
        total = _INF
        for j in range(half, 0, -1):
            b = buckets[j]
            if b is not None:
                running = _jadd(*running, *b)
            if running[2]:
                total = _jadd(*total, *running)
        acc = _jadd(*acc, *total)
    return acc
