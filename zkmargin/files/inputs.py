"""The bounded input layer: every document zkmargin reads comes through here (issue 11).

A document is read in the order below; the first rule it breaks is reported in one line that
names the file, the field (where there is one) and the limit, as a
:class:`~zkmargin.errors.FormatError` (:class:`~zkmargin.errors.InputLimitError` for a limit):

1. **Where.** A path, or ``-`` for standard input (read once per process and kept, so every reader
   of ``-`` in one command sees the same bytes; named ``stdin`` in messages). A missing file, a
   folder, a file this user may not read: one line each.
2. **Size.** At most :data:`LIMITS` bytes for its kind, read in one bounded read: ``/dev/zero``,
   ``/dev/urandom`` or a 200 MB file cost the cap, never their size.
3. **Text.** UTF-8, no byte-order mark, not empty.
4. **JSON.** RFC 8259 strictly: no ``NaN`` or ``Infinity``, no key twice in one object (the last
   one would silently win), nested at most :data:`MAX_DEPTH` levels.
5. **Numbers.** At most :data:`MAX_DIGITS` digits. With ``numbers="decimal"`` (policies, markets,
   accounts, parameter files, exchange recordings) every number is a ``Decimal`` of its own text
   and a number written with an exponent is kept as an :class:`ExponentNumber`, which
   :func:`zkmargin.rules.decimals.parse_decimal` refuses with its field; with ``numbers="plain"``
   (bundles, attestations, openings, receipts, signed heads, clients) integers are ``int``.
6. **Strings.** Valid Unicode: a lone surrogate (``"\\ud800"``) could be neither hashed nor
   written back.

Imports :mod:`zkmargin.errors` and the standard library only. Used by every document reader:
:mod:`zkmargin.rules.decimals` (``loads_json``, ``load_json_file``: policy, market, account,
history, parameter files, stress scenarios, exchange recordings), the bundle, attestation and
openings documents, the log's receipts and signed tree heads, the clients file, the key files
(:mod:`.bounded`) and the CLI.
"""

from __future__ import annotations

import json
import os
import re
import sys
from decimal import Decimal
from typing import Any

from ..errors import FormatError, InputLimitError

MiB = 1 << 20

#: Size cap (bytes) and how messages name each kind of input.
LIMITS: dict[str, tuple[int, str]] = {
    "policy": (16 * MiB, "policy"),
    "market": (4 * MiB, "market snapshot"),
    "account": (4 * MiB, "account"),
    "proof": (1 * MiB, "proof bundle"),
    "attestation": (1 * MiB, "attestation"),
    "openings": (1 * MiB, "openings"),
    "receipt": (1 * MiB, "receipt"),
    "sth": (1 * MiB, "signed tree head"),
    "key": (1 * MiB, "key"),
    "clients": (16 * MiB, "clients"),
    "history": (32 * MiB, "price history"),
    "parameters": (1 * MiB, "parameter"),
    "stress": (4 * MiB, "stress-scenario"),
    "recording": (64 * MiB, "exchange recording"),
    "document": (16 * MiB, "JSON document"),
}

#: Deepest nesting of objects and arrays any document may have (ours need 6; exchange recordings 9).
MAX_DEPTH = 32
#: Most digits a number may have (2^255, the group order's size, has 77).
MAX_DIGITS = 80
#: How standard input is named in messages.
STDIN_NAME = "stdin"

_BOM = b"\xef\xbb\xbf"


class ExponentNumber(Decimal):
    """A JSON number written with an exponent (``1e3``): kept exact, refused where a number is
    parsed (:func:`zkmargin.rules.decimals.parse_decimal`) with the field it sits in."""


def limit_of(kind: str) -> tuple[int, str]:
    """(cap in bytes, noun) of an input kind; unknown kinds get the ``document`` cap."""
    return LIMITS.get(kind, LIMITS["document"])


def kind_of_format(tag: str) -> str:
    """The input kind of a format tag: ``zkmargin.policy/1`` -> ``policy``."""
    name = tag.split(".", 1)[-1].split("/", 1)[0]
    return name if name in LIMITS else "document"


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n:,} bytes"


def is_stdin(src: object) -> bool:
    return isinstance(src, (str, os.PathLike)) and os.fspath(src) == "-"


def display_name(src: str | os.PathLike[str]) -> str:
    """How a path (or ``-``) is named in messages."""
    return STDIN_NAME if is_stdin(src) else os.fspath(src)


class _Stdin:
    """Standard input, read at most once and kept: (stream, bytes so far, whether at its end)."""

    stream: Any = None
    data = b""
    at_end = False


