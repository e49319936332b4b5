"""Bulletproofs R1CS prover with committed inputs (paper §5.3; dalek's r1cs notes).

Symbols follow docs/notes/protocol.md: a_L, a_R, a_O (gate wires), v, γ (committed values and
their blindings), W_L, W_R, W_O, W_V, c (linear constraints), y, z, x, w, u (challenges).
"""

from __future__ import annotations

import secrets
from typing import Sequence

from zkmargin.crypto.backends import get_backend
from zkmargin.circuits.cs import ConstraintSystem
from zkmargin.errors import CircuitError
from zkmargin.crypto.field import R, batch_inv, powers
from zkmargin.crypto.generators import get_generators
from zkmargin.crypto.proof import MAX_LG_N, R1CSProof
from zkmargin.crypto.r1cs_transcript import start_transcript

from .ipa import inner, prove_inner_product


def _rand() -> int:
    return secrets.randbelow(R - 1) + 1


def commit(backend, gens, value: int, blinding: int):
    """V = v·B + γ·B̃"""
    return backend.msm([gens.B, gens.B_blinding], [value % R, blinding % R])


def prove(
    cs: ConstraintSystem,
    blindings: Sequence[int],
    public_inputs: Sequence[tuple[bytes, bytes]] = (),
    backend=None,
    *,
    check: bool = True,
    commitments: Sequence | None = None,
) -> tuple[R1CSProof, list]:
    """Prove that the prover's ``cs`` is satisfied. Returns (proof, commitments V).

    ``check=False`` skips the witness check; it exists only so tests can show that the *verifier*
    rejects a proof of an unsatisfied circuit.
    """
    if not cs.is_prover:
        raise CircuitError("prove() needs the prover's constraint system")
    if len(blindings) != cs.m:
        raise CircuitError(f"{cs.m} committed values but {len(blindings)} blindings")
    be = get_backend(backend)
    gens = get_generators(be)
    if check:
        cs.check_witness()
    n = cs.padded_n()
    lg_n = n.bit_length() - 1
    if lg_n > MAX_LG_N:
        raise CircuitError(f"circuit has {cs.n} gates; at most {1 << MAX_LG_N} are supported")
    pad = n - cs.n
    a_L = cs.a_L + [0] * pad
    a_R = cs.a_R + [0] * pad
    a_O = cs.a_O + [0] * pad
    G, H = gens.G(n), gens.H(n)
    B, B_t = gens.B, gens.B_blinding
    gammas = [g % R for g in blindings]

    V = list(commitments) if commitments is not None else [commit(be, gens, v, g) for v, g in zip(cs.v, gammas)]
    transcript = start_transcript(be, gens, cs, n, public_inputs, V)

    alpha, beta, rho = _rand(), _rand(), _rand()
    s_L = [_rand() for _ in range(n)]
    s_R = [_rand() for _ in range(n)]

    # The witness MSMs run over every real gate whatever its value (no skipping of zero scalars,
    # which would make the work depend on the private witness); only the padding gates cs.n..n−1,
    # zero by construction and known to everyone, are left out.
    used = cs.n
    # A_I = α·B̃ + <a_L, G> + <a_R, H>
    A_I = be.msm([B_t] + G[:used] + H[:used], [alpha] + a_L[:used] + a_R[:used])
    # A_O = β·B̃ + <a_O, G>
    A_O = be.msm([B_t] + G[:used], [beta] + a_O[:used])
    # S = ρ·B̃ + <s_L, G> + <s_R, H>
    S = be.msm([B_t] + G + H, [rho] + s_L + s_R)
    transcript.append_point(b"A_I", A_I, be)
    transcript.append_point(b"A_O", A_O, be)
    transcript.append_point(b"S", S, be)
    y = transcript.challenge_scalar(b"y")
    z = transcript.challenge_scalar(b"z")

    w_L, w_R, w_O, w_V, w_c = cs.flatten(z, n)
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
    jobs = [([B, B_t], [t_coeff[k], tau[k]]) for k in (1, 3, 4, 5, 6)]
    many = getattr(be, "msm_many", None)
    T = many(jobs) if many else [be.msm(p, s) for p, s in jobs]
    for name, point in zip((b"T_1", b"T_3", b"T_4", b"T_5", b"T_6"), T):
        transcript.append_point(name, point, be)
    x = transcript.challenge_scalar(b"x")

    x2 = x * x % R
    xs = {k: pow(x, k, R) for k in (1, 3, 4, 5, 6)}
    # τ_x = Σ τ_i·x^i + x²·<w_V, γ> ;  μ = α·x + β·x² + ρ·x³
    t_x_blinding = (sum(tau[k] * xs[k] for k in tau) + x2 * inner(w_V, gammas)) % R
    e_blinding = (alpha * x + beta * x2 + rho * xs[3]) % R
    x3 = xs[3]
    l_vec = [(l1[i] * x + l2[i] * x2 + l3[i] * x3) % R for i in range(n)]
    r_vec = [(r0[i] + r1[i] * x + r3[i] * x3) % R for i in range(n)]
    t_x = inner(l_vec, r_vec)

    transcript.append_scalar(b"t_x", t_x)
    transcript.append_scalar(b"t_x_blinding", t_x_blinding)
    transcript.append_scalar(b"e_blinding", e_blinding)
    w = transcript.challenge_scalar(b"w")
    Q = be.mul(B, w)

    # IPA over G and H' = y^-n∘H for (l, r)
    L_vec, R_vec, a, b = prove_inner_product(transcript, be, Q, G, H, [1] * n, y_inv_n, l_vec, r_vec)
    proof = R1CSProof(
        A_I=A_I, A_O=A_O, S=S, T_1=T[0], T_3=T[1], T_4=T[2], T_5=T[3], T_6=T[4],
        t_x=t_x, t_x_blinding=t_x_blinding, e_blinding=e_blinding,
        L_vec=L_vec, R_vec=R_vec, a=a, b=b, backend=be,
    )
    return proof, V
