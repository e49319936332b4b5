"""The verifier's scalar vectors: one parametrized suite over both :class:`ScalarOps`.

``IntOps`` (Python ints, the reference) and ``FrVecOps`` (the C extension ``_frvec`` over packed
Montgomery-form bytes) must give the same integers for every operation, on random vectors and at
the edges (0, 1, r − 1); both refuse what they cannot compute (lengths that differ, an index
outside the vector, an element not below r) with ValueError instead of reading out of bounds.
Each agreement test has a twin showing that the comparison can fail.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkmargin.crypto import fr_vectors
from zkmargin.crypto.field import R
from zkmargin.crypto.fr_vectors import FrVecOps
from zkmargin.crypto.scalar_ops import INT_OPS, le_ints

EDGES = [0, 1, 2, R - 1, R - 2, (R - 1) // 2, 1 << 128, (1 << 255) % R]
scalars = st.one_of(st.sampled_from(EDGES), st.integers(min_value=0, max_value=R - 1))


def test_the_extension_is_built():
    """CI builds it (pyproject's ext-modules); without it the verifier silently runs ~30× slower."""
    assert fr_vectors.available()
    from zkmargin.crypto.backends import get_backend

    assert get_backend("arkworks").scalar_ops.name == "frvec"


@pytest.fixture(params=["int", "frvec"])
def ops(request):
    return INT_OPS if request.param == "int" else FrVecOps()


def _ints(a: list[int]) -> list[int]:
    return [k % R for k in a]


@settings(max_examples=60, deadline=None)
@given(a=st.lists(scalars, min_size=0, max_size=40), data=st.data())
def test_elementwise_operations_agree_with_ints(a, data):
    b = data.draw(st.lists(scalars, min_size=len(a), max_size=len(a)))
    c = data.draw(scalars)
    f = FrVecOps()
    fa, fb = f.from_ints(a), f.from_ints(b)
    assert f.to_ints(f.mul(fa, fb)) == [x * y % R for x, y in zip(a, b)]
    assert f.to_ints(f.add(fa, fb)) == [(x + y) % R for x, y in zip(a, b)]
    assert f.to_ints(f.sub(fa, fb)) == [(x - y) % R for x, y in zip(a, b)]
    assert f.to_ints(f.neg(fa)) == [(-x) % R for x in a]
    assert f.to_ints(f.scale(fa, c)) == [x * c % R for x in a]
    assert f.dot(fa, fb) == sum(x * y for x, y in zip(a, b)) % R
    assert f.total(fa) == sum(a) % R
    assert f.to_le(fa) == b"".join(x.to_bytes(32, "little") for x in a)
    assert f.to_ints(f.from_le(f.to_le(fa))) == a


def test_elementwise_twin_a_wrong_product_is_noticed():
    f = FrVecOps()
    a, b = [3, R - 1], [5, R - 1]
    assert f.to_ints(f.mul(f.from_ints(a), f.from_ints(b))) == [15, 1]
    assert f.to_ints(f.mul(f.from_ints(a), f.from_ints(b))) != [15, R - 1]


@settings(max_examples=30, deadline=None)
@given(base=scalars, start=scalars, count=st.integers(0, 70), factors=st.lists(scalars, max_size=6))
def test_powers_and_doubling_agree_with_ints(base, start, count, factors):
    f = FrVecOps()
    assert f.to_ints(f.powers(base, count, start)) == INT_OPS.powers(base, count, start)
    want = [start * _prod(factors, i) % R for i in range(1 << len(factors))]
    assert f.to_ints(f.doubling(start, factors)) == INT_OPS.doubling(start, factors) == want


def _prod(factors: list[int], i: int) -> int:
    out = 1
    for j, x in enumerate(factors):
        if i >> j & 1:
            out = out * x % R
    return out


@settings(max_examples=40, deadline=None)
@given(v=st.lists(scalars, min_size=1, max_size=30), data=st.data())
def test_take_and_segment_sums_agree_with_ints(v, data):
    idx = data.draw(st.lists(st.integers(0, len(v) - 1), max_size=60))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(idx)), min_size=2, max_size=20)))
    starts, ends = cuts[:-1], cuts[1:]
    want = [sum(v[idx[k]] for k in range(s, e)) % R for s, e in zip(starts, ends)]
    for ops in (INT_OPS, FrVecOps()):
        vec = ops.from_ints(v)
        assert ops.to_ints(ops.take(vec, ops.index(idx))) == [v[i] for i in idx]
        got = ops.segment_sums(vec, ops.index(idx), ops.index(starts), ops.index(ends))
        assert ops.to_ints(got) == want


