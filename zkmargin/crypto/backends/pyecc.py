"""Pure-Python reference backend over ``py_ecc.optimized_bls12_381``.

Points are py_ecc's native G1 points: tuples ``(X, Y, Z)`` of ``FQ`` in homogeneous projective
coordinates (the affine point is ``(X/Z, Y/Z)``; the identity has ``Z = 0``). Every point this
backend returns from ``mul``, ``msm``, ``decode`` and ``hash_to_curve`` is normalised (``Z = 1``);
``add`` and ``neg`` may return any representative, which is why equality is projective.

The arithmetic does not go through py_ecc's ``FQ`` objects: it unwraps the coordinates to plain
ints once and works in Jacobian coordinates (``x = X/Z², y = Y/Z³``) with mixed Jacobian + affine
additions, reducing mod p only after products, and converts back at the end. That is ~4x faster
than py_ecc's own ``add``/``multiply``; on top of it

* ``mul`` and short MSMs (n <= ``STRAUS_MAX``) use Straus' interleaved width-5 wNAF: one shared
  chain of ~255 doublings, tables of odd multiples normalised with a single inversion (measured
  here it beats Pippenger up to ~48 points);
* longer MSMs use Pippenger's bucket method with signed window digits (2^(c-1) buckets per
  window), the window ``c`` chosen by a cost model from n and the longest scalar;
* the subgroup check on decode is Scott's endomorphism test (see :func:`_in_subgroup`).

The int arithmetic and the two MSM algorithms live in :mod:`.pyecc_ints`. Imports ``py_ecc``,
:mod:`zkmargin.errors`, :mod:`zkmargin.crypto.field`, :mod:`.base` and :mod:`.pyecc_ints`. Loaded
by :func:`zkmargin.crypto.backends.get_backend` on first use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from py_ecc.bls.hash_to_curve import hash_to_G1
from py_ecc.fields import optimized_bls12_381_FQ as FQ
from py_ecc.optimized_bls12_381 import G1 as _PY_G1
from py_ecc.optimized_bls12_381 import Z1 as _PY_Z1
from py_ecc.optimized_bls12_381 import field_modulus as P

from ...errors import DecodeError
from ..field import R
from .base import FLAG_SORT, IDENTITY_ENCODING, POINT_BYTES, GroupBackend, Point, encoding_x
from .pyecc_ints import (
    _INF,
    Aff,
    Jac,
    _batch_to_affine,
    _jadd,
    _pippenger,
    _straus,
    _to_affine,
)

#: Curve: y² = x³ + 4 over F_p.
B = 4
#: |x| for the BLS parameter x = -0xd201000000010000.
BLS_X_ABS = 0xD201000000010000
#: A primitive cube root of unity in F_p, chosen so that the endomorphism (x, y) -> (βx, y)
#: acts on G1 as multiplication by -x² (mod r). Checked against the generator in the tests.
BETA = 0x5F19672FDF76CE51BA69C6076A0F77EADDB3A93BE6F89688DE17D813620A00022E01FFFFFFFEFFFE

#: MSMs with at most this many (non-zero) terms use Straus instead of Pippenger.
STRAUS_MAX = 32

_HALF_P = (P - 1) // 2
_SQRT_EXP = (P + 1) // 4  # p ≡ 3 (mod 4)
_OVERSIZE_DST_PREFIX = b"H2C-OVERSIZE-DST-"


# --- conversions between py_ecc points and ints -------------------------------------------------


def _jac_of(p: Point) -> Jac:
    """py_ecc homogeneous (X/Z, Y/Z) -> Jacobian ints."""
    X, Y, Z = p[0].n, p[1].n, p[2].n
    if Z == 0:
        return _INF
    if Z == 1:
        return X, Y, 1
    return X * Z % P, Y * Z * Z % P, Z


def _pt_of_jac(j: Jac) -> Point:
    """Jacobian ints -> py_ecc point (homogeneous), without an inversion."""
    X, Y, Z = j
    if Z == 0:
        return _PY_Z1
    if Z == 1:
        return FQ(X), FQ(Y), FQ(1)
    return FQ(X * Z % P), FQ(Y), FQ(Z * Z * Z % P)


def _pt_of_affine(a: Aff | None) -> Point:
    if a is None:
        return _PY_Z1
    return FQ(a[0]), FQ(a[1]), FQ(1)


def _affine_of_pts(points: Sequence[Point]) -> list[Aff | None]:
    """py_ecc points -> list of affine int pairs (None for the identity), one inversion."""
    out: list[Aff | None] = [None] * len(points)
    todo_idx = []
    todo: list[Jac] = []
    for i, p in enumerate(points):
        X, Y, Z = p[0].n, p[1].n, p[2].n
        if Z == 0:
            continue
        if Z == 1:
            out[i] = (X, Y)
        else:
            todo_idx.append(i)
            todo.append((X * Z % P, Y * Z * Z % P, Z))
    if todo:
        for i, a in zip(todo_idx, _batch_to_affine(todo)):
            out[i] = a
    return out

def _msm_affine(affs: Sequence[Aff | None], scalars: Sequence[int]) -> Jac:
    """MSM over affine int points with scalars already reduced; skips zeros and identities."""
    pa: list[Aff] = []
    ps: list[int] = []
    for a, k in zip(affs, scalars):
        if k and a is not None:
            pa.append(a)
            ps.append(k)
    if not pa:
        return _INF
    if len(pa) <= STRAUS_MAX:
        return _straus(pa, ps)
    return _pippenger(pa, ps)


# --- subgroup check -----------------------------------------------------------------------------


def _in_subgroup(x: int, y: int) -> bool:
    """Is the affine curve point (x, y) in the prime-order subgroup G1?

    Scott's test (M. Scott, "A note on group membership tests for G1, G2 and GT on BLS
    pairing-friendly curves", ePrint 2021/1130, §6; the check blst and arkworks use for G1): with
    φ(x, y) = (βx, y), a point P of E(F_p) lies in G1 iff φ(P) = -[x²]P. On G1, φ is
    multiplication by a cube root of unity λ, and λ ≡ -x² (mod r) for our choice of β; the paper
    shows no point outside G1 satisfies the equation for BLS12-381's cofactor. Cost: one
    128-bit multiplication instead of a 255-bit one by r. The tests check it against [r]P = O on
    points in and out of G1.
    """
    X, Y, Z = _straus([(x, y)], [BLS_X_ABS * BLS_X_ABS])
    if Z == 0:
        return False  # [x²]P = O but φ(P) is never O for an affine point
    Z2 = Z * Z % P
    # [x²]P == -φ(P)  <=>  X/Z² == βx  and  Y/Z³ == -y
    return X == BETA * x % P * Z2 % P and Y == (P - y) * Z2 % P * Z % P


def _in_subgroup_by_order(x: int, y: int) -> bool:
    """Reference check [r]P = O (slower; used by the tests to cross-check :func:`_in_subgroup`)."""
    return _straus([(x, y)], [R])[2] == 0


def _encode_affine(a: Aff | None) -> bytes:
    if a is None:
        return IDENTITY_ENCODING
    x, y = a
    value = x | (1 << 383)
    if y > _HALF_P:
        value |= 1 << 381
    return value.to_bytes(POINT_BYTES, "big")


class PyEccBackend(GroupBackend):
    name = "py_ecc"

    def identity(self) -> Point:
        return _PY_Z1

    def generator(self) -> Point:
        return _PY_G1

    def add(self, p: Point, q: Point) -> Point:
        return _pt_of_jac(_jadd(*_jac_of(p), *_jac_of(q)))

    def neg(self, p: Point) -> Point:
        return p[0], -p[1], p[2]

    def sub(self, p: Point, q: Point) -> Point:
        X, Y, Z = _jac_of(q)
        return _pt_of_jac(_jadd(*_jac_of(p), X, (P - Y) % P, Z))

    def mul(self, p: Point, k: int) -> Point:
        k %= R
        a = _affine_of_pts([p])[0]
        if k == 0 or a is None:
            return _PY_Z1
        return _pt_of_affine(_to_affine(_straus([a], [k])))

    def msm(self, points: Sequence[Point], scalars: Sequence[int]) -> Point:
        if len(points) != len(scalars):
            raise ValueError("msm: points and scalars differ in length")
        if not points:
            return _PY_Z1
        reduced = [k % R for k in scalars]
        affs = _affine_of_pts([p for p, k in zip(points, reduced) if k])
        return _pt_of_affine(_to_affine(_msm_affine(affs, [k for k in reduced if k])))

    def eq(self, p: Point, q: Point) -> bool:
        X1: int = p[0].n
        Y1: int = p[1].n
        Z1: int = p[2].n
        X2: int = q[0].n
        Y2: int = q[1].n
        Z2: int = q[2].n
        if Z1 == 0 or Z2 == 0:
            return Z1 == Z2
        return X1 * Z2 % P == X2 * Z1 % P and Y1 * Z2 % P == Y2 * Z1 % P

    def is_identity(self, p: Point) -> bool:
        return bool(p[2].n == 0)

    def encode(self, p: Point) -> bytes:
        return _encode_affine(_affine_of_pts([p])[0])

    def decode(self, data: bytes, *, allow_identity: bool = False, subgroup: bool = True) -> Point:
        x = encoding_x(data, allow_identity=allow_identity)
        if x is None:
            return _PY_Z1
        flags = data[0]
        rhs = (x * x * x + B) % P
        y = pow(rhs, _SQRT_EXP, P)
        if y * y % P != rhs:
            raise DecodeError("point: not on the curve")
        if (y > _HALF_P) != bool(flags & FLAG_SORT):
            y = P - y
        if subgroup and not _in_subgroup(x, y):
            raise DecodeError("point: not in the prime-order subgroup")
        return FQ(x), FQ(y), FQ(1)

    def hash_to_curve(self, msg: bytes, dst: bytes) -> Point:
        dst = bytes(dst)
        if len(dst) > 255:  # RFC 9380 §5.3.3 (py_ecc refuses long tags; arkworks hashes them)
            dst = hashlib.sha256(_OVERSIZE_DST_PREFIX + dst).digest()
        # py_ecc annotates the hash argument as a hash object; it takes (and calls) the constructor
        point = hash_to_G1(bytes(msg), dst, hashlib.sha256)  # type: ignore[arg-type]
        return _pt_of_affine(_affine_of_pts([point])[0])
