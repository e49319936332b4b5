"""The second phase of a constraint system: randomized constraints (dalek's
``specify_randomized_constraints``).

A gadget registers a callback (a :class:`RandomizedBlock`) that runs *after* the prover has
committed to every wire allocated so far (phase 1). The callback receives a :class:`RandomizedCS`,
which can draw challenge scalars from the proof's transcript and add gates and constraints whose
weights use them (phase 2). Each block declares its gate count and a descriptor of the public data
it uses, so the padded size and the circuit digest are known before the first challenge
(docs/notes/protocol.md, "Two phases").

May import :mod:`zkmargin.errors`, :mod:`zkmargin.crypto.field`, :mod:`.system` and
:mod:`.flatten`. Used by the constraint system (``randomize``), the lookups, the prover and the
verifier, through :mod:`.cs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from zkmargin.crypto.field import R
from zkmargin.errors import CircuitError

from .flatten import Columns, build_columns
from .system import ConstraintSystem


@dataclass
class RandomizedBlock:
    """One registered phase-2 callback.

    ``gates`` is the exact number of multiplication gates the callback adds (checked when it runs);
    ``descriptor`` is every public datum the callback uses besides the challenges (a table's rows,
    for a lookup), bound into the circuit digest; ``precheck``, prover only, checks the part of the
    witness the callback will need in clear text, so a wrong witness is refused before anything is
    committed."""

    label: str
    gates: int
    descriptor: bytes
    callback: Callable[[RandomizedCS], None]
    precheck: Callable[[], None] | None = None


class ChallengeCollisionError(CircuitError):
    """A phase-2 challenge hit a value the gadget must divide by (probability ~2^-240); the prover
    starts again with fresh blindings, the verifier rejects."""


class RandomizedCS(ConstraintSystem):
    """The second phase of a :class:`ConstraintSystem`: every phase-1 wire, constraint and bound,
    plus ``challenge_scalar`` and room for more gates and constraints.

    Phase-1 gates are ``0 … n1−1`` and phase-1 constraints ``0 … q1−1``; what the callbacks add
    follows. The phase-1 system itself is not modified (its lists are copied; a verifier keeps one
    phase-1 system per policy and market and randomizes it once per proof)."""

    phase = 2

    def __init__(self, base: ConstraintSystem, challenge: Callable[[bytes], int]):
        if base.phase != 1:
            raise CircuitError("only a phase-1 constraint system can be randomized")
        self.base = base
        self._challenge = challenge
        self.is_prover = base.is_prover
        self.n = base.n
        self.n1 = base.n
        self.q1 = len(base.constraints)
        self.a_L = list(base.a_L)
        self.a_R = list(base.a_R)
        self.a_O = list(base.a_O)
        self.v = base.v
        self.m = base.m
        self.constraints = list(base.constraints)
        self.labels = list(base.labels)
        self.bounds = dict(base.bounds)
        # a half-filled phase-1 gate was committed with a_R = 0: phase 2 never completes it
        self._pending = None
        self.inputs = base.inputs
        self.definable = set(base.definable)
        self.randomized = []
        self.challenges: list[tuple[bytes, int]] = []

    def challenge_scalar(self, label: bytes) -> int:
        """A challenge drawn now: after every phase-1 commitment (and every earlier phase-2
        challenge) entered the transcript."""
        value = self._challenge(bytes(label)) % R
        self.challenges.append((bytes(label), value))
        return value

    @property
    def phase2_gates(self) -> int:
        return self.n - self.n1

    @property
    def total_gates(self) -> int:
        return self.n

    def digest(self) -> bytes:
        return self.base.digest()

    def _column_sets(self) -> list[Columns]:
        # phase-1 columns are cached on the base system; only phase 2's are built per proof
        return [self.base._columns(), build_columns(self.constraints[self.q1 :], self.q1)]

    def check_witness(self, *, phase2: bool = True) -> None:
        """Prover only: the phase-2 gates and constraints hold (phase 1 is checked on the base)."""
        if not self.is_prover:
            raise CircuitError("check_witness() is the prover's")
        self._check_range(range(self.n1, self.n), range(self.q1, len(self.constraints)))
