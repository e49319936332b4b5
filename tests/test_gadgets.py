"""Gadgets (circuits/gadgets.py) and the builder's no-wrap guard (circuits/cs.py).

Every gadget is shown both ways: a satisfying witness proves and the proof verifies through bytes
against the circuit rebuilt in verifier mode; an unsatisfying one is refused by the prover with an
UnsatisfiedError naming the gadget's label (and no private value), and a proof forced out of the
prover with ``check=False`` is rejected by the verifier.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import r1cs_helpers as H  # noqa: E402

from zkmargin.circuits.cs import ConstraintSystem, Variable  # noqa: E402
from zkmargin.circuits.gadgets import (  # noqa: E402
    MAX_RANGE_BITS,
    abs_value,
    bits_for,
    boolean,
    geq,
    product,
    range_check,
    signed_range,
    unsigned,
)
from zkmargin.crypto.field import R  # noqa: E402
from zkmargin.errors import (  # noqa: E402
    CircuitError,
    OverflowRiskError,
    UnsatisfiedError,
    VerificationError,
    ZkMarginError,
)
from zkmargin.prover.r1cs import prove  # noqa: E402

# --- boolean ------------------------------------------------------------------------------------------


def boolean_circuit(cs):
    v = cs.inputs[0]
    b = boolean(cs, H.witness(cs, lambda: cs.value(v)), "flag")
    cs.constrain(b - v, "flag is v0")


@pytest.mark.parametrize("value", [0, 1])
def test_boolean_accepts_bits(value):
    made = H.prove_and_verify(boolean_circuit, [value])
    assert made.gates == 1


@pytest.mark.parametrize("value", [2, -1, R // 2])
def test_boolean_refuses_non_bits(value):
    H.assert_refused(boolean_circuit, [value], "flag", secret_values=[value])


# --- range_check ------------------------------------------------------------------------------------


def range_circuit(bits):
    def build(cs):
        range_check(cs, cs.inputs[0], bits, "balance")

    return build


@pytest.mark.parametrize("bits", [1, 8, 64])
@pytest.mark.parametrize("which", ["zero", "max"])
def test_range_check_accepts_boundaries(bits, which):
    value = 0 if which == "zero" else (1 << bits) - 1
    made = H.prove_and_verify(range_circuit(bits), [value])
    assert made.gates == bits


@pytest.mark.parametrize("bits", [1, 8, 64])
@pytest.mark.parametrize("which", ["two_to_k", "minus_one"])
def test_range_check_refuses_just_outside(bits, which):
    value = (1 << bits) if which == "two_to_k" else -1
    msg = H.assert_refused(range_circuit(bits), [value], "balance", secret_values=[value])
    assert f"{bits} bits" in msg


def test_unsigned_boundaries():
    def build(value):
        def b(cs):
            unsigned(cs, H.witness(cs, lambda: value), 8, "qty")

        return b

    H.prove_and_verify(build(255), [])
    H.assert_refused(build(256), [], "qty", secret_values=[256])


def test_range_width_limits():
    cs = ConstraintSystem.for_verifier(4)
    for bad in (0, -1, MAX_RANGE_BITS + 1):
        with pytest.raises(CircuitError, match="width"):
            range_check(cs, cs.inputs[0], bad, "w")
    # twin: the extremes are accepted
    range_check(cs, cs.inputs[1], 1, "w1")
    range_check(cs, cs.inputs[2], MAX_RANGE_BITS, "w250")
    assert MAX_RANGE_BITS == 250


def test_signed_range_width_zero_is_a_circuit_error():
    cs = ConstraintSystem.for_verifier(1)
    with pytest.raises(CircuitError, match="width"):
        signed_range(cs, cs.inputs[0], 0, "pnl")


def test_signed_range_width_limits_twin():
    cs = ConstraintSystem.for_verifier(2)
    with pytest.raises(CircuitError, match="width"):
        signed_range(cs, cs.inputs[0], MAX_RANGE_BITS + 1, "pnl")
    signed_range(cs, cs.inputs[1], 1, "pnl")


# --- signed_range ----------------------------------------------------------------------------------


def signed_circuit(bits):
    def build(cs):
        signed_range(cs, cs.inputs[0], bits, "pnl")

    return build


@pytest.mark.parametrize("bits,value", [(8, -128), (8, 127), (8, 0), (1, -1), (1, 0)])
def test_signed_range_accepts_boundaries(bits, value):
    H.prove_and_verify(signed_circuit(bits), [value])


@pytest.mark.parametrize("bits,value", [(8, -129), (8, 128), (1, 1), (1, -2)])
def test_signed_range_refuses_just_outside(bits, value):
    H.assert_refused(signed_circuit(bits), [value], "pnl")


def test_signed_range_records_the_bound():
    cs = ConstraintSystem.for_verifier(1)
    signed_range(cs, cs.inputs[0], 8, "pnl")
    assert cs.bound(cs.inputs[0]) == (-128, 127)


# --- abs_value ----------------------------------------------------------------------------------


def abs_circuit(bits, claimed_abs, claimed_sign):
    """|v0| and its sign, compared with public claims."""

    def build(cs):
        mag, s = abs_value(cs, cs.inputs[0], bits, "size")
        cs.constrain(mag - claimed_abs, "claimed |size|")
        cs.constrain(s - claimed_sign, "claimed sign")

    return build


@pytest.mark.parametrize("x", [5, -5, 0, 255, -255, 1, -1])
def test_abs_value(x):
    build = abs_circuit(8, abs(x), int(x < 0))
    cs = H.prover_cs(build, [x])
    mag, s = abs_value(cs, cs.inputs[0], 8, "again")
    assert cs.value(mag) == abs(x) and cs.value(s) == int(x < 0)
    made = H.prove_and_verify(build, [x])
    assert made.gates == 8 + 2


@pytest.mark.parametrize("x", [256, -256, 1000, -(1 << 20)])
def test_abs_value_refuses_out_of_range(x):
    msg = H.assert_refused(abs_circuit(8, abs(x) % 256, int(x < 0)), [x], "size |x|", secret_values=[x])
    assert "8 bits" in msg


@pytest.mark.parametrize("x,claim", [(-5, (5, 0)), (5, (5, 1)), (-5, (4, 1)), (0, (0, 1))])
def test_abs_value_twin_wrong_claims_refused(x, claim):
    H.assert_refused(abs_circuit(8, *claim), [x], "claimed")


def test_abs_value_bounds_its_input():
    cs = ConstraintSystem.for_verifier(1)
    abs_value(cs, cs.inputs[0], 8, "size")
    assert cs.bound(cs.inputs[0]) == (-255, 255)


# --- geq --------------------------------------------------------------------------------------------


def geq_circuit(cs):
    a, b = cs.inputs
    range_check(cs, a, 16, "equity")
    range_check(cs, b, 16, "requirement")
    geq(cs, a, b, 16, "equity >= requirement")


@pytest.mark.parametrize("a,b", [(1000, 1000), (1001, 1000), ((1 << 16) - 1, 0), (0, 0)])
def test_geq_accepts(a, b):
    H.prove_and_verify(geq_circuit, [a, b])


@pytest.mark.parametrize("a,b", [(999, 1000), (0, (1 << 16) - 1), (0, 1)])
def test_geq_refuses_one_below(a, b):
    H.assert_refused(geq_circuit, [a, b], "equity >= requirement", secret_values=[a, b])


def test_geq_with_public_constant():
    def build(cs):
        range_check(cs, cs.inputs[0], 16, "x")
        geq(cs, cs.inputs[0], 1234, 16, "x >= 1234")

    H.prove_and_verify(build, [1234])
    H.assert_refused(build, [1233], "x >= 1234")


def test_geq_unbounded_refused():
    cs = ConstraintSystem.for_verifier(2)
    with pytest.raises(CircuitError, match="unbounded"):
        geq(cs, cs.inputs[0], cs.inputs[1], 16, "cmp")
    # twin: once both are range-checked the comparison is accepted
    range_check(cs, cs.inputs[0], 16, "a")
    range_check(cs, cs.inputs[1], 16, "b")
    geq(cs, cs.inputs[0], cs.inputs[1], 16, "cmp")


# --- product ----------------------------------------------------------------------------------------


def product_circuit(cs):
    a, b, c = cs.inputs
    p = product(cs, a + 1, 2 * b - 3)
    cs.constrain(p - c, "notional = (a+1)(2b-3)")


def test_product():
    H.prove_and_verify(product_circuit, [6, 7, 7 * 11])
    H.prove_and_verify(product_circuit, [-1, 100, 0])


def test_product_refuses_wrong_result():
    H.assert_refused(product_circuit, [6, 7, 7 * 11 + 1], "notional")


# --- verifier mode builds the same circuit -----------------------------------------------------------


@pytest.mark.parametrize(
    "build,values",
    [
        (boolean_circuit, [1]),
        (range_circuit(8), [3]),
        (signed_circuit(8), [-3]),
        (abs_circuit(8, 3, 1), [-3]),
        (geq_circuit, [3, 2]),
        (product_circuit, [1, 2, 2]),
    ],
)
def test_prover_and_verifier_build_identical_circuits(build, values):
    p, v = H.prover_cs(build, values), H.verifier_cs(build, len(values))
    assert (p.n, p.m, len(p.constraints)) == (v.n, v.m, len(v.constraints))
    assert p.digest() == v.digest()
    assert v.a_L == v.a_R == v.a_O == [] or not any(v.a_L + v.a_R + v.a_O)


# --- the no-wrap guard ------------------------------------------------------------------------------


def test_range_over_two_unbounded_wires_refused():
    cs = ConstraintSystem.for_verifier(2)
    x, y = cs.inputs
    with pytest.raises(CircuitError, match="unbounded") as info:
        range_check(cs, x + y, 8, "sum")
    assert not isinstance(info.value, OverflowRiskError)
    with pytest.raises(CircuitError, match="unbounded"):
        range_check(cs, 2 * x, 8, "double")  # a non-unit coefficient cannot define x's range


def test_range_over_one_unbounded_wire_twin_accepted_and_defines_its_bound():
    cs = ConstraintSystem.for_verifier(2)
    x, y = cs.inputs
    range_check(cs, y, 8, "y")
    range_check(cs, x + y, 8, "x+y")  # x = s − y ∈ [−255, 255]
    assert cs.bound(x) == (-255, 255)
    cs2 = ConstraintSystem.for_verifier(1)
    range_check(cs2, 300 - cs2.inputs[0], 8, "300-x")  # coefficient −1 is a unit too
    assert cs2.bound(cs2.inputs[0]) == (300 - 255, 300)


def wide_product(cs):
    """p = x·y with x, y < 2^100, so p < 2^200."""
    x, y = cs.inputs[:2]
    range_check(cs, x, 100, "x")
    range_check(cs, y, 100, "y")
    p = product(cs, x, y)
    assert cs.bound(p) == (0, ((1 << 100) - 1) ** 2)
    return p


def test_scaled_product_that_could_wrap_refused():
    cs = ConstraintSystem.for_verifier(2)
    p = wide_product(cs)
    with pytest.raises(OverflowRiskError, match="wrap"):
        range_check(cs, p * (1 << 100), 250, "p·2^100")
    with pytest.raises(OverflowRiskError):
        range_check(cs, -(p * (1 << 53)) * 4, 250, "-4·p·2^53")  # wraps below zero


def test_sum_of_many_that_could_wrap_refused():
    cs = ConstraintSystem.for_verifier(2)
    p = wide_product(cs)
    total = p * (1 << 53)
    for _ in range(3):
        total = total + p * (1 << 53)
    with pytest.raises(OverflowRiskError):
        range_check(cs, total, 250, "Σ 4·p·2^53")  # up to 2^255 > r


def test_no_wrap_twin_safe_combinations_accepted():
    cs = ConstraintSystem.for_verifier(2)
    p = wide_product(cs)
    range_check(cs, p, 200, "p")
    range_check(cs, p * (1 << 53), 250, "p·2^53")  # < 2^253 < r
    range_check(cs, -(p * (1 << 53)), 250, "-p·2^53")
    total = p * (1 << 52)
    for _ in range(3):
        total = total + p * (1 << 52)
    range_check(cs, total, 250, "Σ 4·p·2^52")  # < 2^254 < r


@pytest.mark.parametrize(
    "lo,hi,bits,ok",
    [
        (0, R - 1, 8, True),  # hi < r: no other representative
        (1, R, 8, False),  # hi = r ≡ 0: r and 0 collide
        (256 - R, 0, 8, True),  # lo − 255 > −r
        (255 - R, 0, 8, False),  # 255 − r ≡ 255
    ],
)
def test_no_wrap_exact_boundaries(lo, hi, bits, ok):
    cs = ConstraintSystem.for_verifier(1)
    x = cs.inputs[0]
    cs.set_bound(x, lo, hi)
    if ok:
        range_check(cs, x, bits, "edge")
    else:
        with pytest.raises(OverflowRiskError):
            range_check(cs, x, bits, "edge")


def test_set_bound_wider_than_r_refused():
    cs = ConstraintSystem.for_verifier(1)
    with pytest.raises(OverflowRiskError):
        cs.set_bound(cs.inputs[0], 0, R)
    cs.set_bound(cs.inputs[0], 0, R - 1)  # twin


# A product whose interval is wider than r loses its bound in ConstraintSystem.multiply, after
# which range_check treats the product wire as a *free* wire and accepts the check: the circuit then
# proves "x·y mod r is small", not "x·y is small".


def overflowing_product(order):
    def build(cs):
        x, y = cs.inputs[:2]
        if order == "bounded-first":
            range_check(cs, x, 128, "x")
            range_check(cs, y, 128, "y")
            p = product(cs, x, y)  # integer x·y may reach 2^256 > r
            range_check(cs, p, 128, "x·y < 2^128")
        else:
            p = product(cs, x, y)
            range_check(cs, p, 128, "x·y < 2^128")
            range_check(cs, x, 128, "x")
            range_check(cs, y, 128, "y")

    return build


@pytest.mark.parametrize("order", ["bounded-first", "product-first"])
def test_range_check_of_product_that_could_wrap_refused(order):
    with pytest.raises(CircuitError):
        H.verifier_cs(overflowing_product(order), 2)


def test_false_product_statement_is_not_provable():
    x = (1 << 128) - 1
    y = -(-R // x)
    assert x * y >= R and y < (1 << 128) and (x * y) % R < (1 << 128)
    build = overflowing_product("bounded-first")
    try:
        made = H.make(build, [x, y])
        H.check(build, made)
    except (CircuitError, UnsatisfiedError, VerificationError):
        return  # refused somewhere: what we want
    pytest.fail("a proof that x·y < 2^128 verified although x·y ≥ r")


def test_bits_for():
    assert [bits_for(u) for u in (0, 1, 2, 255, 256)] == [1, 1, 2, 8, 9]


# --- random circuits --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    widths: tuple
    values: tuple  # the values the public constants were derived from
    ops: tuple
    coeffs: tuple


@st.composite
def specs(draw):
    m = draw(st.integers(1, 4))
    widths = tuple(draw(st.integers(2, 12)) for _ in range(m))
    values = tuple(draw(st.integers(0, (1 << w) - 1)) for w in widths)
    idx = st.integers(0, m - 1)
    const = st.integers(-(1 << 12), 1 << 12)
    op = st.one_of(
        st.tuples(st.just("product"), idx, idx),
        st.tuples(st.just("geq"), idx, idx),
        st.tuples(st.just("abs"), idx, const),
        st.tuples(st.just("signed"), idx, const),
        st.tuples(st.just("split"), idx),
        st.tuples(st.just("flag"), idx),
    )
    ops = tuple(draw(st.lists(op, max_size=4)))
    coeffs = tuple(draw(st.integers(1, 1000)) * draw(st.sampled_from([1, -1])) for _ in range(m))
    return Spec(widths, values, ops, coeffs)


def compile_spec(spec: Spec):
    """The circuit of a spec: every value range-checked, each op a gadget tied to public constants
    derived from spec.values, and a final 'pin' Σ coeff_j·v_j = const that every value enters."""
    vals, widths = spec.values, spec.widths

    def build(cs):
        v = cs.inputs
        for j, w in enumerate(widths):
            range_check(cs, v[j], w, f"v{j} range")
        for k, op in enumerate(spec.ops):
            kind = op[0]
            if kind == "product":
                _, i, j = op
                cs.constrain(product(cs, v[i], v[j]) - vals[i] * vals[j], f"op{k} product")
            elif kind == "geq":
                _, i, j = op
                if vals[i] < vals[j]:
                    i, j = j, i
                geq(cs, v[i], v[j], max(widths), f"op{k} geq")
            elif kind == "abs":
                _, i, c = op
                mag, s = abs_value(cs, v[i] - c, 14, f"op{k} abs")
                cs.constrain(mag - abs(vals[i] - c), f"op{k} abs value")
                cs.constrain(s - int(vals[i] < c), f"op{k} abs sign")
            elif kind == "signed":
                _, i, c = op
                signed_range(cs, v[i] - c, 14, f"op{k} signed")
            elif kind == "split":
                _, i = op
                low = boolean(cs, H.witness(cs, lambda i=i: cs.value(v[i]) & 1), f"op{k} low bit")
                high = unsigned(cs, H.witness(cs, lambda i=i: cs.value(v[i]) >> 1), max(1, widths[i] - 1), f"op{k} high")
                cs.constrain(v[i] - low - 2 * high, f"op{k} split")
            elif kind == "flag":
                _, i = op
                f = boolean(cs, H.witness(cs, lambda i=i: int(cs.value(v[i]) == vals[i])), f"op{k} flag")
                cs.constrain(f - 1, f"op{k} flag set")
        cs.constrain(sum((c * x for c, x in zip(spec.coeffs, v)), start=0) - sum(c * x for c, x in zip(spec.coeffs, vals)), "pin")

    return build


def oracle(spec: Spec, xs) -> bool:
    """Clear-text truth of the spec's circuit for values xs (integers)."""
    vals, widths = spec.values, spec.widths
    if not all(0 <= x < (1 << w) for x, w in zip(xs, widths)):
        return False
    for op in spec.ops:
        kind = op[0]
        if kind == "product" and xs[op[1]] * xs[op[2]] != vals[op[1]] * vals[op[2]]:
            return False
        if kind == "geq":
            i, j = op[1], op[2]
            if vals[i] < vals[j]:
                i, j = j, i
            if xs[i] < xs[j]:
                return False
        if kind == "abs" and (abs(xs[op[1]] - op[2]) != abs(vals[op[1]] - op[2]) or (xs[op[1]] < op[2]) != (vals[op[1]] < op[2])):
            return False
        if kind == "signed" and not -(1 << 13) <= xs[op[1]] - op[2] < (1 << 13):
            return False
        if kind == "flag" and xs[op[1]] != vals[op[1]]:
            return False
    return sum(c * x for c, x in zip(spec.coeffs, xs)) == sum(c * x for c, x in zip(spec.coeffs, vals))


