"""Binding (DESIGN "What must always hold", 2) and batch verification.

For one valid bundle per mode (tests/margin_strategies.base_case: brackets, size-scaled and flat
rules, a flat and a tiered haircut, buffer, rounding, threshold; scenarios in portfolio mode):

* changing any public input the verifier holds — each price, rate, bracket, haircut, tier,
  scenario P&L, factor, buffer, rounding, width, T, the challenge — is refused: with the bundle as
  it is (StatementMismatchError: the digests differ), with the bundle's statement forged to match
  the verifier's (VerificationError: Fiat–Shamir binds the verifier's own statement), and, for the
  inputs that enter the circuit, even with every digest disabled (VerificationError: the
  constraint weights alone bind them);
* editing the bundle's statement, any commitment or any part of the proof is refused with the
  precise error class;
* the unchanged inputs verify (the twin of every negative test);
* verify_batch accepts a batch of valid bundles and names the bad indices of a tampered one.
"""

from __future__ import annotations

import copy
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import margin_strategies as S  # noqa: E402

import zkmargin.api as api  # noqa: E402
import zkmargin.prepared as prepared  # noqa: E402
from zkmargin import ProofBundle, prove, verify, verify_batch  # noqa: E402
from zkmargin.circuits.cs import ConstraintSystem  # noqa: E402
from zkmargin.circuits.margin import build, plan_margin  # noqa: E402
from zkmargin.crypto.proof import POINT_NAMES, SCALAR_NAMES, R1CSProof  # noqa: E402
from zkmargin.documents.bundle import STATEMENT_KEYS  # noqa: E402
from zkmargin.errors import (  # noqa: E402
    DecodeError,
    FormatError,
    MalformedProofError,
    StatementMismatchError,
    VerificationError,
)
from zkmargin.rules.decimals import canonical  # noqa: E402
from zkmargin.rules.models import load_market, load_policy  # noqa: E402

CHALLENGE = bytes(range(32))
OTHER_CHALLENGE = bytes(range(1, 33))
POINT, SCALAR, HEADER = 48, 32, 7
THRESHOLD = "5"


# --- the valid bundles (one proof per mode, built once) ------------------------------------------

_CACHE: dict = {}


def valid(mode: str, key: str = "main"):
    """(case, bundle JSON dict) for ``mode``; ``key`` gives independent proofs of the same case."""
    if (mode, key) not in _CACHE:
        case = S.base_case(mode, THRESHOLD)
        b = prove(case["account"], case["market"], case["policy"], THRESHOLD, CHALLENGE)
        _CACHE[(mode, key)] = (case, b.to_json_dict())
    case, d = _CACHE[(mode, key)]
    return copy.deepcopy(case), copy.deepcopy(d)


def assert_verifies(bundle, case, threshold=THRESHOLD, challenge=CHALLENGE):
    res = verify(bundle, case["market"], case["policy"], threshold, challenge)
    assert res.valid


def assert_rejected(cls, bundle, case, threshold=THRESHOLD, challenge=CHALLENGE, match=None):
    """Exactly ``cls`` (not a subclass: a failed proof must not be reported as a malformed one)."""
    with pytest.raises(VerificationError) as info:
        verify(bundle, case["market"], case["policy"], threshold, challenge)
    assert type(info.value) is cls, f"expected {cls.__name__}, got {type(info.value).__name__}: {info.value}"
    if match is not None:
        assert match in str(info.value), str(info.value)
    return info.value


def expected_statement(case, threshold=THRESHOLD, challenge=CHALLENGE) -> dict:
    """The statement the verifier builds from its own inputs (what a forger would copy)."""
    return api._Verifier(case["market"], case["policy"], threshold, None).expected(challenge)


@pytest.mark.parametrize("mode", S.MODES)
def test_twin_unchanged_inputs_verify_in_every_form(mode, tmp_path):
    case, d = valid(mode)
    text = json.dumps(d)
    path = tmp_path / "bundle.json"
    ProofBundle.from_json_dict(d).save(path)
    for form in (d, text, text.encode(), ProofBundle.from_json_dict(d), str(path), path):
        assert_verifies(form, case)
    p = load_policy(case["policy"])
    assert verify(d, load_market(case["market"], p), p, Decimal(THRESHOLD), CHALLENGE).valid


# --- public inputs: every one is bound -------------------------------------------------------------


def _bump(text: str, step: str) -> str:
    return canonical(Decimal(text) + Decimal(step))


