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

from zkmargin.circuits.cs import ChallengeCollisionError, ConstraintSystem
from zkmargin.crypto.backends import GroupBackend, get_backend
from zkmargin.crypto.backends.base import Point
from zkmargin.crypto.field import R, batch_inv, inv, powers
from zkmargin.crypto.generators import Generators, get_generators
from zkmargin.crypto.proof import R1CSProof
from zkmargin.crypto.r1cs_transcript import (
    PHASE1_LABELS,
    PHASE2_LABELS,
    PHI_LABEL,
    T_LABELS,
    start_transcript,
)
from zkmargin.errors import CircuitError, VerificationError


@dataclass
class _Terms:
    """One proof's verification equation as scalars: per-index G and H scalars (length n) and
    (scalar, point) pairs for everything else; B and B̃ scalars kept apart for merging."""

    n: int
    g: list[int]
    h: list[int]
    b: int
    b_t: int
    pairs: list[tuple[int, Point]]


@dataclass
class Replay:
    """Everything the verifier derives from the transcript before the final check: the
    challenges in order and the circuit extended by phase 2 (the phase-1 circuit when there is
    none)."""

    cs: ConstraintSystem
    n: int
    y: int
    z: int
    phi: int
    x: int
    w: int
    us: list[int]
    phase2_challenges: list[tuple[bytes, int]]


#: One proof to verify: (the verifier's phase-1 circuit, the proof, its commitments V, public inputs).
VerifyItem = tuple[ConstraintSystem, R1CSProof, Sequence[Point], Sequence[tuple[bytes, bytes]]]


def replay(cs: ConstraintSystem, proof: R1CSProof, V: Sequence[Point], public_inputs: Sequence[tuple[bytes, bytes]],
           be: GroupBackend, gens: Generators) -> Replay:
    """Rebuild the proof's transcript from the verifier's own circuit and public inputs, in the
    order of docs/notes/transcript.md, and build phase 2 (if any) from its challenges."""
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

    t = start_transcript(be, gens, cs, n, public_inputs, V)
    for label in PHASE1_LABELS:
        t.append_point(label, getattr(proof, label.decode()), be)
    full = cs
    drawn: list[tuple[bytes, int]] = []
    if phases == 2:
        try:
            full = cs.randomize(t.challenge_scalar)
        except ChallengeCollisionError as exc:
            raise VerificationError(f"the proof's phase-2 challenges are unusable ({exc.message})") from None
        drawn = list(full.challenges)
        for label in PHASE2_LABELS:
            t.append_point(label, getattr(proof, label.decode()), be)
    y = t.challenge_scalar(b"y")
    z = t.challenge_scalar(b"z")
    for label in T_LABELS:
        t.append_point(label, getattr(proof, label.decode()), be)
    phi = t.challenge_scalar(PHI_LABEL) if phases == 2 else 1
    x = t.challenge_scalar(b"x")
    t.append_scalar(b"t_x", proof.t_x)
    t.append_scalar(b"t_x_blinding", proof.t_x_blinding)
    t.append_scalar(b"e_blinding", proof.e_blinding)
    w = t.challenge_scalar(b"w")
    us = []
    for L, Rp in zip(proof.L_vec, proof.R_vec):
        t.append_point(b"L", L, be)
        t.append_point(b"R", Rp, be)
        us.append(t.challenge_scalar(b"u"))
    return Replay(cs=full, n=n, y=y, z=z, phi=phi, x=x, w=w, us=us, phase2_challenges=drawn)