RANDOM = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RANDOM
@given(spec=specs())
def test_random_circuits_complete(spec):
    build = compile_spec(spec)
    assert oracle(spec, spec.values)
    p, v = H.prover_cs(build, spec.values), H.verifier_cs(build, len(spec.values))
    assert p.digest() == v.digest() and p.n <= 128
    H.prove_and_verify(build, spec.values)


@RANDOM
@given(spec=specs(), data=st.data())
def test_random_circuits_mutated_value_refused(spec, data):
    build = compile_spec(spec)
    j = data.draw(st.integers(0, len(spec.values) - 1), label="j")
    delta = data.draw(st.integers(-(1 << 20), 1 << 20).filter(bool), label="delta")
    xs = list(spec.values)
    xs[j] += delta
    assert not oracle(spec, xs)  # the pin makes every single-value change unsatisfying
    labels = set(H.prover_cs(build, xs).labels)
    cs = H.prover_cs(build, xs)
    with pytest.raises(UnsatisfiedError) as info:
        prove(cs, H.blind(cs.m))
    assert any(lbl and lbl in str(info.value) for lbl in labels), str(info.value)
    forced = H.make(build, xs, check=False)
    with pytest.raises(VerificationError):
        H.check(build, forced)


@settings(max_examples=40, deadline=None)
@given(spec=specs(), data=st.data())
def test_random_circuits_prover_agrees_with_oracle(spec, data):
    """Soundness against the clear-text oracle on arbitrary (often unsatisfying) values: the
    prover's witness check says yes exactly when the oracle does."""
    xs = [data.draw(st.integers(-4, (1 << w) + 3)) if data.draw(st.booleans()) else v for v, w in zip(spec.values, spec.widths)]
    cs = H.prover_cs(compile_spec(spec), xs)
    try:
        cs.check_witness()
        ok = True
    except UnsatisfiedError:
        ok = False
    assert ok == oracle(spec, xs)


@pytest.mark.parametrize("value", [1.5, Decimal("2.5")], ids=["float", "decimal"])
def test_non_integer_witness_refused(value):
    with pytest.raises((TypeError, ZkMarginError)):
        ConstraintSystem.for_prover([value])


def test_integer_witness_twin_accepted():
    assert ConstraintSystem.for_prover([2, -1]).v == [2, R - 1]


def test_variable_repr_and_one():
    assert repr(Variable.ONE) == "1"
    assert repr(ConstraintSystem.for_verifier(1).inputs[0]) == "v[0]"