def _set(doc: dict, path: tuple, fn):
    target = doc
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = fn(target[path[-1]])


DIGEST, CIRCUIT, WEIGHTS = "digest", "circuit", "weights"


def public_tampers(mode: str) -> list[tuple[str, str, tuple, object, str]]:
    """``(name, document, path, new-value function, kind)`` for ``mode``'s base case. ``kind``:
    WEIGHTS — only constants of the constraints change (same gates, same statement);
    CIRCUIT — the circuit changes, possibly its size or the statement's requirement;
    DIGEST — bound only through the policy or market digest (the circuit is the same)."""
    out = []
    for sym in S.base_market(mode)["prices"]:
        out.append((f"price {sym}", "market", ("prices", sym), lambda v: _bump(v, "0.01"), WEIGHTS))
    out.append(("as_of", "market", ("as_of",), lambda v: "2024-06-03T08:00:01Z", DIGEST))
    out += [
        ("buffer", "policy", ("buffer",), lambda v: _bump(v, "0.001"), WEIGHTS),
        ("haircut USD", "policy", ("collateral", 0, "haircut"), lambda v: _bump(v, "0.001"), WEIGHTS),
        ("tier up_to BTC[0]", "policy", ("collateral", 1, "tiers", 0, "up_to"), lambda v: _bump(v, "1"), CIRCUIT),
        ("tier up_to BTC[1]", "policy", ("collateral", 1, "tiers", 1, "up_to"), lambda v: _bump(v, "100"), CIRCUIT),
        ("tier haircut BTC[1]", "policy", ("collateral", 1, "tiers", 1, "haircut"), lambda v: _bump(v, "0.001"), WEIGHTS),
        ("tier haircut BTC[2]", "policy", ("collateral", 1, "tiers", 2, "haircut"), lambda v: _bump(v, "0.001"), WEIGHTS),
        ("rounding mode", "policy", ("rounding", "mode"), lambda v: "down" if v != "down" else "up", CIRCUIT),
        ("rounding decimals", "policy", ("rounding", "decimals"), lambda v: v - 1, CIRCUIT),
        ("amount bits", "policy", ("bits", "amount"), lambda v: v + 1, CIRCUIT),
        ("size bits", "policy", ("bits", "size"), lambda v: v + 1, CIRCUIT),
        ("venue", "policy", ("venue",), lambda v: v + "-other", DIGEST),
    ]
    if mode != "portfolio":
        out += [
            ("bracket rate A[0]", "policy", ("instruments", 0, "maintenance", "brackets", 0, "rate"), lambda v: _bump(v, "0.001"), WEIGHTS),
            ("bracket rate A[1]", "policy", ("instruments", 0, "maintenance", "brackets", 1, "rate"), lambda v: _bump(v, "0.001"), WEIGHTS),
            ("bracket rate A[2]", "policy", ("instruments", 0, "maintenance", "brackets", 2, "rate"), lambda v: _bump(v, "0.001"), WEIGHTS),
            ("bracket cap A[1]", "policy", ("instruments", 0, "maintenance", "brackets"), _move_cap(1, "250"), CIRCUIT),
            ("bracket cap A[0] (same size units, other amount)", "policy", ("instruments", 0, "maintenance", "brackets"),
             _move_cap(0, "0.5"), CIRCUIT),
            ("linear rate B", "policy", ("instruments", 1, "maintenance", "rate"), lambda v: _bump(v, "0.001"), WEIGHTS),
            ("linear per_size B", "policy", ("instruments", 1, "maintenance", "per_size"), lambda v: _bump(v, "0.001"), CIRCUIT),
            ("flat rate C", "policy", ("instruments", 2, "maintenance", "rate"), lambda v: _bump(v, "0.001"), WEIGHTS),
            ("unused initial rule C", "policy", ("instruments", 2, "initial", "rate"), lambda v: _bump(v, "0.001"), DIGEST),
            ("requirement", "policy", ("requirement",), lambda v: "initial", CIRCUIT),
        ]
    else:
        for sym in ("A", "O", "P"):
            for s in range(3):
                out.append((f"scenario pnl {sym}[{s}]", "policy", ("scenarios", "pnl", sym, s), lambda v: _bump(v, "0.01"), WEIGHTS))
        out += [
            ("initial factor", "policy", ("scenarios", "initial_factor"), lambda v: _bump(v, "0.001"), WEIGHTS),
            ("unused maintenance factor", "policy", ("scenarios", "factor"), lambda v: _bump(v, "0.001"), DIGEST),
            ("requirement", "policy", ("requirement",), lambda v: "maintenance", CIRCUIT),
            ("option strike", "policy", ("instruments", 1, "strike"), lambda v: _bump(v, "1"), DIGEST),
        ]
    return out