def _read_stdin(limit: int) -> bytes:
    """Standard input up to ``limit + 1`` bytes (more than ``limit``: too large)."""
    stream = sys.stdin
    if _Stdin.stream is not stream:
        _Stdin.stream, _Stdin.data, _Stdin.at_end = stream, b"", False
    if not _Stdin.at_end and len(_Stdin.data) <= limit:
        buffer = getattr(stream, "buffer", None)
        if buffer is None or stream.closed:
            raise FormatError("standard input is closed", source=STDIN_NAME)
        want = limit + 1 - len(_Stdin.data)
        chunk = buffer.read(want)
        _Stdin.data += chunk
        _Stdin.at_end = len(chunk) < want
    return _Stdin.data


def read_input(src: str | os.PathLike[str], kind: str = "document") -> tuple[bytes, str]:
    """The bytes of the file at ``src`` (``-``: standard input), at most the cap of ``kind``,
    and its name for messages."""
    limit, noun = limit_of(kind)
    return read_limited(src, limit, noun)


def read_limited(src: str | os.PathLike[str], limit: int, noun: str) -> tuple[bytes, str]:
    """:func:`read_input` with an explicit cap; ``noun`` names the kind in messages."""
    name = display_name(src)
    if is_stdin(src):
        data = _read_stdin(limit)
    else:
        path = os.fspath(src)
        try:
            with open(path, "rb") as fh:
                data = fh.read(limit + 1)
        except FileNotFoundError:
            raise FormatError(f"cannot read the {noun} file: no such file", source=name) from None
        except IsADirectoryError:
            raise FormatError(f"cannot read the {noun} file: this is a folder", source=name) from None
        except PermissionError:
            raise FormatError(f"cannot read the {noun} file: permission denied", source=name) from None
        except OSError as exc:
            raise FormatError(f"cannot read the {noun} file: {exc.strerror or exc.__class__.__name__}",
                              source=name) from None
    if len(data) > limit:
        raise InputLimitError(f"larger than {_size(limit)}, the limit for {noun} files", source=name,
                              limit=limit)
    return data, name


# --- markers left by the parser's hooks, reported by the tree check with their field -----------


class _Marker:
    def error(self, source: str | None, field: str | None) -> FormatError:  # pragma: no cover
        raise NotImplementedError


class _Duplicate(_Marker):
    def __init__(self, key: str):
        self.key = key

    def error(self, source, field):
        key = self.key if len(self.key) <= 60 else self.key[:57] + "..."
        return FormatError(f"duplicate key {key!r} in a JSON object (each key may appear once; "
                           "otherwise the last one would silently win)", source=source, field=field)


class _NonFinite(_Marker):
    def __init__(self, text: str):
        self.text = text

    def error(self, source, field):
        return FormatError(f"{self.text} is not a number zkmargin accepts (no NaN or infinities)",
                           source=source, field=field)


class _LongNumber(_Marker):
    def __init__(self, text: str):
        self.digits = sum(c.isdigit() for c in text)

    def error(self, source, field):
        return InputLimitError(f"a number with {self.digits} digits; at most {MAX_DIGITS}",
                               source=source, field=field, limit=MAX_DIGITS)


class _BadText(_Marker):
    def error(self, source, field):
        return FormatError("a string that is not valid Unicode (a lone surrogate escape)",
                           source=source, field=field)


def _pairs(pairs: list[tuple[str, Any]]) -> Any:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            out[k] = _Duplicate(k)
            return {k: out[k]}
        out[k] = v
    return out


def _constant(text: str) -> _NonFinite:
    return _NonFinite(text)


def _decimal_int(text: str) -> Any:
    if len(text) > MAX_DIGITS and sum(c.isdigit() for c in text) > MAX_DIGITS:
        return _LongNumber(text)
    return Decimal(text)


def _decimal_float(text: str) -> Any:
    if len(text) > MAX_DIGITS and sum(c.isdigit() for c in text) > MAX_DIGITS:
        return _LongNumber(text)
    if "e" in text or "E" in text:
        return ExponentNumber(text)
    return Decimal(text)


def _plain_int(text: str) -> Any:
    if len(text) > MAX_DIGITS and sum(c.isdigit() for c in text) > MAX_DIGITS:
        return _LongNumber(text)
    return int(text)


def _plain_float(text: str) -> Any:
    if len(text) > MAX_DIGITS and sum(c.isdigit() for c in text) > MAX_DIGITS:
        return _LongNumber(text)
    return float(text)


