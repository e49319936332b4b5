"""Exhaustive soundness of the piece selection behind brackets and collateral tiers.

``select_piece`` pins a private x inside one of several public intervals with one-hot bits and
range checks on x's low bits. A cheating prover's only freedom is which piece to claim (every
other wire is determined by the values), so forcing every possible claim for every x in a small
domain shows the constraints accept exactly the true piece.
"""

import itertools

import pytest

from zkmargin.circuits.cs import ConstraintSystem, LinearCombination
from zkmargin.circuits.gadgets import range_check
from zkmargin.circuits.margin import pieces
from zkmargin.errors import UnsatisfiedError

X_BITS = 6
MAX = (1 << X_BITS) - 1

TABLES = {
    "three brackets, open top": [(0, 4), (5, 9), (10, MAX)],
    "two, open top, wide low": [(0, 20), (21, MAX)],
    "finite last cap": [(0, 3), (4, 11)],
    "empty middle piece": [(0, 6), (7, 6), (7, MAX)],
    "one piece, finite": [(0, 9)],
    "one piece, open": [(0, MAX)],
    "top starts at zero after empties": [(0, -1), (0, MAX)],
}


def true_piece(x, intervals):
    return next((k for k, (lo, hi) in enumerate(intervals) if lo <= x <= hi), None)


def build(x, intervals, monkeypatch, claim=None):
    if claim is not None:
        monkeypatch.setattr(pieces, "_choose_piece", lambda _x, _iv: claim)
    cs = ConstraintSystem.for_prover([x])
    bits = range_check(cs, cs.inputs[0], X_BITS, "x")
    es = pieces.select_piece(cs, LinearCombination.of(cs.inputs[0]), X_BITS, bits, intervals, "pieces")
    return cs, es


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_claim_for_every_x(name, monkeypatch):
    intervals = TABLES[name]
    K = len(intervals)
    for x, claim in itertools.product(range(MAX + 1), range(K)):
        cs, es = build(x, intervals, monkeypatch, claim)
        truth = true_piece(x, intervals)
        if claim == truth or (K == 1 and truth is not None):
            cs.check_witness()
            if K > 1:
                assert [cs.eval(e) for e in es] == [1 if k == claim else 0 for k in range(K)]
        else:
            with pytest.raises(UnsatisfiedError):
                cs.check_witness()


@pytest.mark.parametrize("name", sorted(TABLES))
def test_honest_prover_is_complete_exactly_inside_the_table(name, monkeypatch):
    intervals = TABLES[name]
    for x in range(MAX + 1):
        cs, _ = build(x, intervals, monkeypatch)
        if true_piece(x, intervals) is None:  # beyond a finite last cap: no piece holds x
            with pytest.raises(UnsatisfiedError):
                cs.check_witness()
        else:
            cs.check_witness()


def test_low_part_comparison_is_cheaper_than_full_width(monkeypatch):
    wide = 40
    intervals = [(0, 100), (101, 1000), (1001, (1 << wide) - 1)]
    cs = ConstraintSystem.for_prover([12345])
    bits = range_check(cs, cs.inputs[0], wide, "x")
    before = cs.n
    pieces.select_piece(cs, LinearCombination.of(cs.inputs[0]), wide, bits, intervals, "pieces")
    cs.check_witness()
    t = (1001).bit_length()
    assert cs.n - before <= len(intervals) + 2 * t + 6 < 2 * wide