def _move_cap(k: int, step: str):
    def fn(brackets):
        brackets = copy.deepcopy(brackets)
        new = _bump(brackets[k]["cap"], step)
        brackets[k]["cap"] = new
        brackets[k + 1]["floor"] = new
        return brackets

    return fn


TAMPERS = [(mode, t[0]) for mode in S.MODES for t in public_tampers(mode)]
ALGEBRAIC = [(mode, t[0]) for mode in S.MODES for t in public_tampers(mode) if t[4] != DIGEST]


def tampered(mode: str, name: str):
    """(tampered case, document changed, kind); no proof is made here."""
    case = S.base_case(mode, THRESHOLD)
    _, doc, path, fn, kind = next(t for t in public_tampers(mode) if t[0] == name)
    _set(case[doc], path, fn)
    load_market(case["market"], load_policy(case["policy"]))  # the tampered inputs are valid
    return case, doc, kind


@pytest.mark.parametrize("mode,name", TAMPERS)
def test_changed_public_input_is_refused(mode, name):
    case, doc, _ = tampered(mode, name)
    _, d = valid(mode)
    what = "another policy" if doc == "policy" else "another market snapshot"
    assert_rejected(StatementMismatchError, d, case, match=what)


@pytest.mark.parametrize("mode,name", TAMPERS)
def test_changed_public_input_with_forged_statement_fails_the_proof(mode, name):
    """A forger copies the verifier's statement into the bundle: the proof was made for other
    public inputs, so it fails (and is not reported as a statement mismatch)."""
    case, _, _ = tampered(mode, name)
    _, d = valid(mode)
    d["statement"] = expected_statement(case)
    assert_rejected(VerificationError, d, case)


@pytest.fixture
def no_digests(monkeypatch):
    """Disable every hash of the public inputs: the policy and market digests and the circuit
    digest become constants, so only the constraint weights can tell two circuits apart."""
    # the prepared verifiers cached in this process were built with the real digests, and the
    # ones built under this patch must not outlive it
    prepared.clear()
    monkeypatch.setattr("zkmargin.statement.policy_digest", lambda policy: "0" * 64)
    monkeypatch.setattr("zkmargin.statement.market_digest", lambda market: "0" * 64)
    monkeypatch.setattr(ConstraintSystem, "digest", lambda self: b"\0" * 32)
    yield
    prepared.clear()


_NODIGEST: dict = {}


@pytest.mark.parametrize("mode,name", ALGEBRAIC)
def test_changed_circuit_input_fails_even_without_digests(mode, name, no_digests):
    """With every digest disabled, a proof for the base case presented (statement forged) for
    changed policy or market data fails: the constraint weights bind the data by themselves."""
    case0 = S.base_case(mode, THRESHOLD)
    case, _, kind = tampered(mode, name)
    if mode not in _NODIGEST:  # a proof made under the same patch (constant digests)
        b = prove(case0["account"], case0["market"], case0["policy"], THRESHOLD, CHALLENGE)
        assert b.statement["policy_digest"] == "0" * 64 and b.statement["circuit_digest"] == "00" * 32
        _NODIGEST[mode] = b.to_json_dict()
    d = copy.deepcopy(_NODIGEST[mode])
    assert_verifies(d, case0)  # twin
    expected = expected_statement(case)
    if kind == WEIGHTS:
        assert expected == d["statement"], "a WEIGHTS tamper must leave the whole statement unchanged"
    d["statement"] = expected
    assert_rejected(VerificationError, d, case)


@pytest.mark.parametrize("mode,name", TAMPERS)
def test_tamper_kinds_are_what_they_claim(mode, name):
    """Premise of the tests above: WEIGHTS and CIRCUIT inputs change the constraint system
    (WEIGHTS without changing its size), DIGEST inputs do not change it at all."""
    case0 = S.base_case(mode, THRESHOLD)
    case, _, kind = tampered(mode, name)
    p0, p1 = load_policy(case0["policy"]), load_policy(case["policy"])
    cs0 = build(plan_margin(p0, load_market(case0["market"], p0), Decimal(THRESHOLD)))
    cs1 = build(plan_margin(p1, load_market(case["market"], p1), Decimal(THRESHOLD)))
    if kind == DIGEST:
        assert cs1.digest() == cs0.digest()
    else:
        assert cs1.digest() != cs0.digest()
    if kind == WEIGHTS:
        assert (cs1.n, cs1.m, len(cs1.constraints)) == (cs0.n, cs0.m, len(cs0.constraints))


