"""The Fiat–Shamir transcript.

Byte-exact specification (also in docs/notes/transcript.md): the transcript is a running SHA-512
over *records*. A record is

    kind (1 byte) || u32le(len(label)) || label || u64le(len(data)) || data

with kinds

    0x01 DOMAIN     label = b"zkmargin.transcript", data = protocol label (e.g. b"zkmargin.r1cs/v2")
    0x02 APPEND     label = the paper's symbol name (b"V", b"A_I", b"t_x", ...), data = the bytes
    0x03 CHALLENGE  label = the challenge's name (b"y", b"z", b"x", b"w", b"u"), data = empty
    0x04 OUTPUT     label = the challenge's name, data = the 64 output bytes

A challenge is drawn by absorbing a CHALLENGE record, taking SHA-512 of the state so far (64 bytes,
``out``), absorbing an OUTPUT record with ``out`` (so later challenges depend on it), and reducing
``int.from_bytes(out, "little") mod r``. A zero result (probability 2^-255) is re-drawn with the
same procedure. Points are appended in the 48-byte compressed form and the identity is refused;
scalars as 32-byte big-endian, canonical.

Imports :mod:`zkmargin.errors` and :mod:`zkmargin.crypto.field`. Used by
:mod:`zkmargin.crypto.r1cs_transcript`, the prover and the verifier.
"""

from __future__ import annotations

import hashlib

from ..errors import DecodeError
from .backends.base import IDENTITY_ENCODING, GroupBackend, Point
from .field import R, scalar_to_bytes

DOMAIN, APPEND, CHALLENGE, OUTPUT = 1, 2, 3, 4
TRANSCRIPT_LABEL = b"zkmargin.transcript"


def _record(kind: int, label: bytes, data: bytes) -> bytes:
    return bytes([kind]) + len(label).to_bytes(4, "little") + label + len(data).to_bytes(8, "little") + data


class Transcript:
    def __init__(self, protocol: bytes):
        self._h = hashlib.sha512()
        self._h.update(_record(DOMAIN, TRANSCRIPT_LABEL, protocol))

    def append_message(self, label: bytes, data: bytes) -> None:
        self._h.update(_record(APPEND, label, bytes(data)))

    def append_u64(self, label: bytes, value: int) -> None:
        self.append_message(label, int(value).to_bytes(8, "little"))

    def append_scalar(self, label: bytes, value: int) -> None:
        self.append_message(label, scalar_to_bytes(value % R))

    def append_point(self, label: bytes, point: Point, backend: GroupBackend) -> None:
        """Append a point's compressed encoding; the identity is refused (it would let a
        malicious prover cancel terms)."""
        self.append_point_bytes(label, backend.encode(point))

    def append_point_bytes(self, label: bytes, encoded: bytes) -> None:
        """Append a point as its 48-byte compressed encoding (the verifier absorbs what it
        received, checked as far as :func:`~zkmargin.crypto.backends.base.encoding_x` goes and
        decompressed before anything is accepted); the identity's encoding is refused."""
        if bytes(encoded) == IDENTITY_ENCODING:
            raise DecodeError(f"transcript: the identity point is not allowed for {label.decode()}")
        self._h.update(_record(APPEND, label, bytes(encoded)))

    def challenge_bytes(self, label: bytes) -> bytes:
        self._h.update(_record(CHALLENGE, label, b""))
        out = self._h.copy().digest()
        self._h.update(_record(OUTPUT, label, out))
        return out

    def challenge_scalar(self, label: bytes) -> int:
        while True:
            value = int.from_bytes(self.challenge_bytes(label), "little") % R
            if value:
                return value
