"""The inner-product argument (Bulletproofs paper §3, dalek's inner_product_proof), prover side.

Statement: for P = <a, G'> + <b, H'> + <a, b>·Q with G'_i = g_i·G_i and H'_i = h_i·H_i (public
factors g, h), the prover shows it knows a, b. Each round, with the vectors split in halves,

    c_L = <a_lo, b_hi>                 c_R = <a_hi, b_lo>
    L   = <a_lo, G'_hi> + <b_hi, H'_lo> + c_L·Q
    R   = <a_hi, G'_lo> + <b_lo, H'_hi> + c_R·Q
    u   = challenge after L, R
    a'  = u·a_lo + u⁻¹·a_hi            b'  = u⁻¹·b_lo + u·b_hi
    G'' = u⁻¹·G'_lo + u·G'_hi          H'' = u·H'_lo + u⁻¹·H'_hi

Folding the generators explicitly costs one scalar multiplication per point per round (~0.17 ms
each on this machine's native backend), far more than a point's share of a large MSM (~0.02 ms).
So the prover keeps the generators *unfolded* — a base set plus a scalar factor per base point —
and computes L and R as MSMs over the base set; only when the base set has become ``FOLD_SPAN``
times longer than the current vectors does it materialise the folded generators, each as one small
MSM over the base points it stands for (run concurrently; the native MSM releases the GIL).

May import :mod:`zkmargin.crypto`. Used by :mod:`.r1cs`.
"""

from __future__ import annotations

from zkmargin.crypto.backends.base import GroupBackend, Point
from zkmargin.crypto.field import R, inv
from zkmargin.crypto.transcript import Transcript

from . import progress

#: Materialise the folded generators once each stands for this many base points.
FOLD_SPAN = 16


def inner(a: list[int], b: list[int]) -> int:
    return sum(x * y for x, y in zip(a, b)) % R


def prove_inner_product(transcript: Transcript, backend: GroupBackend, Q: Point, G: list[Point], H: list[Point],
                        g_factors: list[int], h_factors: list[int], a: list[int],
                        b: list[int], work: tuple[int, int] = (0, 0)) -> tuple[list[Point], list[Point], int, int]:
    """Returns (L_vec, R_vec, a, b). ``len(a)`` must be a power of two. ``work``: the points done
    before and in the whole proof, for the progress reports (:mod:`.progress`)."""
    n = len(a)
    assert n & (n - 1) == 0 and len(b) == n == len(G) == len(H)
    Gm, Hm = list(G), list(H)
    gf, hf = [x % R for x in g_factors], [x % R for x in h_factors]
    a, b = list(a), list(b)
    L_vec: list[Point] = []
    R_vec: list[Point] = []
    nk = n
    msm_many = getattr(backend, "msm_many", None)
    done, total = work
    rounds = n.bit_length() - 1
    while nk > 1:
        progress.report(f"inner-product round {rounds - nk.bit_length() + 2}/{rounds}", done, total)
        done += 2 * len(Gm) + 2
        h = nk // 2
        M = len(Gm)
        c_L = inner(a[:h], b[h:])
        c_R = inner(a[h:], b[:h])
        L_pts: list[Point] = []
        R_pts: list[Point] = []
        L_sc: list[int] = []
        R_sc: list[int] = []
        for p in range(M):
            i = p % nk
            if i < h:
                # lo position: H'_lo pairs with b_hi in L; G'_lo pairs with a_hi in R
                L_pts.append(Hm[p])
                L_sc.append(b[i + h] * hf[p] % R)
                R_pts.append(Gm[p])
                R_sc.append(a[i + h] * gf[p] % R)
            else:
                # hi position: G'_hi pairs with a_lo in L; H'_hi pairs with b_lo in R
                L_pts.append(Gm[p])
                L_sc.append(a[i - h] * gf[p] % R)
                R_pts.append(Hm[p])
                R_sc.append(b[i - h] * hf[p] % R)
        L_pts.append(Q)
        L_sc.append(c_L)
        R_pts.append(Q)
        R_sc.append(c_R)
        # L = <a_lo, G'_hi> + <b_hi, H'_lo> + c_L·Q ;  R = <a_hi, G'_lo> + <b_lo, H'_hi> + c_R·Q
        if msm_many is not None and M >= 64:
            L, Rp = msm_many([(L_pts, L_sc), (R_pts, R_sc)])
        else:
            L, Rp = backend.msm(L_pts, L_sc), backend.msm(R_pts, R_sc)
        transcript.append_point(b"L", L, backend)
        transcript.append_point(b"R", Rp, backend)
        L_vec.append(L)
        R_vec.append(Rp)
        u = transcript.challenge_scalar(b"u")
        u_inv = inv(u)
        a = [(a[i] * u + a[i + h] * u_inv) % R for i in range(h)]
        b = [(b[i] * u_inv + b[i + h] * u) % R for i in range(h)]
        for p in range(M):
            if p % nk < h:
                gf[p] = gf[p] * u_inv % R
                hf[p] = hf[p] * u % R
            else:
                gf[p] = gf[p] * u % R
                hf[p] = hf[p] * u_inv % R
        nk = h
        if nk > 1 and M // nk >= FOLD_SPAN:
            Gm, gf = _materialise(backend, Gm, gf, nk)
            Hm, hf = _materialise(backend, Hm, hf, nk)
    return L_vec, R_vec, a[0], b[0]


def _materialise(backend: GroupBackend, base: list[Point], factors: list[int],
                 nk: int) -> tuple[list[Point], list[int]]:
    """Folded generator i = Σ_t factors[i + t·nk]·base[i + t·nk], for i < nk."""
    M = len(base)
    jobs = [([base[p] for p in range(i, M, nk)], [factors[p] for p in range(i, M, nk)]) for i in range(nk)]
    msm_many = getattr(backend, "msm_many", None)
    points = msm_many(jobs) if msm_many is not None else [backend.msm(p, s) for p, s in jobs]
    return points, [1] * nk