# --- threshold and challenge ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", S.MODES)
@pytest.mark.parametrize("t", ["5.0001", "6", "4.9999", "0"])
def test_other_threshold_is_refused(mode, t):
    case, d = valid(mode)
    assert_rejected(StatementMismatchError, d, case, threshold=t, match="another threshold")
    edited = copy.deepcopy(d)
    edited["statement"]["threshold"] = canonical(Decimal(t))
    assert_rejected(StatementMismatchError, edited, case)  # the verifier's own T is still 5
    # T is a constant of the circuit: the edited bundle still names the T=5 circuit
    assert_rejected(StatementMismatchError, edited, case, threshold=t, match="circuit_digest")
    forged = copy.deepcopy(d)
    forged["statement"] = expected_statement(case, threshold=t)
    assert forged["statement"]["threshold"] == canonical(Decimal(t))
    assert_rejected(VerificationError, forged, case, threshold=t)  # a proof for T=5 presented as T=t


@pytest.mark.parametrize("mode", S.MODES)
def test_other_challenge_is_refused(mode):
    case, d = valid(mode)
    assert_rejected(StatementMismatchError, d, case, challenge=OTHER_CHALLENGE, match="another challenge")
    assert_rejected(StatementMismatchError, d, case, challenge=None, match="another challenge")
    forged = copy.deepcopy(d)
    forged["statement"]["challenge"] = OTHER_CHALLENGE.hex()
    assert_rejected(StatementMismatchError, forged, case)
    assert_rejected(VerificationError, forged, case, challenge=OTHER_CHALLENGE)


# --- the bundle's own statement ---------------------------------------------------------------------


def _other(key: str, value):
    if key == "gates":
        return value + 1
    if key == "slots":
        return list(reversed(value))
    if key == "mode":
        return "cross" if value != "cross" else "isolated"
    if key == "requirement":
        return "initial" if value == "maintenance" else "maintenance"
    if key == "challenge":
        return OTHER_CHALLENGE.hex()
    if key == "threshold":
        return "5.5"
    if key.endswith("digest"):
        return "00" + value[2:]
    return value + "x"


@pytest.mark.parametrize("mode", S.MODES)
@pytest.mark.parametrize("key", STATEMENT_KEYS)
def test_edited_statement_is_refused(mode, key):
    case, d = valid(mode)
    d["statement"][key] = _other(key, d["statement"][key])
    assert_rejected(StatementMismatchError, d, case)


@pytest.mark.parametrize("key", ["threshold", "slots"])
def test_statement_with_missing_or_extra_key_is_a_format_error(key):
    case, d = valid("cross")
    missing = copy.deepcopy(d)
    del missing["statement"][key]
    with pytest.raises(FormatError, match="statement"):
        verify(missing, case["market"], case["policy"], THRESHOLD, CHALLENGE)
    extra = copy.deepcopy(d)
    extra["statement"]["extra"] = 1
    with pytest.raises(FormatError, match="statement"):
        verify(extra, case["market"], case["policy"], THRESHOLD, CHALLENGE)


# --- commitments ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", S.MODES)
def test_swapped_commitments_are_refused(mode):
    case, d = valid(mode)
    c = d["commitments"]
    c[0], c[1] = c[1], c[0]
    assert_rejected(VerificationError, d, case)
    case, d = valid(mode)
    c = d["commitments"]
    c[-1], c[-2] = c[-2], c[-1]  # the two balances
    assert_rejected(VerificationError, d, case)


@pytest.mark.parametrize("mode", S.MODES)
def test_each_commitment_replaced_by_another_valid_one_is_refused(mode):
    """Slot by slot, the commitment of the same value under another blinding (from a second honest
    proof of the same account): a valid point the proof is not about."""
    case, d = valid(mode)
    _, other = valid(mode, "second")
    assert other["commitments"] != d["commitments"]
    for j in range(len(d["commitments"])):
        t = copy.deepcopy(d)
        t["commitments"][j] = other["commitments"][j]
        assert_rejected(VerificationError, t, case)
    mixed = copy.deepcopy(d)
    mixed["proof"] = other["proof"]  # a valid proof with someone else's commitments
    assert_rejected(VerificationError, mixed, case)


