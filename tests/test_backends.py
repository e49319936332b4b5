"""One suite over every group backend (``zkmargin.crypto.backends.BACKENDS``).

Each test taking the ``backend`` fixture runs once per backend; cross-backend tests compare the
two on the same input bytes; a short section at the end checks internals of the pure-Python
reference backend (its subgroup test and its MSM paths). Every rejection is paired with a twin
acceptance of the nearest valid input, so a backend that rejects everything fails.

The py_ecc backend is ~1000x slower than arkworks, so property tests draw small sizes for it.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys

import py_ecc  # noqa: F401  (imported up front: it raises the recursion limit on import)
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkmargin.crypto.backends import BACKENDS, DEFAULT_BACKEND, ENV_VAR, POINT_BYTES, get_backend
from zkmargin.crypto.field import R
from zkmargin.errors import BackendError, DecodeError

# --- curve constants, stated independently of the backends ---------------------------------------

P = 0x1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB
COFACTOR = 0x396C8C005555E1568C00AAAB0000AAAB
GENERATOR_HEX = (
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
)
IDENTITY = bytes([0xC0]) + bytes(47)

# RFC 9380 Appendix J.9.1, suite BLS12381G1_XMD:SHA-256_SSWU_RO_ (affine P.x, P.y).
RFC_DST = b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_"
RFC_VECTORS = [
    (
        b"",
        0x052926ADD2207B76CA4FA57A8734416C8DC95E24501772C814278700EED6D1E4E8CF62D9C09DB0FAC349612B759E79A1,
        0x08BA738453BFED09CB546DBB0783DBB3A5F1F566ED67BB6BE0E8C67E2E81A4CC68EE29813BB7994998F3EAE0C9C6A265,
    ),
    (
        b"abc",
        0x03567BC5EF9C690C2AB2ECDF6A96EF1C139CC0B2F284DCA0A9A7943388A49A3AEE664BA5379A7655D3C68900BE2F6903,
        0x0B9C15F3FE6E5CF4211F346271D7B01C8F3B28BE689C8429C85B67AF215533311F0B8DFAAA154FA6B88176C229F2885D,
    ),
    (
        b"abcdef0123456789",
        0x11E0B079DEA29A68F0383EE94FED1B940995272407E3BB916BBF268C263DDD57A6A27200A784CBC248E84F357CE82D98,
        0x03A87AE2CAF14E8EE52E51FA2ED8EEFE80F02457004BA4D486D6AA1F517C0889501DC7413753F9599B099EBCBBD2D709,
    ),
]

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOWER = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.integers(min_value=0, max_value=R - 1),
    st.sampled_from([0, 1, 2, R - 1, R, R + 1, 2 * R - 1, 2**256 - 1]),
    st.integers(min_value=0, max_value=2**64),
)
nonzero = st.integers(min_value=1, max_value=R - 1)


def raw_encode(x: int, y: int) -> bytes:
    """Compressed encoding of an affine (x, y), whatever the subgroup (test-side, no backend)."""
    value = x | (1 << 383) | ((1 << 381) if y > (P - 1) // 2 else 0)
    return value.to_bytes(48, "big")


def curve_point_from(x: int) -> tuple[int, int]:
    """The first affine point of y² = x³ + 4 with abscissa >= x (no cofactor clearing)."""
    while True:
        rhs = (x**3 + 4) % P
        y = pow(rhs, (P + 1) // 4, P)
        if y * y % P == rhs:
            return x, y
        x += 1


def off_curve_x(x: int) -> int:
    """The first x' >= x for which x'³ + 4 is not a square (no point has that abscissa)."""
    while pow((x**3 + 4) % P, (P - 1) // 2, P) == 1:
        x += 1
    return x


def outcome(backend, data, allow_identity=False):
    """``("ok", re-encoding)`` or ``("reject",)``; anything but DecodeError propagates."""
    try:
        point = backend.decode(data, allow_identity=allow_identity)
    except DecodeError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("point:")
        return ("reject",)
    return ("ok", backend.encode(point))


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def backend(request):
    return get_backend(request.param)


@pytest.fixture(scope="module")
def ark():
    return get_backend("arkworks")


@pytest.fixture(scope="module")
def pyb():
    return get_backend("py_ecc")


@pytest.fixture(scope="module")
def pool_bytes(ark):
    """80 encodings of random G1 points (made with the fast backend)."""
    rng = random.Random(20240601)
    g = ark.generator()
    return [ark.encode(ark.mul(g, rng.randrange(1, R))) for _ in range(80)]


_pools: dict[str, list] = {}


@pytest.fixture(scope="module")
def pool(backend, pool_bytes):
    if backend.name not in _pools:
        _pools[backend.name] = [backend.decode(b) for b in pool_bytes]
    return _pools[backend.name]


def small(backend, arkworks_size: int, py_ecc_size: int) -> int:
    return py_ecc_size if backend.name == "py_ecc" else arkworks_size


# --- group laws ----------------------------------------------------------------------------------


@FAST
@given(a=nonzero, b=nonzero, c=nonzero)
def test_group_laws(backend, a, b, c):
    g = backend.generator()
    p, q, s = backend.mul(g, a), backend.mul(g, b), backend.mul(g, c)
    o = backend.identity()
    assert backend.eq(backend.add(backend.add(p, q), s), backend.add(p, backend.add(q, s)))
    assert backend.eq(backend.add(p, q), backend.add(q, p))
    assert backend.eq(backend.add(p, o), p) and backend.eq(backend.add(o, p), p)
    assert backend.is_identity(backend.add(p, backend.neg(p)))
    assert backend.eq(backend.add(backend.sub(p, q), q), p)
    assert backend.eq(backend.add(p, q), backend.mul(g, (a + b) % R))
    assert not backend.is_identity(p)  # twin of the inverse law


@FAST
@given(a=scalars, b=scalars, k=nonzero)
def test_mul_distributes(backend, a, b, k):
    g = backend.generator()
    p = backend.mul(g, k)
    q = backend.mul(g, k * 7 + 3)
    assert backend.eq(backend.mul(p, a + b), backend.add(backend.mul(p, a), backend.mul(p, b)))
    assert backend.eq(backend.mul(backend.add(p, q), a), backend.add(backend.mul(p, a), backend.mul(q, a)))
    assert backend.eq(backend.mul(backend.mul(p, a), b), backend.mul(p, a * b))


def test_mul_special_scalars(backend, pool):
    p = pool[0]
    assert backend.is_identity(backend.mul(p, 0))
    assert backend.eq(backend.mul(p, 1), p)
    assert backend.eq(backend.mul(p, R - 1), backend.neg(p))
    assert backend.eq(backend.mul(p, -1), backend.neg(p))
    assert backend.is_identity(backend.mul(p, R))
    assert backend.eq(backend.mul(p, R + 1), p)
    assert backend.eq(backend.mul(p, 2), backend.add(p, p))
    assert backend.is_identity(backend.mul(backend.identity(), 12345))
    assert backend.eq(backend.mul(backend.generator(), R), backend.identity())
    assert not backend.eq(backend.mul(p, 2), p)


def test_identity_and_generator(backend):
    o, g = backend.identity(), backend.generator()
    assert backend.is_identity(o) and not backend.is_identity(g)
    assert backend.encode(o) == IDENTITY
    assert backend.encode(g).hex() == GENERATOR_HEX
    assert backend.eq(o, backend.neg(o)) and not backend.eq(g, backend.neg(g))
    assert backend.eq(g, g) and not backend.eq(g, o) and not backend.eq(o, g)


def test_eq_is_projective(backend, pool):
    p, q, s = pool[:3]
    chained = backend.add(backend.add(p, q), s)
    assert backend.eq(chained, backend.msm([p, q, s], [1, 1, 1]))
    assert backend.encode(chained) == backend.encode(backend.msm([s, q, p], [1, 1, 1]))
    assert not backend.eq(chained, backend.add(p, q))
    if backend.name == "py_ecc":  # another representative of the same projective point
        from py_ecc.fields import optimized_bls12_381_FQ as FQ

        lam = FQ(0xC0FFEE)
        scaled = tuple(c * lam for c in p)
        assert scaled != p and backend.eq(scaled, p) and backend.encode(scaled) == backend.encode(p)
        assert not backend.eq(scaled, backend.neg(p))


# --- multi-scalar multiplication -----------------------------------------------------------------


def naive(backend, points, ks):
    total = backend.identity()
    for p, k in zip(points, ks):
        total = backend.add(total, backend.mul(p, k))
    return total


@FAST
@given(data=st.data())
def test_msm_matches_naive(backend, pool, data):
    n = data.draw(st.integers(min_value=0, max_value=small(backend, 70, 16)), label="n")
    idx = data.draw(st.lists(st.integers(0, len(pool) - 1), min_size=n, max_size=n), label="points")
    ks = data.draw(st.lists(scalars, min_size=n, max_size=n), label="scalars")
    points = [pool[i] for i in idx]
    assert backend.eq(backend.msm(points, ks), naive(backend, points, ks))


def test_msm_edge_cases(backend, pool):
    p, q = pool[0], pool[1]
    o = backend.identity()
    assert backend.is_identity(backend.msm([], []))
    assert backend.is_identity(backend.msm([p, q], [0, 0]))
    assert backend.is_identity(backend.msm([p, q], [R, 2 * R]))
    assert backend.eq(backend.msm([p, p, p], [1, 2, 3]), backend.mul(p, 6))
    assert backend.is_identity(backend.msm([p, backend.neg(p)], [5, 5]))
    assert backend.is_identity(backend.msm([p, p], [7, R - 7]))
    assert backend.eq(backend.msm([p], [R + 5]), backend.mul(p, 5))
    assert backend.eq(backend.msm([p, o, q], [3, 9, 0]), backend.mul(p, 3))
    assert backend.eq(backend.msm([p, q], [0, 4]), backend.mul(q, 4))  # twin: zeros skipped, not all
    with pytest.raises(ValueError):
        backend.msm([p, q], [1])


@pytest.mark.parametrize("n", [1, 3, 5, 33, 64, 129])
def test_msm_agrees_across_backends(ark, pyb, pool_bytes, n):
    rng = random.Random(n)
    enc = [rng.choice(pool_bytes[:12]) for _ in range(n)]  # repeats on purpose
    ks = [rng.choice([0, 1, R - 1, R + 3, rng.randrange(2**300), rng.randrange(R)]) for _ in range(n)]
    if n > 2:  # a cancelling pair and an identity term
        enc[1], ks[1] = enc[0], (-ks[0]) % R
        enc[2] = IDENTITY
    a = ark.msm([ark.decode(e, allow_identity=True) for e in enc], ks)
    b = pyb.msm([pyb.decode(e, allow_identity=True) for e in enc], ks)
    assert ark.encode(a) == pyb.encode(b)


# --- encoding and strict decoding ----------------------------------------------------------------


@FAST
@given(k=nonzero)
def test_encode_decode_round_trip(backend, k):
    p = backend.mul(backend.generator(), k)
    enc = backend.encode(p)
    assert isinstance(enc, bytes) and len(enc) == POINT_BYTES
    back = backend.decode(enc)
    assert backend.eq(back, p) and backend.encode(back) == enc
    assert backend.encode(backend.decode(bytearray(enc))) == enc
    assert backend.eq(backend.decode(backend.encode(backend.neg(p))), backend.neg(p))


@settings(max_examples=10, deadline=None)
@given(k=st.integers(min_value=1, max_value=2**40))
def test_encode_matches_py_ecc_compress_g1(backend, k):
    from py_ecc.bls.point_compression import compress_G1
    from py_ecc.optimized_bls12_381 import G1, multiply

    expected = compress_G1(multiply(G1, k)).to_bytes(48, "big")
    assert backend.encode(backend.mul(backend.generator(), k)) == expected


def test_decode_length(backend, pool_bytes):
    good = pool_bytes[0]
    for bad in (good[:47], good + b"\x00", b"", bytes(96)):
        with pytest.raises(DecodeError, match="expected 48 bytes"):
            backend.decode(bad)
    for bad in (good.hex(), memoryview(good), list(good), None):
        with pytest.raises(DecodeError):
            backend.decode(bad)
    assert backend.encode(backend.decode(good)) == good  # twin


def test_decode_off_curve(backend, pool_bytes):
    x = off_curve_x(5)
    for sort in (0, 1):
        with pytest.raises(DecodeError):
            backend.decode(((1 << 383) | (sort << 381) | x).to_bytes(48, "big"))
    assert outcome(backend, pool_bytes[1])[0] == "ok"  # twin


def test_decode_non_canonical_x(backend, pool_bytes):
    # A valid point whose x + p still fits in 381 bits: same residue, non-canonical bytes.
    good = next(e for e in pool_bytes if (int.from_bytes(e, "big") & ((1 << 381) - 1)) + P < 2**381)
    value = int.from_bytes(good, "big")
    with pytest.raises(DecodeError):
        backend.decode((value + P).to_bytes(48, "big"))
    with pytest.raises(DecodeError):
        backend.decode(((1 << 383) | ((1 << 381) - 1)).to_bytes(48, "big"))
    with pytest.raises(DecodeError):
        backend.decode(((1 << 383) | P).to_bytes(48, "big"))
    assert outcome(backend, good) == ("ok", good)  # twin


def test_decode_wrong_subgroup(backend):
    from py_ecc.fields import optimized_bls12_381_FQ as FQ
    from py_ecc.optimized_bls12_381 import is_inf, multiply, normalize

    x, y = curve_point_from(0x123456789ABCDEF)
    raw = (FQ(x), FQ(y), FQ(1))
    assert not is_inf(multiply(raw, R))  # really outside G1
    with pytest.raises(DecodeError, match="subgroup|not a valid"):
        backend.decode(raw_encode(x, y))
    with pytest.raises(DecodeError):
        backend.decode(raw_encode(x, P - y))
    # (0, ±2) is on the curve with order 3
    with pytest.raises(DecodeError):
        backend.decode(raw_encode(0, 2))
    # twin: clearing the cofactor puts the same curve point's multiple into G1
    cx, cy = normalize(multiply(raw, COFACTOR))
    cleared = raw_encode(cx.n, cy.n)
    assert outcome(backend, cleared) == ("ok", cleared)


def test_decode_identity(backend):
    with pytest.raises(DecodeError, match="identity"):
        backend.decode(IDENTITY)
    assert backend.is_identity(backend.decode(IDENTITY, allow_identity=True))  # twin
    assert outcome(backend, IDENTITY, allow_identity=True) == ("ok", IDENTITY)
    bad_identities = [
        bytes([0xE0]) + bytes(47),  # sort flag on the identity
        bytes([0xC0]) + bytes(46) + b"\x01",  # infinity flag with x != 0
        bytes([0xC1]) + bytes(47),
        b"\xff" * 48,
        bytes([0x40]) + bytes(47),  # infinity without the compression flag
        bytes(48),
    ]
    for bad in bad_identities:
        for allow in (False, True):
            with pytest.raises(DecodeError):
                backend.decode(bad, allow_identity=allow)


def test_decode_flags(backend, pool_bytes):
    good = pool_bytes[2]
    point = backend.decode(good)
    with pytest.raises(DecodeError):
        backend.decode(bytes([good[0] & 0x7F]) + good[1:])  # compression flag cleared
    with pytest.raises(DecodeError):
        backend.decode(bytes([good[0] | 0x40]) + good[1:], allow_identity=True)  # infinity flag set
    flipped = bytes([good[0] ^ 0x20]) + good[1:]  # twin: sort flag selects the other root
    assert backend.eq(backend.decode(flipped), backend.neg(point))


# --- decoding parity between the backends (property-based) --------------------------------------


def assert_same_outcome(ark, pyb, data):
    for allow in (False, True):
        a, b = outcome(ark, data, allow), outcome(pyb, data, allow)
        assert a == b, (data.hex(), allow, a, b)
        if a[0] == "ok":
            assert a[1] == bytes(data)


@SLOWER
@given(data=st.binary(min_size=48, max_size=48), flags=st.integers(0, 7) | st.none())
def test_decode_parity_random_bytes(ark, pyb, data, flags):
    if flags is not None:
        data = bytes([(data[0] & 0x1F) | (flags << 5)]) + data[1:]
    assert_same_outcome(ark, pyb, data)


@SLOWER
@given(k=nonzero, data=st.data())
def test_decode_parity_mutations(ark, pyb, k, data):
    enc = bytearray(ark.encode(ark.mul(ark.generator(), k)))
    kind = data.draw(st.sampled_from(["bit", "byte", "flags", "none"]), label="kind")
    if kind == "bit":
        bit = data.draw(st.integers(0, 383), label="bit")
        enc[bit // 8] ^= 1 << (bit % 8)
    elif kind == "byte":
        enc[data.draw(st.integers(0, 47), label="i")] = data.draw(st.integers(0, 255), label="v")
    elif kind == "flags":
        enc[0] = (enc[0] & 0x1F) | (data.draw(st.integers(0, 7), label="f") << 5)
    assert_same_outcome(ark, pyb, bytes(enc))


@FAST
@given(x=st.integers(min_value=P, max_value=2**381 - 1), flags=st.integers(0, 7))
def test_decode_parity_x_at_least_p(ark, pyb, x, flags):
    data = ((flags << 381) | x).to_bytes(48, "big")
    assert_same_outcome(ark, pyb, data)
    assert outcome(ark, data, True) == ("reject",)


@FAST
@given(x=st.integers(min_value=0, max_value=P - 1), sort=st.booleans())
def test_decode_parity_curve_points_outside_g1(ark, pyb, x, sort):
    x, y = curve_point_from(x)
    data = raw_encode(x, P - y if sort else y)
    assert_same_outcome(ark, pyb, data)


# --- hash to curve -------------------------------------------------------------------------------


@pytest.mark.parametrize("msg,x,y", RFC_VECTORS, ids=["empty", "abc", "abcdef0123456789"])
def test_hash_to_curve_rfc9380_vectors(backend, msg, x, y):
    assert (y * y - x**3 - 4) % P == 0
    point = backend.hash_to_curve(msg, RFC_DST)
    assert backend.encode(point) == raw_encode(x, y)
    assert backend.encode(backend.hash_to_curve(msg, RFC_DST + b"!")) != raw_encode(x, y)  # twin


@settings(max_examples=15, deadline=None)
@given(msg=st.binary(max_size=80), dst=st.binary(min_size=1, max_size=64))
def test_hash_to_curve_agrees_across_backends(ark, pyb, msg, dst):
    assert ark.encode(ark.hash_to_curve(msg, dst)) == pyb.encode(pyb.hash_to_curve(msg, dst))


@pytest.mark.parametrize("dst_len", [255, 256, 300])
def test_hash_to_curve_long_dst(ark, pyb, dst_len):
    # RFC 9380 §5.3.3: tags over 255 bytes are replaced by H("H2C-OVERSIZE-DST-" || DST).
    dst = bytes(range(256)) * 2
    dst = dst[:dst_len]
    a = ark.encode(ark.hash_to_curve(b"m", dst))
    assert a == pyb.encode(pyb.hash_to_curve(b"m", dst))
    if dst_len > 255:
        short = hashlib.sha256(b"H2C-OVERSIZE-DST-" + dst).digest()
        assert a == ark.encode(ark.hash_to_curve(b"m", short))


def test_hash_to_curve_in_subgroup(backend):
    p = backend.hash_to_curve(b"zkmargin", b"zkmargin-test")
    assert not backend.is_identity(p)
    assert backend.is_identity(backend.mul(p, R)) and backend.is_identity(backend.msm([p], [R]))
    enc = backend.encode(p)
    assert backend.encode(backend.decode(enc)) == enc


# --- cross-backend -------------------------------------------------------------------------------


@pytest.mark.parametrize("src,dst", [("arkworks", "py_ecc"), ("py_ecc", "arkworks")])
@FAST
@given(k=scalars)
def test_encoding_crosses_backends(src, dst, k):
    a, b = get_backend(src), get_backend(dst)
    enc = a.encode(a.mul(a.generator(), k))
    assert b.encode(b.decode(enc, allow_identity=True)) == enc
    assert b.encode(b.mul(b.generator(), k)) == enc


# --- backend selection ---------------------------------------------------------------------------


def test_get_backend_by_name():
    for name in BACKENDS:
        b = get_backend(name)
        assert b.name == name and get_backend(name) is b and get_backend(b) is b


def test_get_backend_environment(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert get_backend().name == DEFAULT_BACKEND == "arkworks"
    monkeypatch.setenv(ENV_VAR, "py_ecc")
    assert get_backend().name == "py_ecc"
    assert get_backend("arkworks").name == "arkworks"  # an explicit argument wins
    monkeypatch.setenv(ENV_VAR, "nope")
    with pytest.raises(BackendError) as exc:
        get_backend()
    assert exc.value.source == ENV_VAR and "nope" in str(exc.value)
    assert get_backend("py_ecc").name == "py_ecc"  # twin


def test_unknown_backend():
    with pytest.raises(BackendError, match="unknown backend 'bn254'"):
        get_backend("bn254")
    assert get_backend("arkworks").name == "arkworks"  # twin


@pytest.mark.slow
def test_backends_imported_only_when_used():
    code = (
        "import sys, zkmargin, zkmargin.crypto.backends as b\n"
        "mods = lambda: {m for m in ('py_arkworks_bls12381', 'zkmargin.crypto.backends.arkworks',"
        " 'zkmargin.crypto.backends.pyecc', 'py_ecc') if m in sys.modules}\n"
        "assert mods() == set(), mods()\n"
        "b.get_backend('py_ecc')\n"
        "assert mods() == {'zkmargin.crypto.backends.pyecc', 'py_ecc'}, mods()\n"
        "b.get_backend('arkworks')\n"
        "assert 'py_arkworks_bls12381' in mods(), mods()\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


# --- internals of the pure-Python reference backend ----------------------------------------------


def test_pyecc_endomorphism_constant():
    from zkmargin.crypto.backends import pyecc

    assert pyecc.BETA != 1 and pow(pyecc.BETA, 3, P) == 1
    assert (pyecc.BLS_X_ABS**4 - pyecc.BLS_X_ABS**2 + 1) == R  # r = x⁴ - x² + 1
    from py_ecc.optimized_bls12_381 import G1, multiply, neg, normalize

    gx, gy = (c.n for c in normalize(G1))
    assert pyecc._in_subgroup(gx, gy)
    # φ(G) = (βx, y) is -[x²]G: the eigenvalue the subgroup test relies on
    qx, qy = normalize(neg(multiply(G1, pyecc.BLS_X_ABS**2)))
    assert (pyecc.BETA * gx % P, gy) == (qx.n, qy.n)


@FAST
@given(x=st.integers(min_value=0, max_value=P - 1), k=nonzero)
def test_pyecc_subgroup_check_matches_order_check(x, k):
    from zkmargin.crypto.backends import pyecc

    x, y = curve_point_from(x)
    assert pyecc._in_subgroup(x, y) == pyecc._in_subgroup_by_order(x, y) is False
    # the cofactor-cleared multiple, and a multiple of the generator, are in G1
    cleared = pyecc._to_affine(pyecc._straus([(x, y)], [COFACTOR]))
    if cleared is not None:  # None: (x, y) had order dividing the cofactor, e.g. (0, 2)
        assert pyecc._in_subgroup(*cleared) and pyecc._in_subgroup_by_order(*cleared)
    g = pyecc._affine_of_pts([pyecc.PyEccBackend().mul(pyecc.PyEccBackend().generator(), k)])[0]
    assert pyecc._in_subgroup(*g)


@pytest.mark.parametrize("n", [1, 2, 5, 9, 17])
def test_pyecc_msm_paths_agree(pyb, pool_bytes, n, monkeypatch):
    from py_ecc.optimized_bls12_381 import add, multiply

    from zkmargin.crypto.backends import pyecc, pyecc_ints

    rng = random.Random(100 + n)
    points = [pyb.decode(rng.choice(pool_bytes[:6])) for _ in range(n)]
    ks = [rng.choice([rng.randrange(R), rng.randrange(2**20), R - 1]) for _ in range(n)]
    expected = pyb.identity()
    for p, k in zip(points, ks):  # py_ecc's own double-and-add, independent of the backend
        expected = add(expected, multiply(p, k))
    straus = pyb.msm(points, ks)
    monkeypatch.setattr(pyecc, "STRAUS_MAX", 0)
    pippenger = pyb.msm(points, ks)
    assert pyb.eq(straus, expected) and pyb.eq(pippenger, expected)
    for bits in (1, 8, 64, 255):
        assert 1 <= pyecc_ints.pippenger_window(n, bits) <= 16
