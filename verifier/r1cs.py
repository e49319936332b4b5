"""Bulletproofs R1CS verification: one multi-scalar multiplication per proof, or one for a batch.

The verifier rebuilds the transcript from its own circuit and public inputs, recomputes every
challenge (and, for a circuit with randomized constraints, builds phase 2 from the phase-2
challenges), and checks (docs/notes/protocol.md, "Verification")

  (1)  t_x·B + τ_x·B̃ = x²·<w_V, V> + x²·(δ(y,z) + w_c)·B + x·T_1 + x³·T_3 + x⁴·T_4 + x⁵·T_5 + x⁶·T_6
  (2)  P + t_x·Q + Σ_k (u_k²·L_k + u_k⁻²·R_k) = a·<s, Ĝ> + b·<s⁻¹, Ĥ> + a·b·Q

with Q = w·B, Ĝ_i = φ_i·G_i, Ĥ_i = φ_i·y^-i·H_i (φ_i = 1 for phase-1 gates i < n1, φ for the rest;
φ = 1 throughout a one-phase proof) and
       P = x·(A_I + φ·A_I2) + x²·(A_O + φ·A_O2) + x³·(S + φ·S2) − μ·B̃
           + <x·y^-n∘w_R, Ĝ> + <y^-n∘(x·w_L + w_O) − 1, φ∘H>.
(1) is weighted by a random c and added to (2); the sum must be the identity. For a batch, each
proof's sum is weighted by an independent random ρ_j and the G, H columns are merged.

May import :mod:`zkmargin.crypto`, :mod:`zkmargin.circuits.cs` and :mod:`zkmargin.errors`. Used
by the API and the audit.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zkmargin.circuits.cs import ChallengeCollisionError, ConstraintSystem
from zkmargin.crypto.backends import GroupBackend, get_backend
from zkmargin.crypto.backends.base import PendingPoint, Point
from zkmargin.crypto.field import R, batch_inv, inv
from zkmargin.crypto.fixed_base import FixedBaseTable
from zkmargin.crypto.generators import Generators, get_generators
from zkmargin.crypto.proof import R1CSProof
from zkmargin.crypto.r1cs_transcript import (
    PHASE1_LABELS,
    PHASE2_LABELS,
    PHI_LABEL,
    T_LABELS,
    start_transcript,
)
from zkmargin.crypto.scalar_ops import ScalarOps, Vec
from zkmargin.errors import CircuitError, DecodeError, VerificationError

from .compiled import CompiledCircuit, CompiledWeights

#: The verifier's phase-1 circuit: built from the documents, or read back compiled (the disk cache).
VerifierCircuit = ConstraintSystem | CompiledCircuit


@dataclass
class _Terms:
    """One proof's verification equation: the per-index G and H scalars as vectors of the
    backend's :class:`~zkmargin.crypto.scalar_ops.ScalarOps` (length n; H without its constant
    part), the constant part of the H scalars as ``(start, end, c)`` runs, (scalar, point) pairs
    for everything else, and the B and B̃ scalars kept apart for merging. Single scalars are ints
    in [0, r)."""

    n: int
    g: Vec
    h: Vec
    h_const: list[tuple[int, int, int]]
    b: int
    b_t: int
    scalars: list[int]
    points: list[Point]


@dataclass
class Replay:
    """Everything the verifier derives from the transcript before the final check: the
    challenges in order and the circuit extended by phase 2 (the phase-1 circuit when there is
    none)."""

    cs: VerifierCircuit
    n: int
    y: int
    z: int
    phi: int
    x: int
    w: int
    us: list[int]
    phase2_challenges: list[tuple[bytes, int]]


#: One proof to verify: (the verifier's phase-1 circuit, the proof, its commitments V, public inputs).
VerifyItem = tuple[VerifierCircuit, R1CSProof[Point], Sequence[Point], Sequence[tuple[bytes, bytes]]]


def replay(cs: VerifierCircuit, proof: R1CSProof[Any], V: Sequence[Point] | Sequence[bytes],
           public_inputs: Sequence[tuple[bytes, bytes]], be: GroupBackend, gens: Generators) -> Replay:
    """Rebuild the proof's transcript from the verifier's own circuit and public inputs, in the
    order of docs/notes/transcript.md, and build phase 2 (if any) from its challenges. The
    transcript absorbs the points' encodings: a proof and commitments still as bytes
    (:meth:`R1CSProof.parse`) need no decompression here; decoded ones are encoded."""
    if cs.is_prover:
        raise CircuitError("verify() needs the verifier's constraint system")
    if cs.phase != 1:
        raise CircuitError("verify() takes the phase-1 constraint system (phase 2 is built per proof)")
    if len(V) != cs.m:
        raise VerificationError(f"the circuit takes {cs.m} commitments, the proof came with {len(V)}")
    n = cs.padded_n()
    lg_n = n.bit_length() - 1
    if proof.lg_n != lg_n:
        raise VerificationError(f"the proof has {proof.lg_n} inner-product rounds, the circuit needs {lg_n}")
    phases = 2 if cs.randomized else 1
    if proof.phases != phases:
        raise VerificationError(f"the proof has {proof.phases} phase(s), the circuit needs {phases}")
    msg = proof.encoded(be)

    t = start_transcript(gens, cs, n, public_inputs, encodings(V, be))
    for label in PHASE1_LABELS:
        t.append_point_bytes(label, getattr(msg, label.decode()))
    full: VerifierCircuit = cs
    drawn: list[tuple[bytes, int]] = []
    if phases == 2:
        try:
            phase2 = cs.randomize(t.challenge_scalar)
        except ChallengeCollisionError as exc:
            raise VerificationError(f"the proof's phase-2 challenges are unusable ({exc.message})") from None
        full = phase2
        drawn = list(phase2.challenges)
        for label in PHASE2_LABELS:
            t.append_point_bytes(label, getattr(msg, label.decode()))
    y = t.challenge_scalar(b"y")
    z = t.challenge_scalar(b"z")
    for label in T_LABELS:
        t.append_point_bytes(label, getattr(msg, label.decode()))
    phi = t.challenge_scalar(PHI_LABEL) if phases == 2 else 1
    x = t.challenge_scalar(b"x")
    t.append_scalar(b"t_x", msg.t_x)
    t.append_scalar(b"t_x_blinding", msg.t_x_blinding)
    t.append_scalar(b"e_blinding", msg.e_blinding)
    w = t.challenge_scalar(b"w")
    us = []
    for L, Rp in zip(msg.L_vec, msg.R_vec):
        t.append_point_bytes(b"L", L)
        t.append_point_bytes(b"R", Rp)
        us.append(t.challenge_scalar(b"u"))
    return Replay(cs=full, n=n, y=y, z=z, phi=phi, x=x, w=w, us=us, phase2_challenges=drawn)


def encodings(V: Sequence[Point] | Sequence[bytes], be: GroupBackend) -> list[bytes]:
    """The commitments as the transcript absorbs them: 48-byte encodings (encoded if decoded)."""
    return [bytes(v) if isinstance(v, (bytes, bytearray)) else be.encode(v) for v in V]


def _weights(cs: VerifierCircuit, full: VerifierCircuit, ops: ScalarOps, z: int) -> tuple[Vec, Vec, Vec, Vec, int]:
    """``(w_L, w_R, w_O, w_V, w_c)``: phase 1 from the weights compiled once per circuit, phase 2
    (a proof's randomized constraints, if any) compiled for this proof. w_L, w_R, w_O cover the
    gates that have wires (both phases); padding gates have none."""
    comp = CompiledWeights.of_system(cs)
    zq = comp.z_powers(ops, z, z)
    w_L, w_R, w_O, w_V, w_c = comp.flatten(ops, zq)
    extra = full.n - cs.n  # phase-2 gates
    if isinstance(full, ConstraintSystem) and full is not cs and len(full.constraints) > comp.q:
        comp2 = CompiledWeights.of_constraints(full.constraints[comp.q :], q_offset=comp.q, n_gates=full.n, m=cs.m)
        z_first = pow(z, comp.q + 1, R)
        w2 = comp2.flatten(ops, comp2.z_powers(ops, z, z_first))
        pad = ops.fill(0, extra)
        w_L, w_R, w_O = (ops.add(ops.concat(a, pad), b) for a, b in zip((w_L, w_R, w_O), w2[:3]))
        w_V = ops.add(w_V, w2[3])
        w_c = (w_c + w2[4]) % R
    elif extra > 0:  # phase-2 gates constrained by nothing (not built by our gadgets)
        pad = ops.fill(0, extra)
        w_L, w_R, w_O = ops.concat(w_L, pad), ops.concat(w_R, pad), ops.concat(w_O, pad)
    return w_L, w_R, w_O, w_V, w_c


def _terms(cs: VerifierCircuit, proof: R1CSProof[Any], V: Sequence[Point] | Sequence[bytes],
           public_inputs: Sequence[tuple[bytes, bytes]], be: GroupBackend, gens: Generators, rho: int = 1,
           points: list[Point] | None = None) -> _Terms:
    """The proof's equation with every scalar multiplied by the batch weight ``rho``.

    The proof and commitments may be decoded or still encodings (:func:`replay`). The scalars of
    the proof's own points come in the order of ``proof.points() + V``; ``points`` are those
    points decoded, or None when the caller decompresses them later (:func:`verify_encoded`).

    The G and H scalars split into a part over the gates that have wires (from the flattened
    weights) and a dense part over all n gates that depends only on the inner-product challenges:
    ``−a·ρ·s_i`` and ``−b·ρ·y^-i·s_i⁻¹``, each built like s itself, one multiplication per entry
    (bit j of i contributes u_(lg n−1−j)² to s_i, and u_(lg n−1−j)⁻²·y^(−2^j) to y^-i·s_i⁻¹)."""
    ops = be.scalar_ops
    rp = replay(cs, proof, V, public_inputs, be, gens)
    n, y, z, x, w, us, phi = rp.n, rp.y, rp.z, rp.x, rp.w, rp.us, rp.phi
    lg_n = n.bit_length() - 1
    n1 = cs.n

    w_L, w_R, w_O, w_V, w_c = _weights(cs, rp.cs, ops, z)
    nw = ops.length(w_L)
    y_inv = inv(y)
    x_inv = inv(x)
    # xt_i = x·ρ·y^-i over the gates with wires
    xt = ops.powers(y_inv, nw, x * rho)
    g_w = ops.mul(xt, w_R)  # x·ρ·y^-i·w_R[i]
    # x·ρ·δ(y, z) = Σ x·ρ·y^-i·w_R[i]·w_L[i]  (no φ: δ is part of t(x), not of the commitments)
    x_rho_delta = ops.dot(g_w, w_L)
    # ρ·y^-i·(x·w_L[i] + w_O[i]) = xt_i·(w_L[i] + x⁻¹·w_O[i])
    h_w = ops.mul(xt, ops.add(w_L, ops.scale(w_O, x_inv)))

    # the dense parts, −a·ρ·s_i and −b·ρ·y^-i·s_i⁻¹ (s_i = Π_k u_k^±1, s_i⁻¹ = s_(n−1−i))
    u_inv = batch_inv(us) if us else []
    prod_u = 1
    prod_u_inv = 1
    for u, ui in zip(us, u_inv):
        prod_u = prod_u * u % R
        prod_u_inv = prod_u_inv * ui % R
    a, b = proof.a, proof.b
    y_inv_2j = powers_of_two_exponents(y_inv, lg_n)  # y^(−2^j)
    g_factors = [us[lg_n - 1 - j] ** 2 % R for j in range(lg_n)]
    h_factors = [u_inv[lg_n - 1 - j] ** 2 * y_inv_2j[j] % R for j in range(lg_n)]
    g = ops.doubling(-a * rho * prod_u_inv, g_factors)
    h = ops.doubling(-b * rho * prod_u, h_factors)
    # the wired gates' parts on the first nw entries
    g = ops.concat(ops.add(ops.slice(g, 0, nw), g_w), ops.slice(g, nw, n))
    h = ops.concat(ops.add(ops.slice(h, 0, nw), h_w), ops.slice(h, nw, n))
    # H_i also carries −ρ (−ρ·φ on the gates of phase 2 and the padding)
    if phi != 1:
        # phase-2 and padding gates (i ≥ n1) sit on the generators φ·G_i, φ·H_i
        g = ops.concat(ops.slice(g, 0, n1), ops.scale(ops.slice(g, n1, n), phi))
        h = ops.concat(ops.slice(h, 0, n1), ops.scale(ops.slice(h, n1, n), phi))
        h_const = [(0, n1, -rho % R), (n1, n, -rho * phi % R)]
    else:
        h_const = [(0, n, -rho % R)]

    c = secrets.randbits(128) | 1  # weight of equation (1)
    x2 = x * x % R
    x3 = x2 * x % R
    # B:   ρ·(w·(t_x − a·b) + c·(x²·(δ + w_c) − t_x)), with c·x²·ρ·δ = c·x·(x·ρ·δ)
    b_scalar = (rho * (w * (proof.t_x - a * b) + c * (x2 * w_c - proof.t_x)) + c * x * x_rho_delta) % R
    # B̃:  ρ·(−μ − c·τ_x)
    b_t_scalar = rho * (-proof.e_blinding - c * proof.t_x_blinding) % R
    # the scalars of proof.points() + V, in that order
    scalars = [
        x,  # x·A_I
        x2,  # x²·A_O
        x3,  # x³·S
    ]
    if proof.phases == 2:
        scalars += [
            phi * x % R,  # φ·x·A_I2
            phi * x2 % R,  # φ·x²·A_O2
            phi * x3 % R,  # φ·x³·S2
        ]
    scalars += [
        c * x % R,  # c·x·T_1
        c * x3 % R,  # c·x³·T_3
        c * x3 % R * x % R,  # c·x⁴·T_4
        c * x3 % R * x2 % R,  # c·x⁵·T_5
        c * x3 % R * x3 % R,  # c·x⁶·T_6
    ]
    scalars += [u * u % R for u in us]  # u_k²·L_k
    scalars += [ui * ui % R for ui in u_inv]  # u_k⁻²·R_k
    scalars = [sc * rho % R for sc in scalars]
    # c·x²·ρ·w_V[j]·V_j
    scalars += ops.to_ints(ops.scale(w_V, c * x2 * rho))
    if points is not None and len(points) != len(scalars):
        raise VerificationError(f"{len(points)} points for {len(scalars)} scalars")
    return _Terms(n=n, g=g, h=h, h_const=h_const, b=b_scalar, b_t=b_t_scalar, scalars=scalars, points=points or [])


def powers_of_two_exponents(base: int, count: int) -> list[int]:
    """``[base, base², base⁴, …, base^(2^(count−1))]`` mod r."""
    out = []
    acc = base % R
    for _ in range(count):
        out.append(acc)
        acc = acc * acc % R
    return out


@dataclass(frozen=True)
class R1CSVerification:
    """What a successful verification returns (failures raise VerificationError)."""

    gates: int
    padded: int
    proofs: int = 1


def verify(cs: VerifierCircuit, proof: R1CSProof[Any], V: Sequence[Point],
           public_inputs: Sequence[tuple[bytes, bytes]] = (),
           backend: str | GroupBackend | None = None) -> R1CSVerification:
    """Verify one proof with one MSM; raises :class:`VerificationError` on failure."""
    return verify_batch([(cs, proof, V, public_inputs)], backend=backend)


def verify_batch(items: Sequence[VerifyItem], backend: str | GroupBackend | None = None) -> R1CSVerification:
    """Verify many ``(cs, proof, V, public_inputs)`` at once: every proof's equation weighted by a
    fresh 128-bit random ρ_j, G and H columns merged, one MSM. A batch containing any invalid
    proof fails as a whole (find the culprit by verifying one by one)."""
    if not items:
        raise VerificationError("nothing to verify")
    be = get_backend(backend)
    gens = get_generators(be)
    n_max = max(cs.padded_n() for cs, *_ in items)
    terms = []
    for j, (cs, proof, V, public) in enumerate(items):
        if proof.backend is not None and proof.backend.name != be.name:
            raise VerificationError("the proof was decoded with another backend; decode it with this one")
        rho = 1 if j == 0 else secrets.randbits(128) | 1
        terms.append(_terms(cs, proof, V, public, be, gens, rho, points=proof.points() + list(V)))
    columns, b, b_t = merge_columns(terms, be, n_max)
    own_points, own_scalars = _rest(terms, gens, b, b_t)
    # the sum over the prime-order components only (a proof's points may carry torsion; see
    # docs/notes/protocol.md, "Points outside the subgroup")
    if not be.is_identity_up_to_torsion(columns_msm(be, gens, n_max, columns, own_points, scalars_le(own_scalars))):
        raise VerificationError("the proof does not verify" if len(items) == 1 else "the batch does not verify")
    return R1CSVerification(gates=max(cs.total_gates for cs, *_ in items), padded=n_max, proofs=len(items))


def verify_encoded(cs: VerifierCircuit, proof: R1CSProof[bytes], V: Sequence[bytes],
                   public_inputs: Sequence[tuple[bytes, bytes]] = (),
                   backend: str | GroupBackend | None = None) -> R1CSVerification:
    """Verify one proof whose points are still encodings (:meth:`R1CSProof.parse`; ``V``: the
    commitments' 48-byte encodings), decompressing them while the generator columns' MSM runs.

    It is :func:`verify`'s one MSM, evaluated in two parts that are added before the check. The
    transcript needs only the encodings, so the challenges and every scalar come first and the
    columns ``<g, G> + <h, H>`` start on the backend's threads; meanwhile this thread decompresses
    the proof's points and commitments — a :class:`DecodeError` for one off the curve — and
    computes ``b·B + b̃·B̃ + Σ own``. Nothing is accepted before every point has decoded.
    (docs/notes/verification-at-scale.md, "One proof: decompression beside the MSM")"""
    be = get_backend(backend)
    gens = get_generators(be)
    tm = _terms(cs, proof, V, public_inputs, be, gens)
    columns, b, b_t = merge_columns([tm], be, tm.n)
    # <g, G> + <h, H>: the bulk of the MSM, on the pool; from the generators' fixed-base tables
    # once this process has them (zkmargin/crypto/fixed_base.py), else variable-base
    pending = columns_start(be, gens, tm.n, columns)
    try:
        own = proof.decompressed(be).points()
        for k, v in enumerate(V):
            try:
                own.append(be.decode(v, subgroup=False))
            except DecodeError as exc:
                raise DecodeError(f"commitment {k}: {exc.message.removeprefix('point: ')}") from None
    except DecodeError:
        pending.result()  # the pool's threads finish their part before the error leaves
        raise
    # b·B + b̃·B̃ + the proof's own points and commitments, on this thread while the pool works
    rest = be.msm_le([gens.B, gens.B_blinding] + own, scalars_le([b, b_t] + tm.scalars))
    # the sum over the prime-order components only (docs/notes/protocol.md, "Points outside the
    # subgroup")
    if not be.is_identity_up_to_torsion(be.add(pending.result(), rest)):
        raise VerificationError("the proof does not verify")
    return R1CSVerification(gates=cs.total_gates, padded=tm.n, proofs=1)


def columns_start(be: GroupBackend, gens: Generators, n: int, columns: bytes) -> PendingPoint:
    """``<g, G(n)> + <h, H(n)>`` started on the backend's threads, ``columns`` being the 2n
    scalars of :func:`merge_columns`: from the fixed-base tables when the generators have them
    for ``n``, else by the variable-base MSM. The same point either way."""
    tables = gens.column_tables(n)
    if tables is None:
        return be.msm_le_start(gens.G(n) + gens.H(n), columns)
    return _fixed_columns_start(be, tables, n, columns)


def _fixed_columns_start(be: GroupBackend, tables: tuple[FixedBaseTable, FixedBaseTable], n: int,
                         columns: bytes) -> PendingPoint:
    g_table, h_table = tables
    return be.msm_fixed_start([(g_table, columns[: 32 * n]), (h_table, columns[32 * n :])])


def columns_msm(be: GroupBackend, gens: Generators, n: int, columns: bytes,
                points: Sequence[Point], scalars: bytes) -> Point:
    """``<g, G(n)> + <h, H(n)> + Σ scalars·points``: a batch's one MSM. With the fixed-base tables
    the columns run on the pool while this thread takes the other points; without them it is one
    variable-base MSM over all the points, as before."""
    tables = gens.column_tables(n)
    if tables is None:
        return be.msm_le(gens.G(n) + gens.H(n) + list(points), columns + scalars)
    pending = _fixed_columns_start(be, tables, n, columns)
    rest = be.msm_le(points, scalars)
    return be.add(pending.result(), rest)


def scalars_le(scalars: Sequence[int]) -> bytes:
    """Scalars in [0, r) as concatenated canonical 32-byte little-endian integers."""
    return b"".join(k.to_bytes(32, "little") for k in scalars)


def merge_columns(terms: Sequence[_Terms], be: GroupBackend, n_max: int) -> tuple[bytes, int, int]:
    """The G and H columns summed across proofs, as the scalars of ``G(n_max) + H(n_max)``
    (canonical 32-byte little-endian, concatenated), and the B and B̃ scalars summed."""
    ops = be.scalar_ops
    g_col = h_col = None
    diff = [0] * (n_max + 1)  # the H constants, as a difference array over the column
    cuts_seen: set[int] = set()
    b_total = b_t_total = 0
    for tm in terms:
        g, h = tm.g, tm.h
        if tm.n < n_max:
            pad = ops.fill(0, n_max - tm.n)
            g, h = ops.concat(g, pad), ops.concat(h, pad)
        g_col = g if g_col is None else ops.add(g_col, g)
        h_col = h if h_col is None else ops.add(h_col, h)
        for start, end, c in tm.h_const:
            diff[start] += c
            diff[end] -= c
            cuts_seen.update((start, end))
        b_total += tm.b
        b_t_total += tm.b_t
    if g_col is None or h_col is None:
        raise VerificationError("nothing to verify")
    acc = 0
    runs = []
    cuts = sorted({0, n_max} | cuts_seen)
    for i, nxt in zip(cuts, cuts[1:]):  # runs of one constant
        acc += diff[i]
        runs.append(ops.fill(acc, nxt - i))
    h_col = ops.add(h_col, ops.concat(*runs))
    return ops.to_le(g_col) + ops.to_le(h_col), b_total % R, b_t_total % R


def merge_terms(terms: Sequence[_Terms], be: GroupBackend, gens: Generators, n_max: int) -> tuple[list[Point], bytes]:
    """The one MSM of a batch, as (points, scalars as canonical 32-byte little-endian bytes): the
    G and H columns summed across proofs, the B and B̃ scalars summed, everything else
    concatenated. The points are laid out [B, B̃] + G(n_max) + H(n_max) + the proofs' own."""
    columns, b, b_t = merge_columns(terms, be, n_max)
    points, scalars = _rest(terms, gens, b, b_t)
    return points[:2] + gens.G(n_max) + gens.H(n_max) + points[2:], scalars_le(scalars[:2]) + columns + scalars_le(scalars[2:])


def _rest(terms: Sequence[_Terms], gens: Generators, b: int, b_t: int) -> tuple[list[Point], list[int]]:
    """The points of a batch's MSM other than the columns, with their scalars: B, B̃ and the
    proofs' own points concatenated."""
    points: list[Point] = [gens.B, gens.B_blinding]
    scalars = [b, b_t]
    for tm in terms:
        points += tm.points
        scalars += tm.scalars
    return points, scalars
