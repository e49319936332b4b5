"""Shared helpers for the proof-core tests (test_gadgets, test_r1cs, test_proof_encoding).

The suite runs with ``--import-mode=importlib`` and no conftest, so ``tests/`` is not on sys.path;
each test module puts its own folder there first (``sys.path.insert(0, str(Path(__file__).parent))``)
and then does ``import r1cs_helpers as H``.

Everything goes through bytes the way a real verifier would: the prover's proof and commitments
are encoded, and the verifier decodes them with its own backend and rebuilds the circuit from
the same builder function in verifier mode (where every witness callable is poisoned, so a gadget
that evaluates a witness on the verifier's side fails loudly).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from zkmargin.circuits.cs import ConstraintSystem
from zkmargin.crypto.backends import get_backend
from zkmargin.crypto.field import R
from zkmargin.crypto.proof import POINT_NAMES, SCALAR_NAMES, R1CSProof
from zkmargin.errors import UnsatisfiedError, VerificationError
from zkmargin.prover.r1cs import prove
from zkmargin.verifier.r1cs import verify

POINT = 48
SCALAR = 32
HEADER = 7  # magic, version, lg_n, phases


def pyecc_missing() -> str | None:
    """None when the py_ecc reference backend imports, else why not."""
    try:
        import zkmargin.crypto.backends.pyecc  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the concurrent helper
        return f"zkmargin.crypto.backends.pyecc cannot be imported yet: {exc}"
    return None


def requires_pyecc():
    reason = pyecc_missing()
    return pytest.mark.skipif(reason is not None, reason=reason or "")


def backends_param():
    """pytest params over both backends; py_ecc skipped (with the reason) only if it cannot import."""
    return [
        pytest.param("arkworks", id="arkworks"),
        pytest.param("py_ecc", id="py_ecc", marks=requires_pyecc()),
    ]


def witness(cs: ConstraintSystem, f: Callable):
    """The prover's witness callable; on the verifier's side one that fails if ever called."""
    if cs.is_prover:
        return f

    def poisoned(*_a, **_k):
        raise AssertionError("the verifier evaluated a witness callable")

    return poisoned


def blind(m: int) -> list[int]:
    return [secrets.randbelow(R - 1) + 1 for _ in range(m)]


Build = Callable[[ConstraintSystem], object]


@dataclass
class Made:
    """A proof as it travels: bytes, encoded commitments, public inputs."""

    proof: bytes
    V: list[bytes]
    m: int
    public: tuple = ()
    backend: str = "arkworks"
    gates: int = 0
    extra: dict = field(default_factory=dict)


def prover_cs(build: Build, values: Sequence[int]) -> ConstraintSystem:
    cs = ConstraintSystem.for_prover(values)
    build(cs)
    return cs


def verifier_cs(build: Build, m: int) -> ConstraintSystem:
    cs = ConstraintSystem.for_verifier(m)
    build(cs)
    return cs


def make(build: Build, values: Sequence[int], *, public=(), backend="arkworks", check=True, blindings=None) -> Made:
    cs = prover_cs(build, values)
    be = get_backend(backend)
    proof, V = prove(cs, blindings if blindings is not None else blind(cs.m), public, backend=be, check=check)
    return Made(
        proof=proof.to_bytes(), V=[be.encode(v) for v in V], m=cs.m, public=tuple(public), backend=be.name, gates=cs.n
    )


def decode(made: Made, backend=None, proof: bytes | None = None, V: Sequence[bytes] | None = None):
    be = get_backend(backend or made.backend)
    p = R1CSProof.from_bytes(made.proof if proof is None else proof, backend=be)
    Vs = [be.decode(v) for v in (made.V if V is None else V)]
    return p, Vs


def check(build: Build, made: Made, *, backend=None, proof=None, V=None, public=None, m=None):
    """Verify ``made`` against the circuit ``build`` rebuilt in verifier mode; raises on failure."""
    be = get_backend(backend or made.backend)
    cs = verifier_cs(build, made.m if m is None else m)
    p, Vs = decode(made, be, proof, V)
    return verify(cs, p, Vs, made.public if public is None else public, backend=be)


def prove_and_verify(build: Build, values: Sequence[int], **kw) -> Made:
    made = make(build, values, **kw)
    check(build, made)
    return made


def assert_refused(build: Build, values: Sequence[int], label: str, *, secret_values: Sequence[int] = ()) -> str:
    """The twin of prove_and_verify: the prover refuses naming ``label`` (and no private value),
    and a proof forced out of it with ``check=False`` is rejected by the verifier."""
    cs = prover_cs(build, values)
    with pytest.raises(UnsatisfiedError) as info:
        prove(cs, blind(cs.m))
    msg = str(info.value)
    assert label in msg, f"{msg!r} does not name {label!r}"
    assert "\n" not in msg
    for v in secret_values:
        if abs(v) >= 100:  # short numbers may legitimately appear (bit indices, widths)
            assert str(v) not in msg and str(v % R) not in msg, f"private value leaked in {msg!r}"
    forced = make(build, values, check=False)
    with pytest.raises(VerificationError):
        check(build, forced)
    return msg


# --- proof layout (stated here from proof.py's docstring, independently of its constants) ---------


def slots(lg_n: int, phases: int = 1) -> dict[str, tuple[int, int]]:
    """name -> (offset, size) for every element of an encoded proof with ``lg_n`` rounds and
    ``phases`` phases (the phase-2 commitments follow the phase-1 ones)."""
    out = {}
    pos = HEADER
    names = ("A_I", "A_O", "S") + (("A_I2", "A_O2", "S2") if phases == 2 else ()) + ("T_1", "T_3", "T_4", "T_5", "T_6")
    for name in names:
        out[name] = (pos, POINT)
        pos += POINT
    for name in ("t_x", "t_x_blinding", "e_blinding"):
        out[name] = (pos, SCALAR)
        pos += SCALAR
    for k in range(lg_n):
        out[f"L_{k}"] = (pos, POINT)
        pos += POINT
        out[f"R_{k}"] = (pos, POINT)
        pos += POINT
    out["a"] = (pos, SCALAR)
    pos += SCALAR
    out["b"] = (pos, SCALAR)
    pos += SCALAR
    out["_end"] = (pos, 0)
    return out


assert tuple(POINT_NAMES) == ("A_I", "A_O", "S", "T_1", "T_3", "T_4", "T_5", "T_6")
assert tuple(SCALAR_NAMES) == ("t_x", "t_x_blinding", "e_blinding")


def point_slots(lg_n: int, phases: int = 1) -> list[str]:
    return [n for n, (_, size) in slots(lg_n, phases).items() if size == POINT]


def scalar_slots(lg_n: int, phases: int = 1) -> list[str]:
    return [n for n, (_, size) in slots(lg_n, phases).items() if size == SCALAR]


def replace(data: bytes, name: str, new: bytes) -> bytes:
    off, size = slots(data[5], data[6])[name]
    assert len(new) == size
    return data[:off] + new + data[off + size :]


def get(data: bytes, name: str) -> bytes:
    off, size = slots(data[5], data[6])[name]
    return data[off : off + size]


def one_line(msg: str) -> bool:
    return "\n" not in msg and msg == " ".join(msg.split())


def mentions(msg: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", msg) is not None
