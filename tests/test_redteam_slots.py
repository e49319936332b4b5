"""Red team, the K-slot circuit and the logUp lookup (circuits/margin/slots.py, circuits/lookup.py,
circuits/randomized.py and the two-phase prover/verifier; notes docs/notes/lookup.md).

A cheating prover runs its own code: it picks any bit, any committed value, any multiplicity, and —
at the protocol level — any commitment. Every attack below is refused (the soundness argument of
docs/notes/lookup.md holds for them); each has its honest twin. The protocol-level attacks show
what each challenge is for: with the compression challenge β fixed at 1, or without the challenge
φ that separates the phases' commitments, a forged proof *is* accepted (by a verifier patched to
do so) — with them, it is rejected.

Already covered elsewhere and not repeated: non-rows, multiplicities as field elements, α on a row
(test_lookup.py); split positions, null slots with sizes or another row, ids out of order, the
packing's one reading, every table row bound (test_margin_slots.py); the challenge drawn before
the phase-1 commitments (test_randomized.py).
"""

from __future__ import annotations

import sys
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import margin_strategies as S  # noqa: E402
import r1cs_helpers as H  # noqa: E402
import redteam_helpers as RT  # noqa: E402

from zkmargin import check  # noqa: E402
from zkmargin.circuits.cs import L_KIND, ConstraintSystem, RandomizedCS  # noqa: E402
from zkmargin.circuits.layouts import witness_values  # noqa: E402
from zkmargin.circuits.lookup import Lookups, Table  # noqa: E402
from zkmargin.circuits.margin import slots as slots_mod  # noqa: E402
from zkmargin.circuits.margin.slots import pack  # noqa: E402
from zkmargin.crypto.field import R, inv  # noqa: E402
from zkmargin.crypto.generators import get_generators  # noqa: E402
from zkmargin.crypto.r1cs_transcript import PHI_LABEL  # noqa: E402
from zkmargin.crypto.transcript import Transcript  # noqa: E402
from zkmargin.errors import VerificationError  # noqa: E402
from zkmargin.prover import r1cs as prover_mod  # noqa: E402


def slot_case(K: int = 4, **account) -> dict:
    case = S.base_case("cross", "0")
    case["policy"]["slots"] = K
    case["account"].update(account)
    return case


def tight(case: dict) -> Decimal:
    da = case["policy"]["decimals"]["amount"]
    return check(case["account"], case["market"], case["policy"], 0).excess.quantize(
        Decimal(1).scaleb(-da), rounding=ROUND_FLOOR)


ULP = Decimal("0.0001")  # the base case's amount scale


def cs_for(case: dict, threshold, edit=None, tamper=None):
    plan, a = RT.plan_of(case, threshold)
    values = witness_values(plan, a)
    if edit is not None:
        edit(plan, values)
    return RT.prover_cs(plan, values, tamper)


# --- the slot's sign bit ----------------------------------------------------------------------------


@pytest.mark.parametrize("k, what", [(0, "a long claims to be short"), (1, "a short claims to be long")])
def test_a_slot_sign_bit_cannot_flip(k, what, monkeypatch):
    """Slot 0 holds A long (8), slot 1 B short (−12.5). With the sign bit flipped, |q| = q·(1 − 2s)
    is the negative of the size — a residue near r — and the bracket's lower-end check refuses
    it. (Had it passed, a short would pay nothing for its cost basis bound: −s·|q| is its
    min(q, 0).) Honest twin satisfies."""
    case = slot_case()
    assert RT.refusal(cs_for(case, 0)) is None
    RT.flip_boolean(monkeypatch, slots_mod, {f"position slot {k} sign"})
    msg = RT.refusal(cs_for(case, 0))
    assert msg is not None and f"position slot {k}: size at least the bracket's lower end" in msg, (what, msg)


def test_a_live_slot_of_size_zero_gains_nothing_with_either_sign(monkeypatch):
    """A live slot of B with size 0 between A and C (B is not held): its sign bit is free, and it
    adds 0 to the requirement, the PnL and the cost-basis bounds either way — the witness meets
    exactly the engine's tight threshold (the engine holds no B) and not one unit above it."""
    case = slot_case()
    case["account"]["positions"] = [p for p in case["account"]["positions"] if p["symbol"] != "B"]
    t = tight(case)

    def live_zero(plan, vals):
        assert [slots_mod.unpack(plan, v)[0] for v in vals[:4]] == [0, 2, 3, 3]
        vals[1:3] = [pack(plan, 1, 0), vals[1]]

    for flipped in (False, True):
        if flipped:
            RT.flip_boolean(monkeypatch, slots_mod, {"position slot 1 sign"}, lambda b: 1)
        assert RT.refusal(cs_for(case, t, edit=live_zero)) is None
        assert RT.refusal(cs_for(case, t + ULP, edit=live_zero)) is not None


# --- the cost basis over the slots -----------------------------------------------------------------------