def _terms(cs: ConstraintSystem, proof: R1CSProof, V: Sequence[Point], public_inputs: Sequence[tuple[bytes, bytes]],
           be: GroupBackend, gens: Generators, rho: int = 1) -> _Terms:
    """The proof's equation with every scalar multiplied by the batch weight ``rho``."""
    rp = replay(cs, proof, V, public_inputs, be, gens)
    n, y, z, x, w, us, phi = rp.n, rp.y, rp.z, rp.x, rp.w, rp.us, rp.phi
    lg_n = n.bit_length() - 1
    n1 = cs.n

    w_L, w_R, w_O, w_V, w_c = rp.cs.flatten(z, n)
    # Every scalar of this proof's equation is scaled by its batch weight ρ (1 when alone); the
    # powers of y⁻¹ are drawn already scaled: yr_i = ρ·y^-i.
    yr = powers(inv(y), n, start=rho)
    yr_wR = [yr[i] * w_R[i] % R for i in range(n)]  # ρ·y^-i·w_R[i]
    # ρ·δ(y, z) = ρ·<y^-n∘w_R, w_L>  (no φ: δ is part of t(x), not of the commitments)
    delta_r = sum(yr_wR[i] * w_L[i] for i in range(n)) % R

    # s_i = Π_k u_k^(+1 if bit (lg_n−1−k) of i is set else −1);  s_i⁻¹ = s_(n−1−i)
    u_inv = batch_inv(us) if us else []
    u_sq = [u * u % R for u in us]
    u_inv_sq = [ui * ui % R for ui in u_inv]
    acc = 1
    for ui in u_inv:
        acc = acc * ui % R
    s = [acc]
    for j in range(lg_n):  # the entries with bit j set: flip round (lg_n−1−j) from u⁻¹ to u
        u2 = u_sq[lg_n - 1 - j]
        s += [v * u2 % R for v in s]

    c = secrets.randbits(128) | 1  # weight of equation (1)
    a, b = proof.a, proof.b
    ar = a * rho % R
    x2 = x * x % R
    x3 = x2 * x % R
    # G_i:  ρ·φ_i·(x·y^-i·w_R[i] − a·s_i)
    g = [(x * yr_wR[i] - ar * s[i]) % R for i in range(n)]
    # H_i:  ρ·φ_i·(y^-i·(x·w_L[i] + w_O[i] − b·s_i⁻¹) − 1)
    h = [(yr[i] * (x * w_L[i] + w_O[i] - b * s[n - 1 - i]) - rho) % R for i in range(n)]
    if phi != 1:
        # phase-2 and padding gates (i ≥ n1) sit on the generators φ·G_i, φ·H_i
        g[n1:] = [v * phi % R for v in g[n1:]]
        h[n1:] = [v * phi % R for v in h[n1:]]
    # B:   ρ·(w·(t_x − a·b) + c·(x²·(δ + w_c) − t_x))
    b_scalar = (rho * (w * (proof.t_x - a * b) + c * (x2 * w_c - proof.t_x)) + c * x2 * delta_r) % R
    # B̃:  ρ·(−μ − c·τ_x)
    b_t_scalar = rho * (-proof.e_blinding - c * proof.t_x_blinding) % R
    pairs = [
        (x, proof.A_I),  # x·A_I
        (x2, proof.A_O),  # x²·A_O
        (x3, proof.S),  # x³·S
    ]
    if proof.phases == 2:
        pairs += [
            (phi * x % R, proof.A_I2),  # φ·x·A_I2
            (phi * x2 % R, proof.A_O2),  # φ·x²·A_O2
            (phi * x3 % R, proof.S2),  # φ·x³·S2
        ]
    pairs += [
        (c * x % R, proof.T_1),  # c·x·T_1
        (c * x3 % R, proof.T_3),  # c·x³·T_3
        (c * x3 % R * x % R, proof.T_4),  # c·x⁴·T_4
        (c * x3 % R * x2 % R, proof.T_5),  # c·x⁵·T_5
        (c * x3 % R * x3 % R, proof.T_6),  # c·x⁶·T_6
    ]
    cx2 = c * x2 % R
    pairs += [(cx2 * wv % R, Vj) for wv, Vj in zip(w_V, V)]  # c·x²·w_V[j]·V_j
    pairs += [(u2, L) for u2, L in zip(u_sq, proof.L_vec)]  # u_k²·L_k
    pairs += [(ui2, Rk) for ui2, Rk in zip(u_inv_sq, proof.R_vec)]  # u_k⁻²·R_k
    if rho != 1:
        pairs = [(sc * rho % R, pt) for sc, pt in pairs]
    return _Terms(n=n, g=g, h=h, b=b_scalar, b_t=b_t_scalar, pairs=pairs)


@dataclass(frozen=True)
class R1CSVerification:
    """What a successful verification returns (failures raise VerificationError)."""

    gates: int
    padded: int
    proofs: int = 1


def verify(cs: ConstraintSystem, proof: R1CSProof, V: Sequence[Point],
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
    g = [0] * n_max
    h = [0] * n_max
    b_total = 0
    b_t_total = 0
    pairs: list[tuple[int, Point]] = []
    for j, (cs, proof, V, public) in enumerate(items):
        if proof.backend is not None and proof.backend.name != be.name:
            raise VerificationError("the proof was decoded with another backend; decode it with this one")
        rho = 1 if j == 0 else secrets.randbits(128) | 1
        tm = _terms(cs, proof, V, public, be, gens, rho)
        if tm.n == n_max:
            g = [u + v for u, v in zip(g, tm.g)]
            h = [u + v for u, v in zip(h, tm.h)]
        else:
            g[: tm.n] = [u + v for u, v in zip(g, tm.g)]
            h[: tm.n] = [u + v for u, v in zip(h, tm.h)]
        b_total += tm.b
        b_t_total += tm.b_t
        pairs += tm.pairs
    points = [gens.B, gens.B_blinding] + gens.G(n_max) + gens.H(n_max) + [pt for _, pt in pairs]
    scalars = [b_total % R, b_t_total % R] + [x % R for x in g] + [x % R for x in h] + [sc for sc, _ in pairs]
    if not be.is_identity(be.msm(points, scalars)):
        raise VerificationError("the proof does not verify" if len(items) == 1 else "the batch does not verify")
    return R1CSVerification(gates=max(cs.total_gates for cs, *_ in items), padded=n_max, proofs=len(items))