def test_segment_sums_twin_a_segment_counts():
    for ops in (INT_OPS, FrVecOps()):
        vec = ops.from_ints([10, 20, 30])
        assert ops.to_ints(ops.segment_sums(vec, ops.index([0, 2, 1]), ops.index([0, 1]), ops.index([1, 3]))) == [10, 50]
        assert ops.to_ints(ops.segment_sums(vec, ops.index([0, 2, 1]), ops.index([0, 0]), ops.index([1, 3]))) == [10, 60]


def test_shape_operations(ops):
    v = ops.from_ints([1, 2, 3, 4])
    assert ops.length(v) == 4
    assert ops.to_ints(ops.slice(v, 1, 3)) == [2, 3]
    assert ops.to_ints(ops.concat(v, ops.fill(7, 2))) == [1, 2, 3, 4, 7, 7]
    assert ops.to_ints(ops.fill(R + 5, 3)) == [5, 5, 5]
    assert ops.to_ints(ops.from_ints([-1])) == [R - 1]


@pytest.mark.parametrize("call", [
    lambda o: o.mul(o.from_ints([1, 2]), o.from_ints([1])),
    lambda o: o.add(o.from_ints([1]), o.from_ints([1, 2])),
    lambda o: o.dot(o.from_ints([1, 2]), o.from_ints([1])),
    lambda o: o.take(o.from_ints([1, 2]), o.index([2])),
    lambda o: o.take(o.from_ints([1, 2]), o.index([-1])),
    lambda o: o.segment_sums(o.from_ints([1]), o.index([0]), o.index([0]), o.index([2])),
    lambda o: o.segment_sums(o.from_ints([1]), o.index([0]), o.index([1]), o.index([0])),
    lambda o: o.segment_sums(o.from_ints([1]), o.index([1]), o.index([0]), o.index([1])),
    lambda o: o.segment_sums(o.from_ints([1]), o.index([0]), o.index([0, 0]), o.index([1])),
    lambda o: o.from_le(R.to_bytes(32, "little")),
    lambda o: o.from_le(b"\x00" * 31),
], ids=["mul-lengths", "add-lengths", "dot-lengths", "take-past-end", "take-negative", "segment-past-end",
        "segment-reversed", "segment-index-out", "segments-unpaired", "not-below-r", "not-32-bytes"])
def test_malformed_calls_are_refused(ops, call):
    with pytest.raises(ValueError):
        call(ops)


def test_malformed_twin_the_same_calls_well_formed(ops):
    assert ops.to_ints(ops.take(ops.from_ints([1, 2]), ops.index([1]))) == [2]
    assert ops.from_le((R - 1).to_bytes(32, "little")) is not None
    assert le_ints(ops.to_le(ops.from_le((R - 1).to_bytes(32, "little")))) == [R - 1]


def test_the_extension_refuses_a_buffer_that_is_not_a_vector():
    ext = fr_vectors._ext
    assert ext is not None
    with pytest.raises(ValueError, match="multiple of 32"):
        ext.mul(b"\x00" * 33, b"\x00" * 33)
    with pytest.raises(ValueError, match="scalar is 32 bytes"):
        ext.scale(b"\x00" * 32, b"\x00" * 64)
    with pytest.raises(ValueError, match="at most 2\\^30"):
        ext.doubling(b"\x00" * 32, b"\x00" * 32 * 31)
    with pytest.raises(TypeError):
        ext.add("not bytes", b"")
    assert ext.mul(b"", b"") == b""  # twin: the empty vector is a vector
