"""Field types and constants shared by the three documents: exact decimals, integers, strings, booleans,
Ed25519 keys (pydantic validators that raise zkmargin errors), format tags, default widths, slot
kinds and the strict base model.

May import :mod:`zkmargin.rules.decimals` and :mod:`zkmargin.errors`. Used by every module of
:mod:`zkmargin.rules.models`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainValidator,
)

from ...errors import (
    FormatError,
    ZkMarginError,
)
from ..decimals import decimals_of, parse_decimal

POLICY_FORMAT = "zkmargin.policy/1"


MARKET_FORMAT = "zkmargin.market/1"


ACCOUNT_FORMAT = "zkmargin.account/1"


#: Default range-check widths (bits) of the private values, per kind.
DEFAULT_BITS = {"size": 64, "price": 48, "amount": 64}


#: Widths a policy may declare (the field is ~255 bits; products of two values must stay far below).
MIN_BITS, MAX_BITS = 8, 120


MAX_SCALE = 18


#: Position slots a policy may declare (``"slots": K``: the K-slot circuit, docs/notes/lookup.md).
MAX_SLOTS = 256


#: Modes the K-slot circuit supports.
SLOT_MODES = ("cross", "portfolio")


class _Tagged(ValueError):
    """Raised inside pydantic validators; carries the zkmargin error class to report."""

    def __init__(self, cls: type[ZkMarginError], message: str):
        super().__init__(message)
        self.cls = cls
        self.message = message


def _dec(value: Any) -> Decimal:
    try:
        return parse_decimal(value)
    except ZkMarginError as e:
        raise _Tagged(type(e), e.message) from None


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Tagged(FormatError, "expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value() \
            and decimals_of(value) == 0 and "E" not in str(value).upper():
        return int(value)
    raise _Tagged(FormatError, "expected an integer")


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Tagged(FormatError, f"expected a string, got {type(value).__name__}")
    if not value.strip():
        raise _Tagged(FormatError, "must not be empty")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Tagged(FormatError, f"expected true or false, got {type(value).__name__}")
    return value


def _key_hex(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise _Tagged(FormatError, "an Ed25519 public key is 64 lowercase hex digits")
    return value


Dec = Annotated[Decimal, PlainValidator(_dec)]


Int = Annotated[int, PlainValidator(_int)]


Str = Annotated[str, PlainValidator(_str)]


Bool = Annotated[bool, PlainValidator(_bool)]


KeyHex = Annotated[str, PlainValidator(_key_hex)]


#: The kinds of committed slots a custodian can attest (``size:X``, ``cost``, ``entry:X``,
#: ``isolated:X``, ``balance:A``, and ``position:k`` — a K-slot position, its instrument and size
#: packed in one value), in their canonical order.
SLOT_KINDS = ("size", "cost", "entry", "isolated", "balance", "position")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=False)