def test_the_slot_cost_basis_stops_exactly_at_the_best_entries_within_the_width():
    """Entries at the width's extremes (longs at 0, shorts at P = 2^24 − 1 ticks) give the lowest
    cost basis C = L = P·Σ min(q, 0), the best equity any entries can claim: the honest witness
    meets the engine's tight threshold. One unit above, the engine refuses for every entry within
    the width, and the cheater's C = L − 1 (one tick·unit of equity more, ten amount units) is
    refused by the cost basis's lower end; C = U + 1 by its upper end (checked before the final
    comparison, which would refuse it too)."""
    P = (1 << 24) - 1
    case = slot_case()
    for p in case["account"]["positions"]:
        p["entry_price"] = "0" if not p["size"].startswith("-") else str(Decimal(P).scaleb(-2))
    t = tight(case)
    assert RT.refusal(cs_for(case, t)) is None
    assert not check(case["account"], case["market"], case["policy"], t + ULP).meets

    def shift(delta, end):
        def edit(plan, vals):
            qs = [slots_mod.unpack(plan, v)[1] for v in vals[: plan.K]]
            L, U = P * sum(min(q, 0) for q in qs), P * sum(max(q, 0) for q in qs)
            assert vals[plan.K] == L
            vals[plan.K] = (L if end == "L" else U) + delta
        return edit

    msg = RT.refusal(cs_for(case, t + ULP, edit=shift(-1, "L")))
    assert msg is not None and "cost basis: at least what entry prices within the width give" in msg
    msg = RT.refusal(cs_for(case, 0, edit=shift(1, "U")))
    assert msg is not None and "cost basis: at most what entry prices within the width give" in msg


# --- rows: an empty bracket, the rounding ------------------------------------------------------------------


def test_an_empty_bracket_row_holds_no_size():
    """Caps 1,000 and 1,010 at a mark of 250 with 0.1-unit sizes: the bracket (1,000, 1,010] holds
    no size (its row has lo = 41 > hi = 40). A's 8 units (notional 2,000: the 2.5% bracket) claim
    that row's lower rate (2%): refused by the row's ends; the honest row satisfies."""
    case = slot_case()
    case["policy"]["instruments"][0]["maintenance"]["brackets"] = [
        {"floor": "0", "cap": "1000", "rate": "0.01"}, {"floor": "1000", "cap": "1010", "rate": "0.02"},
        {"floor": "1010", "cap": "5000", "rate": "0.025"}, {"floor": "5000", "cap": None, "rate": "0.05"}]
    plan, a = RT.plan_of(case, 0)
    empty = plan.table.rows[1]
    assert empty[:4] == (0, 1, 41, 40)
    values = witness_values(plan, a)
    assert RT.refusal(RT.prover_cs(plan, values)) is None
    cs = ConstraintSystem.for_prover(values)
    rows = slots_mod.honest_rows(plan, values)
    rows[0] = empty
    slots_mod.slot_margin_circuit(cs, plan, rows)
    msg = RT.refusal(cs)
    assert msg is not None and "position slot 0: size at most the bracket's upper end" in msg


def test_a_slot_requirement_cannot_be_rounded_down_with_the_lookup_range_checks():
    """The policy rounds each slot's requirement up at 2 decimals; the K-slot circuit passes its
    lookup range checks to the rounding gadget. The rounded value one cent lower (for slot 0,
    then for slot 2) is refused; the honest rounding satisfies at the tight threshold."""
    case = slot_case()
    t = tight(case)
    assert RT.refusal(cs_for(case, t)) is None
    for k, label in ((0, "requirement of position slot 0: rounded up"), (1, "requirement of position slot 2: rounded up")):
        # the rounding's witness callable runs once per live-or-null slot in order; B (slot 1) is
        # size-scaled, C (slot 2) flat: call 0 is slot 0, call 2 is slot 2
        n = 0 if k == 0 else 2
        tamper = {"round_requirement.<locals>.exact": lambda v, i, n=n: v - 1 if i == n else v}
        msg = RT.refusal(cs_for(case, 0, tamper=tamper))
        assert msg is not None and label in msg, msg


# --- the lookup argument at the protocol level: what β and φ are for ------------------------------------

ROWS = [(0, 40), (1, 75), (2, 120), (3, 0)]  # (id, rate); (3, 0) a null row
HOLD: dict = {}


def lookup_circuit(n: int, multiplicities=None):
    """``n`` committed (id, rate) pairs, each looked up in ROWS."""

    def build(cs):
        lk = Lookups(cs, Table("rates", ["id", "rate"], ROWS))
        for k in range(n):
            lk.lookup(cs.inputs[2 * k : 2 * k + 2], f"slot {k}")
        lk.finish(multiplicities)
        if cs.is_prover:
            HOLD["lookups"] = lk

    return build


