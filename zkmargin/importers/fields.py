"""Reading numbers out of exchange data exactly, with errors that name the symbol and the field.

ccxt's unified numbers are binary floats; the exchanges' own answers, kept by ccxt in each
structure's ``info``, are decimal strings (Binance's leverage brackets are the exception: the
exchange sends JSON numbers). Exchange data reaches the importers as JSON parsed by
:func:`zkmargin.rules.decimals.loads_json`, so a JSON number arrives as an exact ``Decimal`` of its own
text and a string stays a string. Two readers:

* :func:`decimal_string` — for fields the exchange sends as strings. A JSON number there means the
  value went through a float on its way (someone saved ccxt's parsed numbers): refused, with a hint.
* :func:`decimal_number` — for fields the exchange itself sends as JSON numbers. Accepted from their
  text when they have at most 15 significant digits (every such decimal survives a round trip
  through a binary float unchanged), or as strings.

A Python ``float`` is refused by both (it can only come from a caller that skipped the exact JSON
reader). Every message names the source (file or live call), the symbol and the field path, e.g.
``positions.json: field 'positions[BTCUSDT].info.markPrice': missing``. Messages about private data
(positions, balances) never include the value.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, overload

from zkmargin.errors import ExchangeDataError, FormatError
from zkmargin.rules.decimals import parse_decimal

__all__ = [
    "FLOAT_DIGITS",
    "Where",
    "decimal_string",
    "decimal_number",
    "integer",
    "text",
    "mapping",
    "sequence",
]

#: A decimal with at most this many significant digits survives a trip through a binary64 float
#: (DBL_DIG): the shortest repr of the float is the decimal again.
FLOAT_DIGITS = 15

_HOW_TO_SAVE = ("save ccxt's result with json.dump (the 'info' strings are the exchange's own), or "
                "use 'zkmargin import-* --live'")


class Where:
    """Where a value sits: the source (file name or live call) and a field path prefix."""

    def __init__(self, source: str | None, path: str):
        self.source = source
        self.path = path

    def at(self, part: str) -> Where:
        sep = "" if part.startswith("[") else "."
        return Where(self.source, f"{self.path}{sep}{part}" if self.path else part)

    def error(self, message: str, field: str | None = None, cls=ExchangeDataError):
        f = self.path if field is None else (self.at(field).path)
        return cls(message, source=self.source, field=f)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@overload
def decimal_string(obj: Any, key: str, where: Where, *, optional: Literal[False] = ..., private: bool = ...) -> Decimal: ...


@overload
def decimal_string(obj: Any, key: str, where: Where, *, optional: bool, private: bool = ...) -> Decimal | None: ...


def decimal_string(obj: Any, key: str, where: Where, *, optional: bool = False,
                   private: bool = False) -> Decimal | None:
    """The decimal string ``obj[key]`` as an exact ``Decimal``.

    Missing (absent, null or empty) is an error unless ``optional`` (then ``None``). A JSON number
    or a float is an error: the exchange sends a string there. ``private`` keeps the value out of
    the message."""
    if not isinstance(obj, dict):
        raise where.error("expected a JSON object")
    value = obj.get(key)
    if _missing(value):
        if optional:
            return None
        raise where.error("missing", key)
    if isinstance(value, (float, Decimal)) and not isinstance(value, bool):
        raise where.error(
            "a number where the exchange sends a decimal string: the value went through a binary "
            f"float; {_HOW_TO_SAVE}", key)
    if not isinstance(value, str):
        raise where.error(f"expected a decimal string, got {type(value).__name__}", key)
    try:
        return parse_decimal(value)
    except FormatError as e:
        msg = "not a plain decimal number" if private else e.message
        raise where.error(msg, key) from None


@overload
def decimal_number(obj: Any, key: str, where: Where, *, optional: Literal[False] = ...) -> Decimal: ...


@overload
def decimal_number(obj: Any, key: str, where: Where, *, optional: bool) -> Decimal | None: ...


def decimal_number(obj: Any, key: str, where: Where, *, optional: bool = False) -> Decimal | None:
    """``obj[key]`` where the exchange sends a JSON number (or a string): exact, at most
    :data:`FLOAT_DIGITS` significant digits when it is a number. Floats are refused."""
    if not isinstance(obj, dict):
        raise where.error("expected a JSON object")
    value = obj.get(key)
    if _missing(value):
        if optional:
            return None
        raise where.error("missing", key)
    if isinstance(value, float):
        raise where.error(f"a binary float cannot be read exactly; {_HOW_TO_SAVE}", key)
    if isinstance(value, str):
        try:
            return parse_decimal(value)
        except FormatError as e:
            raise where.error(e.message, key) from None
    try:
        d = parse_decimal(value)
    except FormatError as e:
        raise where.error(e.message, key) from None
    digits = len(d.normalize().as_tuple().digits) if d != 0 else 1
    if digits > FLOAT_DIGITS:
        raise where.error(f"{digits} significant digits: more than a binary float keeps "
                          f"({FLOAT_DIGITS}), so this number may have been rounded on its way; "
                          "give it as a decimal string", key)
    return d


@overload
def integer(obj: Any, key: str, where: Where, *, optional: Literal[False] = ...) -> int: ...


@overload
def integer(obj: Any, key: str, where: Where, *, optional: bool) -> int | None: ...


def integer(obj: Any, key: str, where: Where, *, optional: bool = False) -> int | None:
    """An integer (JSON integer or a string of digits), e.g. a time in milliseconds or an index."""
    if not isinstance(obj, dict):
        raise where.error("expected a JSON object")
    value = obj.get(key)
    if _missing(value):
        if optional:
            return None
        raise where.error("missing", key)
    if isinstance(value, bool) or isinstance(value, float):
        raise where.error("expected an integer", key)
    if isinstance(value, str):
        if not value.strip().lstrip("-").isdigit():
            raise where.error("expected an integer", key)
        return int(value)
    if isinstance(value, Decimal):
        if value != value.to_integral_value() or "." in str(value) or "E" in str(value).upper():
            raise where.error("expected an integer", key)
        return int(value)
    if isinstance(value, int):
        return value
    raise where.error("expected an integer", key)


@overload
def text(obj: Any, key: str, where: Where, *, optional: Literal[False] = ...) -> str: ...


@overload
def text(obj: Any, key: str, where: Where, *, optional: bool) -> str | None: ...


def text(obj: Any, key: str, where: Where, *, optional: bool = False) -> str | None:
    """A non-empty string field (symbol, asset, side, mode)."""
    if not isinstance(obj, dict):
        raise where.error("expected a JSON object")
    value = obj.get(key)
    if _missing(value):
        if optional:
            return None
        raise where.error("missing", key)
    if not isinstance(value, str):
        raise where.error(f"expected a string, got {type(value).__name__}", key)
    return value


def mapping(obj: Any, key: str, where: Where) -> dict:
    """A JSON object field (e.g. ``info``)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, dict):
        raise where.error("missing" if value is None else "expected a JSON object", key)
    return value


def sequence(obj: Any, key: str, where: Where) -> list:
    """A JSON array field."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, list):
        raise where.error("missing" if value is None else "expected a JSON array", key)
    return value
