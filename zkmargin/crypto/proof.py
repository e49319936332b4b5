"""The R1CS proof and its compact, versioned, strictly decoded binary encoding (version 2).

    offset  size        field
    0       4           magic b"zkmR"
    4       1           version (2)
    5       1           lg_n = log2 of the padded number of multiplication gates (0..18)
    6       1           phases: 1 (no randomized constraints) or 2
    7       3·48        A_I, A_O, S                               (phase 1; compressed G1)
    ...     3·48        A_I2, A_O2, S2                            (phase 2; only when phases = 2)
    ...     5·48        T_1, T_3, T_4, T_5, T_6
    ...     3·32        t_x, t_x_blinding (τ_x), e_blinding (μ)  (big-endian, < r)
    ...     lg_n·2·48   L_0, R_0, L_1, R_1, ...                   (inner-product rounds)
    ...     2·32        a, b                                       (final inner-product scalars)

Total 551 + 96·lg_n bytes for one phase (1607 at 2048 gates), 144 more for two. Decoding checks
the version, the phase count and the length before anything else, then every point (on curve,
canonical, not the identity — a phase-2 commitment is always blinded, so never the identity
either) and every scalar (< r). The points here are the argument's own messages; membership of
the prime-order subgroup is not tested for them (a test costs twice the decompression), because the
verifier checks its equation up to torsion: a component outside G1 can neither help a forgery nor
make one proof and a batch disagree (docs/notes/protocol.md, "Points outside the subgroup"). A
version-1 proof (zkmargin.r1cs/v1, no phase byte) is refused with a message that says so: it is
never read as a version-2 one.

Decoding comes in two steps: :meth:`R1CSProof.parse` runs every check that needs no curve
arithmetic (the header, the length, the scalars, each point's flags, the identity and x < p) and
keeps the points as their encodings — what the transcript absorbs; :meth:`R1CSProof.decompressed`
solves the curve equation for each (a square root apiece, most of the cost). ``from_bytes`` is the
two in a row; the verifier of one proof runs the second beside its MSM.

May import :mod:`zkmargin.errors`, :mod:`.field` and :mod:`.backends`. Used by the prover, the
verifier and the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..errors import DecodeError
from .backends import POINT_BYTES, GroupBackend, get_backend
from .backends.base import Point, encoding_x
from .field import SCALAR_BYTES, scalar_from_bytes, scalar_to_bytes

MAGIC = b"zkmR"
PROOF_VERSION = 2
MAX_LG_N = 18
PHASE1_NAMES = ("A_I", "A_O", "S")
PHASE2_NAMES = ("A_I2", "A_O2", "S2")
T_NAMES = ("T_1", "T_3", "T_4", "T_5", "T_6")
#: the points of a one-phase proof, in encoding order
POINT_NAMES = PHASE1_NAMES + T_NAMES
SCALAR_NAMES = ("t_x", "t_x_blinding", "e_blinding")
HEADER = 7

OLD_VERSION_MESSAGE = (
    "proof: made by an older zkmargin (zkmargin.r1cs/v1, proof version 1); this version reads "
    f"zkmargin.r1cs/v2 proofs (version {PROOF_VERSION}) only: prove again"
)


def point_names(phases: int) -> tuple[str, ...]:
    """The points of a proof with ``phases`` phases, in encoding order."""
    return PHASE1_NAMES + (PHASE2_NAMES if phases == 2 else ()) + T_NAMES


def proof_size(lg_n: int, phases: int = 1) -> int:
    return (
        HEADER
        + len(point_names(phases)) * POINT_BYTES
        + len(SCALAR_NAMES) * SCALAR_BYTES
        + lg_n * 2 * POINT_BYTES
        + 2 * SCALAR_BYTES
    )


PointT = TypeVar("PointT")
Q = TypeVar("Q")


@dataclass
class R1CSProof(Generic[PointT]):
    """The proof's messages. ``R1CSProof[Point]`` holds the backend's points (the prover's
    output, :meth:`from_bytes`); ``R1CSProof[bytes]`` holds each point as its 48-byte encoding,
    checked for everything but the curve equation (:meth:`parse`): what the transcript absorbs,
    before :meth:`decompressed` turns it into points."""

    A_I: PointT
    A_O: PointT
    S: PointT
    T_1: PointT
    T_3: PointT
    T_4: PointT
    T_5: PointT
    T_6: PointT
    t_x: int
    t_x_blinding: int
    e_blinding: int
    L_vec: list[PointT] = field(default_factory=list)
    R_vec: list[PointT] = field(default_factory=list)
    a: int = 0
    b: int = 0
    backend: GroupBackend | None = None
    A_I2: PointT | None = None
    A_O2: PointT | None = None
    S2: PointT | None = None

    @property
    def lg_n(self) -> int:
        return len(self.L_vec)

    @property
    def phases(self) -> int:
        return 2 if self.A_I2 is not None else 1

    def named_points(self) -> list[tuple[str, PointT]]:
        """Every point with its name, in encoding order: the commitments, then L_0, R_0, L_1, …"""
        out = [(name, getattr(self, name)) for name in point_names(self.phases)]
        for k, (L, R) in enumerate(zip(self.L_vec, self.R_vec)):
            out += [(f"L_{k}", L), (f"R_{k}", R)]
        return out

    def points(self) -> list[PointT]:
        """Every point in the order the verifier's MSM lists them: the commitments in encoding
        order (A_I, A_O, S, [A_I2, A_O2, S2], T_1, T_3, T_4, T_5, T_6), then every L_k, then
        every R_k."""
        return [getattr(self, name) for name in point_names(self.phases)] + list(self.L_vec) + list(self.R_vec)

    def to_bytes(self) -> bytes:
        enc = self.encoded()
        if enc.phases == 2 and (enc.A_O2 is None or enc.S2 is None):
            raise ValueError("a two-phase proof needs A_I2, A_O2 and S2")
        out = [MAGIC, bytes([PROOF_VERSION, enc.lg_n, enc.phases])]
        out += [bytes(getattr(enc, name)) for name in point_names(enc.phases)]
        out += [scalar_to_bytes(getattr(enc, name)) for name in SCALAR_NAMES]
        for L, R in zip(enc.L_vec, enc.R_vec):
            out += [L, R]
        out += [scalar_to_bytes(enc.a), scalar_to_bytes(enc.b)]
        return b"".join(out)

    def encoded(self, backend: str | GroupBackend | None = None) -> R1CSProof[bytes]:
        """The proof with every point as its 48-byte compressed encoding (itself if it is so
        already)."""
        if isinstance(self.A_I, (bytes, bytearray)):
            return self  # type: ignore[return-value]  # the points are encodings already
        be = self.backend or get_backend(backend)
        encoded: dict[str, bytes] = {name: be.encode(p) for name, p in self.named_points()}
        return self._rebuild(encoded, None)

    def decompressed(self: R1CSProof[bytes], backend: str | GroupBackend | None = None) -> R1CSProof[Point]:
        """The points of a parsed proof decompressed with ``backend``: a :class:`DecodeError`
        naming the first that is not on the curve. No subgroup test: the verifier's check is
        cofactored (the module's docstring)."""
        be = get_backend(backend)
        named = {}
        for name, data in self.named_points():
            try:
                named[name] = be.decode(data, subgroup=False)
            except DecodeError as exc:
                raise DecodeError(f"proof: {name}: {exc.message.removeprefix('point: ')}") from None
        return self._rebuild(named, be)

    def _rebuild(self, named: dict[str, Q], be: GroupBackend | None) -> R1CSProof[Q]:
        """This proof's scalars with ``named`` (every point's name → its new form)."""
        scalars = {name: getattr(self, name) for name in SCALAR_NAMES + ("a", "b")}
        return _assemble(named, scalars, self.phases, self.lg_n, be)

    @classmethod
    def parse(cls, data: bytes) -> R1CSProof[bytes]:
        """The proof's structure checked and cut into its fields: magic, version, lg_n, phases,
        the length, every scalar below r, and every point's encoding as far as it can be checked
        without curve arithmetic (:func:`~zkmargin.crypto.backends.base.encoding_x`: the flags,
        not the identity, x below p). A :class:`DecodeError` names the field."""
        if not isinstance(data, (bytes, bytearray)):
            raise DecodeError("proof: expected bytes")
        data = bytes(data)
        if len(data) < 5:
            raise DecodeError(f"proof: truncated ({len(data)} bytes)")
        if data[:4] != MAGIC:
            raise DecodeError("proof: not a zkmargin R1CS proof (bad magic)")
        if data[4] == 1:
            raise DecodeError(OLD_VERSION_MESSAGE)
        if data[4] != PROOF_VERSION:
            raise DecodeError(f"proof: unsupported version {data[4]} (this build reads {PROOF_VERSION})")
        if len(data) < HEADER:
            raise DecodeError(f"proof: truncated ({len(data)} bytes)")
        lg_n = data[5]
        if lg_n > MAX_LG_N:
            raise DecodeError(f"proof: {lg_n} inner-product rounds is more than the {MAX_LG_N} supported")
        phases = data[6]
        if phases not in (1, 2):
            raise DecodeError(f"proof: {phases} phases (a proof has 1 or 2)")
        expected = proof_size(lg_n, phases)
        if len(data) != expected:
            raise DecodeError(f"proof: expected {expected} bytes for {lg_n} rounds and {phases} phase(s), got {len(data)}")
        pos = HEADER

        def point(name: str) -> bytes:
            nonlocal pos
            chunk = data[pos : pos + POINT_BYTES]
            try:
                encoding_x(chunk)
            except DecodeError as exc:
                raise DecodeError(f"{name}: {exc.message.removeprefix('point: ')}") from None
            pos += POINT_BYTES
            return chunk

        def scalar(name: str) -> int:
            nonlocal pos
            s = scalar_from_bytes(data[pos : pos + SCALAR_BYTES], name)
            pos += SCALAR_BYTES
            return s

        try:
            # in the order of the encoding (the first bad field is the one named)
            points = {name: point(name) for name in point_names(phases)}
            scalars = {name: scalar(name) for name in SCALAR_NAMES}
            for k in range(lg_n):
                points[f"L_{k}"] = point(f"L_{k}")
                points[f"R_{k}"] = point(f"R_{k}")
            scalars.update(a=scalar("a"), b=scalar("b"))
        except DecodeError as exc:
            raise DecodeError(f"proof: {exc.message}") from None
        return _assemble(points, scalars, phases, lg_n, None)

    @classmethod
    def from_bytes(cls, data: bytes, backend: str | GroupBackend | None = None) -> R1CSProof[Point]:
        """:meth:`parse`, then :meth:`decompressed`: the strict decoding of the module's docstring."""
        return R1CSProof.parse(data).decompressed(backend)


def _assemble(named: dict[str, Q], scalars: dict[str, int], phases: int, lg_n: int,
              be: GroupBackend | None) -> R1CSProof[Q]:
    """A proof from its points by name (``A_I`` … ``T_6``, ``L_k``, ``R_k``) and its scalars."""
    two = phases == 2
    return R1CSProof(
        A_I=named["A_I"], A_O=named["A_O"], S=named["S"],
        T_1=named["T_1"], T_3=named["T_3"], T_4=named["T_4"], T_5=named["T_5"], T_6=named["T_6"],
        t_x=scalars["t_x"], t_x_blinding=scalars["t_x_blinding"], e_blinding=scalars["e_blinding"],
        L_vec=[named[f"L_{k}"] for k in range(lg_n)], R_vec=[named[f"R_{k}"] for k in range(lg_n)],
        a=scalars["a"], b=scalars["b"], backend=be,
        A_I2=named["A_I2"] if two else None, A_O2=named["A_O2"] if two else None, S2=named["S2"] if two else None,
    )
