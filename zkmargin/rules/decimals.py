"""Exact decimal parsing and fixed-point helpers.

Money never touches a binary float in zkmargin. Every number in a policy, market snapshot or account
is parsed from its JSON text straight into :class:`decimal.Decimal` (JSON strings such as ``"1.50"``
or JSON numbers such as ``1.50`` — :func:`loads_json` hands the number's own text to ``Decimal``, so
it never passes through ``float``), and then checked against the scale the policy declares for its
kind (``size``, ``price``, ``rate`` or ``amount``).

Rules (``parse_decimal``):

* accepted: a JSON string or JSON number of the form ``[+-]digits[.digits]`` (an ``int`` or a
  ``Decimal`` from Python code is accepted too);
* rejected (:class:`~zkmargin.errors.FormatError`): ``NaN``, ``Infinity``, exponents (``1e3``,
  ``"1E-7"`` — an exponent can hide how many digits a value really has), empty strings, blanks,
  ``bool`` and binary ``float`` values;
* a value with more digits after the point than the scale allows is a
  :class:`~zkmargin.errors.PrecisionError`, never silently rounded. Trailing zeros carry no precision:
  ``"1.50"`` has one decimal.

Fixed point: a decimal ``d`` at scale ``s`` is the integer ``d * 10**s`` (:func:`to_fixed`), exactly;
:func:`from_fixed` is the inverse. :func:`canonical` formats a decimal without exponent and without
trailing zeros (``"0"`` for zero) — the one spelling used in digests and reports.

Imports :mod:`zkmargin.errors` only. Used by everything that reads or writes a number: the models,
the engine, the circuits' plan, the API, the workflows and the command line.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    localcontext,
)
from typing import Any

from ..errors import FormatError, InputLimitError, PrecisionError
from ..files.inputs import MAX_DIGITS, ExponentNumber, load_json, parse_json

__all__ = [
    "KINDS",
    "EXACT",
    "exact",
    "parse_decimal",
    "check_scale",
    "decimals_of",
    "to_fixed",
    "from_fixed",
    "canonical",
    "quantize",
    "loads_json",
    "load_json_file",
    "bits_needed",
    "Number",
]

#: A number as Python code passes it to the loaders and the engine: an exact ``Decimal``, an
#: ``int`` or a decimal string (never a binary float; :func:`parse_decimal` checks at run time).
Number = Decimal | int | str

#: The four kinds of number a policy declares a scale for.
KINDS = ("size", "price", "rate", "amount")

#: Context for exact arithmetic: 400 significant digits, and any rounding is an error (traps on
#: Inexact and Rounded), so a product or sum that would not be exact raises instead of rounding.
EXACT = Context(
    prec=400,
    Emax=999_999,
    Emin=-999_999,
    traps=[Inexact, Rounded, InvalidOperation, DivisionByZero, Overflow],
)


def exact() -> AbstractContextManager[Context]:
    """``with exact(): ...`` — run a block under :data:`EXACT` (no silent rounding)."""
    return localcontext(EXACT)


_NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")


#: A JSON number written with an exponent (``1e3``); rejected by :func:`parse_decimal`.
_ExponentNumber = ExponentNumber


def loads_json(text: str | bytes, *, source: str | None = None, kind: str = "document") -> Any:
    """Parse JSON text with every number as an exact ``Decimal``, by the input layer's rules
    (:mod:`zkmargin.files.inputs`: size cap of ``kind``, depth, digits, no duplicate keys).

    Integers and decimal numbers become ``Decimal`` from their own text; numbers written with an
    exponent are kept as a marked ``Decimal`` that :func:`parse_decimal` rejects; ``NaN`` and
    ``Infinity`` and duplicate keys are :class:`FormatError`.
    """
    return parse_json(text, kind=kind, source=source, numbers="decimal")


def load_json_file(path: Any, kind: str = "document") -> Any:
    """Read (at most the cap of ``kind``; ``-`` is standard input) and parse a JSON file (see
    :func:`loads_json`); errors name the file."""
    return load_json(path, kind, numbers="decimal")[0]


def decimals_of(d: Decimal) -> int:
    """Digits after the point that carry value (``Decimal("1.50")`` -> 1, ``Decimal(7)`` -> 0)."""
    if not d.is_finite():
        raise FormatError("not a finite number")
    if d == 0:
        return 0
    with localcontext(EXACT):
        n = d.normalize()
    exp = n.as_tuple().exponent
    assert isinstance(exp, int)  # a finite number's exponent
    return max(0, -exp)


def _kind_label(kind: str | None) -> str:
    return f" for {kind}" if kind else ""


def check_scale(d: Decimal, scale: int, *, field: str | None = None, kind: str | None = None,
                source: str | None = None) -> Decimal:
    """Raise :class:`PrecisionError` when ``d`` has more decimals than ``scale``; return ``d``."""
    n = decimals_of(d)
    if n > scale:
        raise PrecisionError(
            f"{n} decimals, the policy allows {scale}{_kind_label(kind)}",
            source=source, field=field,
        )
    return d


def parse_decimal(value: Any, *, field: str | None = None, scale: int | None = None,
                  kind: str | None = None, source: str | None = None) -> Decimal:
    """Parse one number exactly (see the module rules) and, with ``scale``, check its precision.

    Returns a finite ``Decimal``; ``-0`` becomes ``0``.
    """
    if isinstance(value, bool):
        raise FormatError("expected a number, got a boolean", source=source, field=field)
    if isinstance(value, float):
        raise FormatError(
            "a binary float cannot be parsed exactly; give the number as a decimal string or a "
            "JSON number", source=source, field=field)
    if isinstance(value, _ExponentNumber):
        raise FormatError("numbers with an exponent are not accepted; write all digits",
                          source=source, field=field)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise FormatError("not a finite number", source=source, field=field)
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        if not _NUMBER.match(value):
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise FormatError(
                f"{shown!r} is not a plain decimal number (digits, optional sign and point; no "
                "exponent, no NaN or infinity)", source=source, field=field)
        d = Decimal(value)
    else:
        raise FormatError(f"expected a number, got {type(value).__name__}",
                          source=source, field=field)
    digits = _digits(d)
    if digits > MAX_DIGITS:
        raise InputLimitError(f"a number with {digits} digits; at most {MAX_DIGITS}", source=source,
                              field=field, limit=MAX_DIGITS)
    if d == 0:
        d = Decimal(0)
    if scale is not None:
        check_scale(d, scale, field=field, kind=kind, source=source)
    return d


def _digits(d: Decimal) -> int:
    """Digits of a finite decimal written out without exponent (``1E+5`` has 6)."""
    t = d.as_tuple()
    exp = t.exponent
    assert isinstance(exp, int)
    return len(t.digits) + max(exp, 0)


def to_fixed(d: Decimal, scale: int, *, field: str | None = None, kind: str | None = None) -> int:
    """The integer ``d * 10**scale``; :class:`PrecisionError` if that is not an integer."""
    check_scale(d, scale, field=field, kind=kind)
    with localcontext(EXACT):
        v = d.scaleb(scale)
    return int(v)


def from_fixed(n: int, scale: int) -> Decimal:
    """The decimal ``n / 10**scale`` (exact)."""
    with localcontext(EXACT):
        return Decimal(int(n)).scaleb(-scale)


def canonical(d: Decimal) -> str:
    """Canonical spelling: no exponent, no trailing zeros, ``"0"`` for zero, ``-`` for negatives."""
    if not d.is_finite():
        raise FormatError("not a finite number")
    if d == 0:
        return "0"
    with localcontext(EXACT):
        n = d.normalize()
    s = format(n, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


_MODES = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "half_even": ROUND_HALF_EVEN}


def quantize(d: Decimal, decimals: int, mode: str) -> Decimal:
    """Round ``d`` to ``decimals`` digits after the point.

    ``mode`` is ``"up"`` (toward +infinity), ``"down"`` (toward -infinity) or ``"half_even"``.
    """
    try:
        rounding = _MODES[mode]
    except KeyError:
        raise FormatError(f"unknown rounding mode {mode!r}") from None
    ctx = Context(prec=450, Emax=999_999, Emin=-999_999, rounding=rounding,
                  traps=[InvalidOperation, Overflow])
    return d.quantize(Decimal(1).scaleb(-decimals), context=ctx)


def bits_needed(n: int) -> int:
    """Bits needed for the magnitude of the integer ``n`` (0 for 0)."""
    return abs(int(n)).bit_length()