@pytest.mark.parametrize("mode", S.MODES)
def test_malformed_commitments_are_refused(mode):
    case, d = valid(mode)
    neg = copy.deepcopy(d)
    raw = bytearray(bytes.fromhex(neg["commitments"][0]))
    raw[0] ^= 0x20  # the sign flag: −V, still a valid point
    neg["commitments"][0] = raw.hex()
    assert_rejected(VerificationError, neg, case)
    cases = []
    flag = copy.deepcopy(d)
    raw = bytearray(bytes.fromhex(flag["commitments"][0]))
    raw[0] ^= 0x80  # the compression flag
    flag["commitments"][0] = raw.hex()
    cases.append(flag)
    ident = copy.deepcopy(d)
    ident["commitments"][1] = (bytes([0xC0]) + bytes(47)).hex()
    cases.append(ident)
    short = copy.deepcopy(d)
    short["commitments"].pop()
    cases.append(short)
    longer = copy.deepcopy(d)
    longer["commitments"].append(d["commitments"][0])
    cases.append(longer)
    for t in cases:
        assert_rejected(MalformedProofError, t, case)
    bad_hex = copy.deepcopy(d)
    bad_hex["commitments"][0] = bad_hex["commitments"][0][:-2]
    with pytest.raises(FormatError):
        verify(bad_hex, case["market"], case["policy"], THRESHOLD, CHALLENGE)


# --- proof bytes ------------------------------------------------------------------------------------


def _flip(proof: bytes, offset: int, mask: int) -> bytes:
    b = bytearray(proof)
    b[offset] ^= mask
    return bytes(b)


def proof_edits(proof: bytes) -> list[tuple[str, bytes]]:
    lg_n = proof[5]
    pts = {name: HEADER + i * POINT for i, name in enumerate(POINT_NAMES)}
    sc0 = HEADER + len(POINT_NAMES) * POINT
    scs = {name: sc0 + i * SCALAR for i, name in enumerate(SCALAR_NAMES)}
    ipa = sc0 + len(SCALAR_NAMES) * SCALAR
    final = ipa + lg_n * 2 * POINT
    out = [
        ("magic", _flip(proof, 0, 0x01)),
        ("version", _flip(proof, 4, 0x01)),
        ("lg_n", _flip(proof, 5, 0x01)),
        ("phases", _flip(proof, 6, 0x03)),
        ("truncated", proof[:-1]),
        ("extended", proof + b"\0"),
        ("swap A_I/A_O", proof[: pts["A_I"]] + proof[pts["A_O"]: pts["A_O"] + POINT] + proof[pts["A_I"]: pts["A_I"] + POINT]
         + proof[pts["A_O"] + POINT:]),
    ]
    for name, off in pts.items():
        out += [(f"{name} sign", _flip(proof, off, 0x20)), (f"{name} compression flag", _flip(proof, off, 0x80)),
                (f"{name} low bit", _flip(proof, off + POINT - 1, 0x01))]
    for name, off in scs.items():
        out += [(f"{name} low bit", _flip(proof, off + SCALAR - 1, 0x01)),
                (f"{name} above the order", proof[:off] + b"\xff" + proof[off + 1:])]
    for k in sorted({0, lg_n - 1}):
        for side, base in (("L", ipa + 2 * k * POINT), ("R", ipa + (2 * k + 1) * POINT)):
            out += [(f"{side}_{k} sign", _flip(proof, base, 0x20)), (f"{side}_{k} low bit", _flip(proof, base + POINT - 1, 0x01)),
                    (f"{side}_{k} middle bit", _flip(proof, base + 20, 0x10))]
    out += [("a low bit", _flip(proof, final + SCALAR - 1, 0x01)), ("b low bit", _flip(proof, final + 2 * SCALAR - 1, 0x01)),
            ("a middle bit", _flip(proof, final + 16, 0x04)), ("b above the order", proof[: final + SCALAR] + b"\xff" + proof[final + SCALAR + 1:])]
    return out


def _expected_class(proof: bytes):
    try:
        R1CSProof.from_bytes(proof)
    except DecodeError:
        return MalformedProofError
    return VerificationError


