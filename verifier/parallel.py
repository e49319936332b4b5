"""Batch verification across processes: decoding and per-proof terms in forked workers, one MSM.

Per proof, a batch verifier spends its time in Python and in point decompression (about 50
points, each a square root and a subgroup test), not in the shared multi-scalar multiplication.
:func:`verify_batch_parallel` splits the proofs over ``workers`` processes forked for the call:
each worker decodes its share strictly, replays the transcripts, computes every proof's terms
with an independent random weight, sums its G and H columns, and computes the MSM of its proofs'
own points (commitments, A_I…, T_k, L_k, R_k) itself. The parent adds the columns and the
workers' partial sums in one MSM over G, H, B, B̃ and one point per worker: the identity iff the
batch verifies (except with probability about 2^-128), exactly as :func:`verify_batch`.

Workers are forked (they inherit the circuits and the generators; nothing is pickled on the way
in), which is why the native backend drops its MSM thread pool in a forked child
(``arkworks._forget_pool_after_fork``). Below :data:`PARALLEL_MIN` proofs, or with one worker, the
batch runs in this process.

Imports :mod:`zkmargin.verifier.r1cs` and :mod:`zkmargin.crypto`. Used by ``zkmargin.api``.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
from collections.abc import Sequence
from typing import Any

from zkmargin.crypto.backends import get_backend
from zkmargin.crypto.generators import get_generators
from zkmargin.crypto.proof import R1CSProof
from zkmargin.errors import DecodeError, MalformedProofError, VerificationError

from .r1cs import R1CSVerification, _Terms, _terms, columns_msm, merge_terms, verify_batch

#: Smallest batch worth forking for (a fork and the workers' start cost tens of milliseconds).
PARALLEL_MIN = 16

# The batch a call is verifying, set before the workers fork (they read it, nothing is sent).
_JOB: dict[str, Any] = {}


def default_workers() -> int:
    """The machine's cores (``ZKMARGIN_VERIFY_WORKERS`` overrides; 1 disables the processes)."""
    env = os.environ.get("ZKMARGIN_VERIFY_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, os.cpu_count() or 1)


def _decode(be, proof_bytes: bytes, commitments: Sequence[bytes], index: int):
    """(the proof parsed, the proof decoded, the commitments decoded), strictly."""
    try:
        V = [be.decode(c, subgroup=False) for c in commitments]  # the check is cofactored
        parsed = R1CSProof.parse(proof_bytes)
        proof = parsed.decompressed(be)
    except DecodeError as exc:
        raise MalformedProofError(f"bundle {index}: {exc.message}") from None
    return parsed, proof, V


def _work(indices: list[int]) -> tuple:
    """In a worker: the share of the batch at ``indices`` → (columns as bytes, H constants,
    B and B̃ scalars, the encoded partial sum of the proofs' own points); or an error."""
    be = get_backend(_JOB["backend"])
    be.set_msm_threads(max(1, (os.cpu_count() or 1) // _JOB["workers"]))  # this worker's share of the cores
    gens = get_generators(be)
    n_max = _JOB["n_max"]
    items = _JOB["items"]
    terms: list[_Terms] = []
    try:
        for i in indices:
            cs, proof_bytes, commitments, public = items[i]
            parsed, proof, V = _decode(be, proof_bytes, commitments, i)
            # the transcript absorbs the bytes received; the MSM takes the decoded points
            terms.append(_terms(cs, parsed, commitments, public, be, gens, secrets.randbits(128) | 1,
                                points=proof.points() + V))
    except (MalformedProofError, VerificationError) as exc:
        return ("error", type(exc).__name__, exc.message)
    points, scalars = merge_terms(terms, be, gens, n_max)
    # merge_terms lays out [B, B̃] + G(n_max) + H(n_max) + the proofs' own points
    width = 32 * (2 + 2 * n_max)
    own = be.msm_le(points[2 + 2 * n_max :], scalars[width:])
    return ("ok", scalars[:width], be.encode(own) if not be.is_identity(own) else b"")


def verify_batch_parallel(items: Sequence[tuple], backend=None, workers: int | None = None) -> R1CSVerification:
    """Verify ``(cs, proof_bytes, commitment_bytes, public_inputs)`` items — proofs not yet
    decoded — over ``workers`` forked processes and one final MSM. Raises
    :class:`MalformedProofError` naming the first undecodable bundle, or
    :class:`VerificationError` when the batch does not verify."""
    if not items:
        raise VerificationError("nothing to verify")
    be = get_backend(backend)
    workers = default_workers() if workers is None else max(1, workers)
    if workers == 1 or len(items) < PARALLEL_MIN or not hasattr(os, "fork"):
        decoded = []
        for i, (cs, proof_bytes, commitments, public) in enumerate(items):
            _parsed, proof, V = _decode(be, proof_bytes, commitments, i)
            decoded.append((cs, proof, V, public))
        return verify_batch(decoded, backend=be)
    gens = get_generators(be)
    n_max = max(cs.padded_n() for cs, *_ in items)
    gens.G(n_max)  # derived or loaded once, before the fork
    gens.H(n_max)
    workers = min(workers, len(items))
    shares = [list(range(k, len(items), workers)) for k in range(workers)]
    _JOB.update(items=items, backend=be.name, n_max=n_max, workers=workers)
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers) as pool:
            parts = pool.map(_work, shares)
    finally:
        _JOB.clear()
    errors = [p for p in parts if p[0] == "error"]
    if errors:
        # the first bundle in batch order that failed to decode, as the one-process path names it
        malformed = sorted((e for e in errors if e[1] == "MalformedProofError"),
                           key=lambda e: int(e[2].split(":")[0].split()[1]))
        if malformed:
            raise MalformedProofError(malformed[0][2])
        raise VerificationError(errors[0][2])
    ops = be.scalar_ops
    total = ops.from_le(parts[0][1])
    for _tag, cols, _own in parts[1:]:
        total = ops.add(total, ops.from_le(cols))
    # a worker's partial sum carries its proofs' torsion, if any: decoded as a curve point only
    own_points = [be.decode(p, subgroup=False) for _t, _c, p in parts if p]
    cols = ops.to_le(total)  # [B, B̃] + G(n_max) + H(n_max), as merge_terms lays them out
    rest = cols[:64] + (1).to_bytes(32, "little") * len(own_points)
    total_point = columns_msm(be, gens, n_max, cols[64:], [gens.B, gens.B_blinding] + own_points, rest)
    if not be.is_identity_up_to_torsion(total_point):
        raise VerificationError("the batch does not verify")
    return R1CSVerification(gates=max(cs.total_gates for cs, *_ in items), padded=n_max, proofs=len(items))