def _beta_one(monkeypatch):
    real = RandomizedCS.challenge_scalar

    def challenge(self, label):
        v = real(self, label)
        if label.endswith(b":beta"):
            self.challenges[-1] = (label, 1)
            return 1
        return v

    monkeypatch.setattr(RandomizedCS, "challenge_scalar", challenge)


def test_the_compression_needs_a_random_beta(monkeypatch):
    """Instrument 1 claims rate 39 (its row says 75): (1, 39) is no row, but with β = 1 it
    compresses to 1 + 39 = 40, row (0, 40)'s compression. A cheater counting that row twice is
    accepted by a verifier whose β is 1; the real β (drawn after the commitments, as α) rejects the
    same forgery."""
    values = [0, 40, 1, 39]
    build = lookup_circuit(2, multiplicities=lambda: [2, 0, 0, 0])
    with monkeypatch.context() as mp:
        _beta_one(mp)
        made = H.make(build, values, check=False)
        H.check(build, made)  # the broken verifier is fooled
    made = H.make(build, values, check=False)
    with pytest.raises(VerificationError):
        H.check(build, made)
    H.prove_and_verify(lookup_circuit(2), [0, 40, 1, 75])  # twin: honest rows, real challenges


def _phi_one(mp):
    real = Transcript.challenge_scalar

    def challenge(self, label):
        v = real(self, label)
        return 1 if label == PHI_LABEL else v

    mp.setattr(Transcript, "challenge_scalar", challenge)


def _rewrite_phase_one_after_alpha(mp):
    """The cheating prover: after phase 2 is built (α known), it changes the phase-1 multiplicity
    m_0 so that Σ_k 1/(α − f_k) = Σ_j m_j/(α − t_j) holds for the forged tuple, and carries the
    change Δ·G_i (and the gate output's Δ_O·G_i) inside its *phase-2* commitments A_I2, A_O2."""
    real_randomize = ConstraintSystem.randomize
    real_msms = prover_mod._msms
    state: dict = {}

    def randomize(self, challenge):
        full = real_randomize(self, challenge)
        if self.is_prover:
            lc = full.constraints[-1]  # the logUp sum
            m0 = HOLD["lookups"].multiplicities[0]
            d = (-full.eval(lc)) * inv(lc.terms[m0]) % R
            kind, i = m0
            old_o = full.a_O[i]
            if kind == L_KIND:
                full.a_L[i] = (full.a_L[i] + d) % R
            else:
                full.a_R[i] = (full.a_R[i] + d) % R
            full.a_O[i] = full.a_L[i] * full.a_R[i] % R
            assert full.eval(lc) == 0
            full.check_witness()  # every phase-2 constraint holds for the rewritten values
            state.update(kind=kind, i=i, d=d, d_o=(full.a_O[i] - old_o) % R, n=self.padded_n(), calls=0)
        return full

    def msms(be, jobs):
        if state:
            state["calls"] += 1
            if state["calls"] == 1:  # the phase-2 commitments: A_I2, A_O2, S2
                gens = get_generators(be)
                G, Hs = gens.G(state["n"]), gens.H(state["n"])
                i = state["i"]
                (p0, s0), (p1, s1), rest = jobs
                gen = G[i] if state["kind"] == L_KIND else Hs[i]
                jobs = [(list(p0) + [gen], list(s0) + [state["d"]]), (list(p1) + [G[i]], list(s1) + [state["d_o"]]), rest]
        return real_msms(be, jobs)

    mp.setattr(ConstraintSystem, "randomize", randomize)
    mp.setattr(prover_mod, "_msms", msms)


def test_a_phase_one_wire_rewritten_after_alpha_is_caught_by_phi(monkeypatch):
    """The forged tuple (1, 74) with honest multiplicities fails the logUp sum. A prover that
    rewrites the phase-1 multiplicity after seeing α, smuggling the change into A_I2/A_O2, makes
    every constraint hold for the values the verifier reconstructs from A_I + φ·A_I2 when φ = 1:
    such a verifier accepts. With the real φ (drawn after T_1…T_6) the phase-2 commitments count
    φ times, the rewrite no longer matches, and the same attack is rejected. Twin: without the
    rewrite even the φ = 1 verifier rejects the forgery."""
    values = [0, 40, 1, 74]
    build = lookup_circuit(2)
    with monkeypatch.context() as mp:
        _phi_one(mp)
        _rewrite_phase_one_after_alpha(mp)
        made = H.make(build, values, check=False)
        H.check(build, made)  # φ = 1: fooled
    with monkeypatch.context() as mp:
        _rewrite_phase_one_after_alpha(mp)
        made = H.make(build, values, check=False)
    with pytest.raises(VerificationError):
        H.check(build, made)  # the real φ
    with monkeypatch.context() as mp:
        _phi_one(mp)
        made = H.make(build, values, check=False)
        with pytest.raises(VerificationError):
            H.check(build, made)  # no rewrite: the forgery alone fails even at φ = 1
