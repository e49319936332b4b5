"""Ed25519 keys: making them, reading them from files, hex seeds or PEM, and naming them.

A custodian signs its attestations and a venue signs its log's tree heads with an Ed25519 key
(the ``cryptography`` library, imported on first use). Keys are named by their raw 32-byte public
key in lowercase hex: a custodian in a policy's ``trust.custodians``, a log by its ``log_id``.

May import :mod:`zkmargin.errors`, :mod:`zkmargin.files` and ``cryptography``. Used by the
attestation document (:mod:`zkmargin.documents.attestation`), the custodian workflow, the
transparency log (signed heads, receipts, audit) and the ``*-keygen`` commands.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Union

from ..errors import AttestationError, InputError, ZkMarginError
from ..files.atomic import write_private
from ..files.bounded import read_small

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

#: What a private key can be read from: a key object, PEM bytes, 32 raw bytes, a 64-hex-digit
#: seed, or a path to a file holding PEM (PKCS#8) or the hex seed.
PrivateKeySource = Union["Ed25519PrivateKey", str, bytes, "os.PathLike[str]"]
#: What a public key can be read from: a key object (public or private), 64 hex digits, 32 raw
#: bytes, or a path to a file holding the hex or a PEM public key.
PublicKeySource = Union["Ed25519PublicKey", "Ed25519PrivateKey", str, bytes, "os.PathLike[str]"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def generate_private_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 private key (``cryptography`` object)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The 32-byte raw public key of a private or public Ed25519 key, as hex."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def load_private_key(src: PrivateKeySource, what: str = "custodian key",
                     error: type[ZkMarginError] = AttestationError) -> Ed25519PrivateKey:
    """An Ed25519 private key from a key object, PEM bytes, 32 raw bytes, a 64-hex-digit seed, or a
    path to a file holding PEM (PKCS#8) or the hex seed. ``what`` names the key in messages
    (a custodian's, the venue's log key); ``error`` is the class raised for a key that is not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if isinstance(src, Ed25519PrivateKey):
        return src
    source = None
    if isinstance(src, (str, os.PathLike)) and not (isinstance(src, str) and _HEX64.match(src.strip().lower())):
        source = os.fspath(src)
        src = read_small(src, what)
    if isinstance(src, str):
        src = src.encode()
    data = bytes(src).strip()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise error(f"the {what} is not an Ed25519 private key", source=source)
            return key
        if _HEX64.match(data.decode("ascii", "replace").lower()):
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(data.decode()))
        if len(data) == 32:
            return Ed25519PrivateKey.from_private_bytes(data)
    except (ValueError, TypeError):
        pass
    raise error(f"the {what} is not an Ed25519 private key (PEM PKCS#8 or 32-byte hex seed)", source=source)


def load_public_key(src: PublicKeySource, what: str = "custodian public key",
                    error: type[ZkMarginError] = AttestationError) -> Ed25519PublicKey:
    """An Ed25519 public key from a key object, 64 hex digits, 32 raw bytes, or a path to a file
    holding the hex or a PEM public key (``what`` and ``error`` as for :func:`load_private_key`)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    if isinstance(src, Ed25519PublicKey):
        return src
    if isinstance(src, Ed25519PrivateKey):
        return src.public_key()
    source = None
    if isinstance(src, str) and _HEX64.match(src.strip().lower()):
        data = src.strip().lower().encode()
    elif isinstance(src, (str, os.PathLike)):
        source = os.fspath(src)
        data = read_small(src, what).strip()
    else:
        data = bytes(src).strip()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
            if isinstance(key, Ed25519PublicKey):
                return key
        elif _HEX64.match(data.decode("ascii", "replace").lower()):
            return Ed25519PublicKey.from_public_bytes(bytes.fromhex(data.decode()))
        elif len(data) == 32:
            return Ed25519PublicKey.from_public_bytes(data)
    except (ValueError, TypeError):
        pass
    raise error(f"the {what} is not an Ed25519 public key (64 hex digits or PEM)", source=source)


def new_key_file(path: str | os.PathLike[str], *, force: bool = False) -> str:
    """Create an Ed25519 signing key at ``path`` (PEM PKCS#8, written atomically, mode 0600) and
    return its public key (hex). Refuses to overwrite an existing file unless ``force``. What
    ``custodian-keygen`` and ``venue-keygen`` call."""
    if os.path.exists(path) and not force:
        raise InputError("the key file exists (use --force to overwrite)", source=os.fspath(path))
    key = generate_private_key()
    write_private(path, private_key_pem(key))
    return public_key_hex(key)


def key_id(src: PublicKeySource) -> str:
    """Canonical name of a custodian: its raw public key in lowercase hex."""
    return public_key_hex(load_public_key(src))
