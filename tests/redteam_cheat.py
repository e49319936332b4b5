"""A cheating prover's tools for the red-team tests (``tests/test_redteam_*.py``).

The prover runs its own code: it may put any value on any wire the circuit allocates. These
helpers play that prover without copying any gadget:

* :func:`cheat` wraps one function of a circuit module so that, while it runs on the prover's
  constraint system, the ``nth`` free wire it allocates (``cs.allocate``) or the ``nth`` free gate
  (``cs.allocate_multiplier``, e.g. a sign or flag bit) gets a value of the cheater's choosing.
  The constraints are the deployed ones, so the circuit's digest is the verifier's.
* :func:`forced_bundle` proves whatever witness the constraint system holds, past the prover's
  witness check (``check=False``): what a cheater would send to a venue.

The test modules run with ``--import-mode=importlib`` and no conftest; they put ``tests/`` on
``sys.path`` and ``import redteam_cheat as H``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from zkmargin.api import public_inputs
from zkmargin.crypto.backends import get_backend
from zkmargin.crypto.field import R
from zkmargin.documents.bundle import ProofBundle
from zkmargin.errors import UnsatisfiedError
from zkmargin.prover.r1cs import prove as r1cs_prove


def cheat(monkeypatch, module: Any, name: str, change: Callable[[Any], Any] | None = None, *, nth: int = 0,
          changes: dict[int, Callable[[Any], Any]] | None = None, gate: bool = False,
          when: Callable[..., bool] = lambda *a, **k: True) -> list[int]:
    """While ``module.name(cs, ...)`` runs on a prover's system (and ``when(cs, ...)`` holds), the
    ``nth`` value it allocates is replaced by ``change(honest)`` (or every ``k`` of ``changes`` by
    ``changes[k]``): free wires (``cs.allocate``), or with ``gate`` the input pairs of free gates
    (``cs.allocate_multiplier``: sign and flag bits). Returns the list of the allocations it
    replaced (a test asserts that the cheat happened)."""
    plan = dict(changes or {})
    if change is not None:
        plan[nth] = change
    original = getattr(module, name)
    done: list[int] = []

    def wrapper(cs, *args, **kwargs):
        if not cs.is_prover or not when(cs, *args, **kwargs):
            return original(cs, *args, **kwargs)
        attr = "allocate_multiplier" if gate else "allocate"
        real = getattr(cs, attr)
        count = [0]

        def tampered(assign):
            k = count[0]
            count[0] += 1
            if k not in plan or assign is None:
                return real(assign)
            done.append(k)
            return real(lambda: plan[k](assign()))

        setattr(cs, attr, tampered)
        try:
            return original(cs, *args, **kwargs)
        finally:
            delattr(cs, attr)

    monkeypatch.setattr(module, name, wrapper)
    return done


def count_allocations(build: Callable[[], Any], module: Any, name: str, *, gate: bool = False) -> int:
    """How many wires (or free gates) ``module.name`` allocates on the prover's system that
    ``build()`` makes (one honest run): the index of a wire allocated last is this minus one."""
    original = getattr(module, name)
    total = [0]

    def wrapper(cs, *args, **kwargs):
        attr = "allocate_multiplier" if gate else "allocate"
        real = getattr(cs, attr)

        def counting(assign):
            total[0] += 1
            return real(assign)

        setattr(cs, attr, counting)
        try:
            return original(cs, *args, **kwargs)
        finally:
            delattr(cs, attr)

    setattr(module, name, wrapper)
    try:
        build()
    finally:
        setattr(module, name, original)
    return total[0]


def satisfied(cs) -> bool:
    """Whether the prover's witness satisfies every constraint (both phases)."""
    try:
        cs.check_witness()
        return True
    except UnsatisfiedError:
        return False


def forced_bundle(cs, statement: dict) -> ProofBundle:
    """A proof of whatever witness ``cs`` holds, made past the witness check."""
    be = get_backend()
    blindings = [secrets.randbelow(R - 1) + 1 for _ in range(cs.m)]
    proof, V = r1cs_prove(cs, blindings, public_inputs(statement), be, check=False)
    return ProofBundle(statement=statement, commitments=[be.encode(v) for v in V], proof=proof.to_bytes())


def fingerprint(cs) -> bytes:
    """SHA-256 of a verifier's whole circuit: its digest (phase 1 and the phase-2 blocks' labels,
    sizes and descriptors) and every phase-2 constraint at fixed challenges — what the circuit
    checks, including the combinations its lookups range-check."""
    rcs = cs.randomize(lambda label: int.from_bytes(hashlib.sha256(label).digest(), "big") % R)
    h = hashlib.sha256(cs.digest())
    for lc in rcs.constraints[len(cs.constraints):]:
        for (kind, index), c in sorted(lc.terms.items()):
            h.update(bytes((kind,)) + index.to_bytes(4, "big") + c.to_bytes(32, "big"))
        h.update(b";")
    return h.digest()


def flip_bit(pair: tuple[int, int]) -> tuple[int, int]:
    """A boolean gate's inputs ``(b, 1 − b)`` with the bit flipped."""
    return pair[1], pair[0]
