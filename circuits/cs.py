"""Rank-1 constraint systems for Bulletproofs, in the shape of dalek's r1cs API.

A circuit is written once against :class:`ConstraintSystem`. The prover's instance carries values
(committed inputs ``v`` with blindings ``γ``, and every wire as it is allocated); the verifier's
carries the commitments ``V`` only. Gadgets never ask which one they run in: anything that needs a
value is a callable handed to :meth:`ConstraintSystem.allocate` / ``allocate_multiplier``, which the
prover calls and the verifier ignores.

The system is

    multiplication gates     a_L[i] · a_R[i] = a_O[i]                        (i < n)
    linear constraints       W_L·a_L + W_R·a_R + W_O·a_O = W_V·v + c          (q of them)

and every linear constraint is kept as a :class:`LinearCombination` that must equal zero.

Randomized constraints (a second phase, dalek's ``specify_randomized_constraints``): a gadget may
register a callback that runs *after* the prover has committed to every wire allocated so far
(phase 1). The callback receives a :class:`RandomizedCS`, which can draw challenge scalars from the
proof's transcript and add gates and constraints whose weights use them (phase 2). Each callback
declares its gate count and a descriptor of the public data it uses, so the padded size and the
circuit digest are known before the first challenge (docs/notes/protocol.md, "Two phases").

Soundness guard: the builder tracks, for every wire it can, the interval of integers its value lies
in. A range check ``lc ∈ [0, 2^k)`` only proves something about the *integer* ``lc`` if no other
integer in ``lc``'s interval has the same residue mod r; :func:`check_no_wrap` refuses a circuit
where that could happen, and a range check over a combination of unbounded wires is refused too.

The pieces, one module each; every name is re-exported here, and ``zkmargin.circuits.cs`` is the
import every circuit uses:

================  ==============================================================================
``wires``         :class:`Variable`, :data:`ONE`, :class:`LinearCombination`, ``LCLike``
``bounds``        :func:`check_no_wrap`, :class:`~.bounds.WireBounds` (intervals, definable wires)
``system``        :class:`ConstraintSystem`: gates, wires, constraints, the witness check
``randomized``    the second phase: :class:`RandomizedBlock`, :class:`RandomizedCS`,
                  :class:`ChallengeCollisionError`
``flatten``       the circuit digest and the flattened weights ``w_L, w_R, w_O, w_V, w_c``
================  ==============================================================================

May import :mod:`zkmargin.errors` and :mod:`zkmargin.crypto.field`. Used by the gadgets, the
lookups, the margin circuit, the prover, the R1CS verifier and the API.
"""

from .bounds import WireBounds, check_no_wrap
from .flatten import Columns, FlatWeights, build_columns
from .randomized import ChallengeCollisionError, RandomizedBlock, RandomizedCS
from .system import ConstraintSystem
from .wires import (
    L_KIND,
    O_KIND,
    ONE,
    ONE_KIND,
    R_KIND,
    V_KIND,
    LCLike,
    LinearCombination,
    Variable,
)

__all__ = [
    "ChallengeCollisionError", "Columns", "ConstraintSystem", "FlatWeights", "LCLike", "LinearCombination",
    "L_KIND", "ONE", "ONE_KIND", "O_KIND", "R_KIND", "RandomizedBlock", "RandomizedCS", "V_KIND", "Variable",
    "WireBounds", "build_columns", "check_no_wrap",
]
