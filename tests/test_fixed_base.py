"""The fixed-base MSM of the verifier's generator columns (``zkmargin.crypto._g1fixed``,
``zkmargin.crypto.fixed_base``), checked against the binding's variable-base MSM.

What must hold: for any scalars, the table's MSM is the binding's MSM over the same points (with
both field products, the MULX/ADX assembly and the portable C); every corner of the signed-digit
recoding and of the bucket arithmetic (a digit of exactly half a window, a carry out of a window,
the same point twice in a bucket, a point and its negation) gives the right point; malformed
input is refused, never read out of bounds; and a verifier using the tables decides exactly as one
without them — a tampered proof is still refused.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import r1cs_helpers as H  # noqa: E402
from test_proof_encoding import small  # noqa: E402

from zkmargin.crypto import fixed_base  # noqa: E402
from zkmargin.crypto.backends import get_backend  # noqa: E402
from zkmargin.crypto.field import R  # noqa: E402
from zkmargin.crypto.fixed_base import WINDOW, WINDOWS, ColumnTables, FixedBaseTable  # noqa: E402
from zkmargin.crypto.generators import Generators, get_generators  # noqa: E402
from zkmargin.crypto.proof import R1CSProof  # noqa: E402
from zkmargin.errors import VerificationError  # noqa: E402
from zkmargin.verifier.r1cs import verify_batch, verify_encoded  # noqa: E402

g1fixed = pytest.importorskip("zkmargin.crypto._g1fixed")
ARK = get_backend("arkworks")
HALF = 1 << (WINDOW - 1)


@pytest.fixture(params=["assembly", "portable"])
def product(request):
    """Run the test with the MULX/ADX field product (skipped where the processor lacks it) and
    with the portable one; the import-time choice is restored afterwards."""
    default = g1fixed.use_assembly(True)
    if request.param == "assembly":
        if not default:
            pytest.skip("this processor has no MULX/ADX")
    else:
        assert g1fixed.use_assembly(False) is False
    yield request.param
    g1fixed.use_assembly(default)


def table_of(points) -> bytes:
    return g1fixed.build_table(ARK.dump_affine(points), WINDOW, WINDOWS)


def fixed_msm(table: bytes, scalars: list[int], start: int = 0):
    xy = g1fixed.msm(table, WINDOW, WINDOWS, start, b"".join(k.to_bytes(32, "little") for k in scalars))
    return ARK.identity() if xy is None else ARK.load_affine_unchecked(xy, 1)[0]


def binding_msm(points, scalars: list[int]):
    return ARK.msm(points, [k % R for k in scalars])


POINTS = get_generators(ARK).G(40)


def test_random_scalars_match_the_binding(product):
    table = table_of(POINTS)
    for count, start in ((1, 0), (3, 7), (40, 0), (25, 15)):
        scalars = [secrets.randbelow(R) for _ in range(count)]
        assert ARK.eq(fixed_msm(table, scalars, start), binding_msm(POINTS[start : start + count], scalars))


def test_random_scalars_twin_a_changed_scalar_changes_the_point(product):
    table = table_of(POINTS)
    scalars = [secrets.randbelow(R) for _ in POINTS]
    bumped = scalars[:9] + [(scalars[9] + 1) % R] + scalars[10:]
    assert not ARK.eq(fixed_msm(table, bumped), binding_msm(POINTS, scalars))


def digits_all(d: int) -> int:
    """The integer whose every WINDOW-bit window holds d (d ≤ 2^WINDOW − 1), up to 256 bits."""
    return sum(d << (WINDOW * j) for j in range(WINDOWS)) % (1 << 256)


EDGE_SCALARS = {
    "zero": 0, "one": 1, "r-1": R - 1, "r": R, "2^255-1": (1 << 255) - 1, "2^256-1": (1 << 256) - 1,
    "half": HALF, "half+1": HALF + 1, "2^window": 1 << WINDOW, "2^window-1": (1 << WINDOW) - 1,
    "every digit half": digits_all(HALF), "every digit half+1": digits_all(HALF + 1),
    "every digit all ones": digits_all((1 << WINDOW) - 1), "top window only": 1 << (WINDOW * (WINDOWS - 1)),
}


@pytest.mark.parametrize("name", sorted(EDGE_SCALARS))
def test_edge_scalars(product, name):
    """Each edge scalar alone on one point, and beside random ones; scalars ≥ r act as k mod r
    (the points have order r). "half" alone puts one point in the top bucket, so the running sum
    adds a point to itself (the doubling inside the bucket reduction)."""
    table = table_of(POINTS[:4])
    k = EDGE_SCALARS[name]
    assert ARK.eq(fixed_msm(table, [k]), binding_msm(POINTS[:1], [k]))
    mixed = [k, secrets.randbelow(R), k, secrets.randbelow(R)]
    assert ARK.eq(fixed_msm(table, mixed), binding_msm(POINTS[:4], mixed))


def test_zero_scalars_give_the_identity(product):
    assert g1fixed.msm(table_of(POINTS[:5]), WINDOW, WINDOWS, 0, bytes(32 * 5)) is None
    # the twin: one non-zero scalar is not the identity
    assert g1fixed.msm(table_of(POINTS[:5]), WINDOW, WINDOWS, 0, bytes(32 * 4) + (1).to_bytes(32, "little")) is not None


def test_equal_and_opposite_points_in_one_bucket(product):
    """The same point twice puts P and P in one bucket (the doubling case of the mixed addition);
    P and −P cancel (the identity case)."""
    p = POINTS[3]
    table = table_of([p, p, ARK.neg(p)])
    k = secrets.randbelow(R)
    assert ARK.eq(fixed_msm(table, [k, k, 0]), ARK.mul(p, 2 * k % R))
    assert fixed_msm(table, [k, 0, k]) == ARK.identity()
    assert ARK.eq(fixed_msm(table, [k, k, k]), ARK.mul(p, k))


def test_a_large_msm_matches_the_binding():
    """2,048 points: every bucket busy, as in a verification."""
    points = get_generators(ARK).H(2048)
    scalars = [secrets.randbelow(R) for _ in points]
    assert ARK.eq(fixed_msm(table_of(points), scalars), binding_msm(points, scalars))


def test_malformed_input_is_refused():
    good = ARK.dump_affine(POINTS[:2])
    table = g1fixed.build_table(good, WINDOW, WINDOWS)
    off_curve = good[:48] + (int.from_bytes(good[48:96], "little") ^ 1).to_bytes(48, "little")
    big_x = (1 << 383).to_bytes(48, "little") + good[48:96]
    with pytest.raises(ValueError, match="not on the curve"):
        g1fixed.build_table(off_curve, WINDOW, WINDOWS)
    with pytest.raises(ValueError, match="not below p"):
        g1fixed.build_table(big_x, WINDOW, WINDOWS)
    with pytest.raises(ValueError, match="not on the curve"):
        g1fixed.build_table(bytes(96), WINDOW, WINDOWS)  # the identity, as the binding writes it
    for bad in (b"", good[:95]):
        with pytest.raises(ValueError, match="96-byte"):
            g1fixed.build_table(bad, WINDOW, WINDOWS)
    for window, windows in ((1, 256), (17, 16), (13, 19), (8, 32 - 1)):
        with pytest.raises(ValueError, match="window"):
            g1fixed.build_table(good, window, windows)
    with pytest.raises(ValueError, match="run past the table"):
        g1fixed.msm(table, WINDOW, WINDOWS, 1, bytes(64))
    with pytest.raises(ValueError, match="run past the table"):
        g1fixed.msm(table, WINDOW, WINDOWS, -1, bytes(32))
    with pytest.raises(ValueError, match="32-byte"):
        g1fixed.msm(table, WINDOW, WINDOWS, 0, bytes(33))
    with pytest.raises(ValueError, match="windows"):
        g1fixed.msm(table, WINDOW, WINDOWS + 1, 0, bytes(32))  # the table was built with 20
    # exactly 256 bits of windows: a scalar with its top bit set would carry out of the last one
    table16 = g1fixed.build_table(good, 16, 16)
    with pytest.raises(ValueError, match="too large"):
        g1fixed.msm(table16, 16, 16, 0, (1 << 255).to_bytes(32, "little"))
    # the twins: the same calls in range
    assert g1fixed.msm(table, WINDOW, WINDOWS, 1, bytes(32)) is None
    xy = g1fixed.msm(table16, 16, 16, 0, ((1 << 255) - 1).to_bytes(32, "little"))
    assert ARK.eq(ARK.load_affine_unchecked(xy, 1)[0], ARK.mul(POINTS[0], ((1 << 255) - 1) % R))


def test_tables_are_built_on_the_second_use_and_only_where_they_can_be(monkeypatch):
    gens = Generators(ARK)  # a fresh set: the shared one has its tables from earlier tests
    assert gens.column_tables(16) is None  # a one-off verification does not build them
    tables = gens.column_tables(16)
    assert tables is not None and tables[0].count == tables[1].count == 16
    assert gens.column_tables(8) is tables or gens.column_tables(8) == tables  # a prefix serves smaller n
    assert gens.column_tables(32) is None  # a new size counts its own uses
    assert gens.column_tables(32)[0].count == 32
    # the tables hold exactly G(n) and H(n)
    scalars = [secrets.randbelow(R) for _ in range(32)]
    g_table, h_table = gens.column_tables(32)
    assert ARK.eq(fixed_msm(h_table.data, scalars), binding_msm(gens.H(32), scalars))
    assert ARK.eq(fixed_msm(g_table.data, scalars), binding_msm(gens.G(32), scalars))
    # where they are not built
    too_big = fixed_base.MAX_TABLE_GATES * 2
    assert ColumnTables(ARK.dump_affine).tables_for(too_big, gens.G, gens.H, ARK.run_jobs) is None
    monkeypatch.setenv(fixed_base.ENV, "0")
    fresh = Generators(ARK)
    assert fresh.column_tables(16) is None and fresh.column_tables(16) is None


@H.requires_pyecc()
def test_the_reference_backend_takes_no_tables():
    gens = Generators(get_backend("py_ecc"))
    assert gens.column_tables(4) is None and gens.column_tables(4) is None


def test_a_table_grows_by_its_missing_points():
    gens = get_generators(ARK)
    table = FixedBaseTable()
    table.extend(ARK.dump_affine(gens.G(10)), ARK.run_jobs)
    table.extend(ARK.dump_affine(gens.G(1100)[10:]), ARK.run_jobs)  # built in several jobs
    assert table.count == 1100
    scalars = [secrets.randbelow(R) for _ in range(1100)]
    assert ARK.eq(fixed_msm(table.data, scalars), binding_msm(gens.G(1100), scalars))


@pytest.fixture(scope="module")
def made():
    return H.make(small, [9])


@pytest.mark.parametrize("tables", ["fixed-base", "variable-base"])
def test_verification_decides_the_same_with_and_without_tables(made, tables, monkeypatch):
    """A valid proof verifies and a tampered one is refused, through the one-proof path and the
    batch path; with the tables built (the verifier's second use of the size on) and with them
    switched off."""
    if tables == "variable-base":
        monkeypatch.setenv(fixed_base.ENV, "0")
    cs = H.verifier_cs(small, made.m)
    gens = get_generators(ARK)
    for _ in range(2):
        verify_encoded(cs, R1CSProof.parse(made.proof), made.V, made.public, backend=ARK)
    assert (gens.column_tables(cs.padded_n()) is not None) == (tables == "fixed-base")
    # a proof scalar changed: the transcript's challenges and the equation no longer agree
    tampered = H.replace(made.proof, "a", (5).to_bytes(32, "little"))
    with pytest.raises(VerificationError):
        verify_encoded(cs, R1CSProof.parse(tampered), made.V, made.public, backend=ARK)
    decoded = H.decode(made)
    bad = H.decode(made, proof=tampered)
    verify_batch([(cs, decoded[0], decoded[1], made.public)] * 2, backend=ARK)
    with pytest.raises(VerificationError):
        verify_batch([(cs, decoded[0], decoded[1], made.public), (cs, bad[0], bad[1], made.public)], backend=ARK)


def test_a_build_that_runs_out_of_memory_leaves_the_variable_base_msm(monkeypatch):
    """The tables are an optimisation: a build that fails leaves the verifier on the variable-base
    MSM, and a half-built pair (G extended, H not) is never handed out."""
    gens = Generators(ARK)
    gens.column_tables(16)
    calls = []

    def extend(self, affine, run):
        calls.append(len(affine) // 96)
        if len(calls) == 2:  # G built, H fails
            raise MemoryError
        return real_extend(self, affine, run)

    real_extend = FixedBaseTable.extend
    monkeypatch.setattr(FixedBaseTable, "extend", extend)
    assert gens.column_tables(16) is None
    assert calls == [16, 16]
    # the twin: once memory allows, the next use completes the pair (only H is built again)
    monkeypatch.setattr(FixedBaseTable, "extend", real_extend)
    tables = gens.column_tables(16)
    assert tables is not None and tables[0].count == tables[1].count == 16
