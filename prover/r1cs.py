"""Bulletproofs R1CS prover with committed inputs (paper §5.3; dalek's r1cs notes), in one or two
phases.

Symbols follow docs/notes/protocol.md: a_L, a_R, a_O (gate wires), v, γ (committed values and
their blindings), W_L, W_R, W_O, W_V, c (linear constraints), y, z, x, w, u (challenges). With
randomized constraints the gates split into phase 1 (indices < n1, committed in A_I, A_O, S before
any phase-2 challenge) and phase 2 (n1 … n1+n2−1, committed in A_I2, A_O2, S2); the challenge φ
(dalek's u) combines the two: the verifier reads A_I + φ·A_I2 and generators G_i, H_i scaled by φ
for i ≥ n1.

May import :mod:`zkmargin.crypto`, :mod:`zkmargin.circuits.cs` and :mod:`zkmargin.errors`. Used
by the API, the openings (``commit``), the custodian workflow and the tests.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from zkmargin.circuits.cs import ChallengeCollisionError, ConstraintSystem
from zkmargin.crypto.backends import GroupBackend, get_backend
from zkmargin.crypto.backends.base import Point
from zkmargin.crypto.field import R, batch_inv, powers
from zkmargin.crypto.generators import Generators, get_generators
from zkmargin.crypto.proof import MAX_LG_N, R1CSProof
from zkmargin.crypto.r1cs_transcript import (
    PHASE1_LABELS,
    PHASE2_LABELS,
    PHI_LABEL,
    T_LABELS,
    start_transcript,
)
from zkmargin.errors import CircuitError

from . import progress
from .ipa import FOLD_SPAN, inner, prove_inner_product

#: A phase-2 challenge that hits a value a gadget divides by (probability ~2^-240 per proof) makes
#: the prover start again with fresh blindings, at most this many times.
MAX_ATTEMPTS = 4


def _rand() -> int:
    return secrets.randbelow(R - 1) + 1


def commit(backend: GroupBackend, gens: Generators, value: int, blinding: int) -> Point:
    """V = v·B + γ·B̃"""
    return backend.msm([gens.B, gens.B_blinding], [value % R, blinding % R])


def _msms(be: GroupBackend, jobs: Sequence[tuple[Sequence[Point], Sequence[int]]]) -> list[Point]:
    """Several MSMs; concurrently when the backend can (the native MSM releases the GIL)."""
    many = getattr(be, "msm_many", None)
    if many is None:
        return [be.msm(p, s) for p, s in jobs]
    points: list[Point] = many(jobs)
    return points


def prove(
    cs: ConstraintSystem,
    blindings: Sequence[int],
    public_inputs: Sequence[tuple[bytes, bytes]] = (),
    backend: str | GroupBackend | None = None,
    *,
    check: bool = True,
    commitments: Sequence[Point] | None = None,
) -> tuple[R1CSProof[Point], list[Point]]:
    """Prove that the prover's ``cs`` is satisfied. Returns (proof, commitments V).

    ``check=False`` skips the witness check (both phases); it exists only so tests can show that
    the *verifier* rejects a proof of an unsatisfied circuit.
    """
    if not cs.is_prover:
        raise CircuitError("prove() needs the prover's constraint system")
    if cs.phase != 1:
        raise CircuitError("prove() takes the phase-1 constraint system (phase 2 is built while proving)")
    if len(blindings) != cs.m:
        raise CircuitError(f"{cs.m} committed values but {len(blindings)} blindings")
    be = get_backend(backend)
    gens = get_generators(be)
    if check:
        cs.check_witness(phase2=False)
    n = cs.padded_n()
    lg_n = n.bit_length() - 1
    if lg_n > MAX_LG_N:
        raise CircuitError(f"circuit has {cs.total_gates} gates; at most {1 << MAX_LG_N} are supported")
    gammas = [g % R for g in blindings]
    V = list(commitments) if commitments is not None else [commit(be, gens, v, g) for v, g in zip(cs.v, gammas)]
    for attempt in range(MAX_ATTEMPTS):
        try:
            return _prove_once(cs, gammas, public_inputs, be, gens, n, V, check), V
        except ChallengeCollisionError:
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _prove_once(cs: ConstraintSystem, gammas: list[int], public_inputs: Sequence[tuple[bytes, bytes]],
                be: GroupBackend, gens: Generators, n: int, V: list[Point], check: bool) -> R1CSProof[Point]:
    G, H = gens.G(n), gens.H(n)
    B, B_t = gens.B, gens.B_blinding
    transcript = start_transcript(gens, cs, n, public_inputs, [be.encode(v) for v in V])

    # --- phase 1: every wire allocated while building the circuit, gates 0 … n1−1 ------------------
    # The witness MSMs run over every real gate whatever its value (no skipping of zero scalars,
    # which would make the work depend on the private witness); padding gates, zero by construction
    # and known to everyone, are left out, and so are their s_L, s_R (zero: l_i = 0, r_i = −y^i
    # there, both public).
    n1 = cs.n
    # progress (public shape only): the commitments' points, then the inner-product rounds'
    work_c = progress.commitment_work(n1, max(n - n1, 0) if cs.randomized else 0)
    total = work_c + sum(progress.ipa_schedule(n, FOLD_SPAN))
    progress.report("committing", 0, total)
    alpha1, beta1, rho1 = _rand(), _rand(), _rand()
    s_L1 = [_rand() for _ in range(n1)]
    s_R1 = [_rand() for _ in range(n1)]
    # A_I = α·B̃ + <a_L, G> + <a_R, H>;  A_O = β·B̃ + <a_O, G>;  S = ρ·B̃ + <s_L, G> + <s_R, H>
    A_I, A_O, S = _msms(be, [
        ([B_t] + G[:n1] + H[:n1], [alpha1] + cs.a_L + cs.a_R),
        ([B_t] + G[:n1], [beta1] + cs.a_O),
        ([B_t] + G[:n1] + H[:n1], [rho1] + s_L1 + s_R1),
    ])
    for label, point in zip(PHASE1_LABELS, (A_I, A_O, S)):
        transcript.append_point(label, point, be)

    # --- phase 2: the randomized constraints, gates n1 … n1+n2−1 ----------------------------------
    full = cs
    two_phase = bool(cs.randomized)
    alpha2 = beta2 = rho2 = 0
    s_L2: list[int] = []
    s_R2: list[int] = []
    A_I2 = A_O2 = S2 = None
    if two_phase:
        full = cs.randomize(transcript.challenge_scalar)
        if check:
            full.check_witness()
        n2 = full.n - n1
        alpha2, beta2, rho2 = _rand(), _rand(), _rand()
        s_L2 = [_rand() for _ in range(n2)]
        s_R2 = [_rand() for _ in range(n2)]
        G2, H2 = G[n1 : n1 + n2], H[n1 : n1 + n2]
        # A_I2 = α₂·B̃ + <a_L'', G''> + <a_R'', H''>;  A_O2 = β₂·B̃ + <a_O'', G''>;  S2 likewise
        A_I2, A_O2, S2 = _msms(be, [
            ([B_t] + G2 + H2, [alpha2] + full.a_L[n1:] + full.a_R[n1:]),
            ([B_t] + G2, [beta2] + full.a_O[n1:]),
            ([B_t] + G2 + H2, [rho2] + s_L2 + s_R2),
        ])
        for label, point in zip(PHASE2_LABELS, (A_I2, A_O2, S2)):
            transcript.append_point(label, point, be)

    progress.report("computing t(x)", work_c, total)
    y = transcript.challenge_scalar(b"y")
    z = transcript.challenge_scalar(b"z")

    pad = n - full.n
    a_L = full.a_L + [0] * pad
    a_R = full.a_R + [0] * pad
    a_O = full.a_O + [0] * pad
    s_L = s_L1 + s_L2 + [0] * pad
    s_R = s_R1 + s_R2 + [0] * pad
    w_L, w_R, w_O, w_V, w_c = full.flatten(z, n)
    y_n = powers(y, n)
    y_inv = batch_inv([y])[0]
    y_inv_n = powers(y_inv, n)

    # l(X) = (a_L + y^-n∘w_R)·X + a_O·X² + s_L·X³
    # r(X) = (w_O − y^n) + (y^n∘a_R + w_L)·X + y^n∘s_R·X³
    l1 = [(a_L[i] + y_inv_n[i] * w_R[i]) % R for i in range(n)]
    l2 = a_O
    l3 = s_L
    r0 = [(w_O[i] - y_n[i]) % R for i in range(n)]
    r1 = [(y_n[i] * a_R[i] + w_L[i]) % R for i in range(n)]
    r3 = [y_n[i] * s_R[i] % R for i in range(n)]
    t1 = inner(l1, r0)
    t3 = (inner(l2, r1) + inner(l3, r0)) % R
    t4 = (inner(l1, r3) + inner(l3, r1)) % R
    t5 = inner(l2, r3)
    t6 = inner(l3, r3)

    tau = {k: _rand() for k in (1, 3, 4, 5, 6)}
    t_coeff = {1: t1, 3: t3, 4: t4, 5: t5, 6: t6}
    # T_i = t_i·B + τ_i·B̃
    T = _msms(be, [([B, B_t], [t_coeff[k], tau[k]]) for k in (1, 3, 4, 5, 6)])
    for name, point in zip(T_LABELS, T):
        transcript.append_point(name, point, be)
    # φ combines the phases (dalek's u): A_I + φ·A_I2 …, generators φ·G_i, φ·H_i for i ≥ n1
    phi = transcript.challenge_scalar(PHI_LABEL) if two_phase else 1
    x = transcript.challenge_scalar(b"x")

    x2 = x * x % R
    xs = {k: pow(x, k, R) for k in (1, 3, 4, 5, 6)}
    # τ_x = Σ τ_i·x^i + x²·<w_V, γ> ;  μ = (α + φ·α₂)·x + (β + φ·β₂)·x² + (ρ + φ·ρ₂)·x³
    t_x_blinding = (sum(tau[k] * xs[k] for k in tau) + x2 * inner(w_V, gammas)) % R
    e_blinding = ((alpha1 + phi * alpha2) * x + (beta1 + phi * beta2) * x2 + (rho1 + phi * rho2) * xs[3]) % R
    x3 = xs[3]
    l_vec = [(l1[i] * x + l2[i] * x2 + l3[i] * x3) % R for i in range(n)]
    r_vec = [(r0[i] + r1[i] * x + r3[i] * x3) % R for i in range(n)]
    t_x = inner(l_vec, r_vec)

    transcript.append_scalar(b"t_x", t_x)
    transcript.append_scalar(b"t_x_blinding", t_x_blinding)
    transcript.append_scalar(b"e_blinding", e_blinding)
    w = transcript.challenge_scalar(b"w")
    Q = be.mul(B, w)

    # IPA over Ĝ = G' ‖ φ·G'' and Ĥ = y^-n∘(H' ‖ φ·H'') for (l, r); padding belongs to phase 2
    if two_phase:
        g_factors = [1] * n1 + [phi] * (n - n1)
        h_factors = [y_inv_n[i] * g_factors[i] % R for i in range(n)]
    else:
        g_factors, h_factors = [1] * n, y_inv_n
    L_vec, R_vec, a, b = prove_inner_product(transcript, be, Q, G, H, g_factors, h_factors, l_vec, r_vec,
                                             work=(work_c, total))
    return R1CSProof(
        A_I=A_I, A_O=A_O, S=S, T_1=T[0], T_3=T[1], T_4=T[2], T_5=T[3], T_6=T[4],
        t_x=t_x, t_x_blinding=t_x_blinding, e_blinding=e_blinding,
        L_vec=L_vec, R_vec=R_vec, a=a, b=b, backend=be, A_I2=A_I2, A_O2=A_O2, S2=S2,
    )