def _field(node: tuple | None) -> str | None:
    parts: list[str | int] = []
    while node is not None:
        node, key = node
        parts.append(key)
    out = ""
    for part in reversed(parts):
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or None


def _valid_text(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_tree(doc: Any, source: str | None) -> None:
    """Depth, markers and strings, walked without recursion; errors name the field."""
    stack: list[tuple[Any, int, tuple | None]] = [(doc, 1, None)]
    while stack:
        value, depth, node = stack.pop()
        if isinstance(value, dict):
            items: Any = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        elif isinstance(value, _Duplicate):  # named by the object it is in
            raise value.error(source, _field(node[0] if node is not None else None))
        elif isinstance(value, _Marker):
            raise value.error(source, _field(node))
        elif isinstance(value, str):
            if not _valid_text(value):
                raise _BadText().error(source, _field(node))
            continue
        else:
            continue
        if depth > MAX_DEPTH:
            raise InputLimitError(f"nested deeper than {MAX_DEPTH} levels", source=source,
                                  field=_field(node), limit=MAX_DEPTH)
        for key, item in items:
            if isinstance(key, str) and not key.isascii() and not _valid_text(key):
                raise _BadText().error(source, _field((node, "?")))
            if isinstance(item, (dict, list, _Marker)) or (isinstance(item, str) and not item.isascii()):
                stack.append((item, depth + 1, (node, key)))


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


def _check_nesting(text: str, source: str | None) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` before the JSON parser sees it, without recursion.

    The standard library's C parser recurses once per level and relies on the interpreter's
    recursion limit; a process that raised that limit (hypothesis does, while it runs) overflows
    the C stack on a few hundred thousand ``[`` and dies with a segmentation fault instead of an
    error. Strings are blanked first (a bracket inside a string is not nesting)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return  # cannot nest deeper (the common case: no scan)
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        if m.group() in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise InputLimitError(f"nested deeper than {MAX_DEPTH} levels", source=source,
                                      limit=MAX_DEPTH)
        else:
            depth -= 1


def parse_json(raw: str | bytes | bytearray, *, kind: str = "document", source: str | None = None,
               numbers: str = "decimal") -> Any:
    """Parse one JSON document by the rules of this module (``source`` names it in messages)."""
    limit, noun = limit_of(kind)
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > limit:
            raise InputLimitError(f"larger than {_size(limit)}, the limit for {noun} files", source=source,
                                  limit=limit)
        if raw.startswith(_BOM):
            raise FormatError("starts with a byte-order mark; save it as UTF-8 without one",
                              source=source)
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"not UTF-8 text (byte {exc.start}); is it a JSON file?",
                              source=source) from None
    else:
        text = raw
        if len(text) > limit:
            raise InputLimitError(f"larger than {_size(limit)}, the limit for {noun} files", source=source,
                                  limit=limit)
        if text.startswith("\ufeff"):
            raise FormatError("starts with a byte-order mark; save it as UTF-8 without one",
                              source=source)
    if not text.strip():
        raise FormatError("the file is empty" if source else "empty input", source=source)
    _check_nesting(text, source)
    plain = numbers == "plain"
    try:
        doc = json.loads(text, parse_int=_plain_int if plain else _decimal_int,
                         parse_float=_plain_float if plain else _decimal_float,
                         parse_constant=_constant, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        raise FormatError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                          source=source) from None
    except RecursionError:
        raise InputLimitError(f"nested deeper than {MAX_DEPTH} levels", source=source,
                              limit=MAX_DEPTH) from None
    _check_tree(doc, source)
    return doc


def load_json(src: str | os.PathLike[str] | bytes | bytearray, kind: str = "document", *,
              numbers: str = "decimal", source: str | None = None) -> tuple[Any, str | None]:
    """Read (a path or ``-``) and parse one document: ``(data, name for messages)``. Bytes are
    parsed as they are (``source`` names them)."""
    if isinstance(src, (bytes, bytearray)):
        return parse_json(src, kind=kind, source=source, numbers=numbers), source
    raw, name = read_input(src, kind)
    return parse_json(raw, kind=kind, source=source or name, numbers=numbers), source or name


def load_json_object(src: str | os.PathLike[str] | bytes | bytearray, kind: str = "document", *,
                     numbers: str = "decimal", source: str | None = None) -> tuple[dict, str | None]:
    """:func:`load_json` of a document that must be a JSON object."""
    data, name = load_json(src, kind, numbers=numbers, source=source)
    if not isinstance(data, dict):
        what = "an array" if isinstance(data, list) else "not an object"
        raise FormatError(f"expected a JSON object, got {what}", source=name)
    return data, name