@pytest.mark.parametrize("mode", S.MODES)
def test_every_proof_edit_is_refused(mode):
    case, d = valid(mode)
    proof = bytes.fromhex(d["proof"])
    assert proof[5] >= 1
    for what, edited in proof_edits(proof):
        assert edited != proof
        expected = _expected_class(edited)
        if any(k in what for k in ("magic", "version", "lg_n", "phases", "truncated", "extended", "flag", "above the order")):
            assert expected is MalformedProofError, what
        if "sign" in what or "low bit" in what and ("t_x" in what or what[:2] in ("a ", "b ") or "e_blinding" in what):
            assert expected is VerificationError, what
        t = copy.deepcopy(d)
        t["proof"] = edited.hex()
        try:
            assert_rejected(expected, t, case)
        except AssertionError as e:  # pragma: no cover - report which edit slipped through
            raise AssertionError(f"{mode}: proof edit {what!r}: {e}") from None


# --- verify_batch -----------------------------------------------------------------------------------

BATCH_CHALLENGES = [bytes([k]) * 32 for k in (7, 8, 9)]
_BATCH: dict = {}


def batch(mode: str):
    if mode not in _BATCH:
        case = S.base_case(mode, THRESHOLD)
        richer = copy.deepcopy(case)
        richer["account"]["balances"]["USD"] = "3000"  # another account, same policy and market
        bundles = []
        for k, ch in enumerate(BATCH_CHALLENGES):
            c = richer if k == 1 else case
            bundles.append(prove(c["account"], c["market"], c["policy"], THRESHOLD, ch).to_json_dict())
        _BATCH[mode] = (case, bundles)
    case, bundles = _BATCH[mode]
    return copy.deepcopy(case), copy.deepcopy(bundles)


def _batch_rejected(cls, bundles, case, challenges=BATCH_CHALLENGES):
    with pytest.raises(VerificationError) as info:
        verify_batch(bundles, case["market"], case["policy"], THRESHOLD, challenges)
    assert type(info.value) is cls, repr(info.value)
    return str(info.value)


@pytest.mark.parametrize("mode", ["cross", "portfolio"])
def test_batch_of_valid_bundles_verifies(mode):
    case, bundles = batch(mode)
    res = verify_batch(bundles, case["market"], case["policy"], THRESHOLD, BATCH_CHALLENGES)
    assert res.valid and res.proofs == 3
    res = verify_batch(list(reversed(bundles)), case["market"], case["policy"], THRESHOLD, list(reversed(BATCH_CHALLENGES)))
    assert res.valid


@pytest.mark.parametrize("mode", ["cross", "portfolio"])
def test_batch_names_the_tampered_bundles(mode):
    case, bundles = batch(mode)
    t_x_low = HEADER + len(POINT_NAMES) * POINT + SCALAR - 1
    one = copy.deepcopy(bundles)
    one[1]["proof"] = _flip(bytes.fromhex(one[1]["proof"]), t_x_low, 0x01).hex()
    msg = _batch_rejected(VerificationError, one, case)
    assert "[1]" in msg
    two = copy.deepcopy(bundles)
    for k in (0, 2):
        c = two[k]["commitments"]
        c[0], c[1] = c[1], c[0]
    msg = _batch_rejected(VerificationError, two, case)
    assert "[0, 2]" in msg
    st = copy.deepcopy(bundles)
    st[2]["statement"]["threshold"] = "0"
    msg = _batch_rejected(StatementMismatchError, st, case)
    assert "bundle 2" in msg
    msg = _batch_rejected(StatementMismatchError, bundles, case, challenges=list(reversed(BATCH_CHALLENGES)))
    assert "bundle 0" in msg and "another challenge" in msg
    bad = copy.deepcopy(bundles)
    bad[1]["proof"] = bad[1]["proof"][:-2]
    msg = _batch_rejected(MalformedProofError, bad, case)
    assert "bundle 1" in msg
    # a valid bundle for another threshold does not slip into the batch either
    other = prove(case["account"], case["market"], case["policy"], "4", BATCH_CHALLENGES[1]).to_json_dict()
    mixed = copy.deepcopy(bundles)
    mixed[1] = other
    msg = _batch_rejected(StatementMismatchError, mixed, case)
    assert "bundle 1" in msg
    other["statement"] = expected_statement(case, challenge=BATCH_CHALLENGES[1])  # forged for T=5
    mixed[1] = other
    msg = _batch_rejected(VerificationError, mixed, case)
    assert "[1]" in msg
